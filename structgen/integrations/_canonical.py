"""Canonical tokenization of jump-forward text: forced bytes spelled the way the tokenizer spells them.

``Matcher.forced_tokens`` cuts the forced bytes into longest-match tokens and stops before any point
where a longer vocabulary token could start and run past the forced bytes (so the model keeps the
choice of merging them with what comes next: forcing ``"order`` when ``"orderId"`` and
``"orderName"`` both continue forces ``"`` only). That settles the right boundary but not the split
inside: longest-match is not BPE. On SmolLM2, ``diastolic`` is ``di|ast|olic`` to the tokenizer and
``dia|st|olic`` by longest match, and about 4% of the forced spans of JSONSchemaBench instances
differ this way (measured in ``tests/integrations/test_token_healing.py``). A model has only ever
seen the tokenizer's split, so appending another one would put it off its distribution for the rest
of the output. Here the forced text is re-encoded by the tokenizer, kept only if it spells exactly
the same bytes and the matcher accepts it, and trailing tokens are backed off while a longer
vocabulary token could start there and run past the forced bytes (the model chooses those bytes
itself, token healing). Otherwise the matcher's own split is used.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any


class Canonicalizer:
    """Re-spells a matcher's forced tokens canonically (cached per forced byte string)."""

    def __init__(self, encode: Callable[[str], list[int]], vocab: Any) -> None:
        self._encode = encode
        self._token_bytes = vocab.token_bytes
        self._trie = vocab.trie
        self._eos = frozenset(vocab.eos_token_ids)
        self._cache: dict[bytes, list[int] | None] = {}

    def canonical(self, forced: Sequence[int], forced_bytes: bytes | None = None) -> list[int] | None:
        """Canonical tokens for the bytes ``forced`` spells (EOS kept last if every byte is kept), or None.

        ``forced_bytes`` (``Matcher.forced_bytes()``, where the matcher has it) are all the bytes the
        constraint forces, of which ``forced`` may spell a prefix: tokenizing them whole and backing
        off from their end is both closer to the tokenizer's split in context and less conservative.
        """
        body = [t for t in forced if t not in self._eos]
        eos = [t for t in forced if t in self._eos]
        data = b"".join(self._token_bytes[t] for t in body)
        if not data:
            return list(forced)
        ids = None
        if forced_bytes is not None and len(forced_bytes) > len(data) and forced_bytes.startswith(data):
            ids = self._cached(forced_bytes)
        if ids is None:
            ids = self._cached(data)
        if ids is None:
            return None
        kept = sum(len(self._token_bytes[t]) for t in ids)
        return list(ids) + (eos if kept == len(data) else [])

    def _cached(self, data: bytes) -> list[int] | None:
        ids = self._cache.get(data, ...)
        if ids is ...:
            ids = self._cache[data] = self._respell(data)
        return ids

    def _respell(self, data: bytes) -> list[int] | None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None  # a character split across the boundary: the tokenizer cannot see it alone
        ids = list(self._encode(text))
        size = len(self._token_bytes)
        if not all(0 <= t < size for t in ids) or b"".join(self._token_bytes[t] for t in ids) != data:
            return None
        # Back off trailing tokens a longer vocabulary token could extend past the forced bytes.
        starts = []
        pos = 0
        for t in ids:
            starts.append(pos)
            pos += len(self._token_bytes[t])
        while ids and self._trie.has_longer_token(data[starts[len(ids) - 1] :]):
            ids.pop()
        return ids


def advance_all(matcher: Any, tokens: Sequence[int]) -> bool:
    """Advance ``matcher`` through ``tokens``; on a refusal undo the accepted ones and return False."""
    for n, token in enumerate(tokens):
        if not matcher.advance(token):
            if n:
                matcher.rollback(n)
            return False
    return True
