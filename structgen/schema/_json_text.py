"""The lexical pieces of JSON text as regular IR: strings, numbers, ranges, literal values."""

from __future__ import annotations

import json
from typing import Any

from structgen.automata._regular import (
    EMPTY,
    Chars,
    Node,
    Repeat,
    alt,
    char_set,
    chars,
    intersect,
    literal,
    negate,
    opt,
    seq,
    star,
    subtract,
)

DIGIT = chars((0x30, 0x39))
NONZERO_DIGIT = chars((0x31, 0x39))
QUOTE = literal('"')
# characters json.dumps(ensure_ascii=False) writes as themselves
RAW = subtract(negate(Chars(())), Chars(((0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C))))
_SHORT_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t"}
ANY_JSON_CHAR = negate(Chars(()))


def _escape(cp: int) -> str:
    return _SHORT_ESCAPES.get(cp, f"\\u{cp:04x}")


def json_char(decoded: Chars) -> Node:
    """One character of ``decoded`` as it appears inside a JSON string (the json.dumps spelling)."""
    raw = intersect(decoded, RAW)
    special = intersect(decoded, negate(RAW))
    escapes = [literal(_escape(cp)) for lo, hi in special.ranges for cp in range(lo, hi + 1)]
    return alt(*([raw] if raw.ranges else []), *escapes)


def string_of(content: Node) -> Node:
    return seq(QUOTE, content, QUOTE)


def any_string_content(min_length: int = 0, max_length: int | None = None) -> Node:
    return Repeat(json_char(ANY_JSON_CHAR), min_length, max_length)


def string_content_except(words: list[str]) -> Node:
    """Encoded string content whose decoded value is none of ``words``."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[None] = True

    def build(node: dict) -> Node:
        options: list[Node] = []
        if None not in node:
            options.append(EMPTY)
        children = [c for c in node if c is not None]
        other = negate(char_set("".join(children))) if children else ANY_JSON_CHAR
        options.append(seq(json_char(other), star(json_char(ANY_JSON_CHAR))))
        for c in children:
            options.append(seq(json_char(char_set(c)), build(node[c])))
        return alt(*options)

    return build(trie)


def value_literal(value: Any) -> Node:
    """The compact json.dumps spelling of ``value`` (and ``1.0`` for an integral number, both ways)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    forms = [literal(text)]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        forms.append(literal(str(int(value))))
    elif isinstance(value, int) and not isinstance(value, bool):
        forms.append(literal(f"{value}.0"))
    return alt(*forms)


# ---- integers and decimals ------------------------------------------------------------------

def _digits_between(a: str, b: str) -> Node:
    """Digit strings of equal length ``a <= x <= b`` (leading zeros allowed)."""
    if not a:
        return EMPTY
    if a[0] == b[0]:
        return seq(literal(a[0]), _digits_between(a[1:], b[1:]))
    n = len(a) - 1
    parts = [seq(literal(a[0]), _digits_between(a[1:], "9" * n))]
    if int(a[0]) + 1 <= int(b[0]) - 1:
        parts.append(seq(chars((ord(a[0]) + 1, ord(b[0]) - 1)), Repeat(DIGIT, n, n)))
    parts.append(seq(literal(b[0]), _digits_between("0" * n, b[1:])))
    return alt(*parts)


def natural_range(lo: int, hi: int | None) -> Node:
    """Canonical decimal spellings (no leading zeros) of the integers ``lo <= n <= hi``, ``lo >= 0``."""
    if hi is not None and hi < lo:
        return alt()
    parts: list[Node] = []
    if lo == 0:
        parts.append(literal("0"))
        lo = 1
        if hi is not None and hi < 1:
            return parts[0]
    lo_s = str(lo)
    top = len(str(hi)) if hi is not None else len(lo_s)
    for length in range(len(lo_s), top + 1):
        a = lo_s if length == len(lo_s) else "1" + "0" * (length - 1)
        b = str(hi) if hi is not None and length == len(str(hi)) else "9" * length
        parts.append(_digits_between(a, b))
    if hi is None:
        parts.append(seq(NONZERO_DIGIT, Repeat(DIGIT, len(lo_s), None)))
    return alt(*parts)


UNBOUNDED_INTEGER = seq(opt(literal("-")), alt(literal("0"), seq(NONZERO_DIGIT, star(DIGIT))))
FRACTION = seq(literal("."), Repeat(DIGIT, 1, None))
EXPONENT = seq(char_set("eE"), opt(char_set("+-")), Repeat(DIGIT, 1, None))
UNBOUNDED_NUMBER = seq(UNBOUNDED_INTEGER, opt(FRACTION), opt(EXPONENT))
_ZERO_FRACTION = opt(seq(literal("."), Repeat(literal("0"), 1, None)))
_NONZERO_FRACTION = seq(literal("."), star(DIGIT), NONZERO_DIGIT, star(DIGIT))


def integer_range(lo: int | None, hi: int | None) -> Node:
    """Integers in ``[lo, hi]`` (either end open when None), canonically spelled."""
    parts: list[Node] = []
    if hi is None or hi >= 0:
        parts.append(natural_range(max(lo, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        # negative n: magnitude in [max(1, -hi), -lo]
        mag_lo = 1 if hi is None or hi >= 0 else -hi
        parts.append(seq(literal("-"), natural_range(mag_lo, None if lo is None else -lo)))
    return alt(*parts)


def _magnitudes(a: int, a_excl: bool, b: int | None, b_incl: bool) -> Node:
    """Decimal magnitudes I[.F] (no exponent) in the interval from ``a`` to ``b`` (integers, a >= 0)."""
    parts: list[Node] = []
    any_lo = a + 1 if a_excl else a
    any_hi = None if b is None else b - 1
    if any_hi is None or any_lo <= any_hi:
        parts.append(seq(natural_range(any_lo, any_hi), opt(FRACTION)))
    if a_excl and (b is None or a < b):
        parts.append(seq(natural_range(a, a), _NONZERO_FRACTION))
    if b is not None and b_incl and (b > a or (b == a and not a_excl)):
        parts.append(seq(natural_range(b, b), _ZERO_FRACTION))
    return alt(*parts)


def number_range(lo: int | None, lo_excl: bool, hi: int | None, hi_excl: bool) -> Node:
    """Decimals (no exponent) between integer bounds; either bound may be None (open)."""
    parts: list[Node] = []
    if hi is None or hi > 0 or (hi == 0 and not hi_excl):
        if lo is None or lo < 0:
            parts.append(_magnitudes(0, False, hi, not hi_excl))
        else:
            parts.append(_magnitudes(lo, lo_excl, hi, not hi_excl))
    if lo is None or lo < 0:
        # x < 0: magnitude m = -x with -hi <= m (or <), m <= -lo (or <), and m > 0
        if hi is None or hi >= 0:
            low, low_excl = 0, True
        else:
            low, low_excl = -hi, hi_excl
        high = None if lo is None else -lo
        parts.append(seq(literal("-"), _magnitudes(low, low_excl, high, not lo_excl)))
    return alt(*parts)
