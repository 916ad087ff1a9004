"""JSON Schema → regular IR, keyword by keyword, with every unenforced keyword reported.

The language produced is the set of JSON texts, written the way the options say (compact by
default, properties in schema order), that validate against the schema. Where structgen narrows
the language instead of enforcing a keyword exactly (bounded recursion, ``uniqueItems`` by at
most one item, complements taken within a bounded universe of values), the narrowing is sound —
every output still validates — and is reported as a restriction. Keywords it cannot enforce are
reported as unsupported.

``not``, ``if``/``then``/``else`` and the dependency keywords are rewritten into anyOf and
negations of single keywords; a negation that stays no schema is a DFA difference against the
universe of canonically written values (``_universe``), which is exact only where the negated
schema's own language is complete there (``_exact_issues``).
"""

from __future__ import annotations

import json
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal

from structgen._errors import CompileTimeoutError, SchemaError, UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA
from structgen.automata._regular import (
    EMPTY,
    NOTHING,
    Alt,
    Automaton,
    Chars,
    CommaList,
    Lexeme,
    Node,
    Ref,
    Repeat,
    Seq,
    alt,
    char_set,
    difference_dfas,
    intersect_dfas,
    literal,
    opt,
    seq,
    star,
    to_dfa,
)
from structgen.schema import _json_text as jt
from structgen.schema._formats import FORMATS, UNSUPPORTED_FORMATS
from structgen.schema._pattern import pattern_to_ir
from structgen.schema._refs import RefResolver

Whitespace = Literal["compact", "flexible", "indented"]

ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$defs", "definitions", "$comment", "$vocabulary",
        "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
        "contentMediaType", "contentEncoding", "contentSchema",
    }
)
TYPE_KEYWORDS = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
              "minContains", "maxContains", "unevaluatedItems"},
    "object": {"properties", "required", "additionalProperties", "patternProperties", "propertyNames",
               "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "dependencies",
               "unevaluatedProperties"},
}
TYPE_KEYWORDS["integer"] = TYPE_KEYWORDS["number"]
GENERIC = {"type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$dynamicRef",
           "$recursiveRef", "$recursiveAnchor"}
ASSERTIONS = frozenset().union(GENERIC, *TYPE_KEYWORDS.values())
ALL_TYPES = ("null", "boolean", "object", "array", "string", "integer", "number")
CONDITIONAL_KEYWORDS = ("if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies")
OPEN_VALUE = "<any JSON value>"  # the rule name of open values in a grammar
# unevaluated* of the schema being compiled, as a marker scoped to it (see _scope_unevaluated)
UNEVALUATED = {"unevaluatedProperties": "__unevaluatedProperties", "unevaluatedItems": "__unevaluatedItems"}
IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependencies", "$ref",
            "$dynamicRef", "$recursiveRef")
_EXCLUSIVE_BUDGET_S = 2.0  # seconds per compile for overlapping oneOf branches' differences
MAX_CONDITIONS = 6  # each condition doubles the anyOf branches a schema compiles to
MAX_PATTERN_PROPERTIES = 4  # keys are split by the subset of patterns they match: 2**n key languages
# keywords whose meanings depend on each other: negated together, never split apart
_COUPLED = (
    frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    frozenset({"items", "prefixItems", "additionalItems"}),
    frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"properties", "patternProperties", "additionalProperties"}),
    frozenset({"if", "then", "else"}),
)


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
    any_value_depth: int = 2  # nesting depth of values the schema leaves unconstrained ({} / true)
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


