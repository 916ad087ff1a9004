"""How JSON is written at a nesting depth: separators, brackets, and every value written that way.

A layout is ``(whitespace, max_whitespace, indent, level)`` as ``SchemaCompiler._layout`` gives
it: compact, flexible (up to ``max_whitespace`` blanks between tokens), or indented as
json.dumps(indent=...) writes it, where each nesting level is spelled differently. The languages
here are cached by layout, so that every use shares one node.
"""

from __future__ import annotations

from functools import lru_cache

from structgen.automata._dfa import ByteDFA
from structgen.automata._ir import (
    EMPTY,
    NOTHING,
    Alt,
    Automaton,
    Chars,
    CommaList,
    Node,
    Repeat,
    Seq,
    alt,
    char_set,
    literal,
    opt,
    seq,
)
from structgen.automata._regular import difference_dfas, to_dfa
from structgen.index._pushdown import hole_dfa
from structgen.schema import _json_text as jt


@lru_cache(maxsize=128)
def _any_value(depth: int, whitespace: str, max_whitespace: int, indent: int = 0, level: int = 0,
               holes: bool = False) -> Node:
    """Any JSON value nested at most ``depth`` levels, written at ``level`` (see SchemaCompiler._layout).

    With ``holes``, a container below ``depth`` is the byte ``HOLE`` (any object or array, at any
    depth, for the pushdown index: see ``index._pushdown``) instead of absent.
    """
    options = [literal("null"), literal("true"), literal("false"), jt.UNBOUNDED_NUMBER,
               jt.string_of(jt.any_string_content())]
    if depth > 0:
        inner = _any_value(depth - 1, whitespace, max_whitespace, indent, level + 1 if whitespace == "indented" else 0,
                           holes)
        options += _containers(inner, whitespace, max_whitespace, indent, level)
    elif holes:
        options.append(Automaton(hole_dfa()))
    return Automaton(to_dfa(alt(*options)))


def _containers(inner: Node, whitespace: str, max_whitespace: int, indent: int, level: int) -> list[Node]:
    """An array and an object ``level`` deep whose elements and member values are ``inner``."""
    comma, colon = _comma(whitespace, max_whitespace, indent, level), _colon(whitespace, max_whitespace, indent, level)
    layout = (whitespace, max_whitespace, indent, level)
    member = seq(jt.string_of(jt.any_string_content()), colon, inner)
    return [_bracketed("[", opt(seq(inner, Repeat(seq(comma, inner), 0, None))), "]", *layout),
            _bracketed("{", CommaList((), member, comma), "}", *layout)]


@lru_cache(maxsize=16)
def open_container(whitespace: str, max_whitespace: int) -> ByteDFA:
    """The container automaton behind holes: any array or object, whose values are scalars or holes."""
    if whitespace == "indented":
        raise ValueError("indented JSON spells each nesting level differently: it has no single container automaton")
    return to_dfa(alt(*_containers(_any_value(0, whitespace, max_whitespace, holes=True), whitespace, max_whitespace,
                                   0, 0)))


def _ws(whitespace: str, max_whitespace: int) -> Node:
    """Optional whitespace between tokens (flexible), else none."""
    return Repeat(char_set(" \t\n\r"), 0, max_whitespace) if whitespace == "flexible" else EMPTY


@lru_cache(maxsize=256)  # one node per layout: shared, not rebuilt at every use
def _comma(whitespace: str, max_whitespace: int, indent: int, level: int) -> Node:
    """The separator between the members of a container ``level`` deep."""
    if whitespace == "indented":
        return literal(",\n" + " " * (indent * (level + 1)))
    ws = _ws(whitespace, max_whitespace)
    return seq(ws, literal(","), ws)


@lru_cache(maxsize=256)
def _colon(whitespace: str, max_whitespace: int, indent: int, level: int) -> Node:
    if whitespace == "indented":
        return literal(": ")
    ws = _ws(whitespace, max_whitespace)
    return seq(ws, literal(":"), ws)


