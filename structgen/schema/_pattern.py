"""ECMA-262 regular expressions (JSON Schema ``pattern``, ``patternProperties``) → regular IR.

JSON Schema patterns are unanchored: ``"a"`` matches any string containing ``a``. Parsing uses
Python's regex parser after the few syntax differences are rewritten; classes follow ECMA-262:
``\\d`` and ``\\w`` are ASCII, ``\\s`` is the ECMA white-space set, ``.`` excludes line terminators.
"""

from __future__ import annotations

import re
import warnings

from structgen._errors import GrammarError, UnsupportedFeatureError
from structgen.automata._ir import (
    EMPTY,
    NOTHING,
    Chars,
    Node,
    Repeat,
    alt,
    char_set,
    chars,
    negate,
    normalise_ranges,
    seq,
    star,
)

try:
    from re import _constants as _c
    from re import _parser as _sre
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as _c
    import sre_parse as _sre

DIGIT = chars((0x30, 0x39))
WORD = chars((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
SPACE = Chars(
    normalise_ranges(
        [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
         (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]
    )
)
LINE_TERMINATORS = char_set("\n\r\u2028\u2029")
ANY_CHAR = negate(Chars(()))
DOT = negate(LINE_TERMINATORS)

_CATEGORIES = {
    _c.CATEGORY_DIGIT: DIGIT,
    _c.CATEGORY_NOT_DIGIT: negate(DIGIT),
    _c.CATEGORY_WORD: WORD,
    _c.CATEGORY_NOT_WORD: negate(WORD),
    _c.CATEGORY_SPACE: SPACE,
    _c.CATEGORY_NOT_SPACE: negate(SPACE),
}

_NAMED_GROUP = re.compile(r"\(\?<(?![=!])")


def _class(items) -> Chars:
    ranges: list[tuple[int, int]] = []
    negated = False
    for op, arg in items:
        if op is _c.NEGATE:
            negated = True
        elif op is _c.LITERAL:
            ranges.append((arg, arg))
        elif op is _c.RANGE:
            ranges.append(arg)
        elif op is _c.CATEGORY:
            ranges.extend(_CATEGORIES[arg].ranges)
        else:
            raise UnsupportedFeatureError(f"character class item {op}")
    node = Chars(normalise_ranges(ranges))
    return negate(node) if negated else node


def _convert(tree, where: str) -> Node:
    parts: list[Node] = []
    for op, arg in tree:
        if op is _c.LITERAL:
            parts.append(chars((arg, arg)))
        elif op is _c.NOT_LITERAL:
            parts.append(negate(chars((arg, arg))))
        elif op is _c.ANY:
            parts.append(DOT)
        elif op is _c.IN:
            parts.append(_class(arg))
        elif op is _c.BRANCH:
            parts.append(alt(*(_convert(branch, where) for branch in arg[1])))
        elif op is _c.SUBPATTERN:
            _group, add_flags, del_flags, sub = arg
            if add_flags & ~(re.UNICODE | re.ASCII) or del_flags:
                raise UnsupportedFeatureError(f"{where}: inline regex flags are not supported")
            parts.append(_convert(sub, where))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = arg
            parts.append(Repeat(_convert(sub, where), lo, None if hi == _c.MAXREPEAT else hi))
        elif op is getattr(_c, "ATOMIC_GROUP", None):
            parts.append(_convert(arg, where))
        elif op is _c.AT:
            raise UnsupportedFeatureError(f"{where}: anchors other than a leading ^ and a trailing $")
        elif op in (_c.ASSERT, _c.ASSERT_NOT):
            raise UnsupportedFeatureError(f"{where}: lookahead/lookbehind assertions")
        elif op in (_c.GROUPREF, getattr(_c, "GROUPREF_EXISTS", None)):
            raise UnsupportedFeatureError(f"{where}: backreferences")
        else:
            raise UnsupportedFeatureError(f"{where}: regex operator {op}")
    return seq(*parts) if parts else EMPTY


def pattern_to_ir(pattern: str, *, where: str = "pattern", anchored: bool = False) -> Node:
    """The set of strings ``pattern`` matches, as JSON Schema reads it (a search, unless anchored).

    ``where`` names the schema location for error messages.
    """
    source = _NAMED_GROUP.sub("(?P<", pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = list(_sre.parse(source))
    except re.error as exc:
        raise GrammarError(f"{where}: invalid regex {pattern!r} at position {exc.pos}: {exc.msg}") from None
    starts = bool(tree) and tree[0][0] is _c.AT and tree[0][1] in (_c.AT_BEGINNING, _c.AT_BEGINNING_STRING)
    if starts:
        tree = tree[1:]
    ends = bool(tree) and tree[-1][0] is _c.AT and tree[-1][1] in (_c.AT_END, _c.AT_END_STRING)
    if ends:
        tree = tree[:-1]
    if len(tree) == 1 and tree[0][0] is _c.BRANCH and not (starts or ends):
        # top-level alternation whose branches carry their own anchors: ^a|b$
        branches = [list(b) for b in tree[0][1][1]]
        if any(b and (b[0][0] is _c.AT or b[-1][0] is _c.AT) for b in branches):
            raise UnsupportedFeatureError(f"{where}: anchors inside an alternation")
    body = _convert(tree, where)
    if anchored:
        return body
    return seq(EMPTY if starts else star(ANY_CHAR), body, EMPTY if ends else star(ANY_CHAR))


__all__ = ["ANY_CHAR", "NOTHING", "pattern_to_ir"]
