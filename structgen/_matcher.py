"""``Matcher``: the constraint state of one sequence as tokens are generated."""

from __future__ import annotations

import numpy as np

from structgen.index import TokenIndex

_FINISHED = -2  # pseudo-state after EOS
_MAX_FORCED = 4096


class TokenHistory:
    """The part of the Matcher contract every constraint kind shares: a list of states, one per token.

    Subclasses keep ``_history`` (the start state first) and define ``_next(token)``: the state
    after ``token``, or None when the constraint refuses it.
    """

    __slots__ = ()

    def check(self, token: int) -> bool:
        """Would ``advance(token)`` succeed?"""
        return self._next(token) is not None

    def advance(self, token: int) -> bool:
        """Consume ``token``; False (state unchanged) if the constraint does not allow it."""
        nxt = self._next(token)
        if nxt is None:
            return False
        self._history.append(nxt)
        return True

    def advance_many(self, tokens) -> int:
        """Consume tokens in order; returns how many were accepted before the first refusal."""
        for n, token in enumerate(tokens):
            if not self.advance(int(token)):
                return n
        return len(tokens)

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` accepted tokens."""
        if not 0 <= n < len(self._history):
            raise ValueError(f"Expected 0 <= n <= {len(self._history) - 1} tokens to roll back, but got {n}")
        if n:
            del self._history[-n:]

    def reset(self) -> None:
        """Back to the start state."""
        del self._history[1:]


class Matcher(TokenHistory):
    """Tracks one sequence through a compiled constraint.

    The decode-time contract: ``fill_mask`` writes the allowed tokens, ``check`` tests one token,
    ``advance`` consumes one, ``rollback`` undoes the last ``n``; ``fork`` copies the state
    cheaply (beams, particles). A token outside the mask is refused (``advance`` returns False and
    the state is unchanged), never raised on: the caller decides what a refused token means.
    """

    __slots__ = ("_index", "_rows", "_accepting", "_token_bytes", "_usable", "_eos", "_eos_words", "_history")

    def __init__(self, index: TokenIndex) -> None:
        self._index = index
        dfa = index.dfa
        self._rows = index.transition_rows
        self._accepting = dfa.accepting
        vocab = index.vocab
        self._token_bytes = vocab.token_bytes
        self._usable = vocab.usable
        self._eos = frozenset(vocab.eos_token_ids)
        self._eos_words = index.eos_row
        self._history = [dfa.start]

    @property
    def state(self) -> int:
        """The automaton state (``-2`` once EOS has been consumed)."""
        return self._history[-1]

    def fill_mask(self, row: np.ndarray) -> None:
        """Write this sequence's allowed tokens into one int32 bitmask row (every bit is set or cleared)."""
        s = self._history[-1]
        row[:] = self._eos_words if s == _FINISHED else self._index.mask(s)

    def fill_eos_mask(self, row: np.ndarray) -> None:
        """Write a row that allows only the EOS ids (for a sequence that must stop now)."""
        row[:] = self._eos_words

    def is_accepting(self) -> bool:
        """Is the text so far a complete string of the language (EOS allowed now)?"""
        s = self._history[-1]
        return s == _FINISHED or bool(self._accepting[s])

    def is_finished(self) -> bool:
        """Has EOS been consumed?"""
        return self._history[-1] == _FINISHED

    def forced_tokens(self) -> list[int]:
        """Tokens that spell the bytes the constraint forces next, safe to append without the model.

        The forced bytes are cut into longest-match tokens, stopping before any point where a
        longer token could run past the forced bytes (the model may prefer to merge them with
        what it chooses next). EOS is included where it is the only possible continuation.
        """
        s = self._history[-1]
        if s == _FINISHED:
            return []
        vocab, index, out = self._index.vocab, self._index, []
        data = index.dfa.forced_bytes(s)
        pos = 0
        while pos < len(data) and len(out) < _MAX_FORCED:
            rest = data[pos:]
            if vocab.trie.has_longer_token(rest):
                break
            token = vocab.longest_token_prefix(rest)
            nxt = -1 if token < 0 else self._walk(s, vocab.token_bytes[token])
            if nxt < 0 or not index.good[nxt]:
                break
            out.append(token)
            pos += len(vocab.token_bytes[token])
            s = nxt
        if pos == len(data) and self._eos and index.count(s) == len(self._eos) and self._accepting[s]:
            out.append(vocab.eos_token_ids[0])
        return out

    def forced_bytes(self) -> bytes:
        """The bytes every continuation must start with."""
        s = self._history[-1]
        return b"" if s == _FINISHED else self._index.dfa.forced_bytes(s)

    def fork(self) -> Matcher:
        """An independent copy sharing the compiled index."""
        twin = Matcher.__new__(Matcher)
        twin._index = self._index
        twin._rows = self._rows
        twin._accepting = self._accepting
        twin._token_bytes = self._token_bytes
        twin._usable = self._usable
        twin._eos = self._eos
        twin._eos_words = self._eos_words
        twin._history = list(self._history)
        return twin

    def _walk(self, s: int, data: bytes) -> int:
        rows = self._rows
        for b in data:
            s = rows[s][b]
            if s < 0:
                return -1
        return s

    def _next(self, token: int) -> int | None:
        s = self._history[-1]
        if token in self._eos:
            return _FINISHED if s == _FINISHED or self._accepting[s] else None
        if s == _FINISHED or not 0 <= token < len(self._token_bytes) or not self._usable[token]:
            return None
        nxt = self._walk(s, self._token_bytes[token])
        if nxt < 0 or not self._index.good[nxt]:
            return None
        return nxt

