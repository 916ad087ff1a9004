"""IR → DFA construction: compiled subset construction, shared fragments, Hopcroft, the DFA cache.

Oracles: Python's ``re`` on the same language written as a regex (all strings up to a length over a
small alphabet), and a plain Python Moore minimisation for state counts.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structgen import UnsupportedFeatureError
from structgen.automata._dfa import DEAD, ByteDFA, trim_and_minimise
from structgen.automata._ir import Alt, Automaton, Chars, Repeat, Seq, literal, node_key
from structgen.automata._regular import _edge_byte_classes, clear_dfa_cache, to_dfa
from structgen.automata._thompson import NFA

ALPHABET = ["a", "b", "é", "中"]
STRINGS = ["".join(p) for n in range(5) for p in itertools.product(ALPHABET, repeat=n)]


def to_regex(node) -> str:
    """The node's language as a Python regex (the oracle's view of it)."""
    if isinstance(node, Chars):
        if not node.ranges:
            return "(?!)"
        return "[" + "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in node.ranges) + "]"
    if isinstance(node, Seq):
        return "(?:" + "".join(to_regex(x) for x in node.items) + ")"
    if isinstance(node, Alt):
        return "(?:" + "|".join(to_regex(x) for x in node.items) + ")" if node.items else "(?!)"
    if isinstance(node, Repeat):
        hi = "" if node.hi is None else str(node.hi)
        return f"(?:{to_regex(node.item)}){{{node.lo},{hi}}}"
    if isinstance(node, Automaton):
        return to_regex(node.regex)  # type: ignore[attr-defined]
    raise TypeError(node)


class _Embedded(Automaton):
    """An Automaton node that remembers the IR it was compiled from (for the oracle)."""


def _embed(node):
    wrapped = _Embedded(to_dfa(node))
    object.__setattr__(wrapped, "regex", node)
    return wrapped


def _chars(cps):
    return Chars(tuple((ord(c), ord(c)) for c in sorted(set(cps), key=ord)))


@st.composite
def ir_nodes(draw, depth: int = 3):
    """Random IR trees; subtrees are reused (equal and identical) to exercise fragment sharing."""
    pool = [_chars(draw(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=3))) for _ in range(3)]
    for _ in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(["seq", "alt", "rep", "copy", "auto", "lit"]))
        a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
        if kind == "seq":
            node = Seq((a, b))
        elif kind == "alt":
            node = Alt((a, b, Seq((a, b))))
        elif kind == "rep":
            lo = draw(st.integers(0, 2))
            hi = draw(st.one_of(st.none(), st.integers(lo, lo + 2)))
            node = Repeat(a, lo, hi)
        elif kind == "copy":  # an equal but distinct object
            node = Seq(a.items) if isinstance(a, Seq) else Alt((a,))
        elif kind == "auto":
            node = _embed(a)
        else:
            node = literal(draw(st.text(alphabet=ALPHABET, max_size=2)))
        pool.append(node)
    return Alt(tuple(pool[-3:])) if draw(st.booleans()) else Seq(tuple(pool[-2:]))


@settings(max_examples=120, deadline=None)
@given(node=ir_nodes())
def test_dfa_language_equals_regex_language(node):
    dfa = to_dfa(node)
    pattern = re.compile(to_regex(node))
    for text in STRINGS:
        assert dfa.matches(text.encode()) == bool(pattern.fullmatch(text)), text


def _reference_minimal_size(transitions: np.ndarray, accepting: np.ndarray, start: int) -> int:
    """States of the minimal DFA, by trimming and plain Moore refinement in Python."""
    n = transitions.shape[0]
    succ = [set(int(t) for t in row if t != DEAD) for row in transitions]
    reach, stack = {start}, [start]
    while stack:
        for t in succ[stack.pop()]:
            if t not in reach:
                reach.add(t)
                stack.append(t)
    pred: list[set[int]] = [set() for _ in range(n)]
    for s in reach:
        for t in succ[s]:
            pred[t].add(s)
    alive = {s for s in reach if accepting[s]}
    stack = list(alive)
    while stack:
        for p in pred[stack.pop()]:
            if p not in alive:
                alive.add(p)
                stack.append(p)
    if start not in alive:
        return 0
    states = sorted(alive)
    cls = {s: int(accepting[s]) for s in states}
    while True:
        sig = {s: (cls[s], *(cls.get(int(t), -1) for t in transitions[s])) for s in states}
        ids: dict = {}
        new = {s: ids.setdefault(sig[s], len(ids)) for s in states}
        if len(ids) == len(set(cls.values())):
            return len(ids)
        cls = new


@st.composite
def random_dfas(draw):
    n = draw(st.integers(1, 12))
    k = draw(st.integers(1, 4))
    transitions = np.full((n, 256), DEAD, np.int32)
    for s in range(n):
        for b in range(k):
            transitions[s, 97 + b] = draw(st.integers(-1, n - 1))
    accepting = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), bool)
    return transitions, accepting, draw(st.integers(0, n - 1))


@settings(max_examples=300, deadline=None)
@given(case=random_dfas())
def test_hopcroft_is_minimal_and_keeps_the_language(case):
    transitions, accepting, start = case
    dfa = trim_and_minimise(transitions, accepting, start)
    assert dfa.n_states == _reference_minimal_size(transitions, accepting, start)
    if dfa.n_states:
        assert dfa.start == 0
        assert (dfa.out_degree[~dfa.accepting] > 0).all()  # trimmed: no dead non-accepting state
    for length in range(5):
        for word in itertools.product(b"abcd", repeat=length):
            s = start
            for byte in word:
                s = transitions[s, byte] if s != DEAD else DEAD
            expected = s != DEAD and bool(accepting[s])
            assert dfa.matches(bytes(word)) == expected


def test_large_dfa_grows_buffers_and_stays_minimal():
    # (a|b)*a(a|b){11}: the minimal DFA remembers the last 12 letters, 2**12 states
    ab = Chars(((ord("a"), ord("b")),))
    node = Seq((Repeat(ab, 0, None), literal("a"), Repeat(ab, 11, 11)))
    dfa = to_dfa(node)
    assert dfa.n_states == 2**12
    rng = np.random.default_rng(0)
    for _ in range(300):
        text = "".join(rng.choice(["a", "b"], size=int(rng.integers(10, 30))))
        assert dfa.matches(text.encode()) == (len(text) >= 12 and text[-12] == "a")


def test_state_limit_raises():
    ab = Chars(((ord("a"), ord("b")),))
    node = Seq((Repeat(ab, 0, None), literal("a"), Repeat(ab, 11, 11)))
    clear_dfa_cache()
    with pytest.raises(UnsupportedFeatureError):
        to_dfa(node, max_states=1000)


def test_equal_subtrees_share_one_fragment_per_end():
    body = Repeat(Chars(((ord("a"), ord("z")),)), 0, None)
    # three equal (not identical) copies of a big subtree before the same end state
    node = Alt(tuple(Seq((literal(c), Repeat(Chars(((ord("a"), ord("z")),)), 0, None))) for c in "xyz"))
    shared, plain = NFA(10_000, None, to_dfa), NFA(10_000, None, to_dfa)
    shared.build(node)
    plain.build(Alt((Seq((literal("x"), body)),)))
    assert shared.n_states < 3 * plain.n_states
    dfa = to_dfa(node)
    for text, ok in [("x", True), ("yabc", True), ("zz", True), ("ab", False), ("", False), ("xA", False)]:
        assert dfa.matches(text.encode()) == ok


def test_node_keys_are_structural():
    a = Seq((literal("ab"), Repeat(Chars(((48, 57),)), 1, 3)))
    b = Seq((literal("ab"), Repeat(Chars(((48, 57),)), 1, 3)))
    c = Seq((literal("ab"), Repeat(Chars(((48, 57),)), 1, 4)))
    assert a is not b
    assert node_key(a) == node_key(b) != node_key(c)


def test_dfa_cache_returns_the_same_language_and_clears():
    node = Seq((literal("k"), Repeat(Chars(((48, 57),)), 2, 5)))
    first = to_dfa(node)
    again = to_dfa(Seq((literal("k"), Repeat(Chars(((48, 57),)), 2, 5))))
    assert again is first  # an equal tree is determinised once
    clear_dfa_cache()
    cold = to_dfa(node)
    assert cold is not first and cold.fingerprint == first.fingerprint


def test_fingerprints_are_equal_for_equal_automata_and_differ_on_any_change():
    rng = np.random.default_rng(3)
    table = rng.integers(-1, 40, size=(40, 256)).astype(np.int32)
    accepting = rng.random(40) < 0.3
    base = ByteDFA(table, accepting, 0)
    assert ByteDFA(table.copy(), accepting.copy(), 0).fingerprint == base.fingerprint
    changed_edge = table.copy()
    changed_edge[17, 200] = (changed_edge[17, 200] + 1) % 40
    flipped = accepting.copy()
    flipped[39] = not flipped[39]
    variants = [ByteDFA(changed_edge, accepting, 0), ByteDFA(table, flipped, 0), ByteDFA(table, accepting, 5),
                ByteDFA(table[:39], accepting[:39], 0), ByteDFA(table[::-1].copy(), accepting, 0)]
    prints = {v.fingerprint for v in variants}
    assert base.fingerprint not in prints and len(prints) == len(variants)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abé中\\\"", max_size=4), max_size=6))
def test_a_word_set_dfa_equals_the_one_its_literals_compile_to(words):
    from structgen.automata._regular import words_dfa

    direct = words_dfa([w.encode() for w in words])
    built = to_dfa(Alt(tuple(literal(w) for w in words)))
    assert np.array_equal(direct.transitions, built.transitions)
    assert np.array_equal(direct.accepting, built.accepting)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255)).map(sorted), min_size=1, max_size=12))
def test_edge_byte_classes_split_bytes_exactly_where_some_edge_range_starts_or_ends(ranges):
    lo = np.array([a for a, _ in ranges], np.int32)
    hi = np.array([b for _, b in ranges], np.int32)
    of_byte, k = _edge_byte_classes(lo, hi)
    assert of_byte[0] == 0 and of_byte[-1] == k - 1 and (np.diff(of_byte) >= 0).all()
    # two bytes share a class exactly when every edge range holds both or neither
    inside = (np.arange(256)[:, None] >= lo) & (np.arange(256)[:, None] <= hi)
    for b in range(255):
        assert (of_byte[b] == of_byte[b + 1]) == bool((inside[b] == inside[b + 1]).all())


def test_determinising_over_byte_classes_keeps_every_byte_transition():
    # many distinct ranges (56 classes) under a loop: each byte must land where its range says
    node = Repeat(Alt(tuple(Seq((Chars(((c, c + 1),)), Chars(((c + 2, c + 2),)))) for c in range(32, 120, 3))), 0, None)
    dfa = to_dfa(node)
    for c in range(32, 120, 3):
        for first in (c, c + 1):
            assert dfa.matches(bytes([first, c + 2]) * 2)
        assert not dfa.matches(bytes([c, c + 1]))  # the second byte must be c + 2
    assert not dfa.matches(b"\x1f")


def test_branches_that_cannot_reach_the_end_leave_no_states():
    # "a" then nothing: a dead NFA branch; pruned before determinising, so no DFA state is dead
    dead = Seq((literal("a"), Alt(()), literal("b")))
    dfa = to_dfa(Alt((dead, literal("c"))))
    assert dfa.n_states == 2 and dfa.matches(b"c") and not dfa.matches(b"a") and not dfa.matches(b"ab")
    assert to_dfa(Seq((literal("x"), Alt(())))).n_states == 0  # the empty language
