"""A small regular-expression IR over Unicode code points, compiled to a ``ByteDFA``.

Front-ends that build languages structurally (JSON Schema, ECMA-262 patterns) produce these
nodes instead of regex text: no quoting, no re-parsing, and sizes stay visible. Compilation is
Thompson NFA over UTF-8 byte ranges → subset construction → trim and minimise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from structgen._errors import CompileTimeoutError, UnsupportedFeatureError
from structgen.automata._dfa import DEAD, ByteDFA, trim_and_minimise
from structgen.automata._utf8 import MAX_CODE_POINT, remove_surrogates, utf8_sequences

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Chars:
    """One character from a set of code-point ranges (sorted, disjoint)."""

    ranges: Ranges


@dataclass(frozen=True)
class Seq:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Alt:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Repeat:
    """``item`` repeated ``lo`` to ``hi`` times (``hi=None``: unbounded)."""

    item: Node
    lo: int
    hi: int | None


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


Node = Chars | Seq | Alt | Repeat | Automaton | CommaList

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


def literal(text: str) -> Node:
    """Exactly ``text``."""
    return Seq(tuple(Chars(((ord(c), ord(c)),)) for c in text))


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
    for item in items:
        if isinstance(item, Alt):
            flat.extend(x for x in item.items if x not in flat)
        elif item not in flat:
            flat.append(item)
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

    def build(self, node: Node) -> tuple[int, int]:
        start = self.state()
        end = self.state()
        self._emit(node, start, end)
        return start, end

    def _emit(self, node: Node, start: int, end: int) -> None:
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
            cur = start
            for _ in range(node.lo):
                nxt = self.state()
                self._emit(node.item, cur, nxt)
                cur = nxt
            if node.hi is None:
                loop = self.state()
                self.eps[cur].append(loop)
                inner = self.state()
                self._emit(node.item, loop, inner)
                self.eps[inner].append(loop)
                self.eps[loop].append(end)
            else:
                for _ in range(node.hi - node.lo):
                    nxt = self.state()
                    self.eps[cur].append(end)
                    self._emit(node.item, cur, nxt)
                    cur = nxt
                self.eps[cur].append(end)
        elif isinstance(node, Automaton):
            dfa = node.dfa
            if dfa.n_states == 0:
                return  # the empty language: no path from start to end
            ids = [self.state() for _ in range(dfa.n_states)]
            self.eps[start].append(ids[dfa.start])
            for s in range(dfa.n_states):
                row = dfa.transitions[s]
                live = np.flatnonzero(row != DEAD)
                if live.size:
                    # runs of equal targets become one byte-range edge
                    breaks = np.flatnonzero((np.diff(live) != 1) | (np.diff(row[live]) != 0)) + 1
                    for run in np.split(live, breaks):
                        self.edges[ids[s]].append((int(run[0]), int(run[-1]), ids[int(row[run[0]])]))
                if dfa.accepting[s]:
                    self.eps[ids[s]].append(end)
        elif isinstance(node, CommaList):
            self._emit_comma_list(node, start, end)
        else:
            raise TypeError(f"Expected a regular IR node, but got {type(node).__name__}")

    def _emit_comma_list(self, node: CommaList, start: int, end: int) -> None:
        n = len(node.items)
        cap = node.max_count if node.max_count is not None else max(node.min_count, 1)
        grid = [[self.state() for _ in range(cap + 1)] for _ in range(n + 1)]
        self.eps[start].append(grid[0][0])

        def step(src: int, count: int, item: Node, dst_row: list[int]) -> None:
            if node.max_count is not None and count + 1 > node.max_count:
                return
            target = dst_row[min(count + 1, cap)]
            if count:
                mid = self.state()
                self._emit(node.sep, src, mid)
                self._emit(item, mid, target)
            else:
                self._emit(item, src, target)

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


def intersect_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton: strings both accept (0 states when none)."""
    if a.n_states == 0 or b.n_states == 0:
        return ByteDFA(np.zeros((0, 256), np.int32), np.zeros(0, bool), 0)
    index = {(a.start, b.start): 0}
    pairs = [(a.start, b.start)]
    rows, accepting = [], []
    i = 0
    while i < len(pairs):
        x, y = pairs[i]
        i += 1
        tx, ty = a.transitions[x], b.transitions[y]
        both = np.flatnonzero((tx != DEAD) & (ty != DEAD))
        row = np.full(256, DEAD, np.int32)
        for byte in both.tolist():
            key = (int(tx[byte]), int(ty[byte]))
            j = index.get(key)
            if j is None:
                j = index[key] = len(pairs)
                pairs.append(key)
            row[byte] = j
        rows.append(row)
        accepting.append(bool(a.accepting[x] and b.accepting[y]))
    return trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), 0)


