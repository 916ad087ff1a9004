"""Compiled kernels of automaton construction: subset construction, trimming, Hopcroft minimisation.

Private ``@njit`` functions on plain arrays; the validating wrappers live in ``_dfa`` and
``_regular``. Automata are int32 transition tables with ``-1`` for the dead state: ``(n, 256)``,
or ``(n, k)`` with one column per byte class where a kernel says so.
"""

from __future__ import annotations

import numba
import numpy as np

# Status codes of ``_subset_construction``.
SUBSET_DONE = 0
SUBSET_BUDGET = 1  # processed its budget of states: call again (the caller checks its deadline)
SUBSET_GROW = 2  # a buffer is full: grow it and call again from the returned state
SUBSET_TOO_LARGE = 3  # more DFA states than allowed

_FNV_OFFSET = np.uint64(14695981039346656037)
_FNV_PRIME = np.uint64(1099511628211)


@numba.njit(cache=True, nogil=True)
def _hash_set(buf, n):  # pragma: no cover - compiled
    """FNV-1a over a sorted state set."""
    h = _FNV_OFFSET
    for i in range(n):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


_LANE_PRIMES = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


@numba.njit(cache=True, nogil=True)
def _mix(h1, h2, x):  # pragma: no cover - compiled
    """The two multiply-xorshift lanes of ``_table_fingerprint`` fed one 64-bit word."""
    p1, p2 = _LANE_PRIMES
    h1 = (h1 ^ x) * p1
    h1 ^= h1 >> np.uint64(29)
    h2 = (h2 + x) * p2
    h2 ^= h2 >> np.uint64(32)
    return h1, h2


@numba.njit(cache=True, nogil=True)
def _table_fingerprint(transitions, accepting, start):  # pragma: no cover - compiled
    """Two independent 64-bit hashes of a DFA's rows (each its 256 entries two to a word, then
    its accepting flag), then its size and start.

    One row-major pass with no copy: about 3x faster than sha256 over the table's bytes was,
    and a 128-bit key is still far from an accidental collision between the automata one
    process meets.
    """
    h1, h2 = _FNV_OFFSET, _FNV_OFFSET * _LANE_PRIMES[1]
    for s in range(transitions.shape[0]):
        for b in range(0, 256, 2):
            low = np.uint64(np.uint32(transitions[s, b] + 1))
            high = np.uint64(np.uint32(transitions[s, b + 1] + 1))
            h1, h2 = _mix(h1, h2, low | (high << np.uint64(32)))
        h1, h2 = _mix(h1, h2, np.uint64(1 if accepting[s] else 2))
    h1, h2 = _mix(h1, h2, np.uint64(transitions.shape[0]))
    return _mix(h1, h2, np.uint64(start))


@numba.njit(cache=True, nogil=True)
def _group_by_source(src, n):  # pragma: no cover - compiled
    """CSR pointers over ``n`` sources and the order that groups ``src`` by them (stable: a counting sort)."""
    ptr = np.zeros(n + 1, np.int64)
    for s in src:
        ptr[s + 1] += 1
    for s in range(n):
        ptr[s + 1] += ptr[s]
    pos = ptr[:-1].copy()
    order = np.empty(src.size, np.int64)
    for i in range(src.size):
        s = src[i]
        order[pos[s]] = i
        pos[s] += 1
    return ptr, order


@numba.njit(cache=True, nogil=True)
def _table_insert(table, hashes, j):  # pragma: no cover - compiled
    mask = table.shape[0] - 1
    slot = np.int64(hashes[j] & np.uint64(mask))
    while table[slot] != -1:
        slot = (slot + 1) & mask
    table[slot] = j


@numba.njit(cache=True, nogil=True)
def _rebuild_table(table, hashes, n_sets):  # pragma: no cover - compiled
    table[:] = -1
    for j in range(n_sets):
        _table_insert(table, hashes, j)


