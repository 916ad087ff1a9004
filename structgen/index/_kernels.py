"""Compiled kernels of the token index: trie walks that turn automaton states into token masks.

Private ``@njit`` functions on plain arrays; the validating wrappers live in ``_token_index``.
"""

from __future__ import annotations

import numba
import numpy as np


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


# ----------------------------------------------------------------------------- subtree skipping
#
# A walk takes a whole trie subtree at once where every token in it is known to lead to a good
# state. That is decided against a small reference automaton ``A`` (see ``_skipping``), whose
# reading from its state 0 starts one *character* per byte (weight 1), less a set ``X`` of the
# bytes it reads from state 0 (refused there by the state at hand):
#
# - per vocabulary, ``lim[i, a]``: the most characters a suffix below trie node ``i`` starts when
#   read from state ``a`` of ``A`` (``NO_LIMIT`` when one of them leaves ``A``), and ``below[i]``:
#   the bytes below node ``i`` (a 256-bit set);
# - per automaton and ``X``, ``sim[q]``: a state ``a`` of ``A`` and a *budget* ``r`` such that
#   every string of ``A`` less ``X`` from ``a`` starting at most ``r`` characters leads ``q``
#   through good states only.
#
# A node reached in ``q`` with ``lim[i, a] <= r`` and no byte of ``X`` below has every token of
# its subtree allowed. (``A`` less ``X`` is ``A`` where ``X`` is read from state 0 only: bytes
# that only ever start a character, so "no byte of X below" is "no such character below".)

NO_LIMIT = 32767  # a node limit: some suffix below the node leaves A
MAX_BUDGET = NO_LIMIT - 1  # budgets are capped below NO_LIMIT (above any token's length)
INFINITE = 1 << 27  # a pair's budget while no dead end is known
SIM_UNKNOWN = -2  # sim[q]: not computed
SIM_NONE = -1  # sim[q]: computed, no budget (q follows no state of A)
A_BITS = 4  # sim[q] = (budget << 5) | FINAL? | a, for a reference automaton of at most 16 states
FINAL = 16  # no later search would find a larger budget


@numba.njit(cache=True, nogil=True)
def _node_limits(node_byte, node_depth, a_table, a_weight):  # pragma: no cover - compiled
    """``lim[i, a]`` (int16, see above), in one pass over the nodes in reverse pre-order."""
    n = node_byte.shape[0]
    n_a = a_table.shape[0]
    lim = np.zeros((n, n_a), np.int16)
    # acc[d, a]: the limit so far over the nodes of depth d read since the last node of depth d - 1
    # (in reverse pre-order: the children of the next node of depth d - 1)
    acc = np.zeros((node_depth.max() + 2, n_a), np.int32)
    for c in range(n - 1, -1, -1):
        d = node_depth[c]
        for a in range(n_a):
            lim[c, a] = acc[d + 1, a]
            acc[d + 1, a] = 0
        if c == 0:
            break
        b = node_byte[c]
        for a in range(n_a):
            nxt = a_table[a, b]
            if nxt < 0:
                v = NO_LIMIT
            else:
                v = lim[c, nxt]
                if v != NO_LIMIT:
                    v += a_weight[a]
            if v > acc[d, a]:
                acc[d, a] = v
    return lim


@numba.njit(cache=True, nogil=True)
def _tokens_by_chars(node_byte, node_depth, tok_start, tok_end, a_table, a_weight):  # pragma: no cover
    """``(by_chars, by_first)``: how many trie tokens are strings of ``A`` from state 0, by the
    characters they start and by their first byte."""
    n = node_byte.shape[0]
    a_at = np.empty(node_depth.max() + 1, np.int32)  # A-state of the current branch per depth (-1 left A)
    c_at = np.zeros(node_depth.max() + 1, np.int32)
    a_at[0] = 0
    by_chars = np.zeros(node_depth.max() + 1, np.int64)
    by_first = np.zeros(256, np.int64)
    first = 0
    for i in range(1, n):
        d = node_depth[i]
        if d == 1:
            first = node_byte[i]
        a = a_at[d - 1]
        nxt = -1 if a < 0 else a_table[a, node_byte[i]]
        a_at[d] = nxt
        if nxt >= 0:
            c_at[d] = c_at[d - 1] + a_weight[a]
            by_chars[c_at[d]] += tok_end[i] - tok_start[i]
            by_first[first] += tok_end[i] - tok_start[i]
    return by_chars, by_first


