"""``PushdownConstraint``: an automaton whose holes stand for whole JSON containers (see
``index._pushdown``), and its matcher, which keeps the stack of states the containers return to."""

from __future__ import annotations

import numpy as np

from structgen._constraint import Constraint
from structgen._matcher import TokenHistory
from structgen.index._pushdown import PushdownIndex
from structgen.index._token_index import _LazyRows

_FINISHED = (-2, None)  # pseudo-configuration after EOS
_MAX_FORCED = 4096

Stack = tuple | None  # linked frames: (return state, rest) — pushes and pops share the tail


class PushdownConstraint(Constraint):
    """A JSON Schema constraint whose open values nest to any depth; ``matcher()`` gives a
    ``PushdownMatcher``."""

    index: PushdownIndex

    def matcher(self) -> PushdownMatcher:  # type: ignore[override]
        return PushdownMatcher(self.index)

    def matches(self, text: str | bytes) -> bool:
        data = text.encode("utf-8") if isinstance(text, str) else text
        end = _Machine.of(self.index).step(self.index.dfa.start, None, data)
        return end is not None and end[1] is None and bool(self.index.dfa.accepting[end[0]])

    def __repr__(self) -> str:
        return f"PushdownConstraint({self.source}, {self.index.dfa.n_states} states, {self.vocab!r})"


class _Machine:
    """Byte steps of the combined machine, on Python lists (a few bytes per token).

    One per index (``_Machine.of``), and cheap to make: a matcher is made per sequence, and the
    first one's cost is part of the first mask.
    """

    __slots__ = ("rows", "calls", "open_object", "open_array", "final")

    def __init__(self, index: PushdownIndex) -> None:
        c = index.containers
        self.rows = _LazyRows(c.transitions)
        self.calls = c.calls  # read only where a token opens a container
        self.open_object, self.open_array = (int(x) for x in c.opens)
        self.final = c.final

    @staticmethod
    def of(index: PushdownIndex) -> _Machine:
        machine = index.__dict__.get("_machine")
        if machine is None:
            machine = index.__dict__["_machine"] = _Machine(index)
        return machine

    def step(self, s: int, stack: Stack, data: bytes) -> tuple[int, Stack] | None:
        """The configuration after ``data``, or None where the machine refuses it."""
        rows, calls, final = self.rows, self.calls, self.final
        for b in data:
            t = rows[s][b]
            if t < 0:
                if b != 123 and b != 91:
                    return None
                call = int(calls[s])
                if call < 0:
                    return None
                stack = (call, stack)
                t = self.open_object if b == 123 else self.open_array
            if t == final:
                t, stack = stack  # type: ignore[misc]
            s = t
        return s, stack

    def next_bytes(self, s: int, stack: Stack) -> list[int]:
        """The bytes the machine reads next from ``(s, stack)``."""
        row = self.rows[s]
        out = [b for b in range(256) if row[b] >= 0]
        if self.calls[s] >= 0:
            out += [b for b in (123, 91) if row[b] < 0]
        return out


class PushdownMatcher(TokenHistory):
    """Tracks one sequence through a ``PushdownConstraint``: a state and a stack of return states."""

    __slots__ = ("_index", "_machine", "_accepting", "_token_bytes", "_usable", "_eos", "_eos_words", "_history")

    def __init__(self, index: PushdownIndex) -> None:
        self._index = index
        self._machine = _Machine.of(index)
        self._accepting = index.dfa.accepting
        vocab = index.vocab
        self._token_bytes = vocab.token_bytes
        self._usable = vocab.usable
        self._eos = frozenset(vocab.eos_token_ids)
        self._eos_words = index.eos_row
        self._history: list[tuple[int, Stack]] = [(index.dfa.start, None)]

    def fill_mask(self, row: np.ndarray) -> None:
        """Write this sequence's allowed tokens into one int32 bitmask row (every bit is set or cleared)."""
        config = self._history[-1]
        if config == _FINISHED:
            row[:] = self._eos_words
        elif config[1] is None:
            row[:] = self._index.mask(config[0])
        else:
            row[:] = self._index.stack_mask(*config)

    def fill_eos_mask(self, row: np.ndarray) -> None:
        row[:] = self._eos_words

    def is_accepting(self) -> bool:
        s, stack = self._history[-1]
        return self._history[-1] == _FINISHED or (stack is None and bool(self._accepting[s]))

    def is_finished(self) -> bool:
        return self._history[-1] == _FINISHED

    def forced_bytes(self) -> bytes:
        """The bytes every continuation must start with."""
        s, stack = self._history[-1]
        if (s, stack) == _FINISHED:
            return b""
        out = bytearray()
        while len(out) < _MAX_FORCED and not (stack is None and self._accepting[s]):
            nxt = self._machine.next_bytes(s, stack)
            if len(nxt) != 1:
                break
            out.append(nxt[0])
            s, stack = self._machine.step(s, stack, bytes(nxt))  # type: ignore[misc]
        return bytes(out)

    def forced_tokens(self) -> list[int]:
        """Tokens that spell the forced bytes, cut where a longer token could run past them (see ``Matcher``)."""
        config = self._history[-1]
        if config == _FINISHED:
            return []
        vocab, out = self._index.vocab, []
        data, pos = self.forced_bytes(), 0
        while pos < len(data) and len(out) < _MAX_FORCED:
            rest = data[pos:]
            if vocab.trie.has_longer_token(rest):
                break
            token = vocab.longest_token_prefix(rest)
            nxt = None if token < 0 else self._after(config, token)
            if nxt is None:
                break
            out.append(token)
            pos += len(vocab.token_bytes[token])
            config = nxt
        return out

    def fork(self) -> PushdownMatcher:
        twin = PushdownMatcher.__new__(PushdownMatcher)
        for name in PushdownMatcher.__slots__:
            setattr(twin, name, getattr(self, name))
        twin._history = list(self._history)
        return twin

    def _after(self, config: tuple[int, Stack], token: int) -> tuple[int, Stack] | None:
        end = self._machine.step(config[0], config[1], self._token_bytes[token])
        if end is None or (end[1] is None and not self._index.good[end[0]]):
            return None
        return end

    def _next(self, token: int) -> tuple[int, Stack] | None:
        config = self._history[-1]
        if token in self._eos:
            return _FINISHED if config == _FINISHED or self.is_accepting() else None
        if config == _FINISHED or not 0 <= token < len(self._token_bytes) or not self._usable[token]:
            return None
        return self._after(config, token)
