"""States that no token can tell apart: equivalence up to a bounded depth.

A token mask looks at most ``depth`` bytes (the longest token) ahead of a state. Two states that
show the same observation after every word of at most ``depth`` bytes therefore have the same
mask, even where a minimised automaton keeps them apart because they differ further on: the
positions of a string with ``maxLength: 32767`` are 32,767 states, but only those within a token's
length of either bound differ in what a token can do. Keying masks by the class's representative
turns thousands of first visits into one.

The classes are Moore's partition refinement stopped after ``depth`` rounds (round ``k`` splits
states that differ after some ``k``-byte word), or earlier where a round splits nothing.
"""

from __future__ import annotations

import numba
import numpy as np

from structgen.automata._kernels import _byte_classes_by_rows

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


def bounded_representatives(transitions: np.ndarray, observation: np.ndarray, depth: int) -> np.ndarray:
    """For each state, the lowest-numbered state equivalent to it up to ``depth`` bytes.

    ``transitions`` is an ``(n, 256)`` table whose negative entries are sinks (each negative value
    its own observation: dead, blocked); ``observation[s]`` is what is seen in state ``s`` itself
    (accepting, say, or which terminals accept).
    """
    n = transitions.shape[0]
    if transitions.ndim != 2 or transitions.shape[1] != 256 or observation.shape != (n,):
        raise ValueError("bounded_representatives: expected an (n, 256) table and n observations")
    if depth < 0:
        raise ValueError(f"bounded_representatives: depth must be >= 0, got {depth}")
    table = np.ascontiguousarray(transitions, dtype=np.int32)
    _, columns, ok = _byte_classes_by_rows(table)
    if not ok:
        columns = np.arange(256, dtype=np.int32)
    _, first = np.unique(observation, return_inverse=True)
    return _refine(table, columns.astype(np.int32), first.astype(np.int32).ravel(), depth)


@numba.njit(cache=True, nogil=True)
def _refine(transitions, columns, classes, depth):  # pragma: no cover - compiled
    """Moore refinement for at most ``depth`` rounds; returns each state's class representative."""
    n = transitions.shape[0]
    width = columns.shape[0] + 1
    count = 0
    for s in range(n):
        count = max(count, classes[s] + 1)
    size = 1
    while size < 2 * n + 2:
        size *= 2
    signatures = np.empty((n, width), np.int32)
    table = np.empty(size, np.int64)
    sig = np.empty(width, np.int32)
    new = np.empty(n, np.int32)
    for _ in range(depth):
        table[:] = -1
        m = 0
        for s in range(n):
            sig[0] = classes[s]
            h = (_FNV_OFFSET ^ np.uint64(classes[s] + 2)) * _FNV_PRIME
            for j in range(width - 1):
                t = transitions[s, columns[j]]
                v = classes[t] if t >= 0 else t
                sig[j + 1] = v
                h = (h ^ np.uint64(v + 2)) * _FNV_PRIME
            slot = np.int64(h & np.uint64(size - 1))
            while True:
                k = table[slot]
                if k < 0:
                    signatures[m] = sig
                    table[slot] = m
                    new[s] = m
                    m += 1
                    break
                same = True
                for c in range(width):
                    if signatures[k, c] != sig[c]:
                        same = False
                        break
                if same:
                    new[s] = k
                    break
                slot = (slot + 1) & (size - 1)
        stable = m == count  # refinement only splits: as many classes means the same partition
        classes, new = new, classes
        count = m
        if stable:
            break
    first = np.full(count, -1, np.int32)
    reps = np.empty(n, np.int32)
    for s in range(n):
        c = classes[s]
        if first[c] < 0:
            first[c] = s
        reps[s] = first[c]
    return reps
