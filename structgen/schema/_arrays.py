"""Arrays: positional and further items, item counts, uniqueItems, and contains counted.

``contains`` with counts splits the items into those matching it and the rest of the universe
of values (exact where the complement is), see ``_contains``.
"""

from __future__ import annotations

from typing import Any

from structgen.automata._ir import EMPTY, NOTHING, Automaton, Node, Repeat, alt, opt, seq, star
from structgen.automata._regular import difference_dfas, intersect_dfas, to_dfa
from structgen.schema._keywords import UNEVALUATED, _count
from structgen.schema._layout import _any_value, _universe


class _Arrays:
    """SchemaCompiler's array keywords (a mixin: see ``_compiler``)."""

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
