"""Token index masks equal a brute-force check of every token (property tests on real vocabularies)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import structgen
from structgen import UnsatisfiableConstraintError, allocate_bitmask, compile_regex
from structgen._bitmask import allowed_tokens
from structgen.automata import regex_to_dfa
from structgen.index import TokenIndex
from tests.reference import allowed_set, token_good_states

ATOMS = ["a", "b", "ab", "0", "1", " ", "\\.", '"', "é", "中", "😀", "[a-c]", "\\d", "[^a]", ".", "[0-9a-f]", "\\s"]


@st.composite
def regexes(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        return draw(st.sampled_from(ATOMS))
    kind = draw(st.sampled_from(["cat", "alt", "star", "plus", "opt", "rep"]))
    a = draw(regexes(depth=depth + 1))
    if kind == "cat":
        return a + draw(regexes(depth=depth + 1))
    if kind == "alt":
        return f"({a}|{draw(regexes(depth=depth + 1))})"
    if kind == "rep":
        lo = draw(st.integers(0, 3))
        return f"({a}){{{lo},{lo + draw(st.integers(0, 3))}}}"
    return f"({a}){ {'star': '*', 'plus': '+', 'opt': '?'}[kind]}"


def _check_masks_along_random_path(pattern: str, vocab, seed: int, steps: int = 6) -> None:
    constraint = compile_regex(pattern, vocab)
    dfa = constraint.index.dfa
    good = token_good_states(dfa, vocab)
    matcher = constraint.matcher()
    rng = random.Random(seed)
    row = allocate_bitmask(1, vocab.size)[0]
    for _ in range(steps):
        matcher.fill_mask(row)
        got = set(allowed_tokens(row, vocab.size).tolist())
        assert got == allowed_set(dfa, vocab, matcher.state, good), pattern
        choices = sorted(got - set(vocab.eos_token_ids))
        if not choices:
            break
        token = rng.choice(choices)
        assert matcher.check(token)
        assert matcher.advance(token)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=regexes(), seed=st.integers(0, 2**16))
def test_masks_equal_brute_force_for_random_regexes_smollm2(smollm2_vocab, pattern, seed):
    try:
        _check_masks_along_random_path(pattern, smollm2_vocab, seed)
    except UnsatisfiableConstraintError:
        assert not token_good_states(regex_to_dfa(pattern), smollm2_vocab)[0]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=regexes(), seed=st.integers(0, 2**16))
def test_masks_equal_brute_force_for_random_regexes_deepseek(deepseek_vocab, pattern, seed):
    _check_masks_along_random_path(pattern, deepseek_vocab, seed, steps=4)


@pytest.mark.parametrize(
    "pattern", [r"\d{4}-\d{2}-\d{2}", r"\"([^\"\\]|\\.)*\"", r"[\u4e00-\u9fff]{1,3}", r"(😀|x)+", r".{0,8}"]
)
def test_masks_equal_brute_force_for_typical_regexes(real_vocab, pattern):
    _check_masks_along_random_path(pattern, real_vocab, seed=7, steps=8)


def test_unspellable_bytes_are_excluded_at_token_level(smollm2_vocab):
    # SmolLM2's GGUF vocabulary has no token containing a lone 0x04 byte
    with pytest.raises(UnsatisfiableConstraintError, match="no token sequence"):
        compile_regex(r"\x04", smollm2_vocab)
    constraint = compile_regex(r"(a\x04|b)c", smollm2_vocab)
    dfa = constraint.index.dfa
    good = token_good_states(dfa, smollm2_vocab)
    assert not good.all()  # the state after "a" is byte-live but token-dead
    assert np.array_equal(constraint.index.good, good)
    matcher = constraint.matcher()
    a, b = (smollm2_vocab.token_bytes.index(x) for x in (b"a", b"b"))
    assert not matcher.check(a) and matcher.check(b)


def test_empty_language_is_unsatisfiable_at_compile_time(smollm2_vocab):
    with pytest.raises(UnsatisfiableConstraintError, match="empty"):
        compile_regex(r"[^\s\S]", smollm2_vocab)


def test_identical_masks_are_stored_once(smollm2_vocab):
    index = TokenIndex(regex_to_dfa(r"[a-z]{3}\d{3}"), smollm2_vocab, eager=True)
    assert index.is_complete
    assert index.n_masks < index.dfa.n_states


def test_eager_index_round_trips_through_the_disk_cache(smollm2_vocab):
    dfa = regex_to_dfa(r"(cat|dog)s? [0-9]{1,2}")
    first = TokenIndex(dfa, smollm2_vocab, eager=True)
    second = TokenIndex(dfa, smollm2_vocab)  # loads the cached file: no walk
    assert second.is_complete
    for state in range(dfa.n_states):
        assert np.array_equal(first.mask(state), second.mask(state))


def test_lazy_index_computes_only_the_start_state_at_compile(smollm2_vocab):
    index = TokenIndex(regex_to_dfa(r"[a-z]+@[a-z]+\.(com|org)"), smollm2_vocab)
    assert index.n_masks == 1
    assert not index.is_complete


def test_compiled_indexes_are_reused_across_compiles(smollm2_vocab):
    a = structgen.compile_regex(r"(yes|no)", smollm2_vocab)
    b = structgen.compile_regex(r"(yes|no)", smollm2_vocab)
    assert a.index is b.index
