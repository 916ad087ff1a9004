"""The Matcher contract: check / advance / rollback / fork / forced tokens / EOS semantics."""

from __future__ import annotations

import numpy as np
import pytest

from structgen import allocate_bitmask, compile_regex
from structgen._bitmask import allowed_tokens


def _ids(vocab, text: str) -> list[int]:
    """A greedy longest-match tokenization of ``text`` with usable tokens (any valid spelling will do)."""
    data, out = text.encode(), []
    by_bytes = {b: i for i, b in enumerate(vocab.token_bytes) if vocab.usable[i]}
    while data:
        for n in range(min(len(data), 16), 0, -1):
            if data[:n] in by_bytes:
                out.append(by_bytes[data[:n]])
                data = data[n:]
                break
        else:
            raise AssertionError(f"cannot spell {data!r}")
    return out


def test_advance_accepts_a_valid_spelling_and_ends_accepting(smollm2_vocab):
    m = compile_regex(r"\d{4}-\d{2}-\d{2}", smollm2_vocab).matcher()
    assert m.advance_many(_ids(smollm2_vocab, "2024-05-17")) == len(_ids(smollm2_vocab, "2024-05-17"))
    assert m.is_accepting() and not m.is_finished()


def test_refused_token_leaves_the_state_unchanged(smollm2_vocab):
    m = compile_regex(r"\d+", smollm2_vocab).matcher()
    before = m.state
    x = _ids(smollm2_vocab, "x")[0]
    assert not m.check(x)
    assert not m.advance(x)
    assert m.state == before


def test_eos_only_where_the_constraint_may_end(smollm2_vocab):
    eos = smollm2_vocab.eos_token_ids[0]
    m = compile_regex(r"ab?", smollm2_vocab).matcher()
    assert not m.check(eos)
    m.advance_many(_ids(smollm2_vocab, "a"))
    assert m.check(eos)
    assert m.advance(eos) and m.is_finished()
    row = allocate_bitmask(1, smollm2_vocab.size)[0]
    m.fill_mask(row)
    assert allowed_tokens(row, smollm2_vocab.size).tolist() == [eos]  # a finished sequence may only end


def test_eos_is_forced_where_nothing_else_is_possible(smollm2_vocab):
    m = compile_regex(r"ok", smollm2_vocab).matcher()
    m.advance_many(_ids(smollm2_vocab, "ok"))
    assert m.forced_tokens() == [smollm2_vocab.eos_token_ids[0]]


def test_rollback_restores_earlier_states_and_masks(smollm2_vocab):
    m = compile_regex(r"[a-z]+@[a-z]+\.com", smollm2_vocab).matcher()
    row0, row1 = allocate_bitmask(2, smollm2_vocab.size)
    m.fill_mask(row0)
    ids = _ids(smollm2_vocab, "bob@ex")
    m.advance_many(ids)
    m.rollback(len(ids))
    m.fill_mask(row1)
    assert np.array_equal(row0, row1)
    with pytest.raises(ValueError, match="roll back"):
        m.rollback(1)


def test_fork_is_independent(smollm2_vocab):
    m = compile_regex(r"(cat|dog)s", smollm2_vocab).matcher()
    twin = m.fork()
    m.advance_many(_ids(smollm2_vocab, "cat"))
    assert twin.state != m.state
    assert twin.advance_many(_ids(smollm2_vocab, "dogs")) == len(_ids(smollm2_vocab, "dogs"))
    assert twin.is_accepting() and not m.is_accepting()


def test_forced_tokens_spell_the_forced_bytes_up_to_a_safe_boundary(smollm2_vocab):
    m = compile_regex(r'\{"name": "[a-z]+"\}', smollm2_vocab).matcher()
    assert m.forced_bytes() == b'{"name": "'
    forced = m.forced_tokens()
    text = b"".join(smollm2_vocab.token_bytes[t] for t in forced)
    assert len(text) >= 6 and b'{"name": "'.startswith(text)
    rest = b'{"name": "'[len(text) :]
    assert rest == b"" or smollm2_vocab.trie.has_longer_token(rest)  # stopped where a merge could follow
    assert m.advance_many(forced) == len(forced)


def test_no_forced_tokens_where_the_model_has_a_choice(smollm2_vocab):
    assert compile_regex(r"(a|b)c", smollm2_vocab).matcher().forced_tokens() == []


def test_fill_mask_sets_or_clears_every_bit(smollm2_vocab):
    m = compile_regex(r"\d", smollm2_vocab).matcher()
    row = np.full(smollm2_vocab.n_words, -1, dtype=np.int32)
    m.fill_mask(row)
    allowed = allowed_tokens(row, smollm2_vocab.size)
    assert {smollm2_vocab.token_bytes[t] for t in allowed} == {str(d).encode() for d in range(10)}


def test_special_and_out_of_range_tokens_are_refused(smollm2_vocab):
    m = compile_regex(r".*", smollm2_vocab).matcher()
    assert not m.check(1)  # <|im_start|>
    assert not m.check(-1)
    assert not m.check(smollm2_vocab.size + 5)
