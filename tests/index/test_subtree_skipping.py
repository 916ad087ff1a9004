"""Subtree skipping (budgets against reference automata, complement walks) gives exactly the masks
of a plain trie walk and of the brute-force oracle, whatever its limits and modes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structgen import UnsatisfiableConstraintError, Vocabulary, compile_json_schema, compile_regex
from structgen.index import TokenIndex, _skipping, _token_index
from structgen.index._kernels import MAX_BUDGET, NO_LIMIT, SIM_UNKNOWN, _node_limits, _subtree_bytes, _walk_skipping
from structgen.index._string_reference import string_body_exit
from tests.reference import token_targets

SCHEMAS = [
    {  # a free string, a bounded one, an ASCII pattern, and \S (refuses some multi-byte characters)
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "note": {"type": "string", "maxLength": 5},
            "tag": {"type": "string", "pattern": "^[a-z0-9-]+$"},
            "v": {"type": "string", "pattern": "^\\S+$"},
        },
        "required": ["name", "note", "tag", "v"],
        "additionalProperties": False,
    },
    {"type": "string", "pattern": "^(\\d+\\.\\d+.*)$", "maxLength": 9},  # `.` refuses U+2028, U+2029
    {
        "type": "object",
        "properties": {"a": {"type": "string", "pattern": "^[^<>]*$"}, "b": {"type": "string", "minLength": 2}},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    {  # keys: given names sharing prefixes, or any other name (with another value): a string-like state
        "type": "object",
        "properties": {"ab": {"type": "string"}, "abc": {"const": 1}, "b\u00e9": {"type": "boolean"}},
        "additionalProperties": {"type": "integer", "maximum": 9},
        "maxProperties": 2,
    },
]

JSONISH = [
    r'\[("([^"\\]|\\.)*"(,"([^"\\]|\\.)*")*)?\]',
    r'\{"a":"([^"\\]|\\.)*","b":"[^"]{0,3}"\}',
    r"x[^a]*y(.|\n)*",
    r"[^\"]*\"[a-z]+\"[^\"]*",
]

PERMISSIVE_ATOMS = ['[^"]', ".", "[^a]", "[a-z0-9]", '"', "\\\\.", "é", "[^\\x00-\\x7f]", "\\s", "\\S", "[^<>]"]


@st.composite
def permissive_regexes(draw, depth=0):
    if depth > 2 or draw(st.booleans()):
        atom = draw(st.sampled_from(PERMISSIVE_ATOMS))
        return draw(st.sampled_from([atom, f"({atom})*", f"({atom}){{0,{draw(st.integers(1, 5))}}}"]))
    a = draw(permissive_regexes(depth=depth + 1))
    b = draw(permissive_regexes(depth=depth + 1))
    return draw(st.sampled_from([a + b, f"({a}|{b})", f"({a})*{b}", f"({a}{b})*"]))


def _bits(row: np.ndarray) -> np.ndarray:
    return np.unpackbits(row.view(np.uint8), bitorder="little")


def _plain(index: TokenIndex, state: int) -> np.ndarray:
    """The mask of ``state`` by a plain trie walk: no budget, no complement, so no skipping."""
    vocab, trie, dfa = index.vocab, index.vocab.trie, index.dfa
    words = np.zeros(vocab.n_words, np.uint32)
    tables = _skipping.vocab_tables(vocab)
    _walk_skipping(
        trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
        tables.sub_end, trie.token_order, trie.max_depth, dfa.transitions, index.good, state,
        np.full(dfa.n_states, SIM_UNKNOWN, np.int32), tables.lim, tables.below, np.zeros(4, np.uint64), words, False,
        np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int32),
    )
    if dfa.accepting[state]:
        words |= _token_index._eos_words(vocab)
    return words.view(np.int32)


def _check_against_plain_walks(dfa, vocab, most: int = 10**9) -> None:
    index = TokenIndex(dfa, vocab)
    states = np.flatnonzero(index.good)
    for state in states[:: -(-states.size // most)].tolist():  # at most ``most`` of them, spread
        got = index.mask(state)
        assert np.array_equal(got, _plain(index, state)), state
        bits = _bits(got)
        assert index.count(state) == int(bits.sum())
        assert index.single_token(state) == (int(np.flatnonzero(bits)[0]) if bits.sum() == 1 else -1)


@pytest.fixture
def tight_limits(monkeypatch):
    """Every state searched, budgets cut after 3 characters, few pairs: every bound path taken."""
    monkeypatch.setattr(_token_index, "_MIN_LIVE_BYTES", 1)
    monkeypatch.setattr(_token_index, "_ENOUGH", 2)
    monkeypatch.setattr(_token_index, "_DEPTH", 3)
    monkeypatch.setattr(_token_index, "_MAX_PAIRS", 12)


@pytest.mark.parametrize("schema", SCHEMAS, ids=["strings", "dot-pattern", "class-pattern", "keys"])
@pytest.mark.parametrize("mode", ["default", "tight-complement", "tight-plain"])
def test_schema_masks_equal_brute_force(smollm2_vocab, schema, mode, request, monkeypatch):
    if mode != "default":
        request.getfixturevalue("tight_limits")
        complement = mode == "tight-complement"
        monkeypatch.setattr(_skipping.VocabTables, "most_allowed", lambda self, packed, refused: complement)
    dfa = compile_json_schema(schema, smollm2_vocab).index.dfa
    index = TokenIndex(dfa, smollm2_vocab)
    targets = [token_targets(dfa, smollm2_vocab, s) for s in range(dfa.n_states)]
    good = dfa.accepting.copy()  # the oracle's good states: a fixpoint on the token graph
    while True:
        grown = good | np.array([bool(good[t[t >= 0]].any()) for t in targets])
        if np.array_equal(grown, good):
            break
        good = grown
    assert np.array_equal(index.good, good)
    eos = np.zeros(smollm2_vocab.size, bool)
    eos[list(smollm2_vocab.eos_token_ids)] = True
    for state in np.flatnonzero(good).tolist():
        t = targets[state]
        want = np.zeros(smollm2_vocab.size, bool)
        want[: t.shape[0]] = (t >= 0) & good[np.maximum(t, 0)]
        if dfa.accepting[state]:
            want |= eos
        got = _bits(index.mask(state))[: smollm2_vocab.size].astype(bool)
        assert np.array_equal(got, want), (state, np.flatnonzero(got != want)[:5])
        assert index.count(state) == int(want.sum())
        assert index.single_token(state) == (int(np.flatnonzero(want)[0]) if want.sum() == 1 else -1)


def test_permissive_states_take_the_skipping_paths(smollm2_vocab):
    """The exactness tests above cover what they claim: a free string body reads the string
    reference, other body states get budgets and references less what they refuse."""
    index = compile_json_schema(SCHEMAS[0], smollm2_vocab).index
    dfa = index.dfa
    name = dfa.walk(b'{"name":"')
    tag = dfa.walk(b'{"name":"","note":"","tag":"a')
    not_space = dfa.walk(b'{"name":"","note":"","tag":"a","v":"a')
    for state in (name, tag, not_space):
        index.mask(state)
    tables = _skipping.vocab_tables(smollm2_vocab)
    utf8 = index._budgets[_skipping.NOTHING_REFUSED]
    assert string_body_exit(dfa.transitions, name) >= 0  # a free string: the reference, no budget
    assert utf8[name] == SIM_UNKNOWN
    assert string_body_exit(dfa.transitions, tag) < 0 and string_body_exit(dfa.transitions, not_space) < 0
    for state, kept in ((tag, b"az09-"), (not_space, b"a!~\xc3\xe4")):
        assert _token_index._budget(utf8[state]) < 1  # refuses part of UTF8_TEXT
        refused = _skipping.refused_bytes(dfa.transitions, index.good, state)
        assert refused not in (None, _skipping.NOTHING_REFUSED)
        assert _token_index._budget(index._budgets[refused][state]) == MAX_BUDGET
        x = np.unpackbits(np.frombuffer(refused, np.uint8), bitorder="little")
        assert not x[list(kept)].any()
        if state == not_space:
            assert x[[0x20, 0xC2, 0xE2, 0xE3]].all()  # space; NBSP, U+2000.., U+3000 start with these
        else:
            assert x[0xC2:0xF5].all()  # ASCII only
            assert not tables.most_allowed(int(index._budgets[refused][state]), refused)


def test_budgets_count_characters_left(smollm2_vocab):
    # "[^"]{0,3}" in JSON: after the quote, 3 characters of any width, then the closing quote
    index = compile_json_schema({"type": "string", "maxLength": 3}, smollm2_vocab).index
    dfa = index.dfa
    states = [dfa.walk(b'"' + "é".encode() * k) for k in range(4)]
    for state in states:
        index.mask(state)
    utf8 = index._budgets[_skipping.NOTHING_REFUSED]
    assert [_token_index._budget(utf8[s]) for s in states] == [3, 2, 1, 0]
    mid = dfa.walk(b'"\xc3')  # inside "é": the budget of its state of UTF8_TEXT (need one byte)
    assert _token_index._budget(utf8[mid]) == 2 and int(utf8[mid]) & _token_index._A_MASK != 0


def test_node_limits_match_token_suffixes(smollm2_vocab):
    trie = smollm2_vocab.trie
    ref = _skipping.UTF8_TEXT
    tables = _skipping.vocab_tables(smollm2_vocab)
    lim, sub_end = tables.lim, tables.sub_end
    rng = np.random.default_rng(0)
    for node in [0, *rng.integers(1, trie.n_nodes, 300).tolist()]:
        depth = int(trie.node_depth[node])
        for a in range(ref.n_states):
            want = 0
            for k in range(trie.node_tok_start[node], sub_end[node]):
                chars, state = 0, a
                for b in smollm2_vocab.token_bytes[trie.token_order[k]][depth:]:
                    chars += int(ref.weight[state])
                    state = int(ref.table[state, b])
                    if state < 0:
                        chars = NO_LIMIT
                        break
                want = max(want, chars)
            assert lim[a, node] == want, (node, a)
        below = set()
        for k in range(trie.node_tok_start[node], sub_end[node]):
            below |= set(smollm2_vocab.token_bytes[trie.token_order[k]][depth:])
        bits = np.unpackbits(tables.below[node].view(np.uint8), bitorder="little")
        assert set(np.flatnonzero(bits).tolist()) == below, node


def test_limits_of_a_tiny_trie():
    vocab = Vocabulary([b"ab", b"a\"", b"\xc3\xa9", b"\xc3", b"x"])
    trie = vocab.trie
    ref = _skipping.UTF8_TEXT
    lim = _node_limits(trie.node_byte, trie.node_depth, ref.table, ref.weight)
    assert lim[0, 0] == NO_LIMIT  # the quote below "a"
    assert lim[trie.find(b"a"), 0] == NO_LIMIT
    assert lim[trie.find(b"\xc3"), 1] == 0  # "é" complete: no character started below
    assert lim[trie.find(b"\xc3"), 0] == NO_LIMIT  # a continuation byte from a boundary
    assert lim[trie.find(b"x"), 0] == 0
    assert _skipping.vocab_tables(vocab).sub_end[0] == 5
    below = _subtree_bytes(trie.node_byte, trie.node_depth)
    bits = np.unpackbits(below[trie.find(b"a")].view(np.uint8), bitorder="little")
    assert np.flatnonzero(bits).tolist() == [ord('"'), ord("b")]


@pytest.mark.parametrize("pattern", JSONISH)
def test_regex_masks_equal_plain_walks(smollm2_vocab, pattern):
    _check_against_plain_walks(compile_regex(pattern, smollm2_vocab).index.dfa, smollm2_vocab)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pattern=permissive_regexes(), tight=st.booleans())
def test_masks_equal_plain_walks_random(smollm2_vocab, pattern, tight):
    try:
        dfa = compile_regex(pattern, smollm2_vocab).index.dfa
    except UnsatisfiableConstraintError:
        return
    if not tight:
        _check_against_plain_walks(dfa, smollm2_vocab, most=40)
        return
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("_MIN_LIVE_BYTES", 1), ("_ENOUGH", 2), ("_DEPTH", 3), ("_MAX_PAIRS", 12)):
            mp.setattr(_token_index, name, value)
        _check_against_plain_walks(dfa, smollm2_vocab, most=40)


def test_schema_masks_equal_plain_walks_deepseek(deepseek_vocab):
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string", "pattern": "^\\S+$"}},
            "note": {"type": "string", "maxLength": 3},
            "n": {"type": "integer"},
        },
        "required": ["name"],
    }
    _check_against_plain_walks(compile_json_schema(schema, deepseek_vocab).index.dfa, deepseek_vocab)


def test_lazy_transition_rows_read_like_the_table(smollm2_vocab):
    # (a|b)*a(a|b){11}: 4,096 states; the matcher's rows are converted on first use
    constraint = compile_regex(r"[ab]*a[ab]{11}", smollm2_vocab)
    rows, table = constraint.index.transition_rows, constraint.index.dfa.transitions
    for state in (0, 1, table.shape[0] - 1, 0):
        assert rows[state] == table[state].tolist()
    assert len(rows) == 3  # only the rows read
    matcher = constraint.matcher()
    ids = [smollm2_vocab.token_bytes.index(b"a")] * 12
    assert matcher.advance_many(ids) == 12 and matcher.is_accepting()