def _bracketed(open_: str, body: Node, close: str, whitespace: str, max_whitespace: int, indent: int, level: int,
               deadline: float | None = None) -> Node:
    """A container ``level`` deep: ``body`` (its members and separators, or nothing) between brackets.

    Indented, as json.dumps(indent=...) writes it: an empty container is ``[]``; otherwise each
    member starts a line indented ``(level + 1) * indent`` and the closing bracket gets a line of
    its own indented ``level * indent``.
    """
    if whitespace != "indented":
        ws = _ws(whitespace, max_whitespace)
        return seq(literal(open_), ws, body, ws, literal(close))
    members, can_be_empty = _without_empty(body, deadline)
    empty = literal(open_ + close) if can_be_empty else NOTHING
    if members == NOTHING:
        return empty
    pad = " " * indent
    return alt(seq(literal(f"{open_}\n{pad * (level + 1)}"), members, literal(f"\n{pad * level}{close}")), empty)


def _nullable(node: Node) -> bool:
    """Does ``node`` match the empty string?"""
    if isinstance(node, Chars):
        return False
    if isinstance(node, Seq):
        return all(_nullable(x) for x in node.items)
    if isinstance(node, Alt):
        return any(_nullable(x) for x in node.items)
    if isinstance(node, Repeat):
        return node.lo == 0 or _nullable(node.item)
    if isinstance(node, Automaton):
        return node.dfa.matches(b"")
    if isinstance(node, CommaList):
        members = [x for x, _ in node.items] + ([] if node.extra is None else [node.extra])
        if any(_nullable(x) for x in members):
            return to_dfa(node).matches(b"")
        return node.min_count == 0 and not any(required for _, required in node.items)
    wrapped = getattr(node, "item", None)  # a node marking another one (a lexeme)
    return wrapped is not None and _nullable(wrapped)  # else a reference to a JSON value: never empty


def _without_empty(node: Node, deadline: float | None = None) -> tuple[Node, bool]:
    """``(node's language without the empty string, whether it held the empty string)``."""
    if not _nullable(node):
        return node, False
    if node == EMPTY:
        return NOTHING, True
    if isinstance(node, Alt):
        return alt(*(_without_empty(x, deadline)[0] for x in node.items)), True
    if isinstance(node, Repeat) and not _nullable(node.item):
        if node.hi == 0:
            return NOTHING, True
        return (node.item if node.hi == 1 else Repeat(node.item, 1, node.hi)), True
    if isinstance(node, CommaList) and not any(_nullable(x) for x, _ in node.items) and \
            (node.extra is None or not _nullable(node.extra)):
        if node.max_count == 0 or (not node.items and node.extra is None):
            return NOTHING, True
        return CommaList(node.items, node.extra, node.sep, max(node.min_count, 1), node.max_count), True
    rest = difference_dfas(to_dfa(node, deadline=deadline), to_dfa(EMPTY))
    return (Automaton(rest) if rest.n_states else NOTHING), True


@lru_cache(maxsize=128)
def _universe(depth: int, whitespace: str, max_whitespace: int, indent: int, level: int,
              one_key_objects: bool) -> ByteDFA:
    """JSON values as structgen writes them at ``level`` (see SchemaCompiler._layout): json.dumps
    string escapes, numbers without exponent, trailing fraction zeros or ``-0``, nested at most
    ``depth`` levels; with ``one_key_objects``, objects of at most one property.

    Every language the compiler builds holds every value of this universe that validates (when no
    narrowing was reported), so ``universe - L(S)`` holds only values that do not validate against S.
    Property order and duplicate keys are the exception, hence the one-property objects for
    complements of schemas that fix an order.
    """
    comma, colon = _comma(whitespace, max_whitespace, indent, level), _colon(whitespace, max_whitespace, indent, level)
    options = [literal("null"), literal("true"), literal("false"), jt.CANONICAL_NUMBER,
               jt.string_of(jt.any_string_content())]
    if depth > 0:
        inner_level = level + 1 if whitespace == "indented" else 0
        inner = Automaton(_universe(depth - 1, whitespace, max_whitespace, indent, inner_level, one_key_objects))
        layout = (whitespace, max_whitespace, indent, level)
        options.append(_bracketed("[", opt(seq(inner, Repeat(seq(comma, inner), 0, None))), "]", *layout))
        member = seq(jt.string_of(jt.any_string_content()), colon, inner)
        members = opt(member) if one_key_objects else CommaList((), member, comma)
        options.append(_bracketed("{", members, "}", *layout))
    return to_dfa(alt(*options))
