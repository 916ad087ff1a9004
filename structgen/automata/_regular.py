"""Regular languages as byte DFAs: ``to_dfa`` (IR → Thompson NFA → subset construction → trim
and minimise, cached by the IR's structural key) and the products of two DFAs."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from structgen._clock import now
from structgen._errors import CompileTimeoutError, UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA, minimal_dfa, trim_and_minimise_valid
from structgen.automata._ir import MAX_INTERNED, Automaton, Node, intern_state, new_intern_generation
from structgen.automata._kernels import (
    PRODUCT_AND,
    PRODUCT_MINUS,
    PRODUCT_OR,
    SUBSET_DONE,
    SUBSET_GROW,
    SUBSET_TOO_LARGE,
    _co_reachable,
    _hash_set,
    _product_bfs,
    _rebuild_table,
    _subset_construction,
)
from structgen.automata._thompson import NFA, forget_utf8_paths, nfa_arrays


def to_dfa(node: Node, *, max_states: int = 500_000, deadline: float | None = None) -> ByteDFA:
    """Compile an IR node to a trimmed, minimised byte DFA (0 states for the empty language).

    ``deadline`` is a ``structgen._clock`` time past which compilation stops with
    ``CompileTimeoutError``.
    """
    if isinstance(node, Automaton):
        return node.dfa
    # the tree's structural key, kept on the node: a subtree compiled again (nested to_dfa calls
    # reach the same objects) finds its DFA without walking the tree
    known = node.__dict__.get("_dfa_key")
    if known is not None and known[0] == intern_state()[0]:
        with _DFA_CACHE_LOCK:
            cached = _DFA_CACHE.get((known[0], known[1], max_states))
            if cached is not None:
                return cached
    nfa = NFA(max_states, deadline, to_dfa)
    key = nfa.key(node)  # kept on the node (node_key)
    cache_key = (nfa.generation, key, max_states)
    with _DFA_CACHE_LOCK:
        cached = _DFA_CACHE.get(cache_key)
        if cached is not None:
            _DFA_CACHE.move_to_end(cache_key)
            return cached
    start, end = nfa.build(node)
    eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst = nfa_arrays(nfa)
    # edges into states that cannot reach the end go: every DFA state is then live, and the
    # DFA needs no trimming pass (dead NFA states come from empty sub-languages, rarely)
    live = _co_reachable(eps_ptr, eps_dst, e_ptr, e_dst, end)
    if not live[start]:
        dfa = ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
        _remember(cache_key, dfa)
        return dfa
    if not live.all():
        eps_ptr, (eps_dst,) = _kept(eps_ptr, live[eps_dst], eps_dst)
        e_ptr, (e_lo, e_hi, e_dst) = _kept(e_ptr, live[e_dst], e_lo, e_hi, e_dst)
    of_byte, k = _edge_byte_classes(e_lo, e_hi)
    n_nfa = nfa.n_states
    # subset construction, compiled; it stops every few thousand states so the deadline is kept
    # room for as many DFA states as the NFA has (up to 64k): rows are only touched as they are
    # written, and growing copies every row written so far
    cap = max(1024, min(n_nfa, 1 << 16))
    pool = np.empty(16 * 1024, np.int32)
    set_start = np.zeros(cap + 1, np.int64)
    hashes = np.zeros(cap, np.uint64)
    table = np.full(4096, -1, np.int64)  # open addressing over a power of two, at most half full
    trans = np.empty((cap, k), np.int32)  # one column per byte class
    accepting = np.zeros(cap, np.bool_)
    mark = np.zeros(n_nfa, np.int64)
    # DFA state 0: the ε-closure of the NFA start
    seen = {start}
    stack = [start]
    while stack:  # over the CSR arrays: they hold the embedded DFAs' ε-edges too
        s = stack.pop()
        for t in eps_dst[eps_ptr[s]:eps_ptr[s + 1]].tolist():
            if t not in seen:
                seen.add(t)
                stack.append(t)
    first = np.array(sorted(seen), np.int32)
    while first.size > pool.size:
        pool = np.empty(2 * pool.size, np.int32)
    pool[: first.size] = first
    set_start[1] = first.size
    hashes[0] = _hash_set(first, first.size)
    _rebuild_table(table, hashes, 1)
    i, n_sets = 0, 1
    while True:
        status, i, n_sets = _subset_construction(
            eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, end, of_byte,
            pool, set_start, hashes, table, trans, accepting, mark,
            i, n_sets, max_states, 4096,
        )
        if status == SUBSET_DONE:
            break
        if deadline is not None and now() > deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        if status == SUBSET_TOO_LARGE:
            raise UnsupportedFeatureError(
                f"the constraint's automaton exceeds {max_states} DFA states; "
                "it is too large to compile as a regular language"
            )
        if status == SUBSET_GROW:
            if set_start[n_sets] + n_nfa > pool.size:
                pool = _grown(pool, 2 * pool.size + n_nfa, int(set_start[n_sets]))
            if n_sets + 1 >= trans.shape[0]:
                cap = 4 * trans.shape[0]
                trans = _grown(trans, cap, n_sets)
                accepting = _grown(accepting, cap, n_sets)
                hashes = _grown(hashes, cap, n_sets)
                set_start = _grown(set_start, cap + 1, n_sets + 1)
            if 2 * (n_sets + 1) > table.size - 1:
                table = np.full(4 * table.size, -1, np.int64)
                _rebuild_table(table, hashes, n_sets)
    dfa = minimal_dfa(trans[:n_sets], accepting[:n_sets], 0, of_byte, trimmed=True)
    _remember(cache_key, dfa)
    return dfa


def _kept(ptr: np.ndarray, keep: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """CSR arrays with only the ``keep`` entries: (new pointers, the kept columns)."""
    before = np.concatenate([[0], np.cumsum(keep)])
    return before[ptr], tuple(np.ascontiguousarray(c[keep]) for c in columns)


def _edge_byte_classes(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, int]:
    """The bytes grouped by the edge ranges they fall in (every range is a union of classes):
    (class of each byte, number of classes)."""
    cut = np.zeros(257, np.bool_)
    cut[0] = True
    cut[lo] = True
    cut[hi + 1] = True
    of_byte = np.cumsum(cut[:256], dtype=np.int32) - 1
    return of_byte, int(of_byte[-1]) + 1


def _grown(a: np.ndarray, size: int, used: int) -> np.ndarray:
    """``a`` with room for ``size`` rows, its first ``used`` copied (the rest is written before it is read)."""
    out = np.empty((size, *a.shape[1:]), a.dtype)
    out[:used] = a[:used]
    return out


def words_dfa(words: Sequence[bytes]) -> ByteDFA:
    """The minimal DFA of a finite set of byte strings, built from their trie (no NFA)."""
    children: list[dict[int, int]] = [{}]
    ends = {0} if b"" in words else set()
    for word in words:
        node = 0
        for byte in word:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = children[node][byte] = len(children)
                children.append({})
            node = nxt
        ends.add(node)
    if not ends:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    table = np.full((len(children), 256), -1, np.int32)
    for node, out in enumerate(children):
        if out:
            table[node, list(out)] = list(out.values())
    accepting = np.zeros(len(children), np.bool_)
    accepting[list(ends)] = True
    return trim_and_minimise_valid(table, accepting, 0)


# Compiled DFAs by the structural key of their IR: a string format, a key set or a shared
# definition used many times in a schema (or across schemas) is determinised once.
_DFA_CACHE: OrderedDict[tuple[int, int, int], ByteDFA] = OrderedDict()
_DFA_CACHE_LOCK = threading.Lock()
_DFA_CACHE_BYTES = 64 << 20
_dfa_cache_size = 0


def _remember(key: tuple[int, int, int], dfa: ByteDFA) -> None:
    global _dfa_cache_size
    size = dfa.transitions.nbytes
    if size > _DFA_CACHE_BYTES // 4:
        return
    with _DFA_CACHE_LOCK:
        generation, intern = intern_state()
        if key[0] != generation:
            return  # keyed in a retired generation
        if len(intern) > MAX_INTERNED:
            _new_generation()
            return
        if key not in _DFA_CACHE:
            _DFA_CACHE[key] = dfa
            _dfa_cache_size += size
        while _dfa_cache_size > _DFA_CACHE_BYTES:
            _, old = _DFA_CACHE.popitem(last=False)
            _dfa_cache_size -= old.transitions.nbytes


def cache_generation() -> int:
    """The DFA cache's generation: it changes when the cache is cleared (for caches kept with it)."""
    return intern_state()[0]


