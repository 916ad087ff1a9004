"""Region masks (a permissive state's mask = its region's shared part + its own frontier walks)
equal the direct trie walk for every state, cold and with the per-vocabulary cache warm."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structgen import UnsatisfiableConstraintError, compile_json_schema, compile_regex
from structgen.index import _token_index
from structgen.index._kernels import _region_of, _walk_state_mask
from tests.reference import allowed_set, token_good_states

JSONISH = [
    r'\[("([^"\\]|\\.)*"(,"([^"\\]|\\.)*")*)?\]',  # strings in a loop: regions must stop at quotes
    r'\{"a":"([^"\\]|\\.)*","b":"[^"]{0,3}"\}',
    r"x[^a]*y(.|\n)*",
    r"[^\"]*\"[a-z]+\"[^\"]*",
]

PERMISSIVE_ATOMS = ['[^"]', ".", "[^a]", "[a-z0-9]", '"', "\\\\.", "é", "[^\\x00-\\x7f]", "\\s"]


@st.composite
def permissive_regexes(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        atom = draw(st.sampled_from(PERMISSIVE_ATOMS))
        return f"({atom})*" if draw(st.booleans()) else atom
    a = draw(permissive_regexes(depth=depth + 1))
    b = draw(permissive_regexes(depth=depth + 1))
    return draw(st.sampled_from([a + b, f"({a}|{b})", f"({a})*{b}", f"({a}{b})*"]))


def _direct(index, state: int) -> np.ndarray:
    """The mask of ``state`` by one full trie walk (the path without regions)."""
    vocab, trie, dfa = index.vocab, index.vocab.trie, index.dfa
    words = np.zeros(vocab.n_words, np.uint32)
    _walk_state_mask(
        trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
        trie.token_order, trie.max_depth, dfa.transitions, index.good, state, words,
    )
    if dfa.accepting[state]:
        words |= _token_index._eos_words(vocab)
    return words.view(np.int32)


def _check_every_state(constraint) -> int:
    index = constraint.index
    n_regions = 0
    for state in range(index.dfa.n_states):
        if not index.good[state]:
            continue
        got = index.mask(state)
        assert np.array_equal(got, _direct(index, state)), state
        assert index.count(state) == int(np.unpackbits(got.view(np.uint8)).sum())
        n_regions += index._region_mask(state)[0] is not None
    return n_regions


@pytest.mark.parametrize("pattern", JSONISH)
def test_region_masks_equal_direct_walks(smollm2_vocab, pattern):
    _token_index.clear_region_cache()
    assert _check_every_state(compile_regex(pattern, smollm2_vocab)) > 0  # regions were used
    _check_every_state(compile_regex(pattern + "z", smollm2_vocab))  # warm: shared parts reused


def test_region_masks_equal_brute_force(smollm2_vocab):
    _token_index.clear_region_cache()
    constraint = compile_regex(JSONISH[1], smollm2_vocab)
    dfa, index = constraint.index.dfa, constraint.index
    good = token_good_states(dfa, smollm2_vocab)
    body = [s for s in range(dfa.n_states) if index._region_mask(s)[0] is not None]
    assert body
    for state in body:
        got = set(np.flatnonzero(np.unpackbits(index.mask(state).view(np.uint8), bitorder="little")).tolist())
        assert got == allowed_set(dfa, smollm2_vocab, state, good)


def test_string_body_region_stops_at_the_quote(smollm2_vocab):
    constraint = compile_regex(JSONISH[0], smollm2_vocab)
    dfa = constraint.index.dfa
    body = dfa.walk(b'["')
    table, real = _region_of(dfa.transitions, body, 0x22, 256, np.full(dfa.n_states, -1, np.int32))
    assert real[0] == body
    assert table[0, 0x22] == -2  # the closing quote leaves the region
    assert dfa.walk(b'"', body) not in real.tolist()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=permissive_regexes(), cold=st.booleans())
def test_region_masks_equal_direct_walks_random(smollm2_vocab, pattern, cold):
    if cold:
        _token_index.clear_region_cache()
    try:
        constraint = compile_regex(pattern, smollm2_vocab)
    except UnsatisfiableConstraintError:
        return
    _check_every_state(constraint)


def test_schema_masks_equal_direct_walks(deepseek_vocab):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                       "note": {"type": "string", "maxLength": 3}, "n": {"type": "integer"}},
        "required": ["name"],
    }
    _token_index.clear_region_cache()
    assert _check_every_state(compile_json_schema(schema, deepseek_vocab)) > 0


def test_lazy_transition_rows_read_like_the_table(smollm2_vocab):
    # (a|b)*a(a|b){11}: 4,096 states, so the matcher's rows are converted on first use
    constraint = compile_regex(r"[ab]*a[ab]{11}", smollm2_vocab)
    rows, table = constraint.index.transition_rows, constraint.index.dfa.transitions
    assert len(rows) == table.shape[0] > _token_index._EAGER_ROWS
    for state in (0, 1, table.shape[0] - 1, 0):
        assert rows[state] == table[state].tolist()
    matcher = constraint.matcher()
    ids = [smollm2_vocab.token_bytes.index(b"a")] * 12
    assert matcher.advance_many(ids) == 12 and matcher.is_accepting()
