"""The lexical pieces of JSON text as regular IR: strings, numbers, ranges, literal values."""

from __future__ import annotations

import json
import weakref
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np

from structgen._errors import UnsupportedFeatureError
from structgen.automata._dfa import DEAD, ByteDFA, trim_and_minimise, trim_and_minimise_valid
from structgen.automata._ir import (
    EMPTY,
    NOTHING,
    Alt,
    Automaton,
    Chars,
    Lexeme,
    Node,
    Repeat,
    Seq,
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
from structgen.automata._regular import cache_generation, difference_dfas, to_dfa, words_dfa

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
    return Lexeme(seq(QUOTE, content, QUOTE))


def quoted_dfa(content: ByteDFA, deadline: float | None = None) -> ByteDFA:
    """The DFA of ``string_of(Automaton(content))``, built by adding two states to ``content``.

    Where an accepting state of ``content`` reads a raw quote (never, for encoded content: a quote
    inside a string is escaped) the concatenation is not deterministic, and the NFA path builds it.
    """
    n, q = content.n_states, ord('"')
    if n == 0:
        return content
    found = _QUOTED.get(content)
    if found is not None:
        return found
    if (content.transitions[content.accepting, q] >= 0).any():
        return to_dfa(string_of(Automaton(content)), deadline=deadline)
    table = np.full((n + 2, 256), DEAD, np.int32)
    inner = table[1 : n + 1]
    inner[:] = np.where(content.transitions >= 0, content.transitions + 1, DEAD)
    inner[content.accepting, q] = n + 1
    table[0, q] = content.start + 1
    accepting = np.zeros(n + 2, np.bool_)
    accepting[n + 1] = True
    found = _QUOTED[content] = trim_and_minimise_valid(table, accepting, 0)
    return found


# by content automaton: an object's extra keys are the same cached automaton wherever its names are
_QUOTED: weakref.WeakKeyDictionary[ByteDFA, ByteDFA] = weakref.WeakKeyDictionary()


_ANY_CHAR = json_char(ANY_JSON_CHAR)  # every string value and key has it: built once


def any_string_content(min_length: int = 0, max_length: int | None = None) -> Node:
    return Repeat(_ANY_CHAR, min_length, max_length)


def string_content_except(words: list[str]) -> Node:
    """Encoded string content whose decoded value is none of ``words``.

    Every character has one spelling here (json.dumps'), so excluding each word's spelling
    excludes the word: a DFA difference against the cached any-content automaton. Kept per set
    of words with the DFA cache (a definition referenced from many places has the same keys).
    """
    if not words:
        return any_string_content()
    key = (cache_generation(), tuple(words))
    found = _EXCEPT.get(key)
    if found is None:
        spelled = words_dfa([json.dumps(w, ensure_ascii=False)[1:-1].encode() for w in words])
        found = Automaton(difference_dfas(_any_content_dfa(), spelled))
        if len(_EXCEPT) > 4096 or any(k[0] != key[0] for k in islice(_EXCEPT, 1)):
            _EXCEPT.clear()
        _EXCEPT[key] = found
    return found


_EXCEPT: dict[tuple[int, tuple[str, ...]], Automaton] = {}


@lru_cache(maxsize=1)
def _any_content_dfa() -> ByteDFA:
    return to_dfa(any_string_content())


def encode_string_content(node: Node) -> Node:
    """Map decoded characters to their JSON spelling throughout ``node``."""
    if isinstance(node, Chars):
        return json_char(node)
    if isinstance(node, Seq):
        return Seq(tuple(encode_string_content(x) for x in node.items))
    if isinstance(node, Alt):
        return Alt(tuple(encode_string_content(x) for x in node.items))
    if isinstance(node, Repeat):
        return Repeat(encode_string_content(node.item), node.lo, node.hi)
    raise TypeError(f"cannot encode {type(node).__name__} as string content")


def key_bytes(name: str) -> bytes:
    """A property name as the compiler writes it: its json.dumps spelling, quotes included."""
    return json.dumps(name, ensure_ascii=False).encode()


def value_literal(value: Any) -> Node:
    """The compact json.dumps spelling of ``value`` (and ``1.0`` for an integral number, both ways)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    forms = [literal(text)]
    if isinstance(value, float) and value.is_integer():
        forms.append(literal(str(int(value))))
    elif isinstance(value, float) and value == value and abs(value) != float("inf"):
        # 1e-07 is also spelled 0.0000001: every exact decimal spelling of the float's shortest repr
        forms.append(literal(format(Decimal(repr(value)), "f")))
    elif isinstance(value, int) and not isinstance(value, bool):
        forms.append(literal(f"{value}.0"))
    return alt(*forms) if isinstance(value, (dict, list)) else Lexeme(alt(*forms))


# ---- integers and decimals ------------------------------------------------------------------

@lru_cache(maxsize=4096)
def _digits_between(a: str, b: str) -> Node:
    """Digit strings of equal length ``a <= x <= b`` (leading zeros allowed).

    Cached, and every digit string as one repeat: both halves of a split reach ``0…0``–``9…9``
    again, which unshared made 19-digit bounds (2**63) take 2**19 calls.
    """
    if not a:
        return EMPTY
    if a == "0" * len(a) and b == "9" * len(b):
        return Repeat(DIGIT, len(a), len(a))
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


# ---- decimal bounds and multipleOf ------------------------------------------------------------
# Bounds are exact decimals (``Decimal(repr(float))``: the number as the schema spells it). A
# number's text I[.F] is compared with a bound digit by digit, so any decimal bound is regular.

def _split(value: Decimal) -> tuple[int, str]:
    """A non-negative decimal as (integer part, fraction digits without trailing zeros)."""
    whole = int(value)
    frac = format(value - whole, "f")
    frac = frac.split(".")[1].rstrip("0") if "." in frac else ""
    return whole, frac


def _frac_ge(b: str, strict: bool) -> Node:
    """Digit strings d (one or more) with 0.d >= 0.b (> when strict); ``b`` has no trailing zeros."""
    c, rest = b[0], b[1:]
    parts: list[Node] = []
    if c < "9":
        parts.append(seq(chars((ord(c) + 1, 0x39)), star(DIGIT)))
    if rest:
        parts.append(seq(literal(c), _frac_ge(rest, strict)))
    else:
        parts.append(seq(literal(c), seq(star(DIGIT), NONZERO_DIGIT, star(DIGIT)) if strict else star(DIGIT)))
    return alt(*parts)


def _frac_le(b: str, strict: bool) -> Node:
    """Digit strings d (one or more) with 0.d <= 0.b (< when strict); ``b`` has no trailing zeros."""
    c, rest = b[0], b[1:]
    parts: list[Node] = []
    if c > "0":
        parts.append(seq(chars((0x30, ord(c) - 1)), star(DIGIT)))
    if rest:
        parts.append(seq(literal(c), alt(EMPTY, _frac_le(rest, strict))))
    elif not strict:
        parts.append(seq(literal(c), star(literal("0"))))
    return alt(*parts)


def _tail_ge(frac: str, strict: bool) -> Node:
    """Optional fraction parts (none = .0) whose value is >= 0.frac (> when strict)."""
    if not frac:
        return _NONZERO_FRACTION if strict else opt(FRACTION)
    return seq(literal("."), _frac_ge(frac, strict))


def _tail_le(frac: str, strict: bool) -> Node:
    """Optional fraction parts whose value is <= 0.frac (< when strict)."""
    if not frac:
        return NOTHING if strict else _ZERO_FRACTION
    return alt(EMPTY, seq(literal("."), _frac_le(frac, strict)))


def _decimal_magnitudes(a: Decimal, a_excl: bool, b: Decimal | None, b_excl: bool) -> Node:
    """Magnitudes I[.F] (no exponent) between ``a >= 0`` and ``b`` (None: unbounded)."""
    if b is not None and (b < a or (b == a and (a_excl or b_excl))):
        return NOTHING
    ia, fa = _split(a)
    if b is not None:
        ib, fb = _split(b)
        if ia == ib:
            both = _intersect_nodes(_tail_ge(fa, a_excl), _tail_le(fb, b_excl))
            return seq(natural_range(ia, ia), both)
    parts = [seq(natural_range(ia, ia), _tail_ge(fa, a_excl))]
    mid_hi = None if b is None else ib - 1
    if mid_hi is None or ia + 1 <= mid_hi:
        parts.append(seq(natural_range(ia + 1, mid_hi), opt(FRACTION)))
    if b is not None:
        parts.append(seq(natural_range(ib, ib), _tail_le(fb, b_excl)))
    return alt(*parts)


def _intersect_nodes(x: Node, y: Node) -> Node:
    from structgen.automata._regular import intersect_dfas

    dfa = intersect_dfas(to_dfa(x), to_dfa(y))
    return Automaton(dfa) if dfa.n_states else NOTHING


def decimal_range(lo: Decimal | None, lo_excl: bool, hi: Decimal | None, hi_excl: bool) -> Node:
    """Decimals (no exponent) between exact decimal bounds; either bound may be None (open)."""
    zero = Decimal(0)
    parts: list[Node] = []
    if hi is None or hi > 0 or (hi == 0 and not hi_excl):
        if lo is None or lo < 0:
            parts.append(_decimal_magnitudes(zero, False, hi, hi_excl))
        else:
            parts.append(_decimal_magnitudes(lo, lo_excl, hi, hi_excl))
    if lo is None or lo < 0:
        # x < 0: magnitude m = -x, strictly positive, between -hi and -lo
        low, low_excl = (zero, True) if hi is None or hi >= 0 else (-hi, hi_excl)
        high = None if lo is None else -lo
        if not (low == zero and not low_excl):
            parts.append(seq(literal("-"), _decimal_magnitudes(low, low_excl, high, lo_excl)))
    return alt(*parts)


MAX_MULTIPLE_STATES = 20_000


def decimal_parts(value: float | int) -> tuple[int, int]:
    """``value`` as ``(M, s)`` with value = M / 10**s exactly as the schema spells it (M > 0)."""
    d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    sign, digits, exponent = d.normalize().as_tuple()
    mantissa = int("".join(map(str, digits)))
    if exponent >= 0:
        return mantissa * 10**exponent, 0
    return mantissa, -exponent


def multiple_of(value: float | int, where: str) -> Node:
    """Numbers (no exponent, optional sign and fraction) that are exact decimal multiples of ``value``.

    With value = M / 10**s, x is a multiple iff x·10**s is an integer divisible by M: read the
    digits keeping the remainder mod M, allow at most s significant fraction digits (then only
    zeros). One DFA state per (remainder, fraction position): refused beyond MAX_MULTIPLE_STATES.
    """
    m, s = decimal_parts(value)
    if m * (s + 2) > MAX_MULTIPLE_STATES:
        raise UnsupportedFeatureError(
            f"{where}: multipleOf {value} needs {m * (s + 2)} automaton states (the limit is {MAX_MULTIPLE_STATES})"
        )
    # state keys: "start", "sign", ("zero",), ("int", r), ("dot", r), ("frac", r, p): p digits read
    index: dict = {}
    keys: list = []

    def sid(key) -> int:
        if key not in index:
            index[key] = len(keys)
            keys.append(key)
        return index[key]

    sid("start")
    rows: list[np.ndarray] = []
    accepting: list[bool] = []
    digits = np.arange(0x30, 0x3A)
    i = 0
    while i < len(keys):
        key = keys[i]
        i += 1
        row = np.full(256, DEAD, np.int32)
        acc = False
        if key in ("start", "sign"):
            if key == "start":
                row[ord("-")] = sid("sign")
            row[0x30] = sid(("int", 0, True))
            for d in range(1, 10):
                row[0x30 + d] = sid(("int", d % m, False))
        elif key[0] == "int":
            _, r, is_zero = key
            acc = (r * 10**s) % m == 0  # the integer I is the multiple-count I·10**s
            if not is_zero:
                row[digits] = [sid(("int", (10 * r + d) % m, False)) for d in range(10)]
            row[ord(".")] = sid(("dot", r))
        elif key[0] == "dot":
            r = key[1]
            row[digits] = [sid(("frac", (10 * r + d) % m, 1)) if s >= 1 else sid(("frac", r, 1)) if d == 0
                           else DEAD for d in range(10)]
        else:
            _, r, p = key
            # value so far is X·10**-p; it is a multiple iff X·10**(s-p) ≡ 0 (mod M)
            acc = (r * 10 ** max(s - p, 0)) % m == 0 if p <= s else r == 0
            if p < s:
                row[digits] = [sid(("frac", (10 * r + d) % m, p + 1)) for d in range(10)]
            else:
                row[0x30] = sid(("frac", r, p + 1 if p == s else p))
        rows.append(row)
        accepting.append(acc)
    dfa: ByteDFA = trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), 0)
    return Automaton(dfa) if dfa.n_states else NOTHING


# Numbers as json.dumps writes them, and no other spelling: no exponent, no trailing zeros in the
# fraction, no "-0". Complements are taken within these (see the schema compiler's universe).
_CANONICAL_FRACTION = seq(literal("."), star(DIGIT), NONZERO_DIGIT)
_POSITIVE_INTEGER = seq(NONZERO_DIGIT, star(DIGIT))
CANONICAL_NUMBER = alt(
    seq(alt(literal("0"), _POSITIVE_INTEGER), opt(_CANONICAL_FRACTION)),
    seq(literal("-"), alt(seq(_POSITIVE_INTEGER, opt(_CANONICAL_FRACTION)), seq(literal("0"), _CANONICAL_FRACTION))),
)