class SchemaCompiler:
    """Compiles one schema document (with its ``$ref`` targets) to regular IR."""

    def __init__(self, root: Any, options: SchemaOptions, deadline: float | None = None,
                 documents: dict[str, Any] | None = None) -> None:
        self.deadline = deadline
        self.root = root
        self.options = options
        self.refs = RefResolver(root, documents)
        self.ctx = _Context()
        # recursion="grammar": the $ref targets being compiled now, those found to recur, and the
        # finished recursive ones (target pointer -> its language, with Refs to itself and others)
        self._open: set[str] = set()
        self._recurring: set[str] = set()
        self.rules: dict[str, Node] = {}
        self.open_values: list[Node] = []  # the bounded open values in the IR (see any_value)
        self._exclusive_budget = _EXCLUSIVE_BUDGET_S  # seconds left for overlapping oneOfs (see _exclusive)
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

    # ---- unevaluatedProperties / unevaluatedItems ----------------------------------------------------
    # The keyword of the schema being compiled becomes a scoped marker that rides along through the
    # merges of its in-place applicators ($ref, allOf, anyOf/oneOf branches, dependentSchemas) and
    # acts as additionalProperties / items where the merged schema is flat. The keyword of a part
    # merged in is lowered against that part alone (see _lower_unevaluated).

    def _scope_unevaluated(self, schema: dict, pointer: str) -> dict:
        out = dict(schema)
        for keyword in UNEVALUATED:
            if keyword not in out:
                continue
            value = out.pop(keyword)
            if value is True or value == {}:
                continue
            if not isinstance(value, (dict, bool)):
                raise SchemaError(f"{pointer}/{keyword}: must be a schema")
            blocked = [k for k in ("not", "if", "$dynamicRef", "$recursiveRef") if k in schema]
            if keyword == "unevaluatedItems" and "contains" in schema:
                blocked.append("contains")
            if blocked:
                self.report(pointer, keyword, f"not enforced next to {', '.join(blocked)} (the items or properties "
                            "those evaluate are not tracked)")
                continue
            if any(k in schema for k in ("anyOf", "oneOf", "dependentSchemas", "dependencies")):
                self.report(pointer, keyword, "with anyOf/oneOf/dependentSchemas, what another passing branch "
                            "evaluates is not counted: values needing it are not generated", "restricted")
            out[UNEVALUATED[keyword]] = value
        return out

    # ---- references and combinators ---------------------------------------------------------------

    def _ref(self, schema: dict, pointer: str) -> Node:
        ref = schema["$ref"]
        if not isinstance(ref, str):
            raise SchemaError(f"{pointer}/$ref: must be a string")
        target, target_pointer = self.refs.resolve(ref, f"{pointer}/$ref")
        siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in ANNOTATIONS}
        # an indented language depends on the nesting depth, so a rule cannot be shared across depths
        if self.options.recursion == "grammar" and not siblings and self.options.whitespace != "indented":
            return self._ref_rule(target, target_pointer)
        depth = self.ctx.ref_depth.get(target_pointer, 0)
        if depth >= self.options.max_recursion:
            self.report(pointer, "$ref", f"recursive reference unrolled {self.options.max_recursion} levels deep; "
                        "deeper nesting is not generated", "restricted")
            return NOTHING
        self.ctx.ref_depth[target_pointer] = depth + 1
        try:
            if siblings:
                return self.compile({"allOf": [target, siblings]}, pointer)
            return self.compile(target, target_pointer)
        finally:
            self.ctx.ref_depth[target_pointer] = depth

    def _ref_rule(self, target: Any, target_pointer: str) -> Node:
        """A plain ``$ref`` under recursion="grammar": a target that recurs becomes a named rule."""
        if target_pointer in self.rules:
            return Ref(target_pointer)
        if target_pointer in self._open:
            self._recurring.add(target_pointer)
            return Ref(target_pointer)
        self._open.add(target_pointer)
        try:
            node = self.compile(target, target_pointer)
        finally:
            self._open.discard(target_pointer)
        if target_pointer not in self._recurring:
            return node
        self.rules[target_pointer] = node
        return Ref(target_pointer)

    def _resolved(self, schema: Any, pointer: str) -> tuple[Any, str, list[str]]:
        """Follow a chain of bare ``$ref`` s: ``(schema, pointer, the targets passed through)``."""
        targets: list[str] = []
        while isinstance(schema, dict) and "$ref" in schema and len(schema) == 1 and len(targets) < 32:
            schema, pointer = self.refs.resolve(schema["$ref"], pointer)
            targets.append(pointer)
        return schema, pointer, targets

    @contextmanager
    def _entering(self, targets: list[str], pointer: str):
        """Count references followed outside ``_ref``; yields False past the recursion bound."""
        if any(self.ctx.ref_depth.get(t, 0) >= self.options.max_recursion for t in targets):
            self.report(pointer, "$ref", f"recursive reference unrolled {self.options.max_recursion} levels deep; "
                        "deeper nesting is not generated", "restricted")
            yield False
            return
        for t in targets:
            self.ctx.ref_depth[t] = self.ctx.ref_depth.get(t, 0) + 1
        try:
            yield True
        finally:
            for t in targets:
                self.ctx.ref_depth[t] -= 1

    def _merge_all_of(self, schema: dict, pointer: str) -> tuple[Any, list[str]]:
        parts = schema["allOf"]
        if not isinstance(parts, list) or not parts:
            raise SchemaError(f"{pointer}/allOf: must be a non-empty array")
        merged: Any = {k: v for k, v in schema.items() if k != "allOf"}
        targets: list[str] = []
        for i, part in enumerate(parts):
            part, _, followed = self._resolved(part, f"{pointer}/allOf/{i}")
            targets += followed
            merged = merge_schemas(merged, part, f"{pointer}/allOf/{i}", self)
        return merged, targets

    def _any_one_of(self, schema: dict, pointer: str) -> Node:
        if "anyOf" in schema and "oneOf" in schema:
            # push the oneOf into every anyOf branch: each branch is a smaller schema, so this ends
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            one_of = {"oneOf": schema["oneOf"]}
            branches = [merge_schemas(b, one_of, f"{pointer}/anyOf/{i}", self) for i, b in enumerate(schema["anyOf"])]
            return self.compile({**rest, "anyOf": branches}, pointer)
        keyword = "anyOf" if "anyOf" in schema else "oneOf"
        branches = schema[keyword]
        if not isinstance(branches, list) or not branches:
            raise SchemaError(f"{pointer}/{keyword}: must be a non-empty array")
        base = {k: v for k, v in schema.items() if k != keyword}
        nodes = []
        for i, branch in enumerate(branches):
            where = f"{pointer}/{keyword}/{i}"
            if not base:  # compile as is: a $ref goes through _ref and its recursion count
                nodes.append(self.compile(branch, where))
                continue
            branch, _, targets = self._resolved(branch, where)
            with self._entering(targets, where) as ok:
                nodes.append(self.compile(merge_schemas(base, branch, where, self), where) if ok else NOTHING)
        if keyword == "oneOf" and len(nodes) > 1:
            resolved = [merge_schemas(base, self._resolved(b, pointer)[0], pointer, self) for b in branches]
            overlaps = [(i, j) for i in range(len(resolved)) for j in range(i + 1, len(resolved))
                        if not self._disjoint(resolved[i], resolved[j])]
            if overlaps:
                nodes = self._exclusive(resolved, nodes, overlaps, pointer)
        return alt(*nodes)

    def _exclusive(self, branches: list, nodes: list[Node], overlaps: list[tuple[int, int]],
                   pointer: str) -> list[Node]:
        """oneOf branches that may overlap, each minus the others it may overlap (exact, or reported).

        Branch i keeps the canonically written values of L(i) that no overlapping branch j holds,
        j's language taken with properties in any order (a value written in i's order must not
        escape it). That is exact where those languages are: no narrowing reported for them.
        """
        involved = sorted({k for pair in overlaps for k in pair})
        saved, deadline = self.options, self.deadline
        self.options = replace(saved, property_order="any")
        # any order costs an automaton per subset of properties: within the compile's budget for
        # it (shared by all its oneOfs), or not at all
        started = time.monotonic()
        budget = started + self._exclusive_budget
        self.deadline = budget if deadline is None else min(deadline, budget)
        try:
            watched = {k: self._watched(branches[k], f"{pointer}/oneOf/{k}") for k in involved}
        except CompileTimeoutError:
            if deadline is not None and time.monotonic() > deadline:
                raise
            watched = None
        finally:
            self.options, self.deadline = saved, deadline
            self._exclusive_budget = max(0.0, self._exclusive_budget - (time.monotonic() - started))
        if watched is None or any(not self._exact_issues(issues) for _, issues, _ in watched.values()):
            why = "a branch is itself enforced only in part" if watched else "the branches are too large to compare"
            for i, j in overlaps:
                self.report(pointer, "oneOf", f"branches {i} and {j} may overlap; exclusivity is not enforced ({why})")
            return nodes
        dfas = {k: to_dfa(node, deadline=self.deadline) for k, (node, _, _) in watched.items()}
        universe = self.universe(False)
        out = list(nodes)
        for k in involved:
            keep = intersect_dfas(to_dfa(nodes[k], deadline=self.deadline), universe)
            for i, j in overlaps:
                if k in (i, j):
                    keep = difference_dfas(keep, dfas[j if k == i else i])
            out[k] = Automaton(keep) if keep.n_states else NOTHING
        self.report(pointer, "oneOf", "overlapping branches are made exclusive within canonically written JSON "
                    f"values nested at most {self.options.any_value_depth} levels deep", "restricted")
        return out

    # ---- conditionals, dependencies and negation ----------------------------------------------------
    # if/then/else and dependent* are rewritten to anyOf/not (exact); `not` is pushed into the
    # keywords it negates where that stays a schema, and otherwise taken as a DFA complement.

    def _desugar(self, schema: dict, pointer: str) -> dict:
        """``schema`` with if/then/else and dependentRequired/dependentSchemas/dependencies as anyOf."""
        if not any(k in schema for k in CONDITIONAL_KEYWORDS):
            return schema
        out: Any = {k: v for k, v in schema.items() if k not in CONDITIONAL_KEYWORDS}
        conditions: list[Any] = []
        if "if" in schema:
            cond = schema["if"]
            then, other = schema.get("then", True), schema.get("else", True)
            branches = [merge_schemas(cond, then, f"{pointer}/then", self),
                        merge_schemas({"not": cond}, other, f"{pointer}/else", self)]
            conditions.append({"anyOf": [b for b in branches if b is not False] or [False]})
        for keyword in ("dependentRequired", "dependentSchemas", "dependencies"):
            deps = schema.get(keyword) or {}
            if not isinstance(deps, dict):
                raise SchemaError(f"{pointer}/{keyword}: must be an object")
            for name, dep in deps.items():
                if isinstance(dep, list):
                    dep = {"required": dep} if dep else True
                if dep is True or dep == {}:
                    continue
                # the dependency holds when the property is absent, or the instance meets it; under
                # unevaluated* the property must be present too, or the branch would count what the
                # dependency evaluates (elsewhere `required` would only fix where the name is written)
                if dep is not False and any(m in schema for m in UNEVALUATED.values()):
                    dep = merge_schemas(dep, {"required": [name]}, f"{pointer}/{keyword}", self)
                conditions.append({"anyOf": [{"properties": {name: False}}, *([] if dep is False else [dep])]})
        if len(conditions) > MAX_CONDITIONS:
            self.report(pointer, "dependentRequired" if "if" not in schema else "if",
                        f"{len(conditions)} conditions (if/dependencies) on one schema; at most {MAX_CONDITIONS} "
                        "are enforced", "unsupported")
            conditions = conditions[:MAX_CONDITIONS]
        for condition in conditions:
            out = merge_schemas(out, condition, pointer, self)
            if out is False:
                return {"not": True}
        return out

    def _not(self, schema: dict, pointer: str) -> Node:
        negated = schema["not"]
        rest = {k: v for k, v in schema.items() if k != "not"}
        target, where, followed = self._resolved(negated, f"{pointer}/not")
        rewritten = self._negated(target)
        if rewritten is not None:
            merged = merge_schemas(rest, rewritten, pointer, self)
            return NOTHING if merged is False else self.compile(merged, pointer)
        with self._entering(followed, pointer) as ok:
            complement = self._complement(target, where, pointer) if ok else None
        base = self.compile(rest, pointer) if any(k not in ANNOTATIONS for k in rest) else None
        if complement is None:
            return NOTHING if not ok else base if base is not None else self.any_value(self.options.any_value_depth)
        if base is not None:
            complement = intersect_dfas(to_dfa(base, deadline=self.deadline), complement)
        return Automaton(complement) if complement.n_states else NOTHING

    def _negated(self, schema: Any) -> Any | None:
        """A schema for ``not schema`` without ``not`` at this level, or None where there is none."""
        if schema is True or schema == {}:
            return False
        if schema is False:
            return True
        if not isinstance(schema, dict):
            raise SchemaError("a schema under not must be an object or a boolean")
        body = {k: v for k, v in schema.items() if k in ASSERTIONS}
        if not body:
            return False
        groups = _keyword_groups(body)
        if len(groups) > 1:  # not (A and B) = (not A) or (not B), keywords being independent
            return {"anyOf": [n if (n := self._negated(g)) is not None else {"not": g} for g in groups]}
        if set(body) == {"type"}:
            declared = {body["type"]} if isinstance(body["type"], str) else set(body["type"])
            if "number" in declared:
                declared.add("integer")
            elif "integer" in declared:
                return None  # the non-integral numbers are no type
            others = [t for t in ALL_TYPES if t not in declared and not (t == "integer" and "number" not in declared)]
            return {"type": others} if others else False
        if set(body) == {"allOf"} and isinstance(body["allOf"], list) and body["allOf"]:
            return {"anyOf": [{"not": part} for part in body["allOf"]]}  # not (A and B) = not A or not B
        if set(body) == {"required"} and isinstance(body["required"], list):
            names = body["required"]
            if not names:
                return False
            return {"type": "object", "anyOf": [{"properties": {n: False}} for n in dict.fromkeys(names)]}
        if set(body) == {"properties"} and isinstance(body["properties"], dict):
            branches = [{"required": [n], "properties": {n: {"not": s}}} for n, s in body["properties"].items()
                        if s is not True and s != {}]
            return {"type": "object", "anyOf": branches} if branches else False
        return None

    def _watched(self, schema: Any, pointer: str) -> tuple[Node, list[SchemaIssue], bool]:
        """Compile ``schema`` and return ``(node, the issues it raised, whether it fixes a property order)``."""
        sink: list[SchemaIssue] = []
        self._sinks.append(sink)
        marks = self._order_marks
        try:
            node = self.compile(schema, pointer)
        finally:
            self._sinks.pop()
        return node, sink, self._order_marks > marks

    def _exact_issues(self, issues: list[SchemaIssue]) -> bool:
        """Is a language compiled with these issues complete within the complement universe?

        Unsupported keywords only widen the language (they are ignored), the depth bound of open
        values is the universe's own depth, and an unchecked format is no assertion: those keep a
        complement sound. Every other restriction (recursion, uniqueItems, nested complements)
        narrows the language, so its complement would let valid values through.
        """
        return all(i.kind == "unsupported" or i.keyword == "*" or (i.keyword == "format" and "annotation" in i.reason)
                   for i in issues)

    def universe(self, one_key_objects: bool) -> ByteDFA:
        """Canonically written JSON values nested at most ``any_value_depth`` deep (see _universe)."""
        return _universe(self.options.any_value_depth, *self._layout(), one_key_objects)

    def _complement(self, schema: Any, where: str, pointer: str) -> ByteDFA | None:
        """Values that do not validate against ``schema``, or None (reported) where that is not exact."""
        node, issues, ordered = self._watched(schema, where)
        if not self._exact_issues(issues):
            self.report(pointer, "not", "the negated schema is itself enforced only in part ("
                        + "; ".join(sorted({str(i) for i in issues if i.kind == "restricted"}))
                        + "), so its complement is not enforced")
            return None
        depth = self.options.any_value_depth
        self.report(pointer, "not", f"enforced as a complement within canonically written JSON values nested at most "
                    f"{depth} levels deep" + (" whose objects have at most one property" if ordered else ""),
                    "restricted")
        return difference_dfas(self.universe(ordered), to_dfa(node, deadline=self.deadline))

    def _disjoint(self, a: Any, b: Any, depth: int = 0) -> bool:
        """Can no JSON value satisfy both schemas? (a sound, incomplete test)"""
        if a is False or b is False:
            return True
        if not isinstance(a, dict) or not isinstance(b, dict) or depth > 8:
            return False
        if not (_value_types(a) & _value_types(b)):
            return True
        va, vb = _finite_values(a), _finite_values(b)
        if va is not None and vb is not None and not any(x == y and type(x) is type(y) for x in va for y in vb):
            return True
        pa, pb = a.get("properties") or {}, b.get("properties") or {}
        both_required = set(a.get("required") or []) & set(b.get("required") or [])
        for name in both_required & set(pa) & set(pb):
            x = self._resolved(pa[name], "#")[0]
            y = self._resolved(pb[name], "#")[0]
            if self._disjoint(x, y, depth + 1):
                return True
        if a.get("additionalProperties") is False and set(b.get("required") or []) - set(pa):
            return True
        if b.get("additionalProperties") is False and set(a.get("required") or []) - set(pb):
            return True
        return False

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
                node = seq(jt.UNBOUNDED_INTEGER, opt(seq(literal("."), Repeat(literal("0"), 1, None))))
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
                parts.append(encode_string_content(pattern_to_ir(FORMATS[fmt], anchored=True)))
            elif fmt in UNSUPPORTED_FORMATS:
                self.report(pointer, "format", f"format {fmt!r} is not enforced yet")
            else:
                self.report(pointer, "format", f"format {fmt!r} is not checked (an annotation here)", "restricted")
        if "pattern" in schema:
            pattern = schema["pattern"]
            if not isinstance(pattern, str):
                raise SchemaError(f"{pointer}/pattern: must be a string")
            try:
                parts.append(encode_string_content(pattern_to_ir(pattern, where=f"{pointer}/pattern")))
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

    def _array(self, schema: dict, pointer: str) -> Node:
        lo = _count(schema, "minItems", pointer, 0)
        hi = self._clamped(_count(schema, "maxItems", pointer, None), lo, pointer, "maxItems", "items")
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        rest: Any = schema.get(UNEVALUATED["unevaluatedItems"], True)
        if isinstance(items, list):  # draft 4-2019: positional items + additionalItems
            prefix, rest = items, schema.get("additionalItems", rest)
        elif items is not None:
            rest = items
        prefix = list(prefix or [])
        if rest is False:
            hi = len(prefix) if hi is None else min(hi, len(prefix))
        if schema.get("uniqueItems") is True:
            if lo > 1:
                self.report(pointer, "uniqueItems", "uniqueItems with minItems > 1 is not enforced yet")
            else:
                hi = 1 if hi is None else min(hi, 1)
                self.report(pointer, "uniqueItems", "enforced by generating at most one item", "restricted")
        counted: Node | None = None
        if "contains" in schema:
            c_min = _count(schema, "minContains", pointer, 1)
            c_max = _count(schema, "maxContains", pointer, None)
            contains = schema["contains"]
            if c_max is not None and c_max < c_min:
                return NOTHING
            if contains is True or contains == {}:  # every item matches: the counts bound the length
                lo, hi = max(lo, c_min), c_max if hi is None else hi if c_max is None else min(hi, c_max)
            elif contains is False:
                if c_min > 0:
                    return NOTHING
            elif c_min > 0 or c_max is not None:
                counted = self._contains(contains, c_min, c_max, pointer)
        if hi is not None and hi < lo:
            return NOTHING

        def element(k: int) -> Node:
            with self._inside():
                if k < len(prefix):
                    return self.compile(prefix[k],
                                        f"{pointer}/{'prefixItems' if 'prefixItems' in schema else 'items'}/{k}")
                return self.compile(rest, f"{pointer}/{'items' if 'items' in schema else 'additionalItems'}")

        def tail(k: int) -> Node:  # elements k.. each preceded by a comma, given k already written
            if hi is not None and k >= hi:
                return EMPTY
            if k >= len(prefix):
                return Repeat(seq(self.comma, element(k)), max(0, lo - k), None if hi is None else hi - k)
            more = seq(self.comma, element(k), tail(k + 1))
            return more if k < lo else opt(more)

        if hi == 0:
            body = EMPTY
        else:
            body = seq(element(0), tail(1))
            body = body if lo > 0 else opt(body)
        array = self._container("[", body, "]")
        if counted is None:
            return array
        dfa = intersect_dfas(to_dfa(array, deadline=self.deadline), to_dfa(counted, deadline=self.deadline))
        return Automaton(dfa) if dfa.n_states else NOTHING

    def _contains(self, contains: Any, c_min: int, c_max: int | None, pointer: str) -> Node | None:
        """Arrays with ``c_min`` to ``c_max`` items that match ``contains`` (None: not enforced).

        Items are split into those in L(contains), counted, and those in the universe minus
        L(contains): exact counting where the complement is exact. Otherwise, with no maxContains,
        "at least c_min matching items" still holds with any other items.
        """
        depth = self.options.any_value_depth
        with self._inside():  # items are one level deeper than their array
            node, issues, ordered = self._watched(contains, f"{pointer}/contains")
        item_layout = self._layout(self._depth + 1)
        match = Automaton(to_dfa(node, deadline=self.deadline))
        if self._exact_issues(issues):
            rest_dfa = difference_dfas(_universe(depth, *item_layout, ordered), match.dfa)
            other: Node = Automaton(rest_dfa) if rest_dfa.n_states else NOTHING
            self.report(pointer, "contains", f"items are counted among canonically written JSON values nested at most "
                        f"{depth} levels deep" + (" whose objects have at most one property" if ordered else ""),
                        "restricted")
        elif c_max is None:
            other = _any_value(depth, *item_layout)
            self.report(pointer, "contains", f"the other items are JSON values nested at most {depth} levels deep",
                        "restricted")
        else:
            self.report(pointer, "maxContains", "the contains schema is itself enforced only in part, so items "
                        "that do not match it cannot be counted")
            return None
        sep = self.comma
        others = seq(other, star(seq(sep, other)))  # one or more non-matching items
        head = seq(opt(seq(others, sep)), match)
        between = seq(sep, opt(seq(others, sep)), match)
        first = max(c_min, 1)
        if c_max is None:
            body = seq(head, Repeat(between, first - 1, first - 1), star(seq(sep, alt(match, other))))
        elif c_max == 0:
            body = NOTHING
        else:
            body = seq(head, Repeat(between, first - 1, c_max - 1), opt(seq(sep, others)))
        if c_min == 0:
            body = alt(opt(others), body)
        return self._container("[", body, "]")

    def _object(self, schema: dict, pointer: str) -> Node:
        props = schema.get("properties", {}) or {}
        if not isinstance(props, dict):
            raise SchemaError(f"{pointer}/properties: must be an object")
        required = schema.get("required", [])
        if not isinstance(required, list):
            raise SchemaError(f"{pointer}/required: must be an array")
        names = schema.get("propertyNames", True)
        if names is False:
            return NOTHING if required else self._container("{", EMPTY, "}")
        additional = schema.get("additionalProperties", schema.get(UNEVALUATED["unevaluatedProperties"], True))
        patterns = self._patterns(schema, pointer)
        names_dfa = None
        if names not in (True, {}):
            # keys are strings: the string part of propertyNames' language is the key language
            key_schema = merge_schemas(names, {"type": "string"}, f"{pointer}/propertyNames", self)
            names_dfa = to_dfa(self.compile(key_schema, f"{pointer}/propertyNames"), deadline=self.deadline)

        def key_ok(name: str) -> bool:
            return names_dfa is None or names_dfa.matches(jt_key(name))

        def rule(name: str) -> Any:
            """The schema a property's value must meet: properties, matching patterns, else additional."""
            matched = [sub for dfa, sub in patterns if dfa.matches(jt_key(name)[1:-1])]
            own = props[name] if name in props else (additional if not matched else True)
            for i, sub in enumerate(matched):
                own = merge_schemas(own, sub, f"{pointer}/patternProperties/{i}", self)
            return own

        items: list[tuple[Node, bool]] = []
        for name in [*props, *(r for r in dict.fromkeys(required) if r not in props)]:
            if not key_ok(name):
                value = NOTHING
            else:
                with self._inside():
                    value = self.compile(rule(name), f"{pointer}/properties/{_escape(name)}")
            if value == NOTHING:
                if name in required:
                    return NOTHING
                continue
            items.append((seq(jt.value_literal(name), self.colon, value), name in required))
        known = list(props) + [r for r in required if r not in props]
        extra = self._extra_members(known, patterns, additional, names_dfa, pointer)
        lo = _count(schema, "minProperties", pointer, 0)
        hi = _count(schema, "maxProperties", pointer, None)
        if items and (len(items) > 1 or extra is not None) and (hi is None or hi > 1):
            self._order_marks += 1  # this language writes its named properties in one order
        if self.options.property_order == "any" and items:
            body = self._any_order(items, extra, lo, hi, pointer)
        else:
            body = CommaList(tuple(items), extra, self.comma, lo, hi)
        return self._container("{", body, "}")

    def _patterns(self, schema: dict, pointer: str) -> list[tuple[ByteDFA, Any]]:
        """patternProperties as (DFA over a key's JSON-encoded content, schema) pairs."""
        given = schema.get("patternProperties") or {}
        if not isinstance(given, dict):
            raise SchemaError(f"{pointer}/patternProperties: must be an object")
        if len(given) > MAX_PATTERN_PROPERTIES:
            self.report(pointer, "patternProperties", f"{len(given)} patterns; at most {MAX_PATTERN_PROPERTIES} are "
                        "enforced (keys are split by the subset of patterns they match)")
            return []
        out = []
        for pattern, sub in given.items():
            where = f"{pointer}/patternProperties/{_escape(pattern)}"
            try:
                out.append((to_dfa(encode_string_content(pattern_to_ir(pattern, where=where)), deadline=self.deadline),
                            sub))
            except UnsupportedFeatureError as exc:
                self.report(pointer, "patternProperties", str(exc))
                return []
        return out

    def _extra_members(self, known: list[str], patterns: list[tuple[ByteDFA, Any]], additional: Any,
                       names_dfa: ByteDFA | None, pointer: str) -> Node | None:
        """Members with keys outside ``known``: one key language per subset of matched patterns."""
        base = to_dfa(jt.string_content_except(known), deadline=self.deadline)
        members: list[Node] = []
        for subset in range(1 << len(patterns)):
            keys = base
            value_schema: Any = True if subset else additional
            for i, (dfa, sub) in enumerate(patterns):
                if subset >> i & 1:
                    keys = intersect_dfas(keys, dfa)
                    value_schema = merge_schemas(value_schema, sub, f"{pointer}/patternProperties/{i}", self)
                else:
                    keys = difference_dfas(keys, dfa)
                if keys.n_states == 0:
                    break
            if keys.n_states == 0 or value_schema is False:
                continue
            key_dfa = to_dfa(jt.string_of(Automaton(keys)), deadline=self.deadline)
            if names_dfa is not None:
                key_dfa = intersect_dfas(key_dfa, names_dfa)
                if key_dfa.n_states == 0:
                    continue
            where = f"{pointer}/additionalProperties" if not subset else f"{pointer}/patternProperties"
            with self._inside():
                value = self.compile(value_schema, where)
            if value != NOTHING:
                members.append(seq(Automaton(key_dfa), self.colon, value))
        return alt(*members) if members else None

    def _any_order(self, items: list[tuple[Node, bool]], extra: Node | None, lo: int, hi: int | None,
                   pointer: str) -> Node:
        """Named members in any order, each at most once, extra members anywhere (property_order="any").

        One automaton per set of members already written (2**n of them, n <= max_any_order),
        built bottom-up so the permutations share their tails.
        """
        n = len(items)
        if n > self.options.max_any_order:
            self.report(pointer, "properties", f"{n} named properties are written in schema order "
                        f"(property_order='any' covers at most {self.options.max_any_order})", "restricted")
            return CommaList(tuple(items), extra, self.comma, lo, hi)
        need = sum(1 << i for i, (_, req) in enumerate(items) if req)
        full = (1 << n) - 1
        rest: dict[int, Node] = {}  # members after the first, each with its leading comma
        for used in range(full, -1, -1):
            options: list[Node] = [EMPTY] if used & need == need else []
            options += [seq(self.comma, items[i][0], rest[used | 1 << i]) for i in range(n) if not used >> i & 1]
            node = alt(*options)
            if extra is not None:  # extra members may come before any of the remaining choices
                node = seq(star(seq(self.comma, extra)), node)
            dfa = to_dfa(node, deadline=self.deadline)
            rest[used] = Automaton(dfa) if dfa.n_states else NOTHING
        first = [seq(items[i][0], rest[1 << i]) for i in range(n)]
        if extra is not None:
            first.append(seq(extra, rest[0]))
        if need == 0:
            first.append(EMPTY)
        body: Node = alt(*first)
        if lo or hi is not None:
            member = seq(jt.string_of(jt.any_string_content()), self.colon,
                         _any_value(max(self.options.any_value_depth, 8), *self._layout(self._depth + 1)))
            counts = CommaList((), member, self.comma, lo, hi)
            dfa = intersect_dfas(to_dfa(body, deadline=self.deadline), to_dfa(counts, deadline=self.deadline))
            body = Automaton(dfa) if dfa.n_states else NOTHING
        return body

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


