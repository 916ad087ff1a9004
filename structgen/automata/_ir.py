"""The regular-language IR: nodes over Unicode code points, their constructors and structural keys.

Front-ends that build languages structurally (JSON Schema, ECMA-262 patterns) produce these
nodes instead of regex text: no quoting, no re-parsing, and sizes stay visible. ``to_dfa``
(``_regular``) compiles them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from structgen._errors import UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA
from structgen.automata._utf8 import MAX_CODE_POINT

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


def entered_as_dfa(node: Node) -> bool:
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


# Hash-consing: every distinct IR tree gets one small int, so equal subtrees are found in O(1).
# The table only grows; when it gets large a new generation replaces it (rebinding is atomic, and
# a build keeps the table it started with, so its keys never mix generations).
_INTERN_STATE: tuple[int, dict[tuple, int]] = (0, {})
MAX_INTERNED = 1_000_000  # past this many trees the DFA cache starts a new generation


def intern_state() -> tuple[int, dict[tuple, int]]:
    """The intern table in use: ``(generation, table)``."""
    return _INTERN_STATE


def new_intern_generation() -> None:
    """Replace the intern table (keys of the old generation are never looked up again)."""
    global _INTERN_STATE
    _INTERN_STATE = (_INTERN_STATE[0] + 1, {})


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
    # (node, its children once they are to be combined, else None)
    stack: list[tuple[Node, tuple[Node, ...] | None]] = [(node, None)]
    while stack:
        item, children = stack.pop()
        iid = id(item)
        if iid in memo:
            continue
        known = item.__dict__.get("_dfa_key")
        if known is not None and known[0] != generation:
            known = None
        if type(item) is Chars or isinstance(item, Chars):
            if known is not None:
                memo[iid] = known[1]
                continue
            shape: tuple = (0, item.ranges)
        elif children is None:
            if isinstance(item, Ref):
                raise NotRegularError(f"the language refers to {item.name!r} recursively; it is not regular")
            embedded = isinstance(item, Automaton)
            if known is not None and (uses is None or embedded or entered_as_dfa(item)):
                memo[iid] = known[1]
                continue
            if embedded:
                shape = (1, item.dfa.fingerprint)  # by content: the table must not keep DFAs alive
            else:
                children = _children(item)
                stack.append((item, children))
                for c in children:
                    if id(c) in memo:
                        continue
                    # a keyed character set is settled here: most leaves are, and a push costs more
                    ck = c.__dict__.get("_dfa_key") if type(c) is Chars else None
                    if ck is not None and ck[0] == generation:
                        memo[id(c)] = ck[1]
                    else:
                        stack.append((c, None))
                continue
        else:
            child_keys = tuple([memo[id(c)] for c in children])
            if uses is not None:
                for k in child_keys:
                    uses[k] = uses.get(k, 0) + 1
            if known is not None:  # walked again only to count its children's uses
                memo[iid] = known[1]
                continue
            shape = (_shape(item), child_keys)
        key = memo[iid] = intern.setdefault(shape, len(intern))
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