@numba.njit(cache=True, nogil=True)
def _subset_construction(
    eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, end_state, of_byte,
    pool, set_start, hashes, table, trans, accepting, mark,
    i, n_sets, max_states, budget,
):  # pragma: no cover - compiled
    """Determinise from DFA state ``i`` on; every DFA state is an ε-closed, sorted NFA state set in ``pool``.

    ``trans`` has one column per byte class (``of_byte``): every edge's range must be a union of
    classes, as ``_regular._edge_byte_classes`` makes them.

    Resumable: returns ``(status, i, n_sets)``; the caller grows buffers on ``SUBSET_GROW`` (state
    ``i`` is then redone from scratch, which is safe: discovered sets are found again by hash).
    """
    n_nfa = eps_ptr.shape[0] - 1
    cap_sets = trans.shape[0]
    cap_pool = pool.shape[0]
    tmask = table.shape[0] - 1
    stack = np.empty(n_nfa, np.int32)
    buf = np.empty(n_nfa, np.int32)
    cut = np.zeros(257, np.bool_)
    g_lo = np.empty(64, np.int32)
    g_hi = np.empty(64, np.int32)
    g_dst = np.empty(64, np.int32)
    stamp = mark.max()
    done = 0
    while i < n_sets:
        if done >= budget:
            return SUBSET_BUDGET, i, n_sets
        s0 = set_start[i]
        s1 = set_start[i + 1]
        # gather the byte edges of every member
        ne = 0
        for q in range(s0, s1):
            m = pool[q]
            ne += e_ptr[m + 1] - e_ptr[m]
        if ne > g_lo.shape[0]:
            size = max(ne, 2 * g_lo.shape[0])
            g_lo = np.empty(size, np.int32)
            g_hi = np.empty(size, np.int32)
            g_dst = np.empty(size, np.int32)
        k = 0
        acc = False
        for q in range(s0, s1):
            m = pool[q]
            if m == end_state:
                acc = True
            for e in range(e_ptr[m], e_ptr[m + 1]):
                g_lo[k] = e_lo[e]
                g_hi[k] = e_hi[e]
                g_dst[k] = e_dst[e]
                k += 1
        accepting[i] = acc
        trans[i, :] = -1
        cut[:] = False
        for e in range(ne):
            cut[g_lo[e]] = True
            cut[g_hi[e] + 1] = True
        grow = False
        a = 0
        while a < 256 and not grow:
            z = a + 1
            while z < 256 and not cut[z]:
                z += 1
            # the segment [a, z) has one set of live edges
            stamp += 1
            top = 0
            for e in range(ne):
                if g_lo[e] <= a and g_hi[e] >= z - 1:
                    d = g_dst[e]
                    if mark[d] != stamp:
                        mark[d] = stamp
                        stack[top] = d
                        top += 1
            if top:
                nt = 0
                while top:
                    top -= 1
                    x = stack[top]
                    buf[nt] = x
                    nt += 1
                    for q in range(eps_ptr[x], eps_ptr[x + 1]):
                        y = eps_dst[q]
                        if mark[y] != stamp:
                            mark[y] = stamp
                            stack[top] = y
                            top += 1
                members = np.sort(buf[:nt])
                h = _hash_set(members, nt)
                slot = np.int64(h & np.uint64(tmask))
                j = -1
                while table[slot] != -1:
                    c = table[slot]
                    if hashes[c] == h and set_start[c + 1] - set_start[c] == nt:
                        same = True
                        base = set_start[c]
                        for t in range(nt):
                            if pool[base + t] != members[t]:
                                same = False
                                break
                        if same:
                            j = c
                            break
                    slot = (slot + 1) & tmask
                if j < 0:
                    if n_sets >= max_states:
                        return SUBSET_TOO_LARGE, i, n_sets
                    if n_sets + 1 >= cap_sets or set_start[n_sets] + nt > cap_pool or 2 * (n_sets + 1) > tmask:
                        grow = True
                        break
                    j = n_sets
                    base = set_start[j]
                    pool[base:base + nt] = members
                    set_start[j + 1] = base + nt
                    hashes[j] = h
                    table[slot] = j
                    n_sets += 1
                trans[i, of_byte[a]:of_byte[z - 1] + 1] = j
            a = z
        if grow:
            return SUBSET_GROW, i, n_sets
        i += 1
        done += 1
    return SUBSET_DONE, i, n_sets


