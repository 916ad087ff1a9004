"""The contextual lexers: their shared product states against stepping every terminal DFA side by side."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structgen._errors import CompileTimeoutError
from structgen.automata import regex_to_dfa
from structgen.grammar._cfg import Terminal
from structgen.grammar._kernels import _joint_byte_classes
from structgen.grammar._lexer import BLOCKED, ProductSpace

PATTERNS = ["a", "ab", "abc", "b+", "[a-c]*d", "ba?", "c[ab]", "(ab)+", "[^a]x", "zz"]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), min_size=256, max_size=256), min_size=0, max_size=4))
def test_joint_byte_classes_group_exactly_the_bytes_every_row_groups(rows):
    of_byte = np.array(rows, np.int32).reshape(len(rows), 256)
    cls, reps = _joint_byte_classes(of_byte)
    for b in range(0, 256, 7):
        for c in range(256):
            assert (cls[b] == cls[c]) == all(row[b] == row[c] for row in rows)
    assert [cls[r] for r in reps] == list(range(len(reps)))


def _step_side_by_side(space, start, terminals, allowed, shadow, word):
    """Step ``word`` through the space and through every terminal DFA alone; they must agree."""
    alive = {t: terminals[t].dfa.start for t in allowed | shadow}
    s = start
    for b in word.encode():
        alive = {t: int(terminals[t].dfa.transitions[q, b]) for t, q in alive.items()}
        alive = {t: q for t, q in alive.items() if q >= 0}
        nxt = int(space.transitions[s, b])
        if not alive:
            assert nxt == -1
            return
        if not set(alive) & allowed:
            assert nxt == BLOCKED
            return
        assert nxt >= 0
        s = nxt
        assert space.components(s) == alive
        accepting = {t for t, q in alive.items() if t in allowed and terminals[t].dfa.accepting[q]}
        assert space.accepts(s) == accepting
        assert bool(space.accepting[s]) == bool(accepting)


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.lists(st.sets(st.integers(0, len(PATTERNS) - 1), min_size=1, max_size=6), min_size=1, max_size=4),
    shadow=st.sets(st.integers(0, len(PATTERNS) - 1), max_size=2),
    words=st.lists(st.text("abcdxz", max_size=5), min_size=1, max_size=12),
)
def test_lexers_sharing_one_space_step_as_their_terminals_run_side_by_side(chosen, shadow, words):
    # several lexers built one after another into one space (each adds only the states the
    # others did not reach), every one checked after all are built
    terminals = [Terminal(f"T{i}", regex_to_dfa(p), p) for i, p in enumerate(PATTERNS)]
    shadow = frozenset(shadow)
    space = ProductSpace(terminals, shadow, 1000)
    starts = [(frozenset(c), space.start(frozenset(c))) for c in chosen]
    for allowed, start in starts:
        assert space.start(allowed) == start  # built once
        for word in words:
            _step_side_by_side(space, start, terminals, allowed, shadow, word)


def test_a_lexer_reaching_states_another_built_shares_them():
    terminals = [Terminal(f"T{i}", regex_to_dfa(p), p) for i, p in enumerate(PATTERNS)]
    space = ProductSpace(terminals, frozenset(), 1000)

    def after(start, text):
        for b in text.encode():
            start = int(space.transitions[start, b])
        return start

    first = space.start(frozenset({0, 1, 2}))  # "a", "ab", "abc"
    n = space.n_states
    second = space.start(frozenset({1, 2}))  # "ab", "abc": apart from the first until "a" dies
    assert space.n_states == n + 2  # its start and its state after "a"; "ab" on are the first's
    assert after(second, "a") != after(first, "a")
    assert after(second, "ab") == after(first, "ab") and after(second, "abc") == after(first, "abc")


def test_a_lexer_past_the_state_limit_is_refused_and_leaves_the_space_as_it_was():
    terminals = [Terminal(f"T{i}", regex_to_dfa(p), p) for i, p in enumerate(["[a-z]{0,40}", "[a-m]{0,10}x"])]
    space = ProductSpace(terminals, frozenset(), 40)
    small = space.start(frozenset({1}))
    n = space.n_states
    with pytest.raises(CompileTimeoutError, match="passed 40 new states"):
        space.start(frozenset({0, 1}))
    assert space.n_states == n
    assert space.start(frozenset({1})) == small and space.n_states == n
