"""``Vocabulary``: what every token id spells, which ids end a sequence, and the logits width."""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Iterable
from functools import cached_property
from typing import Any

import numpy as np

from structgen._errors import TokenizerError
from structgen.vocab._token_bytes import tokenizer_token_bytes
from structgen.vocab._trie import ByteTrie, build_trie

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


class Vocabulary:
    """The exact bytes of every token id of a tokenizer, as a constraint sees them.

    ``token_bytes[i]`` is exactly the bytes token ``i`` appends to the text. Special tokens (and
    ids with no bytes) are never allowed by a constraint; EOS ids are allowed only where the
    constraint may end. ``size`` is the model's logits width: ids from ``len(token_bytes)`` up to
    ``size`` exist only in the model and are always masked.
    """

    def __init__(
        self,
        token_bytes: Iterable[bytes],
        *,
        eos_token_ids: Iterable[int] = (),
        special_token_ids: Iterable[int] = (),
        added_token_ids: Iterable[int] = (),
        size: int | None = None,
    ) -> None:
        self.token_bytes: tuple[bytes, ...] = tuple(token_bytes)
        n_tokens = len(self.token_bytes)
        self.size: int = n_tokens if size is None else int(size)
        self.eos_token_ids: tuple[int, ...] = tuple(sorted({int(i) for i in eos_token_ids}))
        for eos in self.eos_token_ids:
            if not 0 <= eos < self.size:
                raise TokenizerError(f"EOS id {eos} is outside the logits width {self.size}")
        self.special_token_ids: frozenset[int] = frozenset(int(i) for i in special_token_ids) | set(
            self.eos_token_ids
        )
        # added tokens (chat markers, tool tags, ...) bypass the tokenizer's merges: never a constraint's text
        self.added_token_ids: frozenset[int] = frozenset(int(i) for i in added_token_ids)

    @classmethod
    def from_tokenizer(
        cls,
        tokenizer: Any,
        vocab_size: int | None = None,
        *,
        eos_token_ids: Iterable[int] | None = None,
    ) -> Vocabulary:
        """Read a Hugging Face tokenizer (``transformers`` fast tokenizer or ``tokenizers.Tokenizer``).

        ``vocab_size`` is the model's logits width when it differs from the tokenizer's size.
        EOS ids default to the tokenizer's ``eos_token_id``; pass ``eos_token_ids`` to add the
        model's ``generation_config.eos_token_id``. Results are cached per tokenizer object.
        """
        key = (vocab_size, None if eos_token_ids is None else tuple(sorted(eos_token_ids)))
        with _CACHE_LOCK:
            try:
                cached = _CACHE.get(tokenizer, {}).get(key)
            except TypeError:  # not weak-referenceable
                cached = None
        if cached is not None:
            return cached
        backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
        if not hasattr(backend, "get_added_tokens_decoder"):
            raise TokenizerError(
                f"{type(tokenizer).__name__} is not a fast (Rust `tokenizers`) tokenizer; load it "
                "with AutoTokenizer.from_pretrained(..., use_fast=True)"
            )
        token_bytes, special, added = tokenizer_token_bytes(backend)
        eos = set(eos_token_ids or ())
        tokenizer_eos = getattr(tokenizer, "eos_token_id", None)
        if tokenizer_eos is not None:
            eos.add(int(tokenizer_eos))
        special |= set(getattr(tokenizer, "all_special_ids", ()) or ())
        if vocab_size is not None and vocab_size < len(token_bytes):
            special |= set(range(vocab_size, len(token_bytes)))
            token_bytes = token_bytes[:vocab_size]
        vocab = cls(token_bytes, eos_token_ids=eos, special_token_ids=special, added_token_ids=added, size=vocab_size)
        with _CACHE_LOCK:
            try:
                _CACHE.setdefault(tokenizer, {})[key] = vocab
            except TypeError:
                pass
        return vocab

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"Vocabulary({len(self.token_bytes)} tokens, size={self.size}, "
            f"eos={list(self.eos_token_ids)}, {len(self.special_token_ids)} special)"
        )

    @cached_property
    def usable(self) -> np.ndarray:
        """Bool per tokenizer id: may a constraint allow this token (not special or added, not empty)?"""
        usable = np.fromiter(
            (len(b) > 0 for b in self.token_bytes), dtype=bool, count=len(self.token_bytes)
        )
        excluded = [i for i in self.special_token_ids | self.added_token_ids if i < usable.shape[0]]
        usable[excluded] = False
        return usable

    @cached_property
    def trie(self) -> ByteTrie:
        """The byte trie of the usable tokens (built once per vocabulary)."""
        return build_trie(list(self.token_bytes), self.usable)

    @cached_property
    def single_byte_tokens(self) -> np.ndarray:
        """Bool per byte value: can a usable token spell this byte alone?"""
        have = np.zeros(256, dtype=bool)
        for token_id in np.flatnonzero(self.usable):
            b = self.token_bytes[token_id]
            if len(b) == 1:
                have[b[0]] = True
        return have

    @cached_property
    def _usable_ids_by_bytes(self) -> dict[bytes, int]:
        return {b: i for i, b in enumerate(self.token_bytes) if self.usable[i]}

    @cached_property
    def _max_token_len(self) -> int:
        return max((len(b) for b in self._usable_ids_by_bytes), default=0)

    def longest_token_prefix(self, data: bytes) -> int:
        """The usable token spelling the longest prefix of ``data``, or -1."""
        table = self._usable_ids_by_bytes
        for n in range(min(len(data), self._max_token_len), 0, -1):
            token = table.get(data[:n])
            if token is not None:
                return token
        return -1

    @cached_property
    def fingerprint(self) -> str:
        """A hash of everything a compiled index depends on (for on-disk caches)."""
        h = hashlib.sha256()
        h.update(f"{self.size}|{self.eos_token_ids}|".encode())
        h.update(np.packbits(self.usable).tobytes())
        for b in self.token_bytes:
            h.update(len(b).to_bytes(4, "little"))
            h.update(b)
        return h.hexdigest()[:32]

    @property
    def n_words(self) -> int:
        """Number of 32-bit words in one bitmask row."""
        return (self.size + 31) // 32
