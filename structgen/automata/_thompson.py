"""Thompson construction: an IR tree (``_ir``) as an NFA over UTF-8 byte ranges, in CSR arrays.

``to_dfa`` (``_regular``) determinises what this builds. Equal subtrees ending at the same state
are emitted once, bounded repeats are copies of one template, and lexemes and embedded automata
go in as blocks of DFA edges.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, repeat

import numpy as np

from structgen._clock import now
from structgen._errors import CompileTimeoutError, UnsupportedFeatureError
from structgen.automata._dfa import DEAD, ByteDFA
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
from structgen.automata._utf8 import remove_surrogates, utf8_sequences


class NFA:
    """Thompson NFA over byte ranges: ``edges[s]`` = [(lo, hi, target)], ``eps[s]`` = [targets]."""

    def __init__(self, max_states: int, deadline: float | None, lexeme_dfa: Callable[..., ByteDFA]) -> None:
        self.edges: list[list[tuple[int, int, int]]] = []
        self.eps: list[list[int]] = []
        self.max_states = max_states
        self.deadline = deadline
        self._utf8_cache: dict[Ranges, list] = {}
        self.generation, self.intern = intern_state()
        self._lexeme_dfa = lexeme_dfa  # to_dfa: a lexeme goes in as its own (cached) DFA
        self._keys: dict[int, int] = {}  # id(node) -> structural key
        self._uses: dict[int, int] = {}  # key -> references to equal nodes in the tree
        self._entries: dict[tuple[int, int], int] = {}  # (key, end) -> entry of an emitted copy
        # embedded DFAs' edges as arrays (source, lo, hi, target) and their ε-edges to the end:
        # their states hold ``()`` in ``edges``/``eps`` (nothing else adds edges to them)
        self.block_edges: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        self.block_eps: list[tuple[np.ndarray, int]] = []

    def state(self) -> int:
        if len(self.edges) >= self.max_states:
            raise UnsupportedFeatureError(
                f"the constraint's automaton exceeds {self.max_states} NFA states; "
                "it is too large to compile as a regular language"
            )
        if self.deadline is not None and len(self.edges) % 256 == 0 and now() > self.deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def states(self, k: int, fixed: bool = False) -> int:
        """Allocate ``k`` consecutive states; returns the first. ``fixed``: their edges are set
        whole (an embedded DFA's, a template copy's), never appended to."""
        first = len(self.edges)
        if first + k > self.max_states:
            self.state()  # raises the size error
        if self.deadline is not None and now() > self.deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        if fixed:
            self.edges.extend(repeat((), k))
            self.eps.extend(repeat((), k))
        else:
            self.edges.extend([] for _ in range(k))
            self.eps.extend([] for _ in range(k))
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
                self.eps[start].append(entry)
                return
        self._emit_node(node, start, end)

    def _emit_node(self, node: Node, start: int, end: int) -> None:
        if isinstance(node, Chars):
            seqs = self._utf8_cache.get(node.ranges)
            if seqs is None:
                seqs = [s for lo, hi in remove_surrogates(list(node.ranges)) for s in utf8_sequences(lo, hi)]
                self._utf8_cache[node.ranges] = seqs
            for byte_ranges in seqs:
                cur = start
                for k, (lo, hi) in enumerate(byte_ranges):
                    nxt = end if k == len(byte_ranges) - 1 else self.state()
                    self.edges[cur].append((lo, hi, nxt))
                    cur = nxt
        elif isinstance(node, Seq):
            if not node.items:
                self.eps[start].append(end)
                return
            cur = start
            for k, item in enumerate(node.items):
                nxt = end if k == len(node.items) - 1 else self.state()
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
                self.eps[cur].append(loop)
                inner = self.state()
                emit(loop, inner)
                self.eps[inner].append(loop)
                self.eps[loop].append(end)
            else:
                for _ in range(node.hi - node.lo):
                    nxt = self.state()
                    self.eps[cur].append(end)
                    emit(cur, nxt)
                    cur = nxt
                self.eps[cur].append(end)
        elif isinstance(node, Automaton):
            dfa = node.dfa
            if dfa.n_states == 0:
                return  # the empty language: no path from start to end
            base = self.states(dfa.n_states, fixed=True)
            self.eps[start].append(base + dfa.start)
            src, lo, hi, dst = _byte_runs(dfa)
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
        edges is far cheaper than walking the IR n times. The template is a fresh fragment
        ``a → b`` (nothing enters ``a``, nothing leaves ``b``), so a copy maps ``a`` and ``b``
        to its own ends and the inside to fresh states.
        """
        a, b = self.state(), self.state()
        base = len(self.edges)
        n_blocks = len(self.block_edges)
        self._emit(item, a, b)
        k = len(self.edges) - base
        blocks = self.block_edges[n_blocks:]  # embedded DFAs inside the template: copied as arrays
        block_eps = self.block_eps[n_blocks:]

        def rel(t: int) -> int:
            return -1 if t == a else -2 if t == b else t - base

        a_edges = [(lo, hi, rel(t)) for lo, hi, t in self.edges[a]]
        a_eps = [rel(t) for t in self.eps[a]]
        edges = [[(lo, hi, rel(t)) for lo, hi, t in self.edges[base + i]] for i in range(k)]
        eps = [[rel(t) for t in self.eps[base + i]] for i in range(k)]
        first = [True]

        def place(cur: int, nxt: int) -> None:
            if first[0]:  # the template itself is the first copy
                first[0] = False
                self.eps[cur].append(a)
                self.eps[b].append(nxt)
                return
            off = self.states(k, fixed=True)
            ends = {-1: cur, -2: nxt}
            self.edges[cur].extend((lo, hi, ends.get(t, off + t)) for lo, hi, t in a_edges)
            self.eps[cur].extend(ends.get(t, off + t) for t in a_eps)
            for i in range(k):
                if edges[i]:
                    self.edges[off + i] = [(lo, hi, ends.get(t, off + t)) for lo, hi, t in edges[i]]
                if eps[i]:
                    self.eps[off + i] = [ends.get(t, off + t) for t in eps[i]]
            shift = off - base  # a block's own states are inside the template
            for src, lo, hi, dst in blocks:
                self.block_edges.append((src + shift, lo, hi, dst + shift))
            for states, end in block_eps:
                self.block_eps.append((states + shift, ends.get(rel(end), off + rel(end))))

        return place

    def _emit_comma_list(self, node: CommaList, start: int, end: int) -> None:
        n = len(node.items)
        cap = node.max_count if node.max_count is not None else max(node.min_count, 1)
        grid = [[self.state() for _ in range(cap + 1)] for _ in range(n + 1)]
        self.eps[start].append(grid[0][0])

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
                    self.eps[src].append(grid[i + 1][count])
        for count in range(cap + 1):
            src = grid[n][count]
            if node.extra is not None:
                step(src, count, node.extra, grid[n])
            if count >= node.min_count:
                self.eps[src].append(end)