@numba.njit(cache=True, nogil=True)
def _mark_predecessors(ptr, pred, marked, stack, top):  # pragma: no cover - compiled
    """Mark every state that reaches one of ``stack[:top]`` (marked already) over ``pred``, the
    predecessor lists as CSR by target. ``stack`` has room for every state."""
    while top:
        top -= 1
        t = stack[top]
        for q in range(ptr[t], ptr[t + 1]):
            s = pred[q]
            if not marked[s]:
                marked[s] = True
                stack[top] = s
                top += 1


@numba.njit(cache=True, nogil=True)
def _co_reachable(eps_ptr, eps_dst, e_ptr, e_dst, end):  # pragma: no cover - compiled
    """NFA states (CSR by source, ε- and byte edges) from which ``end`` can be reached."""
    n = eps_ptr.shape[0] - 1
    count = np.zeros(n + 1, np.int64)
    for t in eps_dst:
        count[t + 1] += 1
    for t in e_dst:
        count[t + 1] += 1
    ptr = np.cumsum(count)
    pos = ptr[:-1].copy()
    pred = np.empty(ptr[-1], np.int32)
    for s in range(n):
        for q in range(eps_ptr[s], eps_ptr[s + 1]):
            t = eps_dst[q]
            pred[pos[t]] = s
            pos[t] += 1
        for q in range(e_ptr[s], e_ptr[s + 1]):
            t = e_dst[q]
            pred[pos[t]] = s
            pos[t] += 1
    live = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int32)
    live[end] = True
    stack[0] = end
    _mark_predecessors(ptr, pred, live, stack, 1)
    return live


@numba.njit(cache=True, nogil=True)
def _live_states(transitions, accepting, start):  # pragma: no cover - compiled
    """States reachable from ``start`` that can reach an accepting state (any number of columns)."""
    n, width = transitions.shape
    reach = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int32)
    reach[start] = True
    stack[0] = start
    top = 1
    # predecessor lists (distinct source per target) as CSR, built while walking forward
    count = np.zeros(n + 1, np.int64)
    seen = np.full(n, -1, np.int32)
    while top:
        top -= 1
        s = stack[top]
        for b in range(width):
            t = transitions[s, b]
            if t >= 0:
                if seen[t] != s:
                    seen[t] = s
                    count[t + 1] += 1
                if not reach[t]:
                    reach[t] = True
                    stack[top] = t
                    top += 1
    ptr = np.cumsum(count)
    pos = ptr[:-1].copy()
    pred = np.empty(ptr[-1], np.int32)
    seen[:] = -1
    for s in range(n):
        if not reach[s]:
            continue
        for b in range(width):
            t = transitions[s, b]
            if t >= 0 and seen[t] != s:
                seen[t] = s
                pred[pos[t]] = s
                pos[t] += 1
    alive = np.zeros(n, np.bool_)
    top = 0
    for s in range(n):
        if reach[s] and accepting[s]:
            alive[s] = True
            stack[top] = s
            top += 1
    _mark_predecessors(ptr, pred, alive, stack, top)
    return alive


@numba.njit(cache=True, nogil=True)
def _bytes_by_column_hash(table):  # pragma: no cover - compiled
    """Bytes grouped by a hash of their columns (row by row): (class of each byte, one byte per
    class in its first ``k`` slots, ``k``). Callers check the grouping: hashes may collide."""
    h = np.full(256, _FNV_OFFSET, np.uint64)
    for s in range(table.shape[0]):
        for b in range(256):
            h[b] = (h[b] ^ np.uint64(table[s, b] + 1)) * _FNV_PRIME
    of_byte = np.empty(256, np.int32)
    reps = np.empty(256, np.int32)
    k = 0
    for b in range(256):
        found = -1
        for c in range(k):
            if h[reps[c]] == h[b]:
                found = c
                break
        if found < 0:
            found = k
            reps[k] = b
            k += 1
        of_byte[b] = found
    return of_byte, reps, k


