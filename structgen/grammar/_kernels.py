"""Compiled kernel of the grammar mask: one lexeme's walk down the vocabulary trie.

Private ``@njit`` function on plain arrays; ``_engine.GrammarEngine`` validates and calls it.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _walk_lexeme(
    node_byte, node_depth, node_end, tok_start, tok_end, token_order, max_depth, below, sub_end,
    ref, ref_acc, r0, ref_state, ref_tok_ok, ref_events,
    transitions, accepting, loops, like_ref, after_quote, roots, pre_states, out_words, ev_node, ev_state,
):  # pragma: no cover - compiled
    """Walk the subtrees at ``roots``, each entered from lexer state ``pre_states[r]``.

    Tokens whose bytes all keep the lexer alive get their bit in ``out_words``. Where a byte
    kills the lexer (``-1``, not ``-2``: blocked) right after an accepting state, the lexeme ends
    there: the node is recorded
    as an event ``(ev_node, ev_state)`` for the parser to continue from. Returns the event count.

    A subtree whose bytes (``below``) all lead the state reached back to itself (``loops``: a
    string body's characters) keeps the lexer there to its leaves: its tokens
    (``token_order[tok_start[i]:sub_end[i]]``) are taken without visiting its nodes.

    Inside a JSON string body (a lexer state that behaves as the reference's body state ``r0``:
    ``like_ref``, decided on first sight, 0 unknown, 1 yes, 2 no), a subtree the reference walk
    entered in ``r0`` is read off that walk (``ref_state``, ``ref_tok_ok``, ``ref_events``): its
    tokens that stay in the string, and its string ends, in lexer state ``after_quote[s]``.
    """
    image = np.empty(ref.shape[0], np.int32)
    states = np.empty(max_depth + 1, np.int32)
    n_ev = 0
    for r in range(roots.shape[0]):
        root = roots[r]
        if root == 0:
            states[0] = pre_states[r]
            i = 1
        else:
            states[node_depth[root] - 1] = pre_states[r]
            i = root
        end = node_end[root]
        while i < end:
            d = node_depth[i]
            p = states[d - 1]
            s = transitions[p, node_byte[i]]
            if s < 0:
                if s == -1 and accepting[p]:  # -2: only a shadow terminal goes on, nothing to end
                    ev_node[n_ev] = i
                    ev_state[n_ev] = p
                    n_ev += 1
                i = node_end[i]
                continue
            states[d] = s
            if node_end[i] > i + 1 and ref_state[i] == r0:
                if like_ref[s] == 0:
                    if _bisimilar(transitions, accepting, s, ref, ref_acc, r0, image):
                        like_ref[s] = 1
                        after_quote[s] = image[ref[r0, 34]]
                    else:
                        like_ref[s] = 2
                if like_ref[s] == 1:
                    for k in range(tok_start[i], sub_end[i]):
                        if ref_tok_ok[k]:
                            t = token_order[k]
                            out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    lo = np.searchsorted(ref_events, i)
                    hi = np.searchsorted(ref_events, node_end[i])
                    for e in range(lo, hi):
                        ev_node[n_ev] = ref_events[e]
                        ev_state[n_ev] = after_quote[s]
                        n_ev += 1
                    i = node_end[i]
                    continue
            if node_end[i] > i + 1:
                inside = True
                for w in range(4):
                    if below[i, w] & ~loops[s, w]:
                        inside = False
                        break
                if inside:
                    for k in range(tok_start[i], sub_end[i]):
                        t = token_order[k]
                        out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
                    i = node_end[i]
                    continue
            for k in range(tok_start[i], tok_end[i]):
                t = token_order[k]
                out_words[t >> 5] |= np.uint32(1) << np.uint32(t & 31)
            i += 1
    return n_ev


_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)
PRODUCT_DONE, PRODUCT_TOO_LARGE = 0, 1


@numba.njit(cache=True, nogil=True)
def _row_slot(table, ptr, comp, state, cand_c, cand_q, m, h):  # pragma: no cover - compiled
    """The slot of the sparse row ``(cand_c, cand_q)[:m]`` in the open-addressed ``table`` of
    pool rows (where it is, or where it goes)."""
    mask = table.shape[0] - 1
    slot = np.int64(h & np.uint64(mask))
    while True:
        j = table[slot]
        if j < 0:
            return slot
        lo = ptr[j]
        if ptr[j + 1] - lo == m:
            same = True
            for x in range(m):
                if comp[lo + x] != cand_c[x] or state[lo + x] != cand_q[x]:
                    same = False
                    break
            if same:
                return slot
        slot = (slot + 1) & mask


@numba.njit(cache=True, nogil=True)
def _row_hash(cand_c, cand_q, m):  # pragma: no cover - compiled
    h = _FNV_OFFSET
    for x in range(m):
        h = (h ^ np.uint64(cand_c[x] + 1)) * _FNV_PRIME
        h = (h ^ np.uint64(cand_q[x] + 1)) * _FNV_PRIME
    return h


@numba.njit(cache=True, nogil=True)
def _product_extend(trans, offsets, blocked, rows, ptr, comp, state, table, n, start_c, start_q,
                    max_new):  # pragma: no cover - compiled
    """Add to a space of product states (``ProductSpace``) the start state ``(start_c, start_q)``
    and every state it reaches that the space lacks, each with its row.

    ``trans`` stacks the terminals' DFA tables (terminal ``t``'s state ``q`` is row
    ``offsets[t] + q``, ``-1`` dead), a column per class of bytes every terminal treats alike. A
    state is its live components: codes ``2 t + candidate`` and DFA states, in terminal order,
    ``comp/state[ptr[j]:ptr[j + 1]]`` for state ``j``; ``table`` is an open-addressed hash of the
    ``n`` states built. A byte no component takes is dead; one only shadow (non-candidate)
    components take is ``blocked``. The arrays grow as needed. Returns ``(status, rows, ptr, comp,
    state, table, n, start)``; past ``max_new`` new states the space is left as it was.
    """
    n_cls = trans.shape[1]
    m = start_c.shape[0]
    slot = _row_slot(table, ptr, comp, state, start_c, start_q, m, _row_hash(start_c, start_q, m))
    if table[slot] >= 0:
        return PRODUCT_DONE, rows, ptr, comp, state, table, n, table[slot]
    n_old = n
    cand_c = np.empty(max(m, offsets.shape[0]), np.int32)
    cand_q = np.empty(max(m, offsets.shape[0]), np.int32)
    rows, ptr, comp, state, table, n = _add_state(rows, ptr, comp, state, table, n, slot, start_c, start_q, m)
    i = n_old
    while i < n:
        for col in range(n_cls):
            m = 0
            taken = False
            for x in range(ptr[i], ptr[i + 1]):
                code = comp[x]
                t = trans[offsets[code >> 1] + state[x], col]
                if t >= 0:
                    cand_c[m] = code
                    cand_q[m] = t
                    m += 1
                    if code & 1:
                        taken = True
            if m == 0:
                rows[i, col] = -1
                continue
            if not taken:
                rows[i, col] = blocked
                continue
            slot = _row_slot(table, ptr, comp, state, cand_c, cand_q, m, _row_hash(cand_c, cand_q, m))
            j = table[slot]
            if j < 0:
                if n - n_old >= max_new:
                    table[:] = -1  # forget the states of this call: rehash the ones before it
                    for r in range(n_old):
                        lo, hi = ptr[r], ptr[r + 1]
                        h = _row_hash(comp[lo:hi], state[lo:hi], hi - lo)
                        table[_row_slot(table, ptr, comp, state, comp[lo:hi], state[lo:hi], hi - lo, h)] = r
                    return PRODUCT_TOO_LARGE, rows, ptr, comp, state, table, n_old, -1
                j = n
                rows, ptr, comp, state, table, n = _add_state(rows, ptr, comp, state, table, n, slot, cand_c,
                                                              cand_q, m)
            rows[i, col] = j
        i += 1
    return PRODUCT_DONE, rows, ptr, comp, state, table, n, n_old


@numba.njit(cache=True, nogil=True)
def _add_state(rows, ptr, comp, state, table, n, slot, cand_c, cand_q, m):  # pragma: no cover - compiled
    """State ``n``: the components ``cand_c/cand_q[:m]``, hashed at ``slot``; arrays grown as needed."""
    if n + 1 > rows.shape[0]:
        cap = 2 * rows.shape[0]
        rows2 = np.empty((cap, rows.shape[1]), np.int32)
        rows2[:n] = rows[:n]
        rows = rows2
        ptr2 = np.zeros(cap + 1, np.int64)
        ptr2[: n + 1] = ptr[: n + 1]
        ptr = ptr2
    end = ptr[n]
    if end + m > comp.shape[0]:
        pool_cap = 2 * (end + m)
        comp2 = np.empty(pool_cap, np.int32)
        state2 = np.empty(pool_cap, np.int32)
        comp2[:end] = comp[:end]
        state2[:end] = state[:end]
        comp, state = comp2, state2
    comp[end : end + m] = cand_c[:m]
    state[end : end + m] = cand_q[:m]
    ptr[n + 1] = end + m
    table[slot] = n
    n += 1
    if 2 * n > table.shape[0]:  # at most half full: rehash into twice the slots
        table = np.full(2 * table.shape[0], -1, np.int64)
        for r in range(n):
            lo, hi = ptr[r], ptr[r + 1]
            h = _row_hash(comp[lo:hi], state[lo:hi], hi - lo)
            table[_row_slot(table, ptr, comp, state, comp[lo:hi], state[lo:hi], hi - lo, h)] = r
    return rows, ptr, comp, state, table, n


@numba.njit(cache=True, nogil=True)
def _joint_byte_classes(of_byte):  # pragma: no cover - compiled
    """The coarsest classes of bytes that every row of ``of_byte`` (a DFA's class of each byte)
    keeps together. Returns (class of each byte, one byte per class)."""
    cls = np.zeros(256, np.int32)
    new = np.empty(256, np.int32)
    label = np.full(256 * 256, -1, np.int32)
    for j in range(of_byte.shape[0]):
        m = 0
        for b in range(256):
            code = cls[b] * 256 + of_byte[j, b]
            if label[code] < 0:
                label[code] = m
                m += 1
            new[b] = label[code]
        for b in range(256):
            label[cls[b] * 256 + of_byte[j, b]] = -1
        cls[:] = new
    n_cls = 0
    for b in range(256):
        n_cls = max(n_cls, cls[b] + 1)
    reps = np.full(n_cls, -1, np.int32)
    for b in range(256):
        if reps[cls[b]] < 0:
            reps[cls[b]] = b
    return cls, reps


@numba.njit(cache=True, nogil=True)
def _bisimilar(transitions, accepting, q0, ref, ref_acc, r0, image):  # pragma: no cover - compiled
    """Whether lexer state ``q0`` behaves exactly as reference state ``r0`` on every input (the
    same bytes alive, dead -- never blocked -- and accepting along the way). ``image[r]`` receives
    the lexer state matching reference state ``r`` (``-1`` where none was reached)."""
    m = ref.shape[0]
    image[:] = -1
    image[r0] = q0
    stack = np.empty(m, np.int32)
    stack[0] = r0
    top = 1
    while top:
        top -= 1
        r = stack[top]
        q = image[r]
        if accepting[q] != ref_acc[r]:
            return False
        for b in range(256):
            tr = ref[r, b]
            tq = transitions[q, b]
            if tr < 0:
                if tq != -1:
                    return False
                continue
            if tq < 0:
                return False
            if image[tr] < 0:
                image[tr] = tq
                stack[top] = tr
                top += 1
            elif image[tr] != tq:
                return False
    return True