def _byte_runs(dfa: ByteDFA) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The DFA's transitions as byte-range edges ``(source, lo, hi, target)``: runs of one target merged."""
    n = dfa.n_states
    padded = np.concatenate([dfa.transitions, np.full((n, 1), DEAD - 1, np.int32)], axis=1).ravel()
    starts = np.flatnonzero(np.concatenate([[True], padded[1:] != padded[:-1]]))
    ends = np.append(starts[1:], padded.size) - 1
    values = padded[starts]
    keep = values >= 0  # the sentinel column keeps runs inside their row
    starts, ends = starts[keep], ends[keep]
    return starts // 257, starts % 257, ends % 257, values[keep]


def nfa_arrays(nfa: NFA) -> tuple[np.ndarray, ...]:
    """The NFA's ε-edges and byte-range edges as CSR arrays (what the compiled kernel reads)."""
    n = len(nfa.edges)
    eps_len = np.fromiter(map(len, nfa.eps), np.int64, n)
    eps_dst = np.fromiter(chain.from_iterable(nfa.eps), np.int32, int(eps_len.sum()))
    e_len = np.fromiter(map(len, nfa.edges), np.int64, n)
    flat = np.fromiter(chain.from_iterable(chain.from_iterable(nfa.edges)), np.int32, 3 * int(e_len.sum()))
    flat = flat.reshape(-1, 3)
    e_lo, e_hi, e_dst = flat[:, 0], flat[:, 1], flat[:, 2]
    if nfa.block_edges:  # the embedded DFAs' edges join their states' (sorted by source)
        e_src = np.concatenate([np.repeat(np.arange(n, dtype=np.int64), e_len), *(b[0] for b in nfa.block_edges)])
        order = np.argsort(e_src, kind="stable")
        e_lo = np.concatenate([e_lo, *(b[1] for b in nfa.block_edges)])[order]
        e_hi = np.concatenate([e_hi, *(b[2] for b in nfa.block_edges)])[order]
        e_dst = np.concatenate([e_dst, *(b[3] for b in nfa.block_edges)])[order]
        e_len = np.bincount(e_src, minlength=n)
        eps_src = np.concatenate([np.repeat(np.arange(n, dtype=np.int64), eps_len),
                                  *(states for states, _ in nfa.block_eps)])
        order = np.argsort(eps_src, kind="stable")
        eps_dst = np.concatenate([eps_dst, *(np.full(states.size, end, np.int32) for states, end in nfa.block_eps)])
        eps_dst = eps_dst[order]
        eps_len = np.bincount(eps_src, minlength=n)
    eps_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(eps_len, out=eps_ptr[1:])
    e_ptr = np.zeros(n + 1, np.int64)
    np.cumsum(e_len, out=e_ptr[1:])
    return (eps_ptr, np.ascontiguousarray(eps_dst, np.int32), e_ptr, np.ascontiguousarray(e_lo, np.int32),
            np.ascontiguousarray(e_hi, np.int32), np.ascontiguousarray(e_dst, np.int32))
