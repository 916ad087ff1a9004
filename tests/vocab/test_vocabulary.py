"""Vocabulary: exact token bytes for byte-level BPE, SentencePiece byte fallback, added tokens."""

from __future__ import annotations

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

from structgen import TokenizerError, Vocabulary

CORPUS = [
    "Hello, world!",
    "  leading spaces and trailing   ",
    "tabs\tand\nnewlines\r\n\n\n",
    "naïve café — déjà vu; Ünïcödé ßtraße",
    "日本語のテキストと中文文本",
    "emoji: 😀🎉👩‍👩‍👧‍👦 🇫🇷 ✓",
    "def f(x):\n    return {'a': [1, 2.5e-3, None]}  # comment\n",
    'SELECT "name", COUNT(*) FROM t WHERE x <> 3;',
    "{\"key\": \"value\", \"n\": -12.75, \"ok\": true}",
    "\u00a0non-breaking\u2009thin space\u3000ideographic",
    "zero\u200bwidth and combining e\u0301",
    "          " + "x" * 50 + "\t\t\t",
]


def _concat(vocab: Vocabulary, ids: list[int]) -> bytes:
    return b"".join(vocab.token_bytes[i] for i in ids)


@pytest.mark.parametrize("text", CORPUS)
def test_concatenated_token_bytes_equal_text_bytes_for_real_tokenizers(real_tokenizer, text):
    vocab = Vocabulary.from_tokenizer(real_tokenizer)
    ids = real_tokenizer.encode(text, add_special_tokens=False)
    assert _concat(vocab, ids) == text.encode("utf-8")


def test_smollm2_eos_and_special_tokens_are_read(smollm2_vocab, smollm2_tokenizer):
    assert smollm2_vocab.eos_token_ids == (smollm2_tokenizer.eos_token_id,)
    im_start = smollm2_tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert im_start in smollm2_vocab.special_token_ids
    assert not smollm2_vocab.usable[im_start]
    assert smollm2_vocab.size == len(smollm2_tokenizer)


def test_deepseek_chat_markers_are_never_usable(deepseek_vocab, deepseek_tokenizer):
    user = deepseek_tokenizer.convert_tokens_to_ids("<｜User｜>")
    assert user in deepseek_vocab.added_token_ids and not deepseek_vocab.usable[user]


def test_deepseek_eos_comes_from_tokenizer_config(deepseek_vocab, deepseek_tokenizer):
    eos = deepseek_tokenizer.convert_tokens_to_ids("<｜end▁of▁sentence｜>")
    assert deepseek_vocab.eos_token_ids == (eos,)
    assert deepseek_vocab.size >= 128_000


def test_single_byte_tokens_are_found_exactly(real_vocab):
    singles = {b[0] for i, b in enumerate(real_vocab.token_bytes) if len(b) == 1 and real_vocab.usable[i]}
    assert set(real_vocab.single_byte_tokens.nonzero()[0].tolist()) == singles
    assert set(range(0x20, 0x7F)) <= singles  # printable ASCII always spellable


def test_smollm2_gguf_vocabulary_lacks_some_single_bytes(smollm2_vocab):
    # the GGUF tokenizer has no token for e.g. byte 0x04 or 0xF1: constraints must not rely on them
    assert not smollm2_vocab.single_byte_tokens[[0x04, 0xF1, 0xFF]].any()


def test_generation_config_eos_ids_are_added(smollm2_tokenizer):
    vocab = Vocabulary.from_tokenizer(smollm2_tokenizer, eos_token_ids=[0])
    assert set(vocab.eos_token_ids) == {0, smollm2_tokenizer.eos_token_id}


def test_logits_width_beyond_tokenizer_size_is_kept_and_never_usable(smollm2_tokenizer):
    n = len(smollm2_tokenizer)
    vocab = Vocabulary.from_tokenizer(smollm2_tokenizer, vocab_size=n + 64)
    assert vocab.size == n + 64
    assert len(vocab.token_bytes) == n
    assert vocab.n_words == (n + 64 + 31) // 32


