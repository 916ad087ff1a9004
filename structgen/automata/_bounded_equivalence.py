"""States that no token can tell apart: equivalence up to a bounded depth.

A token mask looks at most ``depth`` bytes (the longest token) ahead of a state. Two states that
show the same observation after every word of at most ``depth`` bytes therefore have the same
mask, even where a minimised automaton keeps them apart because they differ further on: a
string of at most 2,048 characters is some 14,000 states (one per character and UTF-8 or escape
step), but only those within a token's length of either bound differ in what a token can do.
Keying masks by the class's representative turns thousands of first visits into one.

The classes are Moore's partition refinement stopped after ``depth`` rounds (round ``k`` splits
states that differ after some ``k``-byte word), or earlier where a round splits nothing. After the
first round only the predecessors of states that changed class are looked at (the part of a class
that stays keeps its number, as in Hopcroft's algorithm), so a round along a counter costs a few
states, not the whole automaton.
"""

from __future__ import annotations

import numba
import numpy as np

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


def bounded_representatives(successors: np.ndarray, observation: np.ndarray, depth: int) -> np.ndarray:
    """For each state, the lowest-numbered state equivalent to it up to ``depth`` bytes.

    ``successors[s, j]`` is the state after byte class ``j`` from ``s`` (one column per class of
    bytes that the table treats alike, or all 256); a negative entry is a sink, each negative
    value its own observation (dead, blocked). ``observation[s]`` is what is seen in ``s``
    itself (accepting, say, or which terminals accept).
    """
    n = successors.shape[0]
    if successors.ndim != 2 or observation.shape != (n,):
        raise ValueError("bounded_representatives: expected an (n, columns) table and n observations")
    if depth < 0:
        raise ValueError(f"bounded_representatives: depth must be >= 0, got {depth}")
    successors = np.ascontiguousarray(successors, dtype=np.int32)
    _, first = np.unique(observation, return_inverse=True)
    return _refine(successors, first.astype(np.int32).ravel(), depth)


@numba.njit(cache=True, nogil=True)
def _signature(successors, cls, s, out):  # pragma: no cover - compiled
    """``out``: the class of ``s`` and of each successor (sinks as themselves); returns its hash."""
    out[0] = cls[s]
    h = (_FNV_OFFSET ^ np.uint64(cls[s] + 2)) * _FNV_PRIME
    for j in range(successors.shape[1]):
        t = successors[s, j]
        v = cls[t] if t >= 0 else t
        out[j + 1] = v
        h = (h ^ np.uint64(v + 2)) * _FNV_PRIME
    return h


