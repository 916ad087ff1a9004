"""``$ref`` and ``allOf``: references followed (unrolled, or as rules of a grammar), allOf merged.

unevaluatedProperties / unevaluatedItems of the schema being compiled become a scoped marker
(``_scope_unevaluated``) that rides along through the merges of its in-place applicators ($ref,
allOf, anyOf/oneOf branches, dependentSchemas) and acts as additionalProperties / items where the
merged schema is flat. The keyword of a part merged in is lowered against that part alone (see
``_merge._lower_unevaluated``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from structgen._errors import SchemaError
from structgen.automata._ir import NOTHING, Node, Ref
from structgen.schema._keywords import ANNOTATIONS, UNEVALUATED
from structgen.schema._merge import merge_schemas


class _References:
    """SchemaCompiler's $ref, allOf and unevaluated* scoping (a mixin: see ``_compiler``)."""

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