@numba.njit(cache=True, nogil=True)
def _narrowed(transitions):  # pragma: no cover - compiled
    """The bytes grouped by column: (class of each byte, the table with one column per class).

    Columns are hashed, then the grouping is checked while the narrow table is written; on a
    hash collision every byte is its own class.
    """
    n = transitions.shape[0]
    of_byte, reps, k = _bytes_by_column_hash(transitions)
    narrow = np.empty((n, k), np.int32)
    for s in range(n):
        for b in range(256):
            if transitions[s, b] != transitions[s, reps[of_byte[b]]]:
                return np.arange(256).astype(np.int32), transitions.copy()
        for c in range(k):
            narrow[s, c] = transitions[s, reps[c]]
    return of_byte, narrow


@numba.njit(cache=True, nogil=True)
def _trim(table, accepting, start):  # pragma: no cover - compiled
    """The live rows of a DFA (any number of columns), renumbered in order (edges into dropped
    states go dead): (table, accepting flags, the start's new number or -1 when it is not live)."""
    n, k = table.shape
    alive = _live_states(table, accepting, start)
    remap = np.full(n, -1, np.int32)
    m = 0
    for s in range(n):
        if alive[s]:
            remap[s] = m
            m += 1
    out = np.empty((m, k), np.int32)
    acc = np.empty(m, np.bool_)
    i = 0
    for s in range(n):
        if not alive[s]:
            continue
        acc[i] = accepting[s]
        for c in range(k):
            t = table[s, c]
            out[i, c] = remap[t] if t >= 0 else -1
        i += 1
    return out, acc, remap[start]


