"""Thompson construction: an IR tree (``_ir``) as an NFA over UTF-8 byte ranges, in CSR arrays.

``to_dfa`` (``_regular``) determinises what this builds. Equal subtrees ending at the same state
are emitted once, bounded repeats are copies of one template, and lexemes and embedded automata
go in as blocks of DFA edges.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable

import numpy as np

from structgen._clock import now
from structgen._errors import CompileTimeoutError, UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA
from structgen.automata._ir import (
    Alt,
    Automaton,
    Chars,
    CommaList,
    Lexeme,
    Node,
    Ranges,
    Repeat,
    Seq,
    entered_as_dfa,
    intern_state,
    node_key,
)
from structgen.automata._kernels import _group_by_source
from structgen.automata._utf8 import ByteRanges, remove_surrogates, utf8_sequences


class NFA:
    """Thompson NFA over byte ranges, its edges in flat int32 arrays (no object per edge or state).

    ``edges`` holds ``(source, lo, hi, target)`` per byte-range edge, ``eps`` ``(source, target)``
    per ε-edge, in the order they were added; ``nfa_arrays`` groups them by source. Python lists
    of tuples cost more to build, convert and free than the subset construction that reads them.
    """

    def __init__(self, max_states: int, deadline: float | None, lexeme_dfa: Callable[..., ByteDFA]) -> None:
        self.n_states = 0
        self.edges = array("i")
        self.eps = array("i")
        self.max_states = max_states
        self.deadline = deadline
        self.generation, self.intern = intern_state()
        self._lexeme_dfa = lexeme_dfa  # to_dfa: a lexeme goes in as its own (cached) DFA
        self._keys: dict[int, int] = {}  # id(node) -> structural key
        self._uses: dict[int, int] = {}  # key -> references to equal nodes in the tree
        self._entries: dict[tuple[int, int], int] = {}  # (key, end) -> entry of an emitted copy
        # embedded DFAs' edges as arrays (source, lo, hi, target) and their ε-edges to the end
        self.block_edges: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.block_eps: list[tuple[np.ndarray, int]] = []

    def state(self) -> int:
        if self.n_states >= self.max_states:
            raise UnsupportedFeatureError(
                f"the constraint's automaton exceeds {self.max_states} NFA states; "
                "it is too large to compile as a regular language"
            )
        if self.deadline is not None and self.n_states % 256 == 0 and now() > self.deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        self.n_states += 1
        return self.n_states - 1

    def states(self, k: int) -> int:
        """Allocate ``k`` consecutive states; returns the first."""
        first = self.n_states
        if first + k > self.max_states:
            self.n_states = self.max_states
            self.state()  # raises the size error
        if self.deadline is not None and now() > self.deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        self.n_states += k
        return first

    def key(self, node: Node) -> int:
        """The structural key of the tree about to be built (counts shared subtrees on the way)."""
        k = self._keys.get(id(node))
        return node_key(node, self._keys, self._uses, (self.generation, self.intern)) if k is None else k

    def build(self, node: Node) -> tuple[int, int]:
        self.key(node)
        start = self.state()
        end = self.state()
        self._emit(node, start, end)
        return start, end

    def _emit(self, node: Node, start: int, end: int, share: bool = False) -> None:
        """Emit ``node`` from ``start`` to ``end``; ``share``: the caller may emit it to ``end`` again."""
        if not isinstance(node, Chars):
            key = self._keys[id(node)]
            if share or self._uses.get(key, 0) > 1:
                # Equal sub-languages ending at the same state are emitted once and entered by ε
                # (a Thompson fragment never re-enters its own start, so sharing adds no strings):
                # JSON string bodies repeated under every branch of a key trie, for one.
                entry = self._entries.get((key, end))
                if entry is None:
                    entry = self._entries[(key, end)] = self.state()
                    self._emit_node(node, entry, end)
                self.eps.extend((start, entry))
                return
        self._emit_node(node, start, end)

    def _emit_node(self, node: Node, start: int, end: int) -> None:
        if isinstance(node, Chars):
            seqs = _UTF8.get(node.ranges)
            if seqs is None:
                seqs = _utf8_paths(node.ranges)
            edges = self.edges
            for byte_ranges in seqs:
                cur = start
                last = len(byte_ranges) - 1
                for k, (lo, hi) in enumerate(byte_ranges):
                    nxt = end if k == last else self.state()
                    edges.extend((cur, lo, hi, nxt))
                    cur = nxt
        elif isinstance(node, Seq):
            if not node.items:
                self.eps.extend((start, end))
                return
            cur = start
            last = len(node.items) - 1
            edges = self.edges
            for k, item in enumerate(node.items):
                nxt = end if k == last else self.state()
                if type(item) is Chars:  # most items are characters of a literal: one byte range, inline
                    seqs = _UTF8.get(item.ranges)
                    if seqs is not None and len(seqs) == 1 and len(seqs[0]) == 1:
                        lo, hi = seqs[0][0]
                        edges.extend((cur, lo, hi, nxt))
                        cur = nxt
                        continue
                self._emit(item, cur, nxt)
                cur = nxt
        elif isinstance(node, Alt):
            for item in node.items:
                self._emit(item, start, end)
        elif isinstance(node, Repeat):
            copies = node.lo + (1 if node.hi is None else node.hi - node.lo)
            emit = self._copier(node.item) if copies > 1 else (lambda a, b: self._emit(node.item, a, b))
            cur = start
            for _ in range(node.lo):
                nxt = self.state()
                emit(cur, nxt)
                cur = nxt
            if node.hi is None:
                loop = self.state()
                inner = self.state()
                emit(loop, inner)
                self.eps.extend((cur, loop, inner, loop, loop, end))
            else:
                for _ in range(node.hi - node.lo):
                    nxt = self.state()
                    self.eps.extend((cur, end))
                    emit(cur, nxt)
                    cur = nxt
                self.eps.extend((cur, end))
        elif isinstance(node, Automaton):
            dfa = node.dfa
            if dfa.n_states == 0:
                return  # the empty language: no path from start to end
            base = self.states(dfa.n_states)
            self.eps.extend((start, base + dfa.start))
            src, lo, hi, dst = dfa.byte_runs
            self.block_edges.append((src + base, lo, hi, dst + base))
            self.block_eps.append((np.flatnonzero(dfa.accepting) + base, end))
        elif isinstance(node, CommaList):
            self._emit_comma_list(node, start, end)
        elif isinstance(node, Lexeme):
            if not entered_as_dfa(node):
                self._emit(node.item, start, end)
            else:
                # a string or a number: its DFA (built once per distinct lexeme, cached) goes in as a
                # block of edges, far fewer NFA states than its characters' UTF-8 paths
                self._emit_node(Automaton(self._lexeme_dfa(node.item, deadline=self.deadline)), start, end)
        else:
            raise TypeError(f"Expected a regular IR node, but got {type(node).__name__}")

    def _copier(self, item: Node) -> Callable[[int, int], None]:
        """Emit ``item`` once as a template; returns a function that places a copy between two states.

        A bounded repeat (``maxLength``, ``{m,n}``) needs n copies: relabelling the template's
        edges (as arrays) is far cheaper than walking the IR n times. The template is a fresh
        fragment ``a → b`` (nothing enters ``a``, nothing leaves ``b``) whose states are
        ``a``, ``b`` and the block allocated after them, and every edge it added is among them.
        """
        a, b = self.state(), self.state()
        base = self.n_states
        n_edges, n_eps, n_blocks = len(self.edges), len(self.eps), len(self.block_edges)
        self._emit(item, a, b)
        k = self.n_states - base
        edges = np.frombuffer(self.edges[n_edges:], np.int32).reshape(-1, 4)
        eps = np.frombuffer(self.eps[n_eps:], np.int32).reshape(-1, 2)
        blocks = self.block_edges[n_blocks:]  # embedded DFAs inside the template: copied as arrays
        block_eps = self.block_eps[n_blocks:]
        first = [True]

        def relabel(states: np.ndarray, cur: int, nxt: int, off: int) -> np.ndarray:
            return np.where(states == a, cur, np.where(states == b, nxt, states + (off - base))).astype(np.int32)

        def place(cur: int, nxt: int) -> None:
            if first[0]:  # the template itself is the first copy
                first[0] = False
                self.eps.extend((cur, a, b, nxt))
                return
            off = self.states(k)
            copied = edges.copy()
            copied[:, 0] = relabel(edges[:, 0], cur, nxt, off)
            copied[:, 3] = relabel(edges[:, 3], cur, nxt, off)
            self.edges.frombytes(copied.tobytes())
            self.eps.frombytes(relabel(eps, cur, nxt, off).tobytes())
            shift = off - base  # a block's own states are inside the template
            for src, lo, hi, dst in blocks:
                self.block_edges.append((src + shift, lo, hi, dst + shift))
            for states, end in block_eps:
                self.block_eps.append((states + shift, int(relabel(np.array(end), cur, nxt, off))))

        return place

    def _emit_comma_list(self, node: CommaList, start: int, end: int) -> None:
        n = len(node.items)
        cap = node.max_count if node.max_count is not None else max(node.min_count, 1)
        grid = [[self.state() for _ in range(cap + 1)] for _ in range(n + 1)]
        self.eps.extend((start, grid[0][0]))

        def step(src: int, count: int, item: Node, dst_row: list[int]) -> None:
            if node.max_count is not None and count + 1 > node.max_count:
                return
            target = dst_row[min(count + 1, cap)]
            # the first element and the later ones (after a separator) often end in the same
            # cell: one shared copy, or nested objects would double at every level
            if count:
                mid = self.state()
                self._emit(node.sep, src, mid)
                self._emit(item, mid, target, share=True)
            else:
                self._emit(item, src, target, share=True)

        for i, (item, required) in enumerate(node.items):
            for count in range(cap + 1):
                src = grid[i][count]
                step(src, count, item, grid[i + 1])
                if not required:
                    self.eps.extend((src, grid[i + 1][count]))
        for count in range(cap + 1):
            src = grid[n][count]
            if node.extra is not None:
                step(src, count, node.extra, grid[n])
            if count >= node.min_count:
                self.eps.extend((src, end))


# UTF-8 byte-range paths of each character set met: literal characters recur in every schema
_UTF8: dict[Ranges, list[ByteRanges]] = {}
_UTF8_MAX = 1 << 16


def _utf8_paths(ranges: Ranges) -> list[ByteRanges]:
    """The byte-range paths of ``ranges``' code points (surrogates left out), remembered."""
    seqs = [s for lo, hi in remove_surrogates(list(ranges)) for s in utf8_sequences(lo, hi)]
    if len(_UTF8) >= _UTF8_MAX:
        _UTF8.clear()
    _UTF8[ranges] = seqs
    return seqs


