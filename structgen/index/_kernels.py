"""Compiled kernels of the token index: trie walks that turn automaton states into token masks.

Private ``@njit`` functions on plain arrays; the validating wrappers live in ``_token_index``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _walk_state_mask(
    node_byte, node_depth, node_end, tok_start, tok_end, token_order, max_depth,
    transitions, good, start, out_words,
):  # pragma: no cover - compiled
    """Set in ``out_words`` (uint32) the bit of every token whose bytes lead ``start`` to a good state.

    Returns ``(count, last_token)``: how many tokens were allowed and the last one seen.
    """
    states = np.empty(max_depth + 1, np.int32)
    states[0] = start
    n = node_byte.shape[0]
    count = 0
    last = -1
    i = 1
    while i < n:
        d = node_depth[i]
        s = transitions[states[d - 1], node_byte[i]]
        if s < 0:
            i = node_end[i]
            continue
        states[d] = s
        if good[s]:
            for k in range(tok_start[i], tok_end[i]):
                t = token_order[k]
                out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                count += 1
                last = t
        i += 1
    return count, last


@numba.njit(cache=True, nogil=True)
def _states_with_good_successor(
    node_byte, node_depth, node_end, tok_start, tok_end, max_depth, transitions, good, candidates,
):  # pragma: no cover - compiled
    """For each candidate state: does some token lead it to a good state? (token-level liveness)"""
    out = np.zeros(candidates.shape[0], np.bool_)
    states = np.empty(max_depth + 1, np.int32)
    n = node_byte.shape[0]
    for c in range(candidates.shape[0]):
        states[0] = candidates[c]
        i = 1
        while i < n:
            d = node_depth[i]
            s = transitions[states[d - 1], node_byte[i]]
            if s < 0:
                i = node_end[i]
                continue
            states[d] = s
            if good[s] and tok_end[i] > tok_start[i]:
                out[c] = True
                break
            i += 1
    return out


EXIT = -2  # a region table's mark for a transition that leaves the region


@numba.njit(cache=True, nogil=True)
def _region_of(transitions, start, fence, max_states, scratch):  # pragma: no cover - compiled
    """The region of ``start``: the states it reaches without crossing an edge on byte ``fence``.

    For JSON text with ``fence`` the quote, from inside a string that is the rest of its body
    (escapes, UTF-8 continuations and a leading required character included). Returns the
    region's table in canonical breadth-first order from ``start`` (targets inside renumbered,
    targets outside ``EXIT``, dead ``-1``) and the real state of each canonical one; empty when
    the region is trivial or exceeds ``max_states``.
    ``scratch`` (one int32 per state, all -1) is used and restored.
    """
    empty_t = np.empty((0, 256), np.int32)
    empty_r = np.empty(0, np.int32)
    # forward closure without fence edges; scratch[state] = its index in ``order``
    order = np.empty(max_states, np.int32)
    scratch[start] = 0
    order[0] = start
    n = 1
    head = 0
    too_big = False
    while head < n and not too_big:
        s = order[head]
        head += 1
        for b in range(256):
            if b == fence:
                continue
            t = transitions[s, b]
            if t >= 0 and scratch[t] < 0:
                if n == max_states:
                    too_big = True
                    break
                scratch[t] = n
                order[n] = t
                n += 1
    if too_big:
        for i in range(n):
            scratch[order[i]] = -1
        return empty_t, empty_r
    # every state of that closure is inside: a walk leaves the region only through the fence
    # (or by dying), so the shape is the same wherever the string sits in a schema
    inside = np.ones(n, np.bool_)
    size = n
    trivial = False
    if size == 1:
        trivial = True
        for b in range(256):
            if transitions[start, b] == start:
                trivial = False
    if trivial:
        for i in range(n):
            scratch[order[i]] = -1
        return empty_t, empty_r
    # canonical numbering: breadth-first from start over edges inside the region, bytes in order
    canon = np.full(n, -1, np.int32)
    real = np.empty(size, np.int32)
    canon[0] = 0
    real[0] = start
    table = np.full((size, 256), -1, np.int32)
    m = 1
    head = 0
    while head < m:
        s = real[head]
        for b in range(256):
            t = transitions[s, b]
            if t < 0:
                continue
            k = scratch[t]
            if k >= 0 and inside[k]:
                if canon[k] < 0:
                    canon[k] = m
                    real[m] = t
                    m += 1
                table[head, b] = canon[k]
            else:
                table[head, b] = EXIT
        head += 1
    for i in range(n):
        scratch[order[i]] = -1
    return table, real


@numba.njit(cache=True, nogil=True)
def _walk_region(
    node_byte, node_depth, node_end, tok_start, tok_end, token_order, max_depth, table, good, out_words,
):  # pragma: no cover - compiled
    """Walk the trie inside one region (canonical table from state 0): the tokens that stay inside
    and end in a good state go to ``out_words``; the trie nodes where a walk leaves the region
    are returned with the canonical state before them (the *frontier*).

    Returns ``(count, frontier_nodes, frontier_states)``.
    """
    states = np.empty(max_depth + 1, np.int32)
    states[0] = 0
    n = node_byte.shape[0]
    count = 0
    f_nodes = np.empty(1024, np.int32)
    f_states = np.empty(1024, np.int32)
    n_f = 0
    i = 1
    while i < n:
        d = node_depth[i]
        p = states[d - 1]
        s = table[p, node_byte[i]]
        if s < 0:
            if s == EXIT:
                if n_f == f_nodes.shape[0]:
                    f_nodes = np.concatenate((f_nodes, np.empty(n_f, np.int32)))
                    f_states = np.concatenate((f_states, np.empty(n_f, np.int32)))
                f_nodes[n_f] = i
                f_states[n_f] = p
                n_f += 1
            i = node_end[i]
            continue
        states[d] = s
        if good[s]:
            for k in range(tok_start[i], tok_end[i]):
                t = token_order[k]
                out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                count += 1
        i += 1
    return count, f_nodes[:n_f].copy(), f_states[:n_f].copy()


@numba.njit(cache=True, nogil=True)
def _walk_frontier(
    node_byte, node_depth, node_end, tok_start, tok_end, token_order, max_depth,
    transitions, good, f_nodes, f_from, out_words,
):  # pragma: no cover - compiled
    """Finish a region mask: walk each frontier node's subtree from the real state before it.

    Returns how many tokens were added.
    """
    states = np.empty(max_depth + 1, np.int32)
    count = 0
    for f in range(f_nodes.shape[0]):
        root = f_nodes[f]
        s = transitions[f_from[f], node_byte[root]]
        if s < 0:
            continue
        d0 = node_depth[root]
        states[d0] = s
        if good[s]:
            for k in range(tok_start[root], tok_end[root]):
                t = token_order[k]
                out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                count += 1
        i = root + 1
        stop = node_end[root]
        while i < stop:
            d = node_depth[i]
            s = transitions[states[d - 1], node_byte[i]]
            if s < 0:
                i = node_end[i]
                continue
            states[d] = s
            if good[s]:
                for k in range(tok_start[i], tok_end[i]):
                    t = token_order[k]
                    out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    count += 1
            i += 1
    return count