@numba.njit(cache=True, nogil=True)
def _subtree_bytes(node_byte, node_depth):  # pragma: no cover - compiled
    """``below[i]``: the set of bytes of the nodes strictly below node ``i`` (4 words of 64 bits)."""
    n = node_byte.shape[0]
    below = np.zeros((n, 4), np.uint64)
    acc = np.zeros((node_depth.max() + 2, 4), np.uint64)  # as in _node_limits
    for c in range(n - 1, -1, -1):
        d = node_depth[c]
        for w in range(4):
            below[c, w] = acc[d + 1, w]
            acc[d + 1, w] = 0
        if c == 0:
            break
        b = node_byte[c]
        for w in range(4):
            acc[d, w] |= below[c, w]
        acc[d, b >> 6] |= np.uint64(1) << np.uint64(b & 63)
    return below


@numba.njit(cache=True, nogil=True)
def _refused_bytes(transitions, good, state, target, a_table):  # pragma: no cover - compiled
    """The bytes ``A`` reads from state 0 whose characters do not all lead ``state`` through good
    states to ``target`` (``X`` of a reference derived for ``state``), as 4 words of 64 bits."""
    n_a = a_table.shape[0]
    refused = np.zeros(4, np.uint64)
    # ok[q * n_a + a]: 0 unknown, 1 every rest of a character from a leads q to target, 2 not
    ok = np.zeros(transitions.shape[0] * n_a, np.int8)
    stack_q = np.empty(64, np.int64)
    stack_a = np.empty(64, np.int64)
    stack_b = np.empty(64, np.int64)  # next byte to try per level
    for b0 in range(256):
        a0 = a_table[0, b0]
        if a0 < 0:
            continue
        q0 = transitions[state, b0]
        fine = q0 >= 0 and good[q0]
        if fine and a0 == 0:
            fine = q0 == target
        elif fine:
            # depth-first over the rest of the character: every byte A reads must keep going
            top = 0
            stack_q[0] = q0
            stack_a[0] = a0
            stack_b[0] = 0
            while top >= 0 and fine:
                q = stack_q[top]
                a = stack_a[top]
                key = q * n_a + a
                if ok[key] != 0:
                    fine = ok[key] == 1
                    top -= 1
                    continue
                b = stack_b[top]
                while b < 256:
                    a2 = a_table[a, b]
                    if a2 >= 0:
                        q2 = transitions[q, b]
                        if q2 < 0 or not good[q2] or (a2 == 0 and q2 != target):
                            fine = False
                            break
                        if a2 != 0 and ok[q2 * n_a + a2] != 1:
                            if ok[q2 * n_a + a2] == 2 or top + 1 == 64:
                                fine = False
                                break
                            stack_b[top] = b + 1
                            top += 1
                            stack_q[top] = q2
                            stack_a[top] = a2
                            stack_b[top] = 0
                            break
                    b += 1
                if not fine:
                    break
                if b == 256:
                    ok[key] = 1
                    top -= 1
            if not fine:
                for j in range(top + 1):  # the failed path: none of its pairs finishes well
                    ok[stack_q[j] * n_a + stack_a[j]] = 2
        if not fine:
            refused[b0 >> 6] |= np.uint64(1) << np.uint64(b0 & 63)
    return refused


