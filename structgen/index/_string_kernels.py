"""Compiled kernels of the string reference: the trie walked inside a JSON string, and the checks
that tell which automaton states read strings as that walk does.

Private ``@njit`` functions on plain arrays; ``_string_reference`` and the token index call them.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _reference_walk(node_byte, node_depth, node_end, tok_start, tok_end, n_order, ref, ref_acc, r0):  # pragma: no cover
    """The trie walked once from state ``r0`` of the reference automaton ``ref`` (a JSON string
    body): the reference state at each node (``-1``: dead or not reached), whether each token
    (by its place in the trie's token order) stays alive, and the nodes where the string ends
    (the byte after its closing quote), in trie order.
    """
    n = node_byte.shape[0]
    state = np.full(n, -1, np.int32)
    tok_ok = np.zeros(n_order, np.bool_)
    events = np.empty(n, np.int32)
    n_ev = 0
    parent_state = np.empty(node_depth.max() + 2, np.int32)
    parent_state[0] = r0
    i = 1
    while i < n:
        p = parent_state[node_depth[i] - 1]
        s = ref[p, node_byte[i]]
        if s < 0:
            if ref_acc[p]:
                events[n_ev] = i
                n_ev += 1
            i = node_end[i]
            continue
        state[i] = s
        parent_state[node_depth[i]] = s
        for k in range(tok_start[i], tok_end[i]):
            tok_ok[k] = True
        i += 1
    return state, tok_ok, events[:n_ev].copy()


@numba.njit(cache=True, nogil=True)
def _string_body_exit(transitions, q0, ref, r0, end, image):  # pragma: no cover - compiled
    """The state after the closing quote where state ``q0`` reads a JSON string body exactly as
    the reference's body state ``r0`` does (the same bytes alive, the same branching, up to the
    quote that leads the reference to ``end``), else -1. ``image[r]`` receives the state matching
    reference state ``r`` (-1 where none was reached)."""
    image[:] = -1
    image[r0] = q0
    stack = np.empty(ref.shape[0], np.int32)
    stack[0] = r0
    top = 1
    after = -1
    while top:
        top -= 1
        r = stack[top]
        q = image[r]
        for b in range(256):
            tr = ref[r, b]
            tq = transitions[q, b]
            if tr < 0 or tq < 0:
                if (tr < 0) != (tq < 0):
                    return -1
                continue
            if tr == end:
                if after >= 0 and after != tq:
                    return -1
                after = tq
            elif image[tr] < 0:
                image[tr] = tq
                stack[top] = tr
                top += 1
            elif image[tr] != tq:
                return -1
    return after


@numba.njit(cache=True, nogil=True)
def _string_like(transitions, good, q0, ref, r0, end, max_pairs, marks):  # pragma: no cover - compiled
    """Whether state ``q0`` reads the inside of a JSON string as the reference's body state ``r0``
    does: every string the reference reads from ``r0`` without closing it is alive from ``q0`` and
    leads to good states, every other is dead. Only its closing quote may lead on differently by
    path (an object key of given names or any other name). False past ``max_pairs`` state pairs.

    ``marks`` (per state, zero on entry and on return) holds the reference states seen with each.
    """
    # fail fast on a bounded string (maxLength: one state per character, thousands of pairs):
    # the reference reads "aaa..." forever, so a string-like state must come back to a state on
    # it within a few characters (past the names of a key: 64 is plenty; a longer way round
    # leaves the state to the budget walk, which is exact too)
    q = q0
    cycles = False
    for _ in range(64):
        q = transitions[q, 97]
        if q < 0:
            break
        if marks[q] & 1 << 16:
            cycles = True
            break
        marks[q] |= 1 << 16
    q = q0
    for _ in range(64):  # clear the marks again
        q = transitions[q, 97]
        if q < 0 or not marks[q] & 1 << 16:
            break
        marks[q] &= ~(1 << 16)
    if not cycles:
        return False
    stack_r = np.empty(max_pairs, np.int32)
    stack_q = np.empty(max_pairs, np.int32)
    seen_q = np.empty(max_pairs, np.int32)
    stack_r[0], stack_q[0], seen_q[0] = r0, q0, q0
    marks[q0] = 1 << r0
    top, n_seen = 1, 1
    ok = True
    while top and ok:
        top -= 1
        r, q = stack_r[top], stack_q[top]
        if not good[q]:
            ok = False
            break
        for b in range(256):
            tr = ref[r, b]
            tq = transitions[q, b]
            if tr == end:
                continue
            if tr < 0 or tq < 0:
                if (tr < 0) != (tq < 0):
                    ok = False
                    break
                continue
            if not marks[tq] & (1 << tr):
                if n_seen >= max_pairs:
                    ok = False
                    break
                if marks[tq] == 0:
                    seen_q[n_seen] = tq
                    n_seen += 1
                marks[tq] |= 1 << tr
                stack_r[top], stack_q[top] = tr, tq
                top += 1
    for k in range(n_seen):
        marks[seen_q[k]] = 0
    return ok


@numba.njit(cache=True, nogil=True)
def _states_before_quotes(transitions, q0, nodes, parent, node_byte, node_depth, out):  # pragma: no cover
    """For each node (a closing quote's), the state its parent's path leads ``q0`` to (-1: dead)."""
    longest = 0
    for j in range(nodes.shape[0]):  # not node_depth.max(): a walk's few nodes, not the whole trie
        longest = max(longest, node_depth[nodes[j]])
    path = np.empty(longest + 1, np.uint8)
    for j in range(nodes.shape[0]):
        x = parent[nodes[j]]
        k = node_depth[x] if x > 0 else 0
        depth = k
        while x > 0:
            k -= 1
            path[k] = node_byte[x]
            x = parent[x]
        s = q0
        for t in range(depth):
            s = transitions[s, path[t]]
            if s < 0:
                break
        out[j] = s


@numba.njit(cache=True, nogil=True)
def _trie_parents(node_depth):  # pragma: no cover - compiled
    """The parent of every trie node (pre-order: the last node one level up before it; 0 the root)."""
    n = node_depth.shape[0]
    parent = np.zeros(n, np.int32)
    last = np.zeros(node_depth.max() + 2, np.int32)
    for i in range(1, n):
        d = node_depth[i]
        parent[i] = last[d - 1]
        last[d] = i
    return parent


@numba.njit(cache=True, nogil=True)
def _characters_begun(node_byte, node_depth, node_end, ref_state, r0, quote):  # pragma: no cover - compiled
    """Per trie node, the string characters its path begins when read from the reference's body
    state ``r0`` (a byte read in ``r0``, other than the closing quote, begins one; a character
    cut off by the token's end counts as begun); ``-1`` where the reference walk did not reach."""
    n = node_byte.shape[0]
    begun = np.full(n, -1, np.int32)
    parent_begun = np.empty(node_depth.max() + 2, np.int32)
    parent_state = np.empty(node_depth.max() + 2, np.int32)
    parent_begun[0] = 0
    parent_state[0] = r0
    i = 1
    while i < n:
        if ref_state[i] < 0:
            i = node_end[i]
            continue
        d = node_depth[i]
        starts = parent_state[d - 1] == r0 and node_byte[i] != quote
        begun[i] = parent_begun[d - 1] + (1 if starts else 0)
        parent_begun[d] = begun[i]
        parent_state[d] = ref_state[i]
        i += 1
    return begun


@numba.njit(cache=True, nogil=True)
def _bounded_string_rooms(transitions, good, q0, ref, r0, end, max_pairs, rooms, left, marks):  # pragma: no cover
    """Whether state ``q0`` reads the inside of a bounded JSON string (``maxLength``) as the
    reference's body state ``r0`` does with as many characters allowed as a run of ``a`` finds
    (each byte read in ``r0`` begins a character, none may begin past the last), every state on
    the way good. As for ``_string_like``, only its closing quote may lead on differently by path.

    On success ``rooms[q]`` receives the characters left in every state ``q`` met only in the
    reference's body state: each is a bounded string of its own, for the walk checked all that
    follows it. False past ``max_pairs`` state pairs, or where a state is met with two counts.
    ``left`` (per state, ``-1`` on entry and on return) and ``marks`` (per state, zero on entry and
    on return) hold the characters left in each state met and the reference states met with it.
    """
    room = 0
    q = q0
    while room < max_pairs:  # a run of "a" says how many characters are left
        q = transitions[q, 97]
        if q < 0:
            break
        room += 1
    if room >= max_pairs:
        return False
    queue_q = np.empty(max_pairs, np.int32)
    queue_r = np.empty(max_pairs, np.int32)
    seen = np.empty(max_pairs, np.int32)
    queue_q[0], queue_r[0] = q0, r0
    marks[q0] = np.uint32(1) << np.uint32(r0)
    left[q0] = room
    seen[0] = q0
    n_seen = 1
    head, tail = 0, 1
    ok = True
    while head < tail and ok:
        q, r = queue_q[head], queue_r[head]
        head += 1
        if not good[q]:
            ok = False
            break
        begins = r == r0
        now = left[q]
        after = now - 1 if begins else now
        for b in range(256):
            tr = ref[r, b]
            if tr == end:
                continue
            alive = tr >= 0 and not (begins and now == 0)
            tq = transitions[q, b]
            if (tq >= 0) != alive:
                ok = False
                break
            if not alive:
                continue
            if left[tq] < 0:
                if n_seen >= max_pairs:
                    ok = False
                    break
                left[tq] = after
                seen[n_seen] = tq
                n_seen += 1
            elif left[tq] != after:
                ok = False
                break
            bit = np.uint32(1) << np.uint32(tr)
            if marks[tq] & bit:
                continue
            if tail >= max_pairs:
                ok = False
                break
            marks[tq] |= bit
            queue_q[tail], queue_r[tail] = tq, tr
            tail += 1
    for k in range(n_seen):
        q = seen[k]
        if ok and marks[q] == np.uint32(1) << np.uint32(r0):
            rooms[q] = left[q]
        left[q] = -1
        marks[q] = 0
    return ok
