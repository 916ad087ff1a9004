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


def trim_and_minimise(transitions: np.ndarray, accepting: np.ndarray, start: int) -> ByteDFA:
    """Drop unreachable and dead states, then merge equivalent ones (Moore refinement).

    Returns a DFA with zero states when the language is empty.
    """
    n = transitions.shape[0]
    # reachable from start
    reach = np.zeros(n, dtype=bool)
    reach[start] = True
    frontier = np.array([start])
    while frontier.size:
        nxt = np.unique(transitions[frontier])
        nxt = nxt[nxt != DEAD]
        nxt = nxt[~reach[nxt]]
        reach[nxt] = True
        frontier = nxt
    # co-reachable: can reach an accepting state
    alive = accepting & reach
    while True:
        succ_alive = np.zeros(n, dtype=bool)
        safe = np.where(transitions == DEAD, 0, transitions)
        succ_alive = ((transitions != DEAD) & alive[safe]).any(axis=1)
        new = alive | (succ_alive & reach)
        if (new == alive).all():
            break
        alive = new
    if not alive[start]:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    keep = np.flatnonzero(alive)
    remap = np.full(n + 1, DEAD, dtype=np.int64)  # index n stands for DEAD
    remap[keep] = np.arange(keep.size)
    t = np.where(transitions[keep] == DEAD, n, transitions[keep])
    t = remap[t]
    acc = accepting[keep]
    # Moore partition refinement; -1 (dead) is its own class
    cls = acc.astype(np.int64)
    n_cls = len(np.unique(cls))
    while True:
        succ = np.where(t == DEAD, -1, cls[np.where(t == DEAD, 0, t)])
        sig = np.concatenate([cls[:, None], succ], axis=1)
        _, new_cls = np.unique(sig, axis=0, return_inverse=True)
        new_cls = new_cls.reshape(-1)
        new_n = int(new_cls.max()) + 1
        cls = new_cls
        if new_n == n_cls:
            break
        n_cls = new_n
    # number classes in order of first appearance from start (stable, readable state ids)
    first = np.full(n_cls, -1)
    order = []
    start_new = int(remap[start])
    stack = [start_new]
    seen = np.zeros(t.shape[0], dtype=bool)
    seen[start_new] = True
    while stack:
        s = stack.pop()
        c = cls[s]
        if first[c] == -1:
            first[c] = len(order)
            order.append(s)
        for nxt in np.unique(t[s]):
            if nxt != DEAD and not seen[nxt]:
                seen[nxt] = True
                stack.append(int(nxt))
    reps = np.array(order)
    out = t[reps]
    out = np.where(out == DEAD, DEAD, first[cls[np.where(out == DEAD, 0, out)]])
    return ByteDFA(out.astype(np.int32), acc[reps].copy(), 0)