def _sentencepiece_tokenizer(prepend: str) -> Tokenizer:
    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    pieces += ["▁", "▁the", "▁cat", "at", "c", "t", "a", "h", "e", "▁a", "é", "ca"]
    vocab = {p: i for i, p in enumerate(pieces)}
    merges = [("▁", "t"), ("▁t", "h"), ("▁th", "e"), ("c", "a"), ("ca", "t"), ("▁", "c"), ("▁c", "at"),
              ("a", "t"), ("▁", "a")]
    merges = [m for m in merges if "".join(m) in vocab and m[0] in vocab and m[1] in vocab]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(" ", "▁")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend, split=False)
    tok.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tok.add_special_tokens([AddedToken("<s>", special=True), AddedToken("</s>", special=True)])
    return tok


@pytest.mark.parametrize("text", ["the cat", "a cat sat 😀", "ça été\n\tx", "Zürich 中"])
def test_sentencepiece_byte_fallback_bytes_roundtrip(text):
    tok = _sentencepiece_tokenizer(prepend="never")
    vocab = Vocabulary.from_tokenizer(tok, eos_token_ids=[tok.token_to_id("</s>")])
    ids = tok.encode(text, add_special_tokens=False).ids
    assert any(tok.id_to_token(i).startswith("<0x") for i in ids) or text == "the cat"
    assert _concat(vocab, ids) == text.encode("utf-8")


def test_sentencepiece_dummy_prefix_space_is_a_real_space():
    tok = _sentencepiece_tokenizer(prepend="first")
    vocab = Vocabulary.from_tokenizer(tok)
    ids = tok.encode("the cat", add_special_tokens=False).ids
    assert _concat(vocab, ids) == b" the cat"  # the prefix "▁" is text the model emits
    assert vocab.token_bytes[tok.token_to_id("<0x0A>")] == b"\n"
    assert vocab.token_bytes[tok.token_to_id("▁the")] == b" the"


def test_added_tokens_have_literal_bytes_and_are_never_usable_by_constraints():
    tok = _sentencepiece_tokenizer(prepend="never")
    tok.add_tokens([AddedToken("<tool>", special=False)])
    tok.add_special_tokens([AddedToken("<|eot|>", special=True)])
    vocab = Vocabulary.from_tokenizer(tok, eos_token_ids=[tok.token_to_id("<|eot|>")])
    tool, eot = tok.token_to_id("<tool>"), tok.token_to_id("<|eot|>")
    assert vocab.token_bytes[tool] == b"<tool>" and not vocab.usable[tool]
    assert vocab.token_bytes[eot] == b"<|eot|>" and not vocab.usable[eot]
    assert vocab.eos_token_ids == (eot,)
    assert not vocab.usable[tok.token_to_id("<s>")]


def test_wordpiece_tokenizers_are_refused_with_a_reason():
    tok = Tokenizer(models.WordPiece(vocab={"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    tok.decoder = decoders.WordPiece()
    with pytest.raises(TokenizerError, match="WordPiece"):
        Vocabulary.from_tokenizer(tok)


def test_slow_tokenizers_are_refused_with_a_fix():
    class SlowTokenizer:
        eos_token_id = 0

    with pytest.raises(TokenizerError, match="fast"):
        Vocabulary.from_tokenizer(SlowTokenizer())


def test_eos_outside_logits_width_is_refused():
    with pytest.raises(TokenizerError, match="outside the logits width"):
        Vocabulary([b"a", b"b"], eos_token_ids=[5])


def test_trie_holds_every_usable_token_once(smollm2_vocab):
    trie = smollm2_vocab.trie
    ids = sorted(trie.token_order.tolist())
    assert ids == sorted(map(int, smollm2_vocab.usable.nonzero()[0]))
    # spot-check: spelling a token along the trie reaches a node that lists it
    for token in ids[:: max(1, len(ids) // 500)]:
        data = smollm2_vocab.token_bytes[token]
        node = 0
        for b in data:
            child = node + 1
            while child < trie.node_end[node] and trie.node_byte[child] != b:
                child = trie.node_end[child]
            assert child < trie.node_end[node]
            node = child
        assert token in trie.token_order[trie.node_tok_start[node] : trie.node_tok_end[node]]
