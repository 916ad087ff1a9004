"""Grammar masks equal a brute-force check of every token, on random grammars and real inputs."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structgen import GrammarError, UnsatisfiableConstraintError, compile_gbnf, compile_grammar
from tests.grammar.oracle import brute_force_mask, cfg_membership, mask_set, small_vocab

VOCAB = small_vocab("ab ", 3)
TERMINALS = ['"a"', '"b"', '"ab"', '"ba"', "/a+/", "/[ab]b?/", "/b*a/", '"aab"']


@st.composite
def lark_grammars(draw):
    n_rules = draw(st.integers(1, 4))
    names = [f"r{i}" for i in range(n_rules)]
    lines = []
    for name in names:
        alts = []
        for _ in range(draw(st.integers(1, 3))):
            seq = draw(st.lists(st.sampled_from(TERMINALS + names), min_size=0, max_size=3))
            alts.append(" ".join(seq))
        lines.append(f"{name}: " + " | ".join(alts))
    lines.append("start: r0")
    if draw(st.booleans()):
        lines.append('%ignore " "')
    return "\n".join(lines)


def _walk_and_compare(c, seed: int, steps: int) -> None:
    m = c.matcher()
    rng = random.Random(seed)
    vocab = c.vocab
    for _ in range(steps):
        got = mask_set(m, vocab)
        assert got == brute_force_mask(c, m._history[-1])
        choices = sorted(got - set(vocab.eos_token_ids))
        if not choices:
            break
        token = rng.choice(choices)
        assert m.check(token)
        assert m.advance(token)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grammar=lark_grammars(), seed=st.integers(0, 2**16))
def test_masks_equal_brute_force_on_random_lark_grammars(grammar, seed):
    try:
        c = compile_grammar(grammar, VOCAB)
    except (UnsatisfiableConstraintError, GrammarError):
        return
    _walk_and_compare(c, seed, steps=8)


@st.composite
def char_grammars(draw):
    """Random character-level CFGs as (GBNF text, rules for the independent recognizer)."""
    n_rules = draw(st.integers(1, 3))
    names = [f"r{i}" for i in range(n_rules)]
    rules: dict[str, list[list[str]]] = {}
    for name in names:
        rules[name] = [
            draw(st.lists(st.sampled_from(["a", "b", *names]), min_size=0, max_size=3))
            for _ in range(draw(st.integers(1, 3)))
        ]
    text = "\n".join(
        f"{name} ::= " + " | ".join(" ".join(f'"{s}"' if s in "ab" else s for s in alt) or '""' for alt in alts)
        for name, alts in rules.items()
    )
    return f"root ::= r0\n{text}", rules


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=char_grammars())
def test_gbnf_language_equals_a_naive_cfg_recognizer(case):
    text, rules = case
    accepts = cfg_membership(rules, "r0")
    try:
        c = compile_gbnf(text, VOCAB)
    except UnsatisfiableConstraintError:
        assert not any(accepts("".join(w)) for n in range(5) for w in itertools.product("ab", repeat=n))
        return
    for n in range(6):
        for chars in itertools.product("ab", repeat=n):
            word = "".join(chars)
            assert c.matches(word) == accepts(word), (text, word)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=char_grammars(), seed=st.integers(0, 2**16))
def test_gbnf_masks_equal_brute_force(case, seed):
    try:
        c = compile_gbnf(case[0], VOCAB)
    except UnsatisfiableConstraintError:
        return
    _walk_and_compare(c, seed, steps=6)


INPUTS = Path(__file__).parent / "inputs"


@pytest.mark.parametrize(
    ("grammar", "text"),
    [
        ("json", '{"key": [1, -2.5e3, true, null], "s": "a\\"b\\u00e9 \u4e2d"}'),
        ("sql", (INPUTS / "queries.sql").read_text()),
        ("python_expr", "sorted(x.items(), key=lambda kv: -kv[1])[:10]"),
    ],
)
def test_masks_equal_brute_force_along_real_inputs(smollm2_tokenizer, smollm2_vocab, grammar, text):
    c = compile_grammar(grammar, smollm2_vocab)
    m = c.matcher()
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    for step, token in enumerate(ids):
        if step % 3 == 0 or step == len(ids) - 1:  # brute force is a Python loop over 49k tokens
            got = mask_set(m, smollm2_vocab)
            assert got == brute_force_mask(c, m._history[-1]), (grammar, step)
        assert m.advance(token)
    assert m.is_accepting()


def test_masks_of_a_long_bounded_lexeme_equal_brute_force_once_its_states_share_masks():
    # 300 characters: a lexer of 300+ states, most of which no token of 3 bytes tells apart; after
    # enough first visits they share one mask per class, which must still be each state's own mask
    vocab = small_vocab('ab",', 3)
    c = compile_grammar('start: STR ("," STR)*\nSTR: /"[ab]{3,300}"/', vocab)
    text = '"' + "ab" * 150 + '",' + '"' + "b" * 10 + '"'
    m = c.matcher()
    by_bytes = {data: t for t, data in enumerate(vocab.token_bytes) if data}
    lexers = set()
    for i in range(0, len(text), 3):
        pos = m._history[-1]
        lexers.add(pos[1])
        assert mask_set(m, vocab) == brute_force_mask(c, pos), i
        assert m.advance(by_bytes[text[i : i + 3].encode()])
    assert m.is_accepting()
    assert any(lexer.space._representatives.shape[0] for lexer in lexers)


def test_a_compiled_grammar_has_its_first_mask_ready():
    # the engine computes its initial mask when built (compile work, as a token index computes
    # its start state's): a matcher's first fill is then a lookup
    vocab = small_vocab("ab(),", 2)
    c = compile_grammar('start: item ("," item)*\nitem: "a" | "(" start ")"', vocab)
    engine = c.engine
    chart, lexer, s = engine.initial
    assert ("mask", lexer.space.id, lexer.space.shared_mask_state(s)) in chart.memo
    assert mask_set(c.matcher(), vocab) == brute_force_mask(c, engine.initial)