def forget_utf8_paths() -> None:
    _UTF8.clear()


def nfa_arrays(nfa: NFA) -> tuple[np.ndarray, ...]:
    """The NFA's ε-edges and byte-range edges as CSR arrays by source (what the compiled kernel reads)."""
    n = nfa.n_states
    edges = np.frombuffer(nfa.edges, np.int32).reshape(-1, 4)
    eps = np.frombuffer(nfa.eps, np.int32).reshape(-1, 2)
    e_src, e_lo, e_hi, e_dst = edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3]
    eps_src, eps_dst = eps[:, 0], eps[:, 1]
    if nfa.block_edges:  # the embedded DFAs' edges and their accepting states' ε-edges
        e_src = np.concatenate([e_src, *(b[0] for b in nfa.block_edges)])
        e_lo = np.concatenate([e_lo, *(b[1] for b in nfa.block_edges)])
        e_hi = np.concatenate([e_hi, *(b[2] for b in nfa.block_edges)])
        e_dst = np.concatenate([e_dst, *(b[3] for b in nfa.block_edges)])
        eps_src = np.concatenate([eps_src, *(states for states, _ in nfa.block_eps)])
        eps_dst = np.concatenate([eps_dst, *(np.full(states.size, end, np.int32) for states, end in nfa.block_eps)])
    e_ptr, order = _group_by_source(np.ascontiguousarray(e_src, np.int64), n)
    eps_ptr, eps_order = _group_by_source(np.ascontiguousarray(eps_src, np.int64), n)
    return (eps_ptr, np.ascontiguousarray(eps_dst[eps_order], np.int32), e_ptr,
            np.ascontiguousarray(e_lo[order], np.int32), np.ascontiguousarray(e_hi[order], np.int32),
            np.ascontiguousarray(e_dst[order], np.int32))