@numba.njit(cache=True, nogil=True)
def _hopcroft(table, accepting):  # pragma: no cover - compiled
    """Coarsest partition of a trimmed partial DFA's states into language classes.

    ``table`` is ``(n, k)`` over a compressed alphabet, ``-1`` dead. Every state must be live
    (reachable and co-reachable), so a missing transition differs from any present one.
    Hopcroft's algorithm as Valmari and Lehtinen run it on partial automata: no sink state, whole
    blocks as splitters (all their incoming transitions at once, grouped by symbol), so the work
    is proportional to the transitions that exist, not to states x symbols. Returns the class of
    each state and the number of classes.
    """
    n, k = table.shape
    # incoming transitions per target as CSR, each target's sorted by symbol
    cnt = np.zeros(n + 1, np.int64)
    for s in range(n):
        for c in range(k):
            t = table[s, c]
            if t >= 0:
                cnt[t + 1] += 1
    ptr = np.cumsum(cnt)
    pos = ptr[:-1].copy()
    in_sym = np.empty(ptr[-1], np.int32)
    in_src = np.empty(ptr[-1], np.int32)
    for c in range(k):
        for s in range(n):
            t = table[s, c]
            if t >= 0:
                in_sym[pos[t]] = c
                in_src[pos[t]] = s
                pos[t] += 1
    # the partition: blocks are ranges [first, end) of ``elems``; [first, mid) holds marked states
    elems = np.empty(n, np.int32)
    loc = np.empty(n, np.int32)
    blk = np.empty(n, np.int32)
    first = np.empty(n, np.int32)
    end = np.empty(n, np.int32)
    mid = np.empty(n, np.int32)
    p = 0
    for s in range(n):
        if accepting[s]:
            elems[p] = s
            p += 1
    n_acc = p
    for s in range(n):
        if not accepting[s]:
            elems[p] = s
            p += 1
    n_blocks = 0
    if n_acc:
        first[0] = 0
        end[0] = n_acc
        n_blocks = 1
    if n_acc < n:
        first[n_blocks] = n_acc
        end[n_blocks] = n
        n_blocks += 1
    for b in range(n_blocks):
        mid[b] = first[b]
        for q in range(first[b], end[b]):
            blk[elems[q]] = b
            loc[elems[q]] = q
    # the worklist of splitter blocks: every initial block; then the smaller half of each split
    # (when the split block still waits, it stays and the new half joins it: both wait)
    w = np.empty(n, np.int32)
    top = 0
    for b in range(n_blocks):
        w[top] = b
        top += 1
    sym_count = np.zeros(k + 1, np.int64)
    sym_pos = np.empty(k + 1, np.int64)
    group = np.empty(ptr[-1], np.int32)
    touched = np.empty(n, np.int32)
    members = np.empty(n, np.int32)
    while top:
        top -= 1
        a_blk = w[top]
        m = end[a_blk] - first[a_blk]
        members[:m] = elems[first[a_blk]:end[a_blk]]
        # the splitter's incoming transitions, grouped by symbol (counting sort)
        sym_count[:] = 0
        for j in range(m):
            t = members[j]
            for q in range(ptr[t], ptr[t + 1]):
                sym_count[in_sym[q] + 1] += 1
        total = 0
        for c in range(k + 1):
            total += sym_count[c]
            sym_pos[c] = total
        for j in range(m):
            t = members[j]
            for q in range(ptr[t], ptr[t + 1]):
                c = in_sym[q]
                group[sym_pos[c]] = in_src[q]
                sym_pos[c] += 1
        g_start = 0
        for c in range(k):
            g_end = sym_pos[c]
            if g_end == g_start:
                continue
            n_touched = 0
            for q in range(g_start, g_end):
                s = group[q]
                b = blk[s]
                if loc[s] < mid[b]:
                    continue  # already marked
                if mid[b] == first[b]:
                    touched[n_touched] = b
                    n_touched += 1
                i2 = mid[b]
                other = elems[i2]
                elems[loc[s]] = other
                loc[other] = loc[s]
                elems[i2] = s
                loc[s] = i2
                mid[b] += 1
            g_start = g_end
            for j in range(n_touched):
                b = touched[j]
                if mid[b] == end[b]:
                    mid[b] = first[b]
                    continue
                # split b: the smaller part becomes the new block, and a splitter
                nb = n_blocks
                n_blocks += 1
                if mid[b] - first[b] <= end[b] - mid[b]:
                    first[nb] = first[b]
                    end[nb] = mid[b]
                    first[b] = mid[b]
                else:
                    first[nb] = mid[b]
                    end[nb] = end[b]
                    end[b] = mid[b]
                mid[b] = first[b]
                mid[nb] = first[nb]
                for q in range(first[nb], end[nb]):
                    blk[elems[q]] = nb
                w[top] = nb
                top += 1
    # renumber classes 0.. in state order
    cls = np.full(n_blocks, -1, np.int32)
    out = np.empty(n, np.int32)
    n_cls = 0
    for s in range(n):
        b = blk[s]
        if cls[b] < 0:
            cls[b] = n_cls
            n_cls += 1
        out[s] = cls[b]
    return out, n_cls


@numba.njit(cache=True, nogil=True)
def _quotient_bfs(transitions, cls, n_cls, start):  # pragma: no cover - compiled
    """The quotient automaton by ``cls`` (any number of columns), its states numbered in
    breadth-first order from ``start``."""
    width = transitions.shape[1]
    new_id = np.full(n_cls, -1, np.int32)
    rep = np.empty(n_cls, np.int32)
    new_id[cls[start]] = 0
    rep[0] = start
    head = 0
    tail = 1
    out = np.full((n_cls, width), -1, np.int32)
    while head < tail:
        r = rep[head]
        for b in range(width):
            t = transitions[r, b]
            if t < 0:
                continue
            ct = cls[t]
            if new_id[ct] < 0:
                new_id[ct] = tail
                rep[tail] = t
                tail += 1
            out[head, b] = new_id[ct]
        head += 1
    return out[:tail], rep[:tail]


@numba.njit(cache=True, nogil=True)
def _byte_classes_by_rows(table):  # pragma: no cover - compiled
    """Group the 256 bytes by identical columns, reading the table row by row (cache-friendly).

    Columns are hashed, bytes grouped by hash, and the grouping checked in a second pass. Returns
    (class of each byte, one byte per class, ok); ``ok`` is False on a hash collision (then the
    caller takes every byte as its own class).
    """
    n = table.shape[0]
    of_byte, reps, n_cls = _bytes_by_column_hash(table)
    for s in range(n):
        for b in range(256):
            if table[s, b] != table[s, reps[of_byte[b]]]:
                return of_byte, reps[:n_cls].copy(), False
    return of_byte, reps[:n_cls].copy(), True