def _closure(states, eps) -> frozenset[int]:
    seen = set(states)
    stack = list(states)
    while stack:
        for t in eps[stack.pop()]:
            if t not in seen:
                seen.add(t)
                stack.append(t)
    return frozenset(seen)


def to_dfa(node: Node, *, max_states: int = 500_000, deadline: float | None = None) -> ByteDFA:
    """Compile an IR node to a trimmed, minimised byte DFA (0 states for the empty language).

    ``deadline`` is a ``time.monotonic()`` value past which compilation stops with
    ``CompileTimeoutError``.
    """
    nfa = _NFA(max_states, deadline)
    start, end = nfa.build(node)
    first = _closure([start], nfa.eps)
    index = {first: 0}
    sets = [first]
    rows: list[np.ndarray] = []
    accepting: list[bool] = []
    i = 0
    while i < len(sets):
        current = sets[i]
        i += 1
        if deadline is not None and time.monotonic() > deadline:
            raise CompileTimeoutError("compiling the constraint's automaton ran past its time limit")
        row = np.full(256, DEAD, np.int32)
        accepting.append(end in current)
        edges = [e for s in current for e in nfa.edges[s]]
        if edges:
            cuts = sorted({lo for lo, _, _ in edges} | {hi + 1 for _, hi, _ in edges})
            for lo, hi in zip(cuts, cuts[1:]):
                targets = [t for a, b, t in edges if a <= lo and hi - 1 <= b]
                if not targets:
                    continue
                target = _closure(targets, nfa.eps)
                j = index.get(target)
                if j is None:
                    if len(sets) >= max_states:
                        raise UnsupportedFeatureError(
                            f"the constraint's automaton exceeds {max_states} DFA states; "
                            "it is too large to compile as a regular language"
                        )
                    j = index[target] = len(sets)
                    sets.append(target)
                row[lo:hi] = j
        rows.append(row)
    return trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), 0)


def difference_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton for ``a`` minus ``b``: strings ``a`` accepts and ``b`` does not.

    ``b`` is completed with an implicit sink (its dead state), so a string ``b`` rejects early
    stays alive in the product as long as ``a`` accepts a continuation. This is how complements
    are taken: ``difference_dfas(universe, x)`` is ``x``'s complement within ``universe``.
    """
    if a.n_states == 0 or b.n_states == 0:
        return a
    index = {(a.start, b.start): 0}
    pairs = [(a.start, b.start)]
    rows, accepting = [], []
    i = 0
    while i < len(pairs):
        x, y = pairs[i]
        i += 1
        tx = a.transitions[x]
        ty = b.transitions[y] if y != DEAD else None
        live = np.flatnonzero(tx != DEAD)
        row = np.full(256, DEAD, np.int32)
        for byte in live.tolist():
            key = (int(tx[byte]), DEAD if ty is None else int(ty[byte]))
            j = index.get(key)
            if j is None:
                j = index[key] = len(pairs)
                pairs.append(key)
            row[byte] = j
        rows.append(row)
        accepting.append(bool(a.accepting[x] and (y == DEAD or not b.accepting[y])))
    return trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), 0)


def union_dfas(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The product automaton for strings either accepts (both completed with a sink)."""
    if a.n_states == 0:
        return b
    if b.n_states == 0:
        return a
    index = {(a.start, b.start): 0}
    pairs = [(a.start, b.start)]
    rows, accepting = [], []
    i = 0
    while i < len(pairs):
        x, y = pairs[i]
        i += 1
        tx = a.transitions[x] if x != DEAD else None
        ty = b.transitions[y] if y != DEAD else None
        row = np.full(256, DEAD, np.int32)
        live = np.zeros(256, bool)
        if tx is not None:
            live |= tx != DEAD
        if ty is not None:
            live |= ty != DEAD
        for byte in np.flatnonzero(live).tolist():
            key = (DEAD if tx is None else int(tx[byte]), DEAD if ty is None else int(ty[byte]))
            j = index.get(key)
            if j is None:
                j = index[key] = len(pairs)
                pairs.append(key)
            row[byte] = j
        rows.append(row)
        accepting.append(bool((x != DEAD and a.accepting[x]) or (y != DEAD and b.accepting[y])))
    return trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), 0)
