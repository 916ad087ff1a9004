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