@numba.njit(cache=True, nogil=True)
def _simulate(
    transitions, good, start, a_table, a_weight, a_bytes, a_n_bytes, depth, enough, max_pairs, scratch, sim,
):  # pragma: no cover - compiled
    """Budgets of the pairs ``(q, a)`` reachable from ``(start, any a)`` along ``A``, into ``sim``.

    A pair's budget is the fewest characters read from it along ``A`` before reaching a dead or
    non-good state, minus one: the greatest ``r`` such that every string of ``A`` from ``a``
    starting at most ``r`` characters keeps ``q`` in good states. The search stops ``depth``
    characters from ``start``; past that a pair ``p`` at distance ``d(p)`` gets
    ``min(budget inside, depth - d(p))`` (a path leaving costs at least that much: sound), final
    when it is at least ``enough`` or the search did not matter to it. Pairs past ``max_pairs``
    count as dead ends (smaller budgets: sound). ``sim[q]`` keeps the largest packed value found.
    ``scratch`` (``n_states`` int32, all -1) is used and restored.
    """
    n_a = a_table.shape[0]
    max_pairs = max(max_pairs, n_a)  # room for the seeds
    pq = np.empty(max_pairs, np.int32)
    pa = np.empty(max_pairs, np.int32)
    dist = np.empty(max_pairs, np.int32)  # characters from start (0-1 BFS)
    base = np.empty(max_pairs, np.int32)  # least budget through a dead end next to the pair
    done = np.zeros(max_pairs, np.bool_)
    seen = np.full(max_pairs, -1, np.int32)  # last pair that added an edge to this one
    e_cap = max_pairs * 4
    e_from = np.empty(e_cap, np.int32)
    e_to = np.empty(e_cap, np.int32)
    n_e = 0
    n_p = 0
    cut = False  # some pair lay past ``depth``
    dq = np.empty(4 * max_pairs + 2, np.int32)  # 0-1 BFS deque: a pair is pushed at most twice
    lo = 2 * max_pairs + 1
    hi = lo
    # pair (q, a) is slots[scratch[q] * n_a + a] (-1: none yet); scratch[q] is q's block of slots
    n_b = 0
    b_cap = 64
    slots = np.full(b_cap * n_a, -1, np.int32)
    b_state = np.empty(b_cap, np.int32)
    if good[start]:
        scratch[start] = 0
        b_state[0] = start
        n_b = 1
        for a in range(n_a):
            slots[a] = n_p
            pq[n_p] = start
            pa[n_p] = a
            dist[n_p] = 0
            base[n_p] = INFINITE
            dq[hi] = n_p
            hi += 1
            n_p += 1
    while lo < hi:
        k = dq[lo]
        lo += 1
        if done[k]:
            continue
        done[k] = True
        q = pq[k]
        a = pa[k]
        w = a_weight[a]
        nd = dist[k] + w
        prev_q = -3
        prev_a = -3
        for j in range(a_n_bytes[a]):
            b = a_bytes[a, j]
            a2 = a_table[a, b]
            q2 = transitions[q, b]
            if q2 == prev_q and a2 == prev_a:
                continue
            prev_q = q2
            prev_a = a2
            if q2 < 0 or not good[q2]:
                if w - 1 < base[k]:
                    base[k] = w - 1
                continue
            blk = scratch[q2]
            m = -1 if blk < 0 else slots[blk * n_a + a2]
            if m < 0:
                if nd > depth:
                    cut = True
                    continue
                if n_p == max_pairs:
                    if w - 1 < base[k]:
                        base[k] = w - 1
                    continue
                if blk < 0:
                    if n_b == b_cap:
                        slots = np.concatenate((slots, np.full(b_cap * n_a, -1, np.int32)))
                        b_state = np.concatenate((b_state, np.empty(b_cap, np.int32)))
                        b_cap *= 2
                    blk = n_b
                    n_b += 1
                    scratch[q2] = blk
                    b_state[blk] = q2
                m = n_p
                n_p += 1
                slots[blk * n_a + a2] = m
                pq[m] = q2
                pa[m] = a2
                dist[m] = nd
                base[m] = INFINITE
                if w == 0:
                    lo -= 1
                    dq[lo] = m
                else:
                    dq[hi] = m
                    hi += 1
            elif nd < dist[m]:
                dist[m] = nd
                lo -= 1  # w == 0 here: only a 0-weight edge can improve a pair still queued
                dq[lo] = m
            if seen[m] == k:
                continue
            seen[m] = k
            if n_e == e_cap:
                e_cap *= 2
                e_from = np.concatenate((e_from, np.empty(n_e, np.int32)))
                e_to = np.concatenate((e_to, np.empty(n_e, np.int32)))
            e_from[n_e] = k
            e_to[n_e] = m
            n_e += 1
    # reverse adjacency (CSR) of the pair graph
    r_start = np.zeros(n_p + 1, np.int32)
    for e in range(n_e):
        r_start[e_to[e] + 1] += 1
    for k in range(n_p):
        r_start[k + 1] += r_start[k]
    fill = r_start[:n_p].copy()
    r_src = np.empty(n_e, np.int32)
    for e in range(n_e):
        t = e_to[e]
        r_src[fill[t]] = e_from[e]
        fill[t] += 1
    # budget = least (weights along a path + base at its end): 0-1 BFS back from the bases (-1 or 0)
    budget = base[:n_p].copy()
    size = 3 * n_p + 2 * n_e + 2  # pushes: each base once, each pair settled at most twice
    dq2 = np.empty(2 * size, np.int32)
    lo = size
    hi = size
    for level in (-1, 0):
        for k in range(n_p):
            if budget[k] == level:
                dq2[hi] = k
                hi += 1
    while lo < hi:
        k = dq2[lo]
        lo += 1
        bk = budget[k]
        for j in range(r_start[k], r_start[k + 1]):
            src = r_src[j]
            w = a_weight[pa[src]]
            nb = bk + w
            if nb < budget[src]:
                budget[src] = nb
                if w == 0:
                    lo -= 1
                    dq2[lo] = src
                else:
                    dq2[hi] = src
                    hi += 1
    for j in range(n_b):
        scratch[b_state[j]] = -1
    for k in range(n_p):
        q = pq[k]
        if sim[q] == SIM_UNKNOWN:
            sim[q] = SIM_NONE
        r = budget[k]
        final = True
        if cut and r >= depth - dist[k]:
            r = depth - dist[k]
            final = r >= enough
        if r >= 0:
            packed = (min(r, MAX_BUDGET) << (A_BITS + 1)) | (FINAL if final else 0) | pa[k]
            if packed > sim[q]:
                sim[q] = packed
    if sim[start] == SIM_UNKNOWN:
        sim[start] = SIM_NONE


