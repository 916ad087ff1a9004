"""``ByteDFA``: a deterministic automaton over bytes, trimmed and minimised, as numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from structgen.automata._kernels import (
    _byte_classes_by_rows,
    _hopcroft,
    _narrowed,
    _quotient_bfs,
    _table_fingerprint,
    _trim,
)

DEAD = -1


@dataclass(frozen=True, eq=False)
class ByteDFA:
    """A trimmed DFA over bytes: every state can still reach an accepting state.

    ``transitions[s, b]`` is the state after byte ``b`` from state ``s``, or ``-1`` (dead).
    """

    transitions: np.ndarray  # (n_states, 256) int32
    accepting: np.ndarray  # (n_states,) bool
    start: int

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @cached_property
    def fingerprint(self) -> str:
        """A 128-bit content key: equal tables, accepting flags and start give equal fingerprints."""
        h1, h2 = _table_fingerprint(np.ascontiguousarray(self.transitions, dtype=np.int32),
                                    np.ascontiguousarray(self.accepting, dtype=np.bool_), self.start)
        return f"{int(h1):016x}{int(h2):016x}"

    @cached_property
    def byte_classes(self) -> np.ndarray:
        """``byte_classes[b]``: the class of byte ``b``; bytes of one class have the same column."""
        if self.n_states == 0:
            return np.zeros(256, np.int32)
        of_byte, _, ok = _byte_classes_by_rows(np.ascontiguousarray(self.transitions, dtype=np.int32))
        return of_byte if ok else np.arange(256, dtype=np.int32)

    @cached_property
    def class_table(self) -> np.ndarray:
        """The transitions with one column per class of ``byte_classes`` (class ``c`` is column ``c``)."""
        _, first = np.unique(self.byte_classes, return_index=True)
        return np.take(self.transitions, first, axis=1)

    @cached_property
    def byte_runs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The transitions as byte-range edges ``(source, lo, hi, target)``, runs of one target merged
        (kept: a DFA embedded in many places of an NFA is converted once)."""
        n = self.n_states
        padded = np.concatenate([self.transitions, np.full((n, 1), DEAD - 1, np.int32)], axis=1).ravel()
        starts = np.flatnonzero(np.concatenate([[True], padded[1:] != padded[:-1]]))
        ends = np.append(starts[1:], padded.size) - 1
        values = padded[starts]
        keep = values >= 0  # the sentinel column keeps runs inside their row
        starts, ends = starts[keep], ends[keep]
        return starts // 257, starts % 257, ends % 257, values[keep]

    @cached_property
    def out_degree(self) -> np.ndarray:
        """Number of live byte transitions per state."""
        return (self.transitions != DEAD).sum(axis=1)

    def walk(self, data: bytes, state: int | None = None) -> int:
        """The state after reading ``data`` (``-1`` once dead)."""
        if self.n_states == 0:
            return DEAD  # the empty language
        s = self.start if state is None else state
        trans = self.transitions
        for b in data:
            s = int(trans[s, b])
            if s == DEAD:
                return DEAD
        return s

    def matches(self, data: bytes) -> bool:
        s = self.walk(data)
        return s != DEAD and bool(self.accepting[s])

    def forced_bytes(self, state: int) -> bytes:
        """The bytes every continuation from ``state`` must start with."""
        out = bytearray()
        s = state
        seen = set()
        while not self.accepting[s] and self.out_degree[s] == 1 and s not in seen:
            seen.add(s)
            b = int(np.flatnonzero(self.transitions[s] != DEAD)[0])
            out.append(b)
            s = int(self.transitions[s, b])
        return bytes(out)


def trim_and_minimise(transitions: np.ndarray, accepting: np.ndarray, start: int) -> ByteDFA:
    """Drop unreachable and dead states, then merge equivalent ones (Hopcroft, compiled).

    States are numbered breadth-first from the start (which is 0). Returns a DFA with zero states
    when the language is empty.
    """
    transitions = np.ascontiguousarray(transitions, dtype=np.int32)
    accepting = np.ascontiguousarray(accepting, dtype=np.bool_)
    n = transitions.shape[0]
    if transitions.ndim != 2 or transitions.shape[1] != 256 or accepting.shape != (n,) or not 0 <= start < max(n, 1):
        raise ValueError(f"Expected an (n, 256) transition table, n accepting flags and a start state; got "
                         f"{transitions.shape}, {accepting.shape}, {start}")
    if n == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    if transitions.max() >= n or transitions.min() < DEAD:
        raise ValueError("transition targets must be states of the table or -1")
    return trim_and_minimise_valid(transitions, accepting, start)


def trim_and_minimise_valid(transitions: np.ndarray, accepting: np.ndarray, start: int) -> ByteDFA:
    """``trim_and_minimise`` of a table already known to be well formed (contiguous int32,
    targets in range), as products build them: no checking passes."""
    if transitions.shape[0] == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    of_byte, table = _narrowed(transitions)
    return minimal_dfa(table, accepting, start, of_byte)


def minimal_dfa(table: np.ndarray, accepting: np.ndarray, start: int, of_byte: np.ndarray, *,
                trimmed: bool = False) -> ByteDFA:
    """The trimmed, minimised DFA of a table with one column per byte class (``of_byte[b]``: the
    column of byte ``b``; well formed, as ``trim_and_minimise_valid``). ``trimmed``: the caller
    knows every state is reachable and live (no trimming pass).

    Every pass but the last runs on the narrow table: a schema's automaton has tens of byte
    classes, so trimming, Hopcroft and the quotient touch a fraction of a 256-wide table.
    """
    if table.shape[0] == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    t, acc = table, accepting
    if not trimmed:
        t, acc, start = _trim(table, accepting, start)
    if start < 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    cls, n_cls = _hopcroft(t, acc)
    out, rep = _quotient_bfs(t, cls, n_cls, start)
    return ByteDFA(np.take(out, of_byte, axis=1), acc[rep], 0)
