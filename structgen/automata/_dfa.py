"""``ByteDFA``: a deterministic automaton over bytes, trimmed and minimised, as numpy arrays."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np

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
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.transitions, dtype=np.int32).tobytes())
        h.update(np.packbits(self.accepting).tobytes())
        h.update(str(self.start).encode())
        return h.hexdigest()[:32]

    @cached_property
    def out_degree(self) -> np.ndarray:
        """Number of live byte transitions per state."""
        return (self.transitions != DEAD).sum(axis=1)

    def walk(self, data: bytes, state: int | None = None) -> int:
        """The state after reading ``data`` (``-1`` once dead)."""
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


def _successor_lists(transitions: np.ndarray) -> list[list[int]]:
    src, byte = np.nonzero(transitions != DEAD)
    pairs = np.unique(np.stack([src, transitions[src, byte]], axis=1), axis=0)
    succ: list[list[int]] = [[] for _ in range(transitions.shape[0])]
    for s, d in pairs.tolist():
        succ[s].append(d)
    return succ


def _closure(seeds: list[int], edges: list[list[int]], n: int) -> np.ndarray:
    seen = np.zeros(n, dtype=bool)
    seen[seeds] = True
    stack = list(seeds)
    while stack:
        for nxt in edges[stack.pop()]:
            if not seen[nxt]:
                seen[nxt] = True
                stack.append(nxt)
    return seen


def trim_and_minimise(transitions: np.ndarray, accepting: np.ndarray, start: int) -> ByteDFA:
    """Drop unreachable and dead states, then merge equivalent ones (Moore refinement).

    Returns a DFA with zero states when the language is empty.
    """
    n = transitions.shape[0]
    succ = _successor_lists(transitions)
    pred: list[list[int]] = [[] for _ in range(n)]
    for s, targets in enumerate(succ):
        for d in targets:
            pred[d].append(s)
    reach = _closure([start], succ, n)
    alive = reach & _closure(np.flatnonzero(accepting & reach).tolist(), pred, n)
    if not alive[start]:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    keep = np.flatnonzero(alive)
    remap = np.full(n + 1, DEAD, dtype=np.int64)  # index n stands for DEAD
    remap[keep] = np.arange(keep.size)
    t = remap[np.where(transitions[keep] == DEAD, n, transitions[keep])]
    acc = accepting[keep]
    # Moore partition refinement; -1 (dead) is its own class. Rows are keyed by their bytes:
    # far faster than np.unique(axis=0) on the small automata regexes make.
    cls = acc.astype(np.int64)
    n_cls = len(np.unique(cls))
    safe_t = np.where(t == DEAD, 0, t)
    while True:
        sig = np.ascontiguousarray(np.concatenate([cls[:, None], np.where(t == DEAD, -1, cls[safe_t])], axis=1))
        ids: dict[bytes, int] = {}
        cls = np.fromiter((ids.setdefault(row.tobytes(), len(ids)) for row in sig), np.int64, sig.shape[0])
        if len(ids) == n_cls:
            break
        n_cls = len(ids)
    # number the classes in depth-first order from the start: stable, readable state ids
    new_succ = _successor_lists(t)
    first = np.full(n_cls, -1)
    reps: list[int] = []
    start_new = int(remap[start])
    stack, seen = [start_new], {start_new}
    while stack:
        s = stack.pop()
        if first[cls[s]] == -1:
            first[cls[s]] = len(reps)
            reps.append(s)
        for nxt in new_succ[s]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    out = t[reps]
    out = np.where(out == DEAD, DEAD, first[cls[np.where(out == DEAD, 0, out)]])
    return ByteDFA(out.astype(np.int32), acc[reps].copy(), 0)
