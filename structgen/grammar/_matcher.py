"""``GrammarMatcher``: the ``Matcher`` contract for context-free constraints."""

from __future__ import annotations

import numpy as np

from structgen._matcher import TokenHistory
from structgen.grammar._engine import GrammarEngine, Position

_FINISHED = object()  # history entry after EOS (``_next`` returns None for a refused token)
_MAX_FORCED = 4096


class GrammarMatcher(TokenHistory):
    """Tracks one sequence through a compiled grammar (same methods as ``structgen.Matcher``)."""

    __slots__ = ("_engine", "_history", "_eos", "_token_bytes", "_usable")

    def __init__(self, engine: GrammarEngine) -> None:
        self._engine = engine
        vocab = engine.vocab
        self._eos = frozenset(vocab.eos_token_ids)
        self._token_bytes = vocab.token_bytes
        self._usable = vocab.usable
        self._history: list = [engine.initial]  # positions, then _FINISHED after EOS

    def fill_mask(self, row: np.ndarray) -> None:
        """Write this sequence's allowed tokens into one int32 bitmask row (every bit is set or cleared)."""
        pos = self._history[-1]
        if pos is _FINISHED:
            self.fill_eos_mask(row)
            return
        words = np.zeros(row.shape[0], np.uint32)
        self._engine.mask_words(pos, words)
        if self._engine.is_accepting(pos):
            for t in self._eos:
                words[t >> 5] |= np.uint32(1 << (t & 31))
        row[:] = words.view(np.int32)

    def fill_eos_mask(self, row: np.ndarray) -> None:
        """Write a row that allows only the EOS ids (for a sequence that must stop now)."""
        words = np.zeros(row.shape[0], np.uint32)
        for t in self._eos:
            words[t >> 5] |= np.uint32(1 << (t & 31))
        row[:] = words.view(np.int32)

    def is_accepting(self) -> bool:
        """Is the text so far a complete string of the language (EOS allowed now)?"""
        pos = self._history[-1]
        return pos is _FINISHED or self._engine.is_accepting(pos)

    def is_finished(self) -> bool:
        """Has EOS been consumed?"""
        return self._history[-1] is _FINISHED

    def forced_bytes(self) -> bytes:
        """The bytes every continuation must start with."""
        pos = self._history[-1]
        out = bytearray()
        engine = self._engine
        while pos is not _FINISHED and len(out) < _MAX_FORCED and not engine.is_accepting(pos):
            nxt = engine.next_bytes(pos)
            if len(nxt) != 1:
                break
            b = nxt.pop()
            pos = engine.step_bytes(pos, bytes([b]))
            if pos is None:
                break
            out.append(b)
        return bytes(out)

    def forced_tokens(self) -> list[int]:
        """Tokens that spell the forced bytes, cut where no longer token could run past them.

        Longest-match tokens, stopping before a point where the model might merge forced bytes
        with what it chooses next: where a token the grammar allows there starts with the rest of
        the forced bytes and goes on past them. EOS where it is the only continuation.
        """
        pos = self._history[-1]
        if pos is _FINISHED:
            return []
        engine = self._engine
        vocab = engine.vocab
        data = self.forced_bytes()
        out: list[int] = []
        at = 0
        while at < len(data):
            rest = data[at:]
            if self._longer_token_allowed(pos, rest):
                break
            token = vocab.longest_token_prefix(rest)
            if token < 0:
                break
            nxt = engine.step_bytes(pos, vocab.token_bytes[token])
            if nxt is None:
                break
            out.append(token)
            at += len(vocab.token_bytes[token])
            pos = nxt
        if at == len(data) and self._eos and engine.is_accepting(pos) and not engine.next_bytes(pos):
            out.append(vocab.eos_token_ids[0])
        return out

    def _longer_token_allowed(self, pos: Position, rest: bytes) -> bool:
        """Does the grammar allow, at ``pos``, a token that spells ``rest`` and more?"""
        trie = self._engine.vocab.trie
        node = trie.find(rest)
        if node < 0 or trie.node_end[node] <= node + 1:
            return False
        end = trie.node_end[node]
        longer = trie.token_order[trie.node_tok_end[node] : int(trie.node_tok_end[node:end].max())]
        if longer.size == 0:
            return False
        words = np.zeros(self._engine.vocab.n_words, np.uint32)
        self._engine.mask_words(pos, words)
        return bool(((words[longer >> 5] >> (longer & 31).astype(np.uint32)) & 1).any())

    def fork(self) -> GrammarMatcher:
        """An independent copy sharing the compiled grammar (parse states are immutable and shared)."""
        twin = GrammarMatcher.__new__(GrammarMatcher)
        twin._engine = self._engine
        twin._eos = self._eos
        twin._token_bytes = self._token_bytes
        twin._usable = self._usable
        twin._history = list(self._history)
        return twin

    def _next(self, token: int):
        """The position after ``token``, ``_FINISHED`` after EOS, None when refused."""
        pos = self._history[-1]
        if token in self._eos:
            return _FINISHED if pos is _FINISHED or self._engine.is_accepting(pos) else None
        if pos is _FINISHED or not 0 <= token < len(self._token_bytes) or not self._usable[token]:
            return None
        return self._engine.step_bytes(pos, self._token_bytes[token])