def clear_dfa_cache() -> None:
    """Forget compiled DFAs, interned IR trees and character sets' UTF-8 paths (the next
    ``to_dfa`` of any tree is cold)."""
    with _DFA_CACHE_LOCK:
        _new_generation()
    forget_utf8_paths()


def _new_generation() -> None:
    global _dfa_cache_size
    new_intern_generation()  # keys are interned ints: they go with the table
    _DFA_CACHE.clear()
    _dfa_cache_size = 0


_MAX_PRODUCT_STATES = 2_000_000


def difference_dfas(a: ByteDFA, b: ByteDFA, max_states: int = _MAX_PRODUCT_STATES) -> ByteDFA:
    """The product automaton for ``a`` minus ``b``: strings ``a`` accepts and ``b`` does not.

    ``b`` is completed with an implicit sink (its dead state), so a string ``b`` rejects early
    stays alive in the product as long as ``a`` accepts a continuation. This is how complements
    are taken: ``difference_dfas(universe, x)`` is ``x``'s complement within ``universe``.
    """
    if a.n_states == 0 or b.n_states == 0:
        return a
    return _product(a, b, "minus", max_states)


def union_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton for strings either accepts (both completed with a sink)."""
    if a.n_states == 0:
        return b
    if b.n_states == 0:
        return a
    return _product(a, b, "or")


_PRODUCT_OPS = {"and": PRODUCT_AND, "minus": PRODUCT_MINUS, "or": PRODUCT_OR}


def _product(a: ByteDFA, b: ByteDFA, op: str, max_states: int = _MAX_PRODUCT_STATES) -> ByteDFA:
    """The reachable product of ``a`` and ``b`` (each completed with its dead state), trimmed and minimised."""
    trans, accepting, ok = _product_bfs(
        a.transitions, a.accepting, a.start, b.transitions, b.accepting, b.start, _PRODUCT_OPS[op], max_states,
    )
    if not ok:
        raise UnsupportedFeatureError(
            f"a product of two automata exceeds {max_states} states; it is too large to compile"
        )
    return trim_and_minimise_valid(trans, accepting, 0)


def intersect_dfas(a: ByteDFA, b: ByteDFA, max_states: int = _MAX_PRODUCT_STATES) -> ByteDFA:
    """The product automaton: strings both accept (0 states when none)."""
    if a.n_states == 0 or b.n_states == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    return _product(a, b, "and", max_states)
