"""An Earley recognizer over terminal ids with persistent, shareable sets.

Each ``EarleySet`` is immutable once built and refers to its items' origin sets directly, so a
parse state is just its last set: forking is free and rolling back is dropping a reference.
Nullable rules follow Aycock and Horspool (predicting a nullable nonterminal also steps over it),
left recursion and ambiguity need nothing special, and nesting depth is bounded only by memory
(no recursion in Python).
"""

from __future__ import annotations

from structgen.grammar._cfg import Grammar

Item = tuple  # (rule index, dot, origin EarleySet)


class EarleySet:
    __slots__ = ("scans", "accepting", "_expected", "_waiting")

    def __init__(self) -> None:
        self.scans: dict[int, list[Item]] = {}  # terminal -> items waiting for it
        self.accepting = False
        self._expected: frozenset[int] | None = None
        self._waiting: dict[int, list[Item]] = {}  # nonterminal symbol -> items waiting for it

    @property
    def expected(self) -> frozenset[int]:
        """The terminals this set can scan next."""
        if self._expected is None:
            self._expected = frozenset(self.scans)
        return self._expected


class EarleyParser:
    """Builds Earley sets for one prepared grammar."""

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self._lhs = [lhs for lhs, _ in grammar.rules]
        self._rhs = [rhs for _, rhs in grammar.rules]
        self._rules_of = grammar.rules_of
        self._nullable = grammar.nullable
        self.initial = self._close([(grammar.accept_rule, 0, None)], first=True)

    def scan(self, chart: EarleySet, terminals) -> EarleySet | None:
        """The set after reading one of ``terminals`` (an ambiguous lexeme may be several), or None."""
        seeds = []
        scans = chart.scans
        for t in terminals:
            for rule, dot, origin in scans.get(t, ()):
                seeds.append((rule, dot + 1, origin))
        return self._close(seeds) if seeds else None

    def _close(self, seeds: list[Item], first: bool = False) -> EarleySet:
        new = EarleySet()
        if first:
            seeds = [(r, d, new) for r, d, _ in seeds]
        lhs_of, rhs_of, rules_of, nullable = self._lhs, self._rhs, self._rules_of, self._nullable
        accept_rule = self.grammar.accept_rule
        waiting: dict[int, list[Item]] = {}  # nonterminal symbol -> items of this set waiting for it
        done: dict[int, set] = {}  # nonterminal symbol -> origins it was completed from (in this set)
        seen: set = set()
        scans = new.scans
        agenda = list(seeds)
        while agenda:
            item = agenda.pop()
            rule, dot, origin = item
            key = (rule, dot, id(origin))
            if key in seen:
                continue
            seen.add(key)
            rhs = rhs_of[rule]
            if dot == len(rhs):
                if rule == accept_rule:
                    new.accepting = True
                    continue
                sym = -1 - lhs_of[rule]
                origins = done.setdefault(sym, set())
                if id(origin) in origins:
                    continue
                origins.add(id(origin))
                parents = waiting.get(sym, ()) if origin is new else origin._waiting.get(sym, ())
                for r2, d2, o2 in parents:
                    agenda.append((r2, d2 + 1, o2))
                continue
            sym = rhs[dot]
            if sym >= 0:
                scans.setdefault(sym, []).append(item)
                continue
            lst = waiting.get(sym)
            if lst is None:
                lst = waiting[sym] = []
                for r in rules_of[-1 - sym]:
                    agenda.append((r, 0, new))
            lst.append(item)
            if sym in nullable:
                agenda.append((rule, dot + 1, origin))
        new._waiting = waiting
        return new

