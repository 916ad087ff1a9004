"""Open values with holes: the bounded open values of a schema's IR swapped for ones whose deeper
containers are ``HOLE`` bytes, so that the pushdown index takes them to any depth."""

from __future__ import annotations

from structgen.automata._ir import Alt, CommaList, Lexeme, Node, Repeat, Seq
from structgen.schema._layout import _any_value


def holed(depth: int, layout: tuple[str, int, int, int]) -> Node | None:
    """The open value ``depth`` levels deep with holes below, or None where the layout has none (indented)."""
    whitespace, max_whitespace, _, _ = layout
    if whitespace == "indented":
        return None
    return Lexeme(_any_value(depth, whitespace, max_whitespace, holes=True))


def substitute(root: Node, replace: dict[int, Node]) -> tuple[Node, set[int]]:
    """``root`` with each node whose id is in ``replace`` swapped for its replacement; also the ids
    swapped. Subtrees with nothing to swap are kept as they are (their cached automata with them).
    A lexeme is not searched: the compiler makes open values lexemes of their own and puts none
    inside other lexemes (strings, numbers, literals), which are most of a schema's nodes.

    Iterative: IR trees can nest thousands of levels.
    """
    done: dict[int, Node] = {}
    replaced: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in done:
            continue
        if key in replace:
            done[key] = replace[key]
            replaced.add(key)
            continue
        if isinstance(node, Lexeme):
            done[key] = node
            continue
        children = _children(node)
        if not ready:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in done)
            continue
        new = [done[id(c)] for c in children]
        if all(a is b for a, b in zip(new, children)):
            done[key] = node
        else:
            done[key] = _rebuilt(node, new)
    return done[id(root)], replaced


def _children(node: Node) -> list[Node]:
    if isinstance(node, (Seq, Alt)):
        return list(node.items)
    if isinstance(node, (Repeat, Lexeme)):
        return [node.item]
    if isinstance(node, CommaList):
        return [x for x, _ in node.items] + ([] if node.extra is None else [node.extra]) + [node.sep]
    return []


def _rebuilt(node: Node, new: list[Node]) -> Node:
    if isinstance(node, Seq):
        return Seq(tuple(new))
    if isinstance(node, Alt):
        return Alt(tuple(new))
    if isinstance(node, Repeat):
        return Repeat(new[0], node.lo, node.hi)
    if isinstance(node, Lexeme):
        return Lexeme(new[0])
    assert isinstance(node, CommaList)
    n = len(node.items)
    items = tuple((x, required) for x, (_, required) in zip(new[:n], node.items))
    extra = new[n] if node.extra is not None else None
    return CommaList(items, extra, new[-1], node.min_count, node.max_count)
