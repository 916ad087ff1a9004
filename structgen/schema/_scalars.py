"""Numbers and strings: bounds, multipleOf, lengths, pattern and format.

Bounds are taken as the exact decimals the schema wrote; pattern and format languages are over
decoded characters, mapped to their JSON spelling and intersected with the length bounds.
"""

from __future__ import annotations

import math

from structgen._errors import SchemaError, UnsupportedFeatureError
from structgen.automata._ir import NOTHING, Automaton, Node, Repeat, literal, opt, seq
from structgen.automata._regular import intersect_dfas, to_dfa
from structgen.schema import _json_text as jt
from structgen.schema._formats import FORMATS, UNSUPPORTED_FORMATS
from structgen.schema._keywords import _count
from structgen.schema._pattern import pattern_to_ir


class _Scalars:
    """SchemaCompiler's number and string keywords, and count clamping (a mixin: see ``_compiler``)."""

    def _number(self, kind: str, schema: dict, pointer: str) -> Node:
        lo, lo_excl, hi, hi_excl = _bounds(schema, pointer)
        multiple = schema.get("multipleOf")
        integral = kind == "integer"
        multiples: Node | None = None
        if multiple is not None:
            if isinstance(multiple, bool) or not isinstance(multiple, (int, float)) or multiple <= 0:
                raise SchemaError(f"{pointer}/multipleOf: must be a number > 0")
            if jt.decimal_parts(multiple) == (1, 0):
                integral = True
            else:
                try:
                    multiples = jt.multiple_of(multiple, f"{pointer}/multipleOf")
                except UnsupportedFeatureError as exc:
                    self.report(pointer, "multipleOf", str(exc))
        if integral:
            ilo = None if lo is None else (math.floor(lo) + 1 if lo_excl else math.ceil(lo))
            ihi = None if hi is None else (math.ceil(hi) - 1 if hi_excl else math.floor(hi))
            if ilo is None and ihi is None:
                exact = kind == "integer" and not self.integral_floats  # draft 4: 1.0 is not an integer
                node = jt.UNBOUNDED_INTEGER if exact else seq(
                    jt.UNBOUNDED_INTEGER, opt(seq(literal("."), Repeat(literal("0"), 1, None)))
                )
            else:
                node = jt.integer_range(ilo, ihi)
        elif lo is None and hi is None:
            # multiples are written without exponent: every value still has such a spelling
            node = jt.UNBOUNDED_NUMBER if multiples is None else seq(jt.UNBOUNDED_INTEGER, opt(jt.FRACTION))
        else:
            node = jt.decimal_range(_decimal(lo), lo_excl, _decimal(hi), hi_excl)
        if multiples is None or node == NOTHING:
            return node
        dfa = intersect_dfas(to_dfa(node, deadline=self.deadline), to_dfa(multiples, deadline=self.deadline))
        return Automaton(dfa) if dfa.n_states else NOTHING

    def _string(self, schema: dict, pointer: str) -> Node:
        lo = _count(schema, "minLength", pointer, 0)
        hi = self._clamped(_count(schema, "maxLength", pointer, None), lo, pointer, "maxLength", "characters")
        parts: list[Node] = []
        fmt = schema.get("format")
        if isinstance(fmt, str):
            if fmt in FORMATS:
                parts.append(jt.encode_string_content(pattern_to_ir(FORMATS[fmt], anchored=True)))
            elif fmt in UNSUPPORTED_FORMATS:
                self.report(pointer, "format", f"format {fmt!r} is not enforced yet")
            else:
                self.report(pointer, "format", f"format {fmt!r} is not checked (an annotation here)", "restricted")
        if "pattern" in schema:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise SchemaError(f"{pointer}/pattern: must be a string")
            try:
                parts.append(jt.encode_string_content(pattern_to_ir(pattern, where=f"{pointer}/pattern")))
            except UnsupportedFeatureError as exc:
                self.report(pointer, "pattern", str(exc))
        if lo or hi is not None or not parts:
            parts.append(jt.any_string_content(lo, hi))
        content = parts[0]
        if len(parts) > 1:
            dfa = to_dfa(parts[0], deadline=self.deadline)
            for extra in parts[1:]:
                dfa = intersect_dfas(dfa, to_dfa(extra, deadline=self.deadline))
            content = Automaton(dfa) if dfa.n_states else NOTHING
        return jt.string_of(content)

    def _clamped(self, hi: int | None, lo: int, pointer: str, keyword: str, unit: str) -> int | None:
        """An upper count past ``max_count`` is generated up to ``max_count`` (each one more is an
        automaton copy of the item: 10,000 characters do not fit); reported as a narrowing."""
        cap = max(lo, self.options.max_count)
        if hi is None or hi <= cap:
            return hi
        self.report(pointer, keyword, f"{keyword} {hi}: generated up to {cap} {unit} (max_count)", "restricted")
        return cap


def _decimal(value: float | int | None):
    """A bound as the exact decimal the schema wrote (0.1 is 0.1, not the binary float nearest it)."""
    from decimal import Decimal

    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _bounds(schema: dict, pointer: str):
    """(lo, lo_exclusive, hi, hi_exclusive) from either draft's spelling of the bounds."""
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    lo_excl = hi_excl = False
    ex_lo, ex_hi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(ex_lo, bool):  # draft 4
        lo_excl = ex_lo and lo is not None
    elif isinstance(ex_lo, (int, float)) and (lo is None or ex_lo >= lo):
        lo, lo_excl = ex_lo, True
    if isinstance(ex_hi, bool):
        hi_excl = ex_hi and hi is not None
    elif isinstance(ex_hi, (int, float)) and (hi is None or ex_hi <= hi):
        hi, hi_excl = ex_hi, True
    for value, name in ((lo, "minimum"), (hi, "maximum")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise SchemaError(f"{pointer}/{name}: must be a number, got {value!r}")
    return lo, lo_excl, hi, hi_excl
