"""Exact bytes of every token of a Hugging Face ``tokenizers`` model.

A token's bytes are what it appends to the text when it follows other tokens: byte-level BPE maps
each character back through the GPT-2 byte alphabet; SentencePiece writes ``▁`` for a space and
``<0xNN>`` for a raw byte (byte fallback); added tokens are their literal content.
"""

from __future__ import annotations

import json
import re
from typing import Any

from structgen._errors import TokenizerError

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _gpt2_unicode_to_byte() -> dict[str, int]:
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table = {chr(b): b for b in printable}
    extra = 0
    for b in range(256):
        if b not in printable:
            table[chr(256 + extra)] = b
            extra += 1
    return table


_UNICODE_TO_BYTE = _gpt2_unicode_to_byte()


def _component_types(node: Any) -> list[dict]:
    """Flatten a (possibly nested ``Sequence``) decoder / pre-tokenizer spec into its parts."""
    if not node:
        return []
    if node.get("type") == "Sequence":
        parts = node.get("decoders") or node.get("pretokenizers") or []
        return [leaf for part in parts for leaf in _component_types(part)]
    return [node]


class _Scheme:
    """How a tokenizer spells bytes in its vocabulary strings."""

    def __init__(self, spec: dict) -> None:
        model = spec.get("model") or {}
        decoders = _component_types(spec.get("decoder"))
        pre = _component_types(spec.get("pre_tokenizer"))
        types = {d.get("type") for d in decoders} | {p.get("type") for p in pre}
        if model.get("type") == "WordPiece" or "WordPiece" in types:
            raise TokenizerError(
                "WordPiece tokenizers ('##' continuation pieces) are not supported: the bytes a "
                "token appends depend on its neighbour, so no exact token -> bytes table exists"
            )
        self.byte_level = "ByteLevel" in types
        self.byte_fallback = bool(model.get("byte_fallback")) or "ByteFallback" in types
        self.replacements: list[tuple[str, str]] = []
        for d in decoders:
            if d.get("type") == "Metaspace":
                self.replacements.append((d.get("replacement", "▁"), " "))
            elif d.get("type") == "Replace":
                pattern = d.get("pattern", {})
                if "String" in pattern:
                    self.replacements.append((pattern["String"], d.get("content", "")))

    def token_bytes(self, piece: str) -> bytes:
        if self.byte_level:
            try:
                return bytes(_UNICODE_TO_BYTE[ch] for ch in piece)
            except KeyError as exc:
                raise TokenizerError(
                    f"token {piece!r} has character {exc.args[0]!r} outside the byte-level alphabet"
                ) from None
        if self.byte_fallback:
            match = _BYTE_FALLBACK.match(piece)
            if match:
                return bytes([int(match.group(1), 16)])
        for old, new in self.replacements:
            piece = piece.replace(old, new)
        return piece.encode("utf-8")


def tokenizer_token_bytes(backend) -> tuple[list[bytes], set[int], set[int]]:
    """Return ``(bytes by id, special ids, added ids)`` for a ``tokenizers.Tokenizer``.

    Ids missing from the vocabulary (holes) get empty bytes and are treated as special.
    """
    spec = json.loads(backend.to_str())
    scheme = _Scheme(spec)
    vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
    added = backend.get_added_tokens_decoder()
    n_tokens = max(vocab.values()) + 1 if vocab else 0
    table: list[bytes | None] = [None] * n_tokens
    for piece, token_id in vocab.items():
        if token_id not in added:
            table[token_id] = scheme.token_bytes(piece)
    special = set()
    for token_id, token in added.items():
        table[token_id] = token.content.encode("utf-8")
        if token.special:
            special.add(token_id)
    holes = {i for i, b in enumerate(table) if b is None}
    return [b if b is not None else b"" for b in table], special | holes, set(added)
