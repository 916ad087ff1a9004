"""Code-point ranges → UTF-8 byte-range sequences (each sequence a product of byte ranges)."""

from __future__ import annotations

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)

ByteRanges = tuple[tuple[int, int], ...]


def _encode(cp: int) -> bytes:
    return chr(cp).encode("utf-8", "surrogatepass")


def utf8_sequences(lo: int, hi: int) -> list[ByteRanges]:
    """Split ``[lo, hi]`` (no surrogates) into sequences of byte ranges encoding exactly it."""
    out: list[ByteRanges] = []
    stack = [(lo, hi)]
    while stack:
        lo, hi = stack.pop()
        for limit in (0x7F, 0x7FF, 0xFFFF):
            if lo <= limit < hi:
                stack.append((limit + 1, hi))
                stack.append((lo, limit))
                break
        else:
            if hi <= 0x7F:
                out.append(((lo, hi),))
                continue
            for i in (1, 2, 3):
                m = (1 << (6 * i)) - 1
                if lo & ~m != hi & ~m:
                    if lo & m != 0:
                        stack.append(((lo | m) + 1, hi))
                        stack.append((lo, lo | m))
                        break
                    if hi & m != m:
                        stack.append((hi & ~m, hi))
                        stack.append((lo, (hi & ~m) - 1))
                        break
            else:
                out.append(tuple(zip(_encode(lo), _encode(hi))))
    return out


def remove_surrogates(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Cut the UTF-16 surrogate block out of code-point ranges (UTF-8 cannot encode it)."""
    out = []
    s_lo, s_hi = SURROGATES
    for lo, hi in ranges:
        if hi < s_lo or lo > s_hi:
            out.append((lo, hi))
            continue
        if lo < s_lo:
            out.append((lo, s_lo - 1))
        if hi > s_hi:
            out.append((s_hi + 1, hi))
    return out
