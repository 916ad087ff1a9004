"""Regular expression → ``ByteDFA`` (full-match semantics, UTF-8 aware).

interegular parses the pattern into a character automaton whose alphabet is a set of character
classes; each class becomes its UTF-8 byte sequences, and the byte automaton is built by subset
construction over pending byte sequences (so multi-byte characters share their prefixes), then
trimmed and minimised.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

import numpy as np

from structgen._errors import GrammarError, UnsupportedFeatureError, caret_snippet
from structgen.automata._dfa import DEAD, ByteDFA, trim_and_minimise
from structgen.automata._utf8 import MAX_CODE_POINT, ByteRanges, remove_surrogates, utf8_sequences

_MAX_STATES = 200_000


def _merge(points: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for cp in sorted(points):
        if ranges and ranges[-1][1] + 1 == cp:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    return ranges


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, nxt = [], 0
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CODE_POINT:
        out.append((nxt, MAX_CODE_POINT))
    return out


def _symbol_sequences(fsm) -> dict[int, list[ByteRanges]]:
    """UTF-8 byte-range sequences of every alphabet symbol of an interegular FSM."""
    from interegular.fsm import anything_else

    chars: dict[int, list[int]] = {}
    other_symbol = None
    explicit: list[int] = []
    for char, symbol in fsm.alphabet.items():
        if char is anything_else:
            other_symbol = symbol
            continue
        cp = ord(char)
        explicit.append(cp)
        chars.setdefault(symbol, []).append(cp)
    out: dict[int, list[ByteRanges]] = {}
    for symbol, cps in chars.items():
        out[symbol] = [s for lo, hi in remove_surrogates(_merge(cps)) for s in utf8_sequences(lo, hi)]
    if other_symbol is not None:
        rest = remove_surrogates(_complement(_merge(explicit)))
        out.setdefault(other_symbol, []).extend(s for lo, hi in rest for s in utf8_sequences(lo, hi))
    return out


def fsm_to_byte_dfa(fsm) -> ByteDFA:
    """Convert an interegular character FSM to a trimmed, minimised byte DFA."""
    seqs = _symbol_sequences(fsm)
    fsm_states = sorted(fsm.states)
    main_index = {q: i for i, q in enumerate(fsm_states)}
    items_of_main: list[frozenset] = []
    for q in fsm_states:
        items = []
        for symbol, target in fsm.map.get(q, {}).items():
            for seq in seqs.get(symbol, ()):
                items.append((seq, main_index[target]))
        items_of_main.append(frozenset(items))
    rows: list[np.ndarray] = []
    accepting: list[bool] = []
    node_items: list[frozenset] = []
    for q in fsm_states:
        rows.append(np.full(256, DEAD, np.int32))
        accepting.append(q in fsm.finals)
        node_items.append(items_of_main[main_index[q]])
    intermediate: dict[frozenset, int] = {}
    todo = list(range(len(fsm_states)))
    while todo:
        node = todo.pop()
        items = node_items[node]
        if not items:
            continue
        cuts = sorted({r[0][0] for r, _ in items} | {r[0][1] + 1 for r, _ in items})
        for lo, hi in zip(cuts, cuts[1:]):
            covering = [(seq, t) for seq, t in items if seq[0][0] <= lo and hi - 1 <= seq[0][1]]
            if not covering:
                continue
            done = [t for seq, t in covering if len(seq) == 1]
            if done:
                # UTF-8 is prefix-free and the FSM deterministic: a finished byte sequence
                # cannot share its bytes with any other pending one.
                assert len(covering) == 1, "non-deterministic UTF-8 split"
                rows[node][lo:hi] = done[0]
                continue
            key = frozenset((seq[1:], t) for seq, t in covering)
            nxt = intermediate.get(key)
            if nxt is None:
                nxt = len(rows)
                if nxt > _MAX_STATES:
                    raise UnsupportedFeatureError(
                        f"regex automaton exceeds {_MAX_STATES} byte states; simplify the pattern"
                    )
                intermediate[key] = nxt
                rows.append(np.full(256, DEAD, np.int32))
                accepting.append(False)
                node_items.append(key)
                todo.append(nxt)
            rows[node][lo:hi] = nxt
    start = main_index[fsm.initial]
    return trim_and_minimise(np.stack(rows), np.array(accepting, dtype=bool), start)


_CODE_ESCAPE = {"x": 2, "u": 4, "U": 8}


def _expand_code_escapes(pattern: str) -> str:
    """Rewrite ``\\xNN``, ``\\uNNNN`` and ``\\UNNNNNNNN`` as literal characters (interegular lacks them)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            width = _CODE_ESCAPE.get(pattern[i + 1])
            digits = pattern[i + 2 : i + 2 + width] if width else ""
            if width and len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(re.escape(chr(int(digits, 16))))
                i += 2 + width
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _sre_parser():
    try:
        from re import _parser  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as _parser
    return _parser


