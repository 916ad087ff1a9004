"""The Matcher contract for grammars: rollback across lexeme boundaries, fork, forced tokens, EOS."""

from __future__ import annotations

import random

from structgen import compile_grammar
from tests.grammar.oracle import mask_set


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer.encode(text, add_special_tokens=False)


def test_rollback_across_lexeme_boundaries_restores_masks(smollm2_tokenizer, smollm2_vocab):
    c = compile_grammar("json", smollm2_vocab)
    ids = _ids(smollm2_tokenizer, '{"key": [1, 2, {"x": "y z"}], "b": false}')
    m = c.matcher()
    masks = [mask_set(m, smollm2_vocab)]
    for token in ids:
        assert m.advance(token)
        masks.append(mask_set(m, smollm2_vocab))
    rng = random.Random(0)
    for _ in range(5):
        n = rng.randrange(1, len(ids))
        m.rollback(n)
        assert mask_set(m, smollm2_vocab) == masks[len(ids) - n]
        assert m.advance_many(ids[len(ids) - n :]) == n
    assert m.is_accepting()


def test_fork_is_independent(smollm2_tokenizer, smollm2_vocab):
    c = compile_grammar("arithmetic", smollm2_vocab)
    m = c.matcher()
    m.advance_many(_ids(smollm2_tokenizer, "(1 + x"))
    twin = m.fork()
    assert twin.advance_many(_ids(smollm2_tokenizer, ")")) == 1
    assert twin.is_accepting() and not m.is_accepting()
    assert m.advance_many(_ids(smollm2_tokenizer, " * 2)")) == len(_ids(smollm2_tokenizer, " * 2)"))
    assert m.is_accepting()


def test_forced_tokens_follow_the_grammar(smollm2_tokenizer, smollm2_vocab):
    c = compile_grammar("json", smollm2_vocab)
    m = c.matcher()
    m.advance_many(_ids(smollm2_tokenizer, '{"a": tr'))
    assert m.forced_bytes() == b"ue"
    forced = m.forced_tokens()
    assert b"".join(smollm2_vocab.token_bytes[t] for t in forced) == b"ue"
    assert m.advance_many(forced) == len(forced)
    # after `true` the object may go on or close: nothing is forced
    assert m.forced_bytes() == b""


def test_eos_only_where_the_grammar_may_end(smollm2_tokenizer, smollm2_vocab):
    c = compile_grammar("sql", smollm2_vocab)
    m = c.matcher()
    eos = smollm2_vocab.eos_token_ids[0]
    m.advance_many(_ids(smollm2_tokenizer, "SELECT a FROM"))
    assert not m.check(eos) and eos not in mask_set(m, smollm2_vocab)
    m.advance_many(_ids(smollm2_tokenizer, " t"))
    assert m.check(eos) and eos in mask_set(m, smollm2_vocab)
    assert m.advance(eos) and m.is_finished()
    assert mask_set(m, smollm2_vocab) == {eos}


def test_special_tokens_are_never_allowed(deepseek_vocab):
    c = compile_grammar("python_expr", deepseek_vocab)
    allowed = mask_set(c.matcher(), deepseek_vocab)
    assert allowed
    assert not allowed & (deepseek_vocab.added_token_ids - set(deepseek_vocab.eos_token_ids))


def test_refused_token_leaves_the_state_unchanged(smollm2_tokenizer, smollm2_vocab):
    c = compile_grammar("json", smollm2_vocab)
    m = c.matcher()
    m.advance_many(_ids(smollm2_tokenizer, "[1"))
    before = mask_set(m, smollm2_vocab)
    assert not m.advance(_ids(smollm2_tokenizer, "}")[0])
    assert mask_set(m, smollm2_vocab) == before
