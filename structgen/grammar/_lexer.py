"""The contextual lexer: for each parse state, the DFA of the terminals it can take next.

A lexer runs the DFAs of a set of terminals side by side (their product), so one state tells
which terminals are still alive and which accept. It is greedy: a lexeme goes on while any
allowed terminal can extend it and ends at the first byte none can take (maximal munch, as lark's
lexers do); the accepting terminals of its last state are the lexeme's candidates.

*Shadow* terminals (a grammar's identifier terminal, say) always take part in the longest match
but are never candidates: a lexeme that only a shadow can go on with is refused (``BLOCKED``).
This is how a conventional lexer reads ``increases`` as one word even where only the keyword ``in``
may come next, instead of ``in`` + ``creases``.

The lexers of one grammar share their states (``ProductSpace``). A product state is the set of
terminals still alive with their DFA states, whatever set the lexeme started with: the lexers of
an object's key positions (each allowing the property names not yet written) meet as soon as a
name's first bytes leave one candidate. A new parse context then builds only the states no lexer
reached before, and masks and walks learnt from a state serve every lexer that reaches it. A
lexer is a ``Lexer``: a space and the state of its empty lexeme.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from bisect import bisect_right
from itertools import count

import numpy as np

from structgen._errors import CompileTimeoutError
from structgen.automata import DEAD, ByteDFA
from structgen.automata._bounded_equivalence import bounded_representatives
from structgen.automata._kernels import _byte_classes_by_rows
from structgen.grammar._cfg import Terminal
from structgen.grammar._kernels import PRODUCT_TOO_LARGE, _joint_byte_classes, _product_extend

_ids = count()
_VISITS_BEFORE_CLASSES = 6  # new states walked before a large space's classes are worth computing
_MIN_CLASS_STATES = 256
BLOCKED = -2  # a transition into a state only shadow terminals are alive in: the lexeme can never be taken
UNKNOWN_ROOM, NOT_A_STRING = -2, -1  # ``string_rooms``: not checked yet; not inside a bounded JSON string


class LexerSpace(ABC):
    """States that lexers share, by number: a transition table (``-1`` dead, ``BLOCKED``), which
    states accept, and what mask walks learn per state as they go (``like_ref``, ``after_quote``:
    which states read a JSON string as the reference does, and where its closing quote leads;
    ``string_rooms``: the characters left in a bounded string's states)."""

    __slots__ = (
        "id", "transitions", "accepting", "like_ref", "after_quote", "string_rooms", "_loops", "_representatives",
        "_batches", "_first_visits",
    )

    def __init__(self) -> None:
        self.id = next(_ids)
        self._loops = np.zeros((0, 4), np.uint64)
        self._representatives = np.zeros(0, np.int32)  # per state, once its batch has classes
        self._batches: list[int] = []  # first state of each batch of states built together
        self._first_visits: list[int] = []  # mask walks from new states, per batch

    @property
    @abstractmethod
    def n_states(self) -> int:
        """States built so far (arrays may be longer: room to grow)."""

    @abstractmethod
    def accepts(self, state: int) -> frozenset[int]:
        """The candidate terminals of a lexeme that ends in ``state``."""

    @abstractmethod
    def _table_by_class(self) -> np.ndarray:
        """The built states' transitions, one column per class of bytes they treat alike."""

    def _observation(self, lo: int, hi: int) -> np.ndarray:
        """Per state ``lo:hi``, a number per distinct set of accepting terminals (0: none)."""
        obs = np.zeros(hi - lo, np.int32)
        numbers: dict[frozenset[int], int] = {}
        for s in (np.flatnonzero(self.accepting[lo:hi]) + lo).tolist():
            obs[s - lo] = numbers.setdefault(self.accepts(s), len(numbers) + 1)
        return obs

    def shared_mask_state(self, state: int) -> int:
        """The state whose mask ``state`` shares (itself until ``note_first_visit`` sees enough)."""
        reps = self._representatives
        return state if state >= reps.shape[0] else int(reps[state])

    def note_first_visit(self, state: int, depth: int) -> None:
        """Count a mask walk from the new state ``state``; a large batch of states (those one
        lexer added, a long bounded string's: one state per character) that keeps meeting new
        states then gets its classes of states that no token of at most ``depth`` bytes tells
        apart (same bytes dead, blocked or alive, same terminals accepting), which share one mask.
        Paid for only where the walks cost more already."""
        b = bisect_right(self._batches, state) - 1
        self._first_visits[b] += 1
        lo = self._batches[b]
        hi = self._batches[b + 1] if b + 1 < len(self._batches) else self.n_states
        if self._first_visits[b] == _VISITS_BEFORE_CLASSES and hi - lo >= _MIN_CLASS_STATES:
            self._classes(lo, hi, depth)

    def _classes(self, lo: int, hi: int, depth: int) -> None:
        """The representatives of states ``lo:hi``. A transition out of the batch is seen as a
        sink, one per representative of its target: states that reach states no token tells
        apart stay together, and the classes are never coarser than the true ones."""
        table = self._table_by_class()[lo:hi]  # a batch leads only to itself and earlier states
        reps = np.arange(max(hi, self._representatives.shape[0]), dtype=np.int32)
        reps[: self._representatives.shape[0]] = self._representatives
        local = np.where(table >= lo, table - lo, np.where(table >= 0, -3 - reps[np.maximum(table, 0)], table))
        reps[lo:hi] = bounded_representatives(local.astype(np.int32), self._observation(lo, hi), depth) + lo
        self._representatives = reps

    @property
    def loops(self) -> np.ndarray:
        """``loops[s]``: the bytes that lead state ``s`` back to itself (4 words of 64 bits)."""
        n, done = self.n_states, self._loops.shape[0]
        if done < n:
            rows = self.transitions[done:n]
            same = rows == np.arange(done, n, dtype=np.int32)[:, None]
            new = np.packbits(same, axis=1, bitorder="little").view(np.uint64).reshape(n - done, 4)
            self._loops = np.concatenate([self._loops, new]) if done else new
        return self._loops


class TerminalSpace(LexerSpace):
    """One terminal's own DFA, with no product: a 1,000-character string lexeme has thousands of
    states, read in place."""

    __slots__ = ("_terminal", "_by_class")

    def __init__(self, dfa: ByteDFA, terminal: int) -> None:
        super().__init__()
        self._terminal = frozenset({terminal})
        self.transitions = dfa.transitions
        self.accepting = dfa.accepting.astype(np.bool_)
        self.like_ref = np.zeros(dfa.n_states, np.int8)
        self.after_quote = np.full(dfa.n_states, -1, np.int32)
        self.string_rooms = np.full(dfa.n_states, UNKNOWN_ROOM, np.int32)
        self._by_class: np.ndarray | None = None
        self._batches.append(0)
        self._first_visits.append(0)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    def accepts(self, state: int) -> frozenset[int]:
        return self._terminal if self.accepting[state] else frozenset()

    def _observation(self, lo: int, hi: int) -> np.ndarray:
        return self.accepting[lo:hi].astype(np.int32)

    def _table_by_class(self) -> np.ndarray:
        if self._by_class is None:
            _, reps, ok = _byte_classes_by_rows(self.transitions)
            self._by_class = np.take(self.transitions, reps if ok else np.arange(256), axis=1)
        return self._by_class


class ProductSpace(LexerSpace):
    """The product states of every lexer of one grammar, built as lexers need them.

    A state is kept as its live components, each a terminal's number (times two, plus one where
    it is a candidate, not a shadow) and its DFA state, in terminal order; a hash table finds a
    set of components built before. ``start`` builds the states an empty lexeme over a set of
    terminals reaches that no lexer reached before: every state in the space has its row.
    """

    __slots__ = (
        "_shadow", "_offsets", "_starts", "_stacked", "_byte_class", "_accepting_all", "_max_new",
        "_rows", "_ptr", "_comp", "_state", "_table", "_n", "_lock", "_accepts",
    )

    def __init__(self, terminals: list[Terminal], shadow: frozenset[int], max_new_states: int) -> None:
        super().__init__()
        self._shadow = shadow
        self._max_new = max_new_states
        dfas = [t.dfa for t in terminals]
        sizes = np.array([d.n_states for d in dfas], np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._starts = [d.start if d.n_states else DEAD for d in dfas]
        of_byte = np.array([d.byte_classes for d in dfas], np.int32).reshape(len(dfas), 256)
        self._byte_class, byte_reps = _joint_byte_classes(of_byte)
        # each terminal's table by its own classes of bytes (kept on its DFA), one column per
        # joint class here: a 14,000-state string terminal is not copied 256 bytes wide
        self._stacked = (
            np.ascontiguousarray(np.concatenate([np.take(d.class_table, d.byte_classes[byte_reps], axis=1)
                                                 for d in dfas if d.n_states]), np.int32)
            if sizes.sum() else np.zeros((1, byte_reps.shape[0]), np.int32)
        )
        self._accepting_all = (np.concatenate([d.accepting for d in dfas]) if sizes.sum()
                               else np.zeros(1, np.bool_)).astype(np.bool_)
        cap, n_cls = 64, byte_reps.shape[0]
        self._rows = np.empty((cap, n_cls), np.int32)
        self._ptr = np.zeros(cap + 1, np.int64)
        self._comp = np.empty(256, np.int32)
        self._state = np.empty(256, np.int32)
        self._table = np.full(256, -1, np.int64)
        self._n = 0
        self.transitions = np.full((cap, 256), DEAD, np.int32)
        self.accepting = np.zeros(cap, np.bool_)
        self.like_ref = np.zeros(cap, np.int8)
        self.after_quote = np.full(cap, -1, np.int32)
        self.string_rooms = np.full(cap, UNKNOWN_ROOM, np.int32)
        self._lock = threading.Lock()
        self._accepts: dict[int, frozenset[int]] = {}  # candidates per state, as lexemes end there

    @property
    def n_states(self) -> int:
        return self._n

    def start(self, terminal_ids: frozenset[int]) -> int:
        """The state of an empty lexeme whose candidates are ``terminal_ids`` (shadows run too)."""
        members = sorted(t for t in terminal_ids | self._shadow if self._starts[t] >= 0)
        codes = np.array([2 * t + (t in terminal_ids) for t in members], np.int32)
        states = np.array([self._starts[t] for t in members], np.int32)
        with self._lock:
            n_old = self._n
            status, rows, ptr, comp, state, table, n, start = _product_extend(
                self._stacked, self._offsets, BLOCKED, self._rows, self._ptr, self._comp, self._state,
                self._table, n_old, codes, states, self._max_new,
            )
            self._rows, self._ptr, self._comp, self._state, self._table = rows, ptr, comp, state, table
            if status == PRODUCT_TOO_LARGE:
                raise CompileTimeoutError(
                    f"a lexer for {len(members)} terminals passed {self._max_new} new states; "
                    "the grammar's terminals overlap too much to run side by side"
                )
            if n > n_old:
                self._add_states(n_old, n)
                self._batches.append(n_old)
                self._first_visits.append(0)
            return int(start)

    def _add_states(self, lo: int, hi: int) -> None:
        """The byte-wide rows and accepting flags of the new states ``lo:hi``."""
        cap = self.transitions.shape[0]
        if hi > cap:
            cap = max(2 * cap, hi)
            self.transitions = _grown(self.transitions, cap, DEAD)
            self.accepting = _grown(self.accepting, cap, False)
            self.like_ref = _grown(self.like_ref, cap, 0)
            self.after_quote = _grown(self.after_quote, cap, -1)
            self.string_rooms = _grown(self.string_rooms, cap, UNKNOWN_ROOM)
        self.transitions[lo:hi] = np.take(self._rows[lo:hi], self._byte_class, axis=1)
        a, b = self._ptr[lo], self._ptr[hi]
        codes, states = self._comp[a:b], self._state[a:b]
        candidate = ((codes & 1) == 1) & self._accepting_all[self._offsets[codes >> 1] + states]
        owner = np.repeat(np.arange(hi - lo), np.diff(self._ptr[lo : hi + 1]))
        self.accepting[lo:hi] = np.bincount(owner[candidate], minlength=hi - lo) > 0
        self._n = hi

    def accepts(self, state: int) -> frozenset[int]:
        got = self._accepts.get(state)
        if got is None:
            a, b = self._ptr[state], self._ptr[state + 1]
            got = self._accepts[state] = frozenset(
                int(c) >> 1 for c, q in zip(self._comp[a:b], self._state[a:b])
                if c & 1 and self._accepting_all[self._offsets[c >> 1] + q]
            )
        return got

    def components(self, state: int) -> dict[int, int]:
        """``{terminal: its DFA state}`` for the terminals alive in ``state`` (shadows included)."""
        a, b = self._ptr[state], self._ptr[state + 1]
        return {int(c) >> 1: int(q) for c, q in zip(self._comp[a:b], self._state[a:b])}

    def _table_by_class(self) -> np.ndarray:
        return self._rows[: self._n]


def _grown(array: np.ndarray, cap: int, fill) -> np.ndarray:
    out = np.full((cap, *array.shape[1:]), fill, array.dtype)
    out[: array.shape[0]] = array
    return out


class Lexer:
    """The lexer of one set of candidate terminals: a space and its empty lexeme's state."""

    __slots__ = ("space", "start", "terminal_ids")

    def __init__(self, space: LexerSpace, start: int, terminal_ids: frozenset[int]) -> None:
        self.space = space
        self.start = start
        self.terminal_ids = terminal_ids

    def __repr__(self) -> str:
        return f"Lexer({sorted(self.terminal_ids)}, space {self.space.id}, start {self.start})"