@lru_cache(maxsize=128)
def _any_value(depth: int, whitespace: str, max_whitespace: int, indent: int = 0, level: int = 0) -> Node:
    """Any JSON value nested at most ``depth`` levels, written at ``level`` (see SchemaCompiler._layout)."""
    comma, colon = _comma(whitespace, max_whitespace, indent, level), _colon(whitespace, max_whitespace, indent, level)
    options = [literal("null"), literal("true"), literal("false"), jt.UNBOUNDED_NUMBER,
               jt.string_of(jt.any_string_content())]
    if depth > 0:
        inner = _any_value(depth - 1, whitespace, max_whitespace, indent, level + 1 if whitespace == "indented" else 0)
        layout = (whitespace, max_whitespace, indent, level)
        options.append(_bracketed("[", opt(seq(inner, Repeat(seq(comma, inner), 0, None))), "]", *layout))
        member = seq(jt.string_of(jt.any_string_content()), colon, inner)
        options.append(_bracketed("{", CommaList((), member, comma), "}", *layout))
    return Automaton(to_dfa(alt(*options)))


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


def jt_key(name: str) -> bytes:
    """A property name as the compiler writes it: its json.dumps spelling, quotes included."""
    return json.dumps(name, ensure_ascii=False).encode()


def _keyword_groups(body: dict) -> list[dict]:
    """Split assertion keywords into independently holding groups (unevaluated*: all one group)."""
    if "unevaluatedProperties" in body or "unevaluatedItems" in body:
        return [body]
    groups: list[dict] = []
    seen: set[str] = set()
    for key in body:
        if key in seen:
            continue
        coupled = next((c for c in _COUPLED if key in c), frozenset({key}))
        group = {k: v for k, v in body.items() if k in coupled}
        seen |= set(group)
        groups.append(group)
    return groups


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


