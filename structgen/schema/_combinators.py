"""anyOf, oneOf, ``not``, and the conditionals rewritten into them.

``if``/``then``/``else`` and the dependency keywords are rewritten into anyOf and negations (exact);
``not`` is pushed into the keywords it negates where that stays a schema (``_negated``). A
negation that stays no schema is a DFA difference against the universe of canonically written
values (``_layout._universe``), which is exact only where the negated schema's own language is
complete there (``_exact_issues``). oneOf branches that may overlap are made exclusive the same
way (``_exclusive``); those that cannot (``_disjoint``) are a plain anyOf.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from structgen._errors import SchemaError, UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA
from structgen.automata._ir import NOTHING, Automaton, Node, alt
from structgen.automata._regular import difference_dfas, intersect_dfas, to_dfa
from structgen.schema._keywords import ALL_TYPES, ANNOTATIONS, ASSERTIONS, CONDITIONAL_KEYWORDS, UNEVALUATED
from structgen.schema._layout import _universe
from structgen.schema._merge import merge_schemas

if TYPE_CHECKING:
    from structgen.schema._compiler import SchemaIssue

# automaton states per compile for overlapping oneOf branches' differences: the any-order objects
# of the branches, their DFAs and the differences (counted, not timed: a compile's result must not
# depend on the machine's load)
EXCLUSIVE_BUDGET_STATES = 400_000
MAX_CONDITIONS = 6  # each condition doubles the anyOf branches a schema compiles to
# keywords whose meanings depend on each other: negated together, never split apart
_COUPLED = (
    frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}),
    frozenset({"items", "prefixItems", "additionalItems"}),
    frozenset({"contains", "minContains", "maxContains"}),
    frozenset({"properties", "patternProperties", "additionalProperties"}),
    frozenset({"if", "then", "else"}),
)


class _BudgetSpent(Exception):
    """The exclusivity budget (``EXCLUSIVE_BUDGET_STATES``) ran out."""


class _Combinators:
    """SchemaCompiler's anyOf/oneOf, conditionals and negation (a mixin: see ``_compiler``)."""

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
        saved = self.options
        self.options = replace(saved, property_order="any")
        # any order costs an automaton per subset of properties: within the compile's budget of
        # states for it (shared by all its oneOfs), or not at all
        self._metered += 1
        try:
            watched = {k: self._watched(branches[k], f"{pointer}/oneOf/{k}") for k in involved}
            if any(not self._exact_issues(issues) for _, issues, _ in watched.values()):
                return self._not_exclusive(pointer, overlaps, nodes, "a branch is itself enforced only in part")
            dfas = {k: self.metered_dfa(node) for k, (node, _, _) in watched.items()}
            universe = self.universe(False)
            out = list(nodes)
            for k in involved:
                keep = self.metered_product(intersect_dfas, self.metered_dfa(nodes[k]), universe)
                for i, j in overlaps:
                    if k in (i, j):
                        keep = self.metered_product(difference_dfas, keep, dfas[j if k == i else i])
                out[k] = Automaton(keep) if keep.n_states else NOTHING
        except _BudgetSpent:
            return self._not_exclusive(pointer, overlaps, nodes, "the branches are too large to compare")
        finally:
            self.options = saved
            self._metered -= 1
        self.report(pointer, "oneOf", "overlapping branches are made exclusive within canonically written JSON "
                    f"values nested at most {self.options.any_value_depth} levels deep", "restricted")
        return out

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

    def _not_exclusive(self, pointer: str, overlaps: list[tuple[int, int]], nodes: list[Node], why: str) -> list[Node]:
        for i, j in overlaps:
            self.report(pointer, "oneOf", f"branches {i} and {j} may overlap; exclusivity is not enforced ({why})")
        return nodes

    def metered_dfa(self, node: Node) -> ByteDFA:
        """``to_dfa(node)``, its states charged to the exclusivity budget while it is metered."""
        # with to_dfa's own bound, not what is left (cached DFAs are keyed by the bound: the
        # branches' own were built with it); the compile's deadline bounds the last one's work
        return self.charge(to_dfa(node, deadline=self.deadline))

    def metered_product(self, product: Callable[..., ByteDFA], a: ByteDFA, b: ByteDFA) -> ByteDFA:
        """``product(a, b)`` (``intersect_dfas``, ``difference_dfas``), stopped where it would pass
        what is left of the exclusivity budget and charged to it while it is metered."""
        if not self._metered:
            return product(a, b)
        try:
            dfa = product(a, b, max_states=max(1, self._exclusive_states))
        except UnsupportedFeatureError:
            raise _BudgetSpent from None
        return self.charge(dfa)

    def charge(self, dfa: ByteDFA) -> ByteDFA:
        """Charge ``dfa``'s states to the exclusivity budget while it is metered."""
        if self._metered:
            self._exclusive_states -= dfa.n_states
            if self._exclusive_states < 0:
                raise _BudgetSpent
        return dfa

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
