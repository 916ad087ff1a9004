"""Objects: named properties, patternProperties, additional members, propertyNames and counts.

Named properties are written in schema order, or in any order (``property_order="any"``, one
automaton per set of members already written); keys outside them are split by the subset of
patterns they match, one key language each.
"""

from __future__ import annotations

from typing import Any

from structgen._errors import SchemaError, UnsupportedFeatureError
from structgen.automata._dfa import ByteDFA
from structgen.automata._ir import EMPTY, NOTHING, Automaton, CommaList, Node, alt, seq, star
from structgen.automata._regular import difference_dfas, intersect_dfas, to_dfa
from structgen.schema import _json_text as jt
from structgen.schema._keywords import UNEVALUATED, _count
from structgen.schema._layout import _any_value
from structgen.schema._merge import merge_schemas
from structgen.schema._pattern import pattern_to_ir
from structgen.schema._refs import escape_token

MAX_PATTERN_PROPERTIES = 4  # keys are split by the subset of patterns they match: 2**n key languages


class _Objects:
    """SchemaCompiler's object keywords (a mixin: see ``_compiler``)."""

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
            return names_dfa is None or names_dfa.matches(jt.key_bytes(name))

        def rule(name: str) -> Any:
            """The schema a property's value must meet: properties, matching patterns, else additional."""
            matched = [sub for dfa, sub in patterns if dfa.matches(jt.key_bytes(name)[1:-1])]
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
                    value = self.compile(rule(name), f"{pointer}/properties/{escape_token(name)}")
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
            where = f"{pointer}/patternProperties/{escape_token(pattern)}"
            try:
                content = jt.encode_string_content(pattern_to_ir(pattern, where=where))
                out.append((to_dfa(content, deadline=self.deadline), sub))
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
            key_dfa = jt.quoted_dfa(keys, self.deadline)
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
            dfa = self.metered_dfa(node)
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
            dfa = self.metered_product(intersect_dfas, self.metered_dfa(body), self.metered_dfa(counts))
            body = Automaton(dfa) if dfa.n_states else NOTHING
        return body