_UNSUPPORTED_OPS = {
    "ASSERT": "lookahead/lookbehind assertions",
    "ASSERT_NOT": "negative lookahead/lookbehind assertions",
    "GROUPREF": "backreferences",
    "GROUPREF_EXISTS": "conditional backreferences",
    "AT": "anchors and word boundaries (^, $, \\b, \\A, \\Z) other than a leading ^ and a trailing $",
}


def _strip_outer_anchors(pattern: str) -> str:
    """Drop a top-level leading ``^`` and trailing ``$``, then refuse any other non-regular operator.

    Matching is always in full, so outer anchors say nothing; the rest would be silently wrong.
    """
    parser = _sre_parser()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = list(parser.parse(pattern))
    if tree and str(tree[0][0]) == "AT" and pattern[:1] == "^":
        pattern, tree = pattern[1:], tree[1:]
    if tree and str(tree[-1][0]) == "AT" and pattern[-1:] == "$" and pattern[-2:] != "\\$":
        pattern, tree = pattern[:-1], tree[:-1]
    stack = [tree]
    while stack:
        node = stack.pop()
        for item in node if isinstance(node, (list, tuple)) else ():
            if isinstance(item, (list, tuple)) and len(item) == 2 and str(item[0]) in _UNSUPPORTED_OPS:
                raise UnsupportedFeatureError(
                    f"regex {pattern!r} uses {_UNSUPPORTED_OPS[str(item[0])]}, which structgen cannot "
                    "enforce as a regular language"
                )
            if isinstance(item, (list, tuple)) or type(item).__name__ == "SubPattern":
                stack.append(list(item) if type(item).__name__ == "SubPattern" else item)
    return pattern


@lru_cache(maxsize=256)
def regex_to_dfa(pattern: str) -> ByteDFA:
    """Compile ``pattern`` (Python ``re`` syntax, matched in full) into a byte DFA.

    Raises ``GrammarError`` (with the position) for invalid syntax and
    ``UnsupportedFeatureError`` for valid patterns outside regular languages (backreferences,
    lookarounds) or other constructs interegular does not model.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"Expected a regex pattern as str, but got {type(pattern).__name__}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except re.error as exc:
        pos = exc.pos if exc.pos is not None else 0
        raise GrammarError(
            f"invalid regex at position {pos}: {exc.msg}\n{caret_snippet(pattern, pos)}"
        ) from None
    pattern = _strip_outer_anchors(pattern)
    import interegular
    from interegular.patterns import InvalidSyntax, Unsupported

    try:
        fsm = interegular.parse_pattern(_expand_code_escapes(pattern)).to_fsm()
    except Unsupported as exc:
        raise UnsupportedFeatureError(
            f"regex {pattern!r} uses a construct structgen cannot enforce as a regular language: {exc}"
        ) from None
    except InvalidSyntax as exc:
        raise GrammarError(f"invalid regex {pattern!r}: {exc}") from None
    return fsm_to_byte_dfa(fsm)
