"""A small regular-expression IR over Unicode code points, compiled to a ``ByteDFA``.

Front-ends that build languages structurally (JSON Schema, ECMA-262 patterns) produce these
nodes instead of regex text: no quoting, no re-parsing, and sizes stay visible. Compilation is
Thompson NFA over UTF-8 byte ranges → subset construction → trim and minimise.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain, repeat

import numpy as np

from structgen._errors import CompileTimeoutError, UnsupportedFeatureError
from structgen.automata._dfa import DEAD, ByteDFA, trim_and_minimise
from structgen.automata._kernels import (
    PRODUCT_AND,
    PRODUCT_MINUS,
    PRODUCT_OR,
    SUBSET_DONE,
    SUBSET_GROW,
    SUBSET_TOO_LARGE,
    _hash_set,
    _product_bfs,
    _rebuild_table,
    _subset_construction,
)
from structgen.automata._utf8 import MAX_CODE_POINT, remove_surrogates, utf8_sequences

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Chars:
    """One character from a set of code-point ranges (sorted, disjoint)."""

    ranges: Ranges


def _cached_hash(node: object, key: tuple) -> int:
    """``hash(key)``, computed once per node: trees are hashed again and again (dedup in alt, caches)."""
    h = node.__dict__.get("_hash")
    if h is None:
        _hash_below(node)  # bottom-up without recursion: IR trees can be thousands of levels deep
        h = hash(key)
        object.__setattr__(node, "_hash", h)
    return h


def _hash_below(node: object) -> None:
    """Hash (and so cache) every node under ``node``, children before parents, iteratively."""
    stack: list[tuple[object, bool]] = [(c, False) for c in _children(node)]  # type: ignore[arg-type]
    while stack:
        item, ready = stack.pop()
        if ready:
            hash(item)
        elif "_hash" not in item.__dict__ and isinstance(item, (Seq, Alt, Repeat, Lexeme, CommaList)):
            stack.append((item, True))
            stack.extend((c, False) for c in _children(item))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]

    def __hash__(self) -> int:
        return _cached_hash(self, (2, self.items))


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]

    def __hash__(self) -> int:
        return _cached_hash(self, (3, self.items))


@dataclass(frozen=True)
class Repeat:
    """``item`` repeated ``lo`` to ``hi`` times (``hi=None``: unbounded)."""

    item: Node
    lo: int
    hi: int | None

    def __hash__(self) -> int:
        return _cached_hash(self, (4, self.item, self.lo, self.hi))


@dataclass(frozen=True, eq=False)
class Automaton:
    """A ready byte DFA embedded as a node (intersections and other products come this way)."""

    dfa: ByteDFA


@dataclass(frozen=True)
class CommaList:
    """Items in order, each required or optional, separated by ``sep``; then ``extra`` repeated.

    At least ``min_count`` and at most ``max_count`` elements in all. Built with one NFA state per
    (position, count so far), so optional items do not multiply the automaton.
    """

    items: tuple[tuple[Node, bool], ...]
    extra: Node | None
    sep: Node
    min_count: int = 0
    max_count: int | None = None


@dataclass(frozen=True)
class Lexeme:
    """``item`` unchanged, marked as one lexical token (a string, a number, a key, a literal).

    Regular compilation sees through it; a grammar built from the IR (recursive schemas) makes
    each lexeme one terminal and splits everything else at its structure.
    """

    item: Node

    def __hash__(self) -> int:
        return _cached_hash(self, (6, self.item))


@dataclass(frozen=True)
class Ref:
    """A named sub-language defined elsewhere (a recursive schema's nonterminal): not regular."""

    name: str


class NotRegularError(UnsupportedFeatureError):
    """A ``Ref`` reached an operation only regular languages have (a DFA, a complement, a product)."""


Node = Chars | Seq | Alt | Repeat | Automaton | CommaList | Lexeme | Ref

EMPTY = Seq(())  # the empty string
NOTHING = Alt(())  # the empty language


def normalise_ranges(ranges) -> Ranges:
    """Sort and merge code-point ranges."""
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((lo, hi) for lo, hi in out)


def chars(*ranges: tuple[int, int]) -> Chars:
    return Chars(normalise_ranges(ranges))


def char_set(text: str) -> Chars:
    """One character out of ``text``."""
    return Chars(normalise_ranges((ord(c), ord(c)) for c in text))


def negate(node: Chars) -> Chars:
    """Every code point not in ``node``."""
    out, nxt = [], 0
    for lo, hi in node.ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODE_POINT:
        out.append((nxt, MAX_CODE_POINT))
    return Chars(tuple(out))


def subtract(a: Chars, b: Chars) -> Chars:
    """Code points in ``a`` and not in ``b``."""
    return intersect(a, negate(b))


def intersect(a: Chars, b: Chars) -> Chars:
    out, i, j = [], 0, 0
    while i < len(a.ranges) and j < len(b.ranges):
        lo = max(a.ranges[i][0], b.ranges[j][0])
        hi = min(a.ranges[i][1], b.ranges[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a.ranges[i][1] < b.ranges[j][1]:
            i += 1
        else:
            j += 1
    return Chars(tuple(out))


@lru_cache(maxsize=8192)
def literal(text: str) -> Node:
    """Exactly ``text`` (cached: escapes and keys recur, and one object per text makes sharing cheap)."""
    return Seq(tuple(_char(c) for c in text))


@lru_cache(maxsize=4096)
def _char(c: str) -> Chars:
    return Chars(((ord(c), ord(c)),))


def seq(*items: Node) -> Node:
    flat: list[Node] = []
    for item in items:
        if isinstance(item, Seq):
            flat.extend(item.items)
        else:
            flat.append(item)
    return flat[0] if len(flat) == 1 else Seq(tuple(flat))


def alt(*items: Node) -> Node:
    flat: list[Node] = []
    seen: set[Node] = set()  # nodes hash once (_cached_hash): duplicates go in linear time
    for item in items:
        for x in item.items if isinstance(item, Alt) else (item,):
            if x not in seen:
                seen.add(x)
                flat.append(x)
    return flat[0] if len(flat) == 1 else Alt(tuple(flat))


def opt(item: Node) -> Node:
    return Repeat(item, 0, 1)


def star(item: Node) -> Node:
    return Repeat(item, 0, None)


class _NFA:
    """Thompson NFA over byte ranges: ``edges[s]`` = [(lo, hi, target)], ``eps[s]`` = [targets]."""

    def __init__(self, max_states: int, deadline: float | None = None) -> None:
        self.edges: list[list[tuple[int, int, int]]] = []
        self.eps: list[list[int]] = []
        self.max_states = max_states
        self.deadline = deadline
        self._utf8_cache: dict[Ranges, list] = {}
        self.generation, self.intern = _INTERN_STATE
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
        if self.deadline is not None and len(self.edges) % 256 == 0 and time.monotonic() > self.deadline:
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
        if self.deadline is not None and time.monotonic() > self.deadline:
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
            if not _entered_as_dfa(node):
                self._emit(node.item, start, end)
            else:
                # a string or a number: its DFA (built once per distinct lexeme, cached) goes in as a
                # block of edges, far fewer NFA states than its characters' UTF-8 paths
                self._emit_node(Automaton(to_dfa(node.item, deadline=self.deadline)), start, end)
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


def _entered_as_dfa(node: Node) -> bool:
    """Whether an NFA build takes ``node`` as its own DFA's edges (see ``_emit_node``)."""
    return isinstance(node, Lexeme) and not _is_literal(node.item)


def _is_literal(node: Node) -> bool:
    """A fixed text (or a choice of single characters): cheaper to emit as it is than as a DFA."""
    if isinstance(node, Chars):
        return True
    if isinstance(node, Seq):
        return all(isinstance(x, Chars) and len(x.ranges) == 1 and x.ranges[0][0] == x.ranges[0][1] for x in node.items)
    if isinstance(node, Alt):
        return all(_is_literal(x) and not isinstance(x, Alt) for x in node.items)
    return False


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


# Hash-consing: every distinct IR tree gets one small int, so equal subtrees are found in O(1).
# The table only grows; when it gets large a new generation replaces it (rebinding is atomic, and
# a build keeps the table it started with, so its keys never mix generations).
_INTERN_STATE: tuple[int, dict[tuple, int]] = (0, {})
_MAX_INTERNED = 1_000_000


def node_key(
    node: Node,
    memo: dict[int, int] | None = None,
    uses: dict[int, int] | None = None,
    state: tuple[int, dict[tuple, int]] | None = None,
) -> int:
    """A structural key of ``node``: equal keys mean equal trees (hence equal languages).

    ``memo`` (by object id, valid while the tree is alive) makes a shared subtree cost once;
    ``uses`` counts, per key, the references to it from distinct parent objects (and the root).
    ``state`` is the intern table's (generation, table) to key in (the current one by default).

    A node keeps its key (``_dfa_key``, with the generation), so later calls need not walk it
    again: any node when ``uses`` is not asked for, else only those whose inside an NFA build
    never reads (characters, automata, and lexemes it enters as their own DFA).
    """
    memo = {} if memo is None else memo
    generation, intern = _INTERN_STATE if state is None else state
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        item, ready = stack.pop()
        if id(item) in memo:
            continue
        known = item.__dict__.get("_dfa_key")
        if known is not None and known[0] == generation and (
            uses is None or isinstance(item, (Chars, Automaton)) or _entered_as_dfa(item)
        ):
            memo[id(item)] = known[1]
            continue
        if isinstance(item, Chars):
            shape: tuple = (0, item.ranges)
        elif isinstance(item, Ref):
            raise NotRegularError(f"the language refers to {item.name!r} recursively; it is not regular")
        elif isinstance(item, Automaton):
            shape = (1, item.dfa.fingerprint)  # by content: the table must not keep DFAs alive
        else:
            children = _children(item)
            if not ready:
                stack.append((item, True))
                stack.extend((c, False) for c in children if id(c) not in memo)
                continue
            child_keys = tuple(memo[id(c)] for c in children)
            shape = (_shape(item), child_keys)
            if uses is not None:
                for k in child_keys:
                    uses[k] = uses.get(k, 0) + 1
        key = memo[id(item)] = intern.setdefault(shape, len(intern))
        object.__setattr__(item, "_dfa_key", (generation, key))
    root = memo[id(node)]
    if uses is not None:
        uses[root] = uses.get(root, 0) + 1
    return root


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, (Seq, Alt)):
        return node.items
    if isinstance(node, (Repeat, Lexeme)):
        return (node.item,)
    if isinstance(node, CommaList):
        return (*(item for item, _ in node.items), *((node.extra,) if node.extra is not None else ()), node.sep)
    return ()


def _shape(node: Node) -> tuple:
    """What distinguishes a composite node beyond its children's keys."""
    if isinstance(node, Seq):
        return (2,)
    if isinstance(node, Alt):
        return (3,)
    if isinstance(node, Repeat):
        return (4, node.lo, node.hi)
    if isinstance(node, CommaList):
        flags = tuple(required for _, required in node.items)
        return (5, flags, node.extra is not None, node.min_count, node.max_count)
    if isinstance(node, Lexeme):
        return (6,)
    raise TypeError(f"Expected a regular IR node, but got {type(node).__name__}")


def intersect_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton: strings both accept (0 states when none)."""
    if a.n_states == 0 or b.n_states == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    return _product(a, b, "and")


def _nfa_arrays(nfa: _NFA) -> tuple[np.ndarray, ...]:
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


def to_dfa(node: Node, *, max_states: int = 500_000, deadline: float | None = None) -> ByteDFA:
    """Compile an IR node to a trimmed, minimised byte DFA (0 states for the empty language).

    ``deadline`` is a ``time.monotonic()`` value past which compilation stops with
    ``CompileTimeoutError``.
    """
    if isinstance(node, Automaton):
        return node.dfa
    # the tree's structural key, kept on the node: a subtree compiled again (nested to_dfa calls
    # reach the same objects) finds its DFA without walking the tree
    known = node.__dict__.get("_dfa_key")
    if known is not None and known[0] == _INTERN_STATE[0]:
        with _DFA_CACHE_LOCK:
            cached = _DFA_CACHE.get((known[0], known[1], max_states))
            if cached is not None:
                return cached
    nfa = _NFA(max_states, deadline)
    key = nfa.key(node)  # kept on the node (node_key)
    cache_key = (nfa.generation, key, max_states)
    with _DFA_CACHE_LOCK:
        cached = _DFA_CACHE.get(cache_key)
        if cached is not None:
            _DFA_CACHE.move_to_end(cache_key)
            return cached
    start, end = nfa.build(node)
    eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst = _nfa_arrays(nfa)
    n_nfa = len(nfa.edges)
    # subset construction, compiled; it stops every few thousand states so the deadline is kept
    cap = 1024
    pool = np.empty(16 * cap, np.int32)
    set_start = np.zeros(cap + 1, np.int64)
    hashes = np.zeros(cap, np.uint64)
    table = np.full(4 * cap, -1, np.int64)
    trans = np.empty((cap, 256), np.int32)
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
            eps_ptr, eps_dst, e_ptr, e_lo, e_hi, e_dst, end,
            pool, set_start, hashes, table, trans, accepting, mark,
            i, n_sets, max_states, 4096,
        )
        if status == SUBSET_DONE:
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        if status == SUBSET_TOO_LARGE:
            raise UnsupportedFeatureError(
                f"the constraint's automaton exceeds {max_states} DFA states; "
                "it is too large to compile as a regular language"
            )
        if status == SUBSET_GROW:
            if set_start[n_sets] + n_nfa > pool.size:
                pool = np.concatenate([pool, np.empty(max(pool.size, n_nfa), np.int32)])
            if n_sets + 1 >= trans.shape[0]:
                cap = 2 * trans.shape[0]
                trans = np.concatenate([trans, np.empty_like(trans)])
                accepting = np.concatenate([accepting, np.zeros_like(accepting)])
                hashes = np.concatenate([hashes, np.zeros_like(hashes)])
                set_start = np.concatenate([set_start, np.zeros(cap + 1 - set_start.size, np.int64)])
            if 2 * (n_sets + 1) > table.size - 1 or table.size < 4 * trans.shape[0]:
                table = np.full(4 * trans.shape[0], -1, np.int64)
                _rebuild_table(table, hashes, n_sets)
    dfa = trim_and_minimise(trans[:n_sets], accepting[:n_sets], 0)
    _remember(cache_key, dfa)
    return dfa


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
        generation, intern = _INTERN_STATE
        if key[0] != generation:
            return  # keyed in a retired generation
        if len(intern) > _MAX_INTERNED:
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
    return _INTERN_STATE[0]


def clear_dfa_cache() -> None:
    """Forget compiled DFAs and interned IR trees (the next ``to_dfa`` of any tree is cold)."""
    with _DFA_CACHE_LOCK:
        _new_generation()


def _new_generation() -> None:
    global _INTERN_STATE, _dfa_cache_size
    _INTERN_STATE = (_INTERN_STATE[0] + 1, {})  # keys are interned ints: they go with the table
    _DFA_CACHE.clear()
    _dfa_cache_size = 0


def difference_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton for ``a`` minus ``b``: strings ``a`` accepts and ``b`` does not.

    ``b`` is completed with an implicit sink (its dead state), so a string ``b`` rejects early
    stays alive in the product as long as ``a`` accepts a continuation. This is how complements
    are taken: ``difference_dfas(universe, x)`` is ``x``'s complement within ``universe``.
    """
    if a.n_states == 0 or b.n_states == 0:
        return a
    return _product(a, b, "minus")


def union_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton for strings either accepts (both completed with a sink)."""
    if a.n_states == 0:
        return b
    if b.n_states == 0:
        return a
    return _product(a, b, "or")


_PRODUCT_OPS = {"and": PRODUCT_AND, "minus": PRODUCT_MINUS, "or": PRODUCT_OR}
_MAX_PRODUCT_STATES = 2_000_000


def _product(a: ByteDFA, b: ByteDFA, op: str) -> ByteDFA:
    """The reachable product of ``a`` and ``b`` (each completed with its dead state), trimmed and minimised."""
    trans, accepting, ok = _product_bfs(
        a.transitions, a.accepting, a.start, b.transitions, b.accepting, b.start, _PRODUCT_OPS[op],
        _MAX_PRODUCT_STATES,
    )
    if not ok:
        raise UnsupportedFeatureError(
            f"a product of two automata exceeds {_MAX_PRODUCT_STATES} states; it is too large to compile"
        )
    return trim_and_minimise(trans, accepting, 0)