PRODUCT_AND, PRODUCT_MINUS, PRODUCT_OR = 0, 1, 2
_MIX = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True, nogil=True)
def _pair_slot(keys, code):  # pragma: no cover - compiled
    """The slot of ``code`` in the open-addressed table ``keys`` (where it is, or where it goes)."""
    mask = keys.shape[0] - 1
    h = np.uint64(code)
    h = (h ^ (h >> np.uint64(31))) * _MIX
    slot = np.int64((h >> np.uint64(20)) & np.uint64(mask))
    while keys[slot] != -1 and keys[slot] != code:
        slot = (slot + 1) & mask
    return slot


@numba.njit(cache=True, nogil=True)
def _product_bfs(ta, acc_a, start_a, tb, acc_b, start_b, op, max_states):  # pragma: no cover - compiled
    """The reachable product of two DFAs (``-1`` rows stand for a completing sink) under ``op``.

    Returns ``(transitions, accepting, ok)``; ``ok`` is False past ``max_states`` pairs.
    """
    width = np.int64(tb.shape[0] + 1)
    cap = 256
    px = np.empty(cap, np.int32)
    py = np.empty(cap, np.int32)
    trans = np.empty((cap, 256), np.int32)
    keys = np.full(1024, -1, np.int64)
    vals = np.empty(1024, np.int32)
    code = (np.int64(start_a) + 1) * width + start_b + 1
    slot = _pair_slot(keys, code)
    keys[slot] = code
    vals[slot] = 0
    px[0] = start_a
    py[0] = start_b
    n = 1
    i = 0
    while i < n:
        x = px[i]
        y = py[i]
        for b in range(256):
            tx = ta[x, b] if x >= 0 else -1
            ty = tb[y, b] if y >= 0 else -1
            if op == PRODUCT_AND:
                live = tx >= 0 and ty >= 0
            elif op == PRODUCT_MINUS:
                live = tx >= 0
            else:
                live = tx >= 0 or ty >= 0
            if not live:
                trans[i, b] = -1
                continue
            code = (np.int64(tx) + 1) * width + ty + 1
            slot = _pair_slot(keys, code)
            if keys[slot] == code:
                trans[i, b] = vals[slot]
                continue
            if n >= max_states:
                return trans[:0], np.zeros(0, np.bool_), False
            if n == cap:
                cap *= 2
                px2 = np.empty(cap, np.int32)
                py2 = np.empty(cap, np.int32)
                trans2 = np.empty((cap, 256), np.int32)
                px2[:n] = px[:n]
                py2[:n] = py[:n]
                trans2[:n] = trans[:n]
                px, py, trans = px2, py2, trans2
            keys[slot] = code
            vals[slot] = n
            px[n] = tx
            py[n] = ty
            trans[i, b] = n
            n += 1
            if 2 * n > keys.shape[0]:  # keep the table at most half full
                old_keys = keys
                old_vals = vals
                keys = np.full(2 * old_keys.shape[0], -1, np.int64)
                vals = np.empty(2 * old_keys.shape[0], np.int32)
                for k in range(old_keys.shape[0]):
                    if old_keys[k] != -1:
                        s2 = _pair_slot(keys, old_keys[k])
                        keys[s2] = old_keys[k]
                        vals[s2] = old_vals[k]
        i += 1
    accepting = np.empty(n, np.bool_)
    for j in range(n):
        in_a = px[j] >= 0 and acc_a[px[j]]
        in_b = py[j] >= 0 and acc_b[py[j]]
        if op == PRODUCT_AND:
            accepting[j] = in_a and in_b
        elif op == PRODUCT_MINUS:
            accepting[j] = in_a and not in_b
        else:
            accepting[j] = in_a or in_b
    return trans[:n], accepting, True