def _has_multi_key_object(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) > 1 or any(_has_multi_key_object(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_multi_key_object(v) for v in value)
    return False


def encode_string_content(node: Node) -> Node:
    """Map decoded characters to their JSON spelling throughout ``node``."""
    if isinstance(node, Chars):
        return jt.json_char(node)
    if isinstance(node, Seq):
        return Seq(tuple(encode_string_content(x) for x in node.items))
    if isinstance(node, Alt):
        return Alt(tuple(encode_string_content(x) for x in node.items))
    if isinstance(node, Repeat):
        return Repeat(encode_string_content(node.item), node.lo, node.hi)
    raise TypeError(f"cannot encode {type(node).__name__} as string content")


def _merge_members(a: dict, b: dict, pointer: str, compiler: SchemaCompiler) -> tuple[dict, Any]:
    """properties/additionalProperties of a & b: each key meets the other side's rule for it."""
    pa, pb = a.get("properties") or {}, b.get("properties") or {}
    xa, xb = a.get("additionalProperties", True), b.get("additionalProperties", True)
    patterns_a = compiler._patterns(a, pointer) if a.get("patternProperties") else []
    patterns_b = compiler._patterns(b, pointer) if b.get("patternProperties") else []

    def rule(name: str, props: dict, patterns: list, additional: Any) -> Any:
        # a name one side does not list meets that side's matching patterns, else its additionalProperties
        if name in props:
            return props[name]
        matched = [sub for dfa, sub in patterns if dfa.matches(jt_key(name)[1:-1])]
        return {"allOf": matched} if matched else additional

    merged = {}
    for name in [*pa, *(n for n in pb if n not in pa)]:
        left = rule(name, pa, patterns_a, xa)
        right = rule(name, pb, patterns_b, xb)
        merged[name] = merge_schemas(left, right, f"{pointer}/properties/{name}", compiler)
    return merged, merge_schemas(xa, xb, f"{pointer}/additionalProperties", compiler)


def _elements(schema: dict) -> tuple[list, Any]:
    items = schema.get("items")
    if isinstance(items, list):
        return list(items), schema.get("additionalItems", True)
    return list(schema.get("prefixItems") or []), True if items is None else items


def _merge_elements(a: dict, b: dict, pointer: str, compiler: SchemaCompiler) -> tuple[list, Any]:
    """Positional items of a & b: position k meets both sides' rule for k."""
    (pa, ra), (pb, rb) = _elements(a), _elements(b)
    prefix = [merge_schemas(pa[k] if k < len(pa) else ra, pb[k] if k < len(pb) else rb, f"{pointer}/items/{k}",
                            compiler) for k in range(max(len(pa), len(pb)))]
    return prefix, merge_schemas(ra, rb, f"{pointer}/items", compiler)


def _value_types(schema: dict) -> set[str]:
    declared = schema.get("type")
    types = set(ALL_TYPES) if declared is None else {declared} if isinstance(declared, str) else set(declared)
    if "number" in types:
        types.add("integer")
    if "integer" in types:
        types.add("number")  # 1.0 is an integer
    values = _finite_values(schema)
    if values is not None:
        types &= {_json_type(v) for v in values} | ({"number"} if any(_json_type(v) == "integer" for v in values)
                                                     else set())
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or isinstance(value, float) and value.is_integer():
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _finite_values(schema: dict) -> list | None:
    if "const" in schema:
        return [schema["const"]]
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    return None


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _count(schema: dict, keyword: str, pointer: str, default):
    value = schema.get(keyword, default)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaError(f"{pointer}/{keyword}: must be a non-negative integer, got {value!r}")
    return value


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


def _lower_unevaluated(schema: dict, pointer: str, compiler: SchemaCompiler) -> dict:
    """A part's own unevaluated* as additionalProperties / items: exact where the part is flat."""
    if "unevaluatedProperties" not in schema and "unevaluatedItems" not in schema:
        return schema
    out = dict(schema)
    for keyword in UNEVALUATED:
        value = out.pop(keyword, True)
        if value is True or value == {}:
            continue
        applicators = [k for k in IN_PLACE if k in out]
        if applicators or (keyword == "unevaluatedItems" and "contains" in out):
            compiler.report(pointer, keyword, "not enforced in a subschema combined with others when it has its "
                            f"own {', '.join(applicators) or 'contains'}")
        elif keyword == "unevaluatedProperties":
            out.setdefault("additionalProperties", value)
        elif isinstance(out.get("items"), list):
            out.setdefault("additionalItems", value)
        else:
            out.setdefault("items", value)
    return out


def merge_schemas(a: Any, b: Any, pointer: str, compiler: SchemaCompiler) -> Any:
    """The conjunction of two schemas as one schema, where keywords combine exactly."""
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    if a is False or b is False:
        return False
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise SchemaError(f"{pointer}: a schema must be an object or a boolean")
    a, b = _lower_unevaluated(a, pointer, compiler), _lower_unevaluated(b, pointer, compiler)
    if any(k in a for k in CONDITIONAL_KEYWORDS) and any(k in b for k in CONDITIONAL_KEYWORDS):
        b = compiler._desugar(b, pointer)  # two if/then/else (or dependencies): as anyOf, they combine
    out = dict(a)
    object_keys = ("properties", "additionalProperties", "patternProperties")
    if any(k in a for k in object_keys) and any(k in b for k in object_keys):
        pa, pb = a.get("patternProperties") or {}, b.get("patternProperties") or {}
        if pa or pb:
            # patterns combine exactly when the other side leaves other keys open: a key matching a
            # pattern of one side only must meet that side's pattern and nothing of the other
            if (pa and b.get("additionalProperties", True) is not True) or \
                    (pb and a.get("additionalProperties", True) is not True):
                compiler.report(pointer, "patternProperties", "allOf with patternProperties and "
                                "additionalProperties is not combined exactly")
            patterns = dict(pa)
            for pattern, sub in pb.items():
                patterns[pattern] = merge_schemas(patterns[pattern], sub, f"{pointer}/patternProperties", compiler) \
                    if pattern in patterns else sub
            out["patternProperties"] = patterns
        out["properties"], out["additionalProperties"] = _merge_members(a, b, pointer, compiler)
        b = {k: v for k, v in b.items() if k not in object_keys}
        out = {k: v for k, v in out.items() if v is not True or k != "additionalProperties"}
    array_keys = ("prefixItems", "items", "additionalItems")
    if any(k in a for k in array_keys) and any(k in b for k in array_keys):
        out.pop("items", None), out.pop("additionalItems", None), out.pop("prefixItems", None)
        prefix, rest = _merge_elements(a, b, pointer, compiler)
        out["prefixItems"] = prefix
        if rest is not True:  # an explicit `items: true` would evaluate every item (unevaluatedItems)
            out["items"] = rest
        b = {k: v for k, v in b.items() if k not in array_keys}
    for key, value in b.items():
        if key in ANNOTATIONS or key not in out:
            out.setdefault(key, value)
            continue
        mine = out[key]
        if mine == value:
            continue
        if key == "type":
            x = {mine} if isinstance(mine, str) else set(mine)
            y = {value} if isinstance(value, str) else set(value)
            if "number" in x:
                x.add("integer")
            if "number" in y:
                y.add("integer")
            both = x & y
            out[key] = sorted(both) if both else "__none__"
            if not both:
                return False
        elif key == "required":
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "properties":
            merged = dict(mine)
            for name, sub in value.items():
                merged[name] = merge_schemas(merged[name], sub, f"{pointer}/properties/{name}", compiler) \
                    if name in merged else sub
            out[key] = merged
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum") and \
                not isinstance(mine, bool) and not isinstance(value, bool):
            out[key] = max(mine, value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum") and \
                not isinstance(mine, bool) and not isinstance(value, bool):
            out[key] = min(mine, value)
        elif key == "enum":
            out[key] = [v for v in mine if v in value]
        elif key in ("additionalProperties", "items", "propertyNames") and isinstance(mine, (dict, bool)) and \
                isinstance(value, (dict, bool)):
            out[key] = merge_schemas(mine, value, f"{pointer}/{key}", compiler)
        elif key == "allOf":
            out[key] = [*mine, *value]
        elif key in UNEVALUATED.values():
            out[key] = merge_schemas(mine, value, pointer, compiler)
        elif key == "not":  # (not A) and (not B) = not (A or B)
            out[key] = {"anyOf": [mine, value]}
        elif key == "multipleOf" and isinstance(mine, int) and isinstance(value, int) and \
                not isinstance(mine, bool) and not isinstance(value, bool) and mine > 0 and value > 0:
            out[key] = math.lcm(mine, value)
        elif key in ("anyOf", "oneOf"):
            # (A1 | A2) & (B1 | B2) = (A1 & (B1 | B2)) | (A2 & (B1 | B2)): nest, don't loop
            out[key] = [merge_schemas(branch, {key: value}, f"{pointer}/{key}", compiler) for branch in mine]
        elif key in ASSERTIONS:
            compiler.report(pointer, key, f"allOf combines two different {key!r} values; only the first is enforced")
        # any other keyword is not JSON Schema: validators ignore it, and so may we
    return out