@numba.njit(cache=True, nogil=True)
def _walk_skipping(
    node_byte, node_depth, node_end, tok_start, tok_end, sub_end, token_order, max_depth,
    transitions, good, start, sim, lim, below, refused, out_words, complement, calls, ev_node, ev_state,
):  # pragma: no cover - compiled
    """The tokens whose bytes lead ``start`` to a good state, into ``out_words`` (uint32 bits),
    taking whole subtrees where ``sim``, ``lim`` (transposed: ``lim[a, i]``), ``below`` and
    ``refused`` (``X``) allow them.

    ``sub_end[i]``: the end of node ``i``'s subtree in ``token_order`` (it starts at
    ``tok_start[i]``). With ``complement``, ``out_words`` starts with every trie token set and the
    walk clears the refused ones (cheaper where most are allowed). Returns ``(count, last_token,
    events)`` (``last_token`` is -1 with ``complement``).

    Where the automaton has holes (``calls[s]``: the state a container read from ``s`` returns
    to, see ``_pushdown``; an empty array where it has none), a ``{`` or ``[`` the automaton
    refuses from such a state starts a container: the node and state are recorded as an event
    ``(ev_node, ev_state)`` for ``_walk_pushdown`` to go on from. Returns the event count too.
    """
    states = np.empty(max_depth + 1, np.int32)
    states[0] = start
    n = node_byte.shape[0]
    check_below = refused[0] | refused[1] | refused[2] | refused[3] != 0
    count = 0
    cleared = 0
    last = -1
    has_calls = calls.shape[0] > 0
    n_ev = 0
    i = 1
    while i < n:
        d = node_depth[i]
        s = transitions[states[d - 1], node_byte[i]]
        if s < 0:
            if has_calls and calls[states[d - 1]] >= 0 and (node_byte[i] == 123 or node_byte[i] == 91):
                ev_node[n_ev] = i
                ev_state[n_ev] = states[d - 1]
                n_ev += 1
            if complement:
                for k in range(tok_start[i], sub_end[i]):
                    t = token_order[k]
                    out_words[t >> 5] &= ~(np.uint32(1) << np.uint32(t & 31))
                cleared += sub_end[i] - tok_start[i]
            i = node_end[i]
            continue
        v = sim[s]
        if (
            v >= 0
            and lim[v & 15, i] <= (v >> 5)
            and not (check_below and (below[i, 0] & refused[0] or below[i, 1] & refused[1]
                                      or below[i, 2] & refused[2] or below[i, 3] & refused[3]))
        ):
            if not complement:
                for k in range(tok_start[i], sub_end[i]):
                    t = token_order[k]
                    out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    last = t
                count += sub_end[i] - tok_start[i]
            i = node_end[i]
            continue
        states[d] = s
        if good[s]:
            if not complement:
                for k in range(tok_start[i], tok_end[i]):
                    t = token_order[k]
                    out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    last = t
                count += tok_end[i] - tok_start[i]
        elif complement:
            for k in range(tok_start[i], tok_end[i]):
                t = token_order[k]
                out_words[t >> 5] &= ~(np.uint32(1) << np.uint32(t & 31))
            cleared += tok_end[i] - tok_start[i]
        i += 1
    if complement:
        return token_order.shape[0] - cleared, -1, n_ev
    return count, last, n_ev