@numba.njit(cache=True, nogil=True)
def _refine(successors, cls, depth):  # pragma: no cover - compiled
    """Bounded Moore refinement on a refinable partition; returns each state's representative.

    Classes are segments of ``elems`` (``begin``, ``size``). A round recomputes the signatures of
    the touched states only: every state the first round, then the predecessors of the states
    that moved to a new class. A class's untouched members all keep one signature (their
    successors kept their classes), so they form one group; the largest group keeps the class's
    number and the others move.
    """
    n, width = successors.shape[0], successors.shape[1] + 1
    pred_ptr = np.zeros(n + 1, np.int64)  # predecessors, as compressed rows
    for s in range(n):
        for j in range(width - 1):
            t = successors[s, j]
            if t >= 0:
                pred_ptr[t + 1] += 1
    for s in range(n):
        pred_ptr[s + 1] += pred_ptr[s]
    preds = np.empty(pred_ptr[n], np.int32)
    at = pred_ptr[:n].copy()
    for s in range(n):
        for j in range(width - 1):
            t = successors[s, j]
            if t >= 0:
                preds[at[t]] = s
                at[t] += 1
    n_cls = 0
    for s in range(n):
        n_cls = max(n_cls, cls[s] + 1)
    size = np.zeros(n, np.int64)
    for s in range(n):
        size[cls[s]] += 1
    begin = np.zeros(n, np.int64)
    for c in range(1, n_cls):
        begin[c] = begin[c - 1] + size[c - 1]
    elems = np.empty(n, np.int32)
    pos = np.empty(n, np.int64)
    fill = begin.copy()
    for s in range(n):
        elems[fill[cls[s]]] = s
        pos[s] = fill[cls[s]]
        fill[cls[s]] += 1
    stamp = np.zeros(n, np.int64)  # round + 1 where the state is touched this round
    n_touched = np.zeros(n, np.int64)  # per class, touched members (at the front of its segment)
    touched = np.empty(n, np.int32)
    touched_classes = np.empty(n, np.int32)
    moved = np.empty(n, np.int32)
    moved_to = np.empty(n, np.int32)
    n_moved = 0
    sigs = np.empty((n + 1, width), np.int32)  # one row per group of the class being split
    group_of = np.empty(n, np.int32)
    slots = 1
    while slots < 2 * n + 2:
        slots *= 2
    table = np.full(slots, -1, np.int64)
    used = np.empty(n + 1, np.int64)
    sig = np.empty(width, np.int32)
    counts = np.empty(n + 1, np.int64)
    offsets = np.empty(n + 1, np.int64)
    for rnd in range(depth):
        # the states to look at: all in the first round, then the predecessors of moved states
        k = 0
        if rnd == 0:
            for s in range(n):
                touched[k] = s
                k += 1
        else:
            for i in range(n_moved):
                t = moved[i]
                for e in range(pred_ptr[t], pred_ptr[t + 1]):
                    p = preds[e]
                    if stamp[p] != rnd + 1:
                        stamp[p] = rnd + 1
                        touched[k] = p
                        k += 1
        if k == 0:
            break
        # touched members to the front of their class's segment
        n_tc = 0
        for i in range(k):
            p = touched[i]
            c = cls[p]
            if n_touched[c] == 0:
                touched_classes[n_tc] = c
                n_tc += 1
            q = begin[c] + n_touched[c]
            other = elems[q]
            elems[q], elems[pos[p]] = p, other
            pos[other], pos[p] = pos[p], q
            n_touched[c] += 1
        n_moved = 0
        for ci in range(n_tc):
            c = touched_classes[ci]
            b, tc = begin[c], n_touched[c]
            n_touched[c] = 0
            # group the class's members by signature; group 0 is the untouched members' (if any)
            n_groups = 0
            n_used = 0
            rest = size[c] - tc
            if rest > 0:
                h = _signature(successors, cls, elems[b + tc], sig)
                slot = np.int64(h & np.uint64(slots - 1))
                sigs[0] = sig
                table[slot] = 0
                used[n_used] = slot
                n_used += 1
                counts[0] = rest
                n_groups = 1
            for i in range(tc):
                p = elems[b + i]
                h = _signature(successors, cls, p, sig)
                slot = np.int64(h & np.uint64(slots - 1))
                while True:
                    g = table[slot]
                    if g < 0:
                        g = n_groups
                        n_groups += 1
                        sigs[g] = sig
                        table[slot] = g
                        used[n_used] = slot
                        n_used += 1
                        counts[g] = 0
                        break
                    same = True
                    for j in range(width):
                        if sigs[g, j] != sig[j]:
                            same = False
                            break
                    if same:
                        break
                    slot = (slot + 1) & (slots - 1)
                group_of[p] = g
                counts[g] += 1
            for i in range(n_used):
                table[used[i]] = -1
            if n_groups == 1:
                continue
            # lay the groups out as consecutive segments: touched groups first, the untouched
            # group (0, when there is one) last, next to its untouched members
            first_touched = 1 if rest > 0 else 0
            at = b
            for g in range(first_touched, n_groups):
                offsets[g] = at
                at += counts[g]
            if rest > 0:
                offsets[0] = at
            for g in range(n_groups):
                fill[g] = offsets[g]
            for i in range(tc):
                touched[i] = elems[b + i]
            for i in range(tc):
                p = touched[i]
                g = group_of[p]
                elems[fill[g]] = p
                pos[p] = fill[g]
                fill[g] += 1
            keep = 0
            for g in range(1, n_groups):
                if counts[g] > counts[keep]:
                    keep = g
            for g in range(n_groups):
                if g == keep:
                    begin[c], size[c] = offsets[g], counts[g]
                    continue
                new = n_cls
                n_cls += 1
                begin[new], size[new] = offsets[g], counts[g]
                for q in range(offsets[g], offsets[g] + counts[g]):
                    moved[n_moved] = elems[q]
                    moved_to[n_moved] = new
                    n_moved += 1
        # renumbered only now: every signature of the round reads the classes of the round before
        for i in range(n_moved):
            cls[moved[i]] = moved_to[i]
        if n_moved == 0:
            break
    first = np.full(n_cls, -1, np.int32)
    reps = np.empty(n, np.int32)
    for s in range(n):
        c = cls[s]
        if first[c] < 0:
            first[c] = s
        reps[s] = first[c]
    return reps
