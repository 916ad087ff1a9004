"""JSON Schema → regular IR, keyword by keyword, with every unenforced keyword reported.

The language produced is the set of JSON texts, written the way the options say (compact by
default, properties in schema order), that validate against the schema. Where structgen narrows
the language instead of enforcing a keyword exactly (bounded recursion, ``uniqueItems`` by at
most one item, complements taken within a bounded universe of values), the narrowing is sound —
every output still validates — and is reported as a restriction. Keywords it cannot enforce are
reported as unsupported.

The compiler is one class composed of mixins, one per keyword family: ``_references`` ($ref,
allOf, unevaluated*), ``_combinators`` (anyOf, oneOf, not, conditionals), ``_objects``, ``_arrays``
and ``_scalars``; schemas are combined by ``_merge`` and written as ``_layout`` says.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from structgen._clock import now
from structgen._errors import CompileTimeoutError, SchemaError
from structgen.automata._ir import NOTHING, CommaList, Lexeme, Node, Ref, alt, literal, opt, seq, star
from structgen.schema import _json_text as jt
from structgen.schema._arrays import _Arrays
from structgen.schema._combinators import EXCLUSIVE_BUDGET_STATES, _Combinators
from structgen.schema._keywords import ALL_TYPES, ANNOTATIONS, UNEVALUATED
from structgen.schema._layout import _any_value, _bracketed, _colon, _comma, _ws
from structgen.schema._objects import _Objects
from structgen.schema._references import _References
from structgen.schema._refs import RefResolver
from structgen.schema._scalars import _Scalars

Whitespace = Literal["compact", "flexible", "indented"]
OPEN_VALUE = "<any JSON value>"  # the rule name of open values in a grammar


@dataclass(frozen=True)
class SchemaIssue:
    """One keyword structgen does not enforce exactly, and where it is."""

    pointer: str
    keyword: str
    reason: str
    kind: Literal["unsupported", "restricted"] = "unsupported"

    def __str__(self) -> str:
        return f"{self.pointer}/{self.keyword}: {self.reason}"


@dataclass
class SchemaOptions:
    """How generated JSON is written and how far structgen bounds what the schema leaves open."""

    whitespace: Whitespace = "compact"  # "flexible": up to `max_whitespace` of [ \t\n\r] between tokens;
    # "indented": exactly json.dumps(value, indent=indent) (members on their own lines, ": " after keys)
    max_whitespace: int = 2
    indent: int = 2  # spaces per nesting level with whitespace="indented"
    # levels of the values a schema leaves open ({} / true) that the automaton spells out; deeper
    # objects and arrays are read on a stack (any depth). Indented JSON: the most levels generated
    any_value_depth: int = 2
    # "grammar": a $ref cycle becomes a rule of a context-free grammar (any depth); "unroll": the
    # cycle is unrolled max_recursion levels (a regular language, narrower; the fallback where a
    # recursive language meets a regular-only operation such as `not`)
    recursion: Literal["grammar", "unroll"] = "grammar"
    max_recursion: int = 3  # how deep a recursive $ref is unrolled (deeper: not generated)
    property_order: Literal["schema", "any"] = "schema"  # "any": named properties in any order
    max_any_order: int = 6  # property_order="any" for at most this many named properties (2**n states)
    max_count: int = 1024  # maxLength / maxItems above this are generated up to it (a reported narrowing)


@dataclass
class _Context:
    issues: list[SchemaIssue] = field(default_factory=list)
    ref_depth: dict[str, int] = field(default_factory=dict)


class SchemaCompiler(_References, _Combinators, _Objects, _Arrays, _Scalars):
    """Compiles one schema document (with its ``$ref`` targets) to regular IR."""

    def __init__(self, root: Any, options: SchemaOptions, deadline: float | None = None,
                 documents: dict[str, Any] | None = None) -> None:
        self.deadline = deadline
        self.root = root
        self.options = options
        self.refs = RefResolver(root, documents)
        self.pointer = "#"
        dialect = root.get("$schema") if isinstance(root, dict) else None
        # draft 4 counts 1.0 as a number but not as an integer (6 and later: an integer too)
        self.integral_floats = not (isinstance(dialect, str) and ("draft-04" in dialect or "draft-03" in dialect))
        self.ctx = _Context()
        # recursion="grammar": the $ref targets being compiled now, those found to recur, and the
        # finished recursive ones (target pointer -> its language, with Refs to itself and others)
        self._open: set[str] = set()
        self._recurring: set[str] = set()
        self.rules: dict[str, Node] = {}
        self.open_values: list[Node] = []  # the bounded open values in the IR (see any_value)
        self._exclusive_states = EXCLUSIVE_BUDGET_STATES  # states left for overlapping oneOfs (see _exclusive)
        self._metered = 0  # > 0 while that budget is charged
        # issue sinks of the sub-compiles in progress (see _watched), and a count of the object
        # languages that fix a property order: a complement taken against those must not offer
        # the same properties in another order
        self._sinks: list[list[SchemaIssue]] = []
        self._order_marks = 0
        if options.whitespace not in ("compact", "flexible", "indented"):
            raise SchemaError(f"whitespace must be 'compact', 'flexible' or 'indented', not {options.whitespace!r}")
        if options.whitespace == "indented" and (isinstance(options.indent, bool) or not isinstance(options.indent, int)
                                                 or options.indent < 0):
            raise SchemaError(f"indent must be a non-negative integer, not {options.indent!r}")
        if options.whitespace == "indented" and options.recursion == "grammar":
            # a grammar rule is one language at every depth, but indented JSON spells each depth
            # differently: unroll $ref cycles instead (bounded, so the depths are too)
            self.options = options = replace(options, recursion="unroll")
        # the nesting depth of the value being compiled (0: the document): indented JSON writes
        # the members of a container at depth d on lines indented (d + 1) * indent spaces
        self._depth = 0
        self.ws = _ws(options.whitespace, options.max_whitespace)  # inside brackets (compact, flexible)
        self.colon = _colon(*self._layout())

    @property
    def comma(self) -> Node:
        """The separator between the members of a container at the current depth."""
        return _comma(*self._layout())

    def _layout(self, level: int | None = None) -> tuple[str, int, int, int]:
        """How JSON is written at ``level`` (default: the current depth): (whitespace, max_whitespace,
        indent, level), with the parts that do not matter zeroed so the caches share entries."""
        o = self.options
        if o.whitespace != "indented":
            return o.whitespace, o.max_whitespace, 0, 0
        return o.whitespace, 0, o.indent, self._depth if level is None else level

    @contextmanager
    def _inside(self):
        """Compile the members of a container: one level deeper."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def _container(self, open_: str, body: Node, close: str, level: int | None = None) -> Node:
        """``body`` (members joined by ``comma``) between brackets, written at ``level``."""
        return _bracketed(open_, body, close, *self._layout(level), deadline=self.deadline)

    def check_deadline(self) -> None:
        """Stop past the time limit: schema rewriting (merges, anyOf distribution) can grow fast."""
        if self.deadline is not None and now() > self.deadline:
            raise CompileTimeoutError("compiling the schema ran past its time limit")

    @property
    def issues(self) -> list[SchemaIssue]:
        return self.ctx.issues

    def report(self, pointer: str, keyword: str, reason: str, kind: str = "unsupported") -> None:
        issue = SchemaIssue(pointer, keyword, reason, kind)  # type: ignore[arg-type]
        for sink in self._sinks:
            sink.append(issue)
        if issue not in self.ctx.issues:
            self.ctx.issues.append(issue)

    # ---- entry ---------------------------------------------------------------------------------

    def compile(self, schema: Any, pointer: str = "#") -> Node:
        self.check_deadline()
        self.pointer = pointer  # the innermost schema being compiled (named if nesting runs too deep)
        if schema is True:
            return self.any_value(self.options.any_value_depth)
        if schema is False:
            return NOTHING
        if not isinstance(schema, dict):
            raise SchemaError(f"{pointer}: a schema must be an object or a boolean, not {type(schema).__name__}")
        if "unevaluatedProperties" in schema or "unevaluatedItems" in schema:
            schema = self._scope_unevaluated(schema, pointer)
        if "$ref" in schema:
            return self._ref(schema, pointer)
        if "allOf" in schema:
            merged, targets = self._merge_all_of(schema, pointer)
            with self._entering(targets, pointer) as ok:
                return self.compile(merged, pointer) if ok else NOTHING
        for keyword in ("$dynamicRef", "$recursiveRef"):
            if keyword in schema:
                self.report(pointer, keyword, "dynamic references are not supported")
        schema = self._desugar(schema, pointer)
        if "not" in schema:
            return self._not(schema, pointer)
        if "anyOf" in schema or "oneOf" in schema:
            return self._any_one_of(schema, pointer)
        if "const" in schema:
            return self._values(schema, [schema["const"]], pointer)
        if "enum" in schema:
            if not isinstance(schema["enum"], list):
                raise SchemaError(f"{pointer}/enum: must be an array")
            return self._values(schema, schema["enum"], pointer)
        return alt(*(self._typed(t, schema, pointer) for t in self._types(schema, pointer)))

    def _values(self, schema: dict, values: list, pointer: str) -> Node:
        """``enum`` / ``const``: the listed values that also pass the schema's other keywords."""
        scoped = {marker: keyword for keyword, marker in UNEVALUATED.items()}
        rest = {scoped.get(k, k): v for k, v in schema.items() if k not in ("enum", "const") and k not in ANNOTATIONS}
        keep = values
        if rest:
            import jsonschema

            try:
                validator = jsonschema.Draft202012Validator({**rest, "$defs": self.root.get("$defs", {}),
                                                             "definitions": self.root.get("definitions", {})}
                                                            if isinstance(self.root, dict) else rest)
                keep = [v for v in values if validator.is_valid(v)]
            except Exception:  # unresolvable refs in the siblings: keep every value
                keep = values
        return alt(*(self._literal_value(v) for v in keep))

    def _literal_value(self, value: Any, level: int | None = None) -> Node:
        """``value`` written at ``level`` (default: the current depth)."""
        if self.options.whitespace == "compact" or not isinstance(value, (dict, list)):
            return jt.value_literal(value)
        level = self._depth if level is None else level
        comma = _comma(*self._layout(level))
        if isinstance(value, list):
            body = CommaList(tuple((self._literal_value(v, level + 1), True) for v in value), None, comma)
            return self._container("[", body, "]", level)
        items = tuple((seq(jt.value_literal(k), self.colon, self._literal_value(v, level + 1)), True)
                      for k, v in value.items())
        return self._container("{", CommaList(items, None, comma), "}", level)

    # ---- types -----------------------------------------------------------------------------------

    def _types(self, schema: dict, pointer: str) -> list[str]:
        declared = schema.get("type")
        if declared is None:
            types = list(ALL_TYPES)
        else:
            types = [declared] if isinstance(declared, str) else list(declared)
            for t in types:
                if t not in ALL_TYPES:
                    raise SchemaError(f"{pointer}/type: unknown type {t!r}")
        if "number" in types and "integer" in types:
            types.remove("integer")
        return types

    def _typed(self, kind: str, schema: dict, pointer: str) -> Node:
        if kind == "null":
            return Lexeme(literal("null"))
        if kind == "boolean":
            return Lexeme(alt(literal("true"), literal("false")))
        if kind in ("integer", "number"):
            number = self._number(kind, schema, pointer)
            return NOTHING if number == NOTHING else Lexeme(number)
        if kind == "string":
            return self._string(schema, pointer)
        if kind == "array":
            return self._array(schema, pointer)
        return self._object(schema, pointer)

    # ---- open values -----------------------------------------------------------------------------

    def any_value(self, depth: int) -> Node:
        """Any JSON value nested at most ``depth`` levels (what ``{}`` / ``true`` allows, bounded).

        The result is a fresh wrapper recorded in ``open_values``: a grammar built from the IR
        puts the unbounded JSON value rule (``open_value_rule``) in its place.
        """
        self.report("#", "*", f"values the schema leaves open are generated nested at most {depth} levels deep "
                    "(any_value_depth)", "restricted")
        node = Lexeme(_any_value(depth, *self._layout()))
        self.open_values.append(node)
        return node

    def open_value_rule(self) -> Node | None:
        """Any JSON value, any depth, written as the options say; None where indentation needs the depth."""
        whitespace, max_whitespace, _, _ = self._layout()
        if whitespace == "indented":
            return None
        value = Ref(OPEN_VALUE)
        comma, colon, ws = _comma(whitespace, max_whitespace, 0, 0), _colon(whitespace, max_whitespace, 0, 0), self.ws
        string = jt.string_of(jt.any_string_content())
        return alt(Lexeme(literal("null")), Lexeme(alt(literal("true"), literal("false"))), Lexeme(jt.UNBOUNDED_NUMBER),
                   string, seq(literal("["), ws, opt(seq(value, star(seq(comma, value)))), ws, literal("]")),
                   seq(literal("{"), ws, CommaList((), seq(string, colon, value), comma), ws, literal("}")))