@numba.njit(cache=True, nogil=True)
def _walk_pushdown(
    node_byte, node_depth, node_end, tok_start, tok_end, sub_end, token_order, max_depth, below,
    transitions, good, calls, opens, final, n_outer, loops, like_ref, after_quote,
    r0, ref_state, ref_tok_ok, ref_events, roots, root_states, frames, n_frames, out_words,
):  # pragma: no cover - compiled
    """Tokens below each root node, entered by reading its byte from ``root_states[r]`` with the
    stack ``frames[:n_frames]`` (bottom first), that end in a good configuration: into ``out_words``.

    The automaton is ``_pushdown.Containers``' combined table: a ``{`` or ``[`` refused from a state
    with ``calls[s] >= 0`` pushes ``calls[s]`` and enters the container automaton at ``opens``;
    reaching its ``final`` state (the container closed) pops. A configuration is good where its
    state is (``good``: the outer automaton's token-level liveness; every container state).

    Container states (rows ``s - n_outer``) skip work two ways. A subtree whose bytes all loop on
    the state (``loops``) keeps the configuration to its leaves: every token below is taken. In a
    string body (``like_ref``: it reads strings as the reference's body state ``r0``), a subtree the
    reference walk entered in ``r0`` is read off that walk: its tokens that stay in the string
    (``ref_tok_ok``), then its string ends (``ref_events``, the byte after the closing quote) are
    walked on from ``after_quote`` with the same stack, one by one, before the walk goes on.

    The stack is a linked list of frames: the given ones, then one slot per trie depth (a byte
    pushes at most one frame), so a path's stack is never overwritten by a sibling's.
    """
    size = n_frames + max_depth + 1
    value = np.empty(size, np.int32)
    parent = np.empty(size, np.int32)
    for f in range(n_frames):
        value[f] = frames[f]
        parent[f] = f - 1
    states = np.empty(max_depth + 1, np.int32)
    tops = np.empty(max_depth + 1, np.int32)
    for r in range(roots.shape[0]):
        root = roots[r]
        if root == 0:
            states[0] = root_states[r]
            tops[0] = n_frames - 1
            i = 1
        else:
            states[node_depth[root] - 1] = root_states[r]
            tops[node_depth[root] - 1] = n_frames - 1
            i = root
        end = node_end[root]
        ev_lo = ev_hi = 0  # string ends pending from a subtree read off the reference walk
        ev_state = ev_top = 0
        resume_i = resume_end = -1
        while True:
            if i >= end:
                if ev_lo < ev_hi:  # the next string end: walk its subtree, no reference reads inside
                    e = ref_events[ev_lo]
                    ev_lo += 1
                    states[node_depth[e] - 1] = ev_state
                    tops[node_depth[e] - 1] = ev_top
                    i = e
                    end = node_end[e]
                    continue
                if resume_i < 0:
                    break
                i, end = resume_i, resume_end
                resume_i = -1
                continue
            d = node_depth[i]
            p = states[d - 1]
            top = tops[d - 1]
            b = node_byte[i]
            s = transitions[p, b]
            if s < 0:
                if calls[p] < 0 or not (b == 123 or b == 91):
                    i = node_end[i]
                    continue
                slot = n_frames + d
                value[slot] = calls[p]
                parent[slot] = top
                top = slot
                s = opens[0] if b == 123 else opens[1]
            if s == final:
                if top < 0:  # more closing brackets than frames given: never, frames cover a token's
                    i = node_end[i]
                    continue
                s = value[top]
                top = parent[top]
            states[d] = s
            tops[d] = top
            if s >= n_outer and node_end[i] > i + 1:
                c = s - n_outer
                if like_ref[c] and ref_state[i] == r0 and resume_i < 0:
                    for k in range(tok_start[i], sub_end[i]):
                        if ref_tok_ok[k]:
                            t = token_order[k]
                            out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    ev_lo = np.searchsorted(ref_events, i)
                    ev_hi = np.searchsorted(ref_events, node_end[i])
                    ev_state, ev_top = after_quote[c], top
                    resume_i, resume_end = node_end[i], end
                    i = end = 0
                    continue
                inside = True
                for w in range(4):
                    if below[i, w] & ~loops[c, w]:
                        inside = False
                        break
                if inside:
                    for k in range(tok_start[i], sub_end[i]):
                        t = token_order[k]
                        out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    i = node_end[i]
                    continue
            if good[s]:
                for k in range(tok_start[i], tok_end[i]):
                    t = token_order[k]
                    out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
            i += 1
