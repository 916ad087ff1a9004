"""An Earley recognizer over terminal ids with persistent, shareable sets.

Each ``EarleySet`` is immutable once built and refers to its items' origin sets directly, so a
parse state is just its last set: forking is free and rolling back is dropping a reference.
Nullable rules follow Aycock and Horspool (predicting a nullable nonterminal also steps over it),
left recursion and ambiguity need nothing special, and nesting depth is bounded only by memory
(no recursion in Python).

Predicted items (origin = the set itself) depend only on which nonterminals the set predicts, so
they are not built per set: a ``_Predictions`` bundle per distinct set of predicted nonterminals
holds them, computed once and shared by every set that predicts the same ones. A set stores only
its kernel items (scanned or completed ones, with older origins) — typically a handful, where a
grammar for a programming language predicts hundreds of items at a statement boundary.

Sets are hash-consed: two sets with the same items waiting (same rules, dots and origin sets) and
the same predictions behave identically from then on, so the second is the first. Different
paths to the same parse state — different characters of one class, the items of a long list —
then share one set, and with it its memoised scans and every mask computed from it.
"""

from __future__ import annotations

import weakref

from structgen.grammar._cfg import Grammar

Item = tuple  # (rule index, dot, origin EarleySet)


class _Predictions:
    """The items predicted from a set of nonterminals, as (rule, dot) pairs grouped by next symbol."""

    __slots__ = ("scans", "waiting")

    def __init__(self, scans: dict[int, list[tuple[int, int]]], waiting: dict[int, list[tuple[int, int]]]) -> None:
        self.scans = scans  # terminal -> (rule, dot) waiting for it
        self.waiting = waiting  # nonterminal symbol -> (rule, dot) waiting for it


class EarleySet:
    __slots__ = (
        "_scans", "_waiting", "_predicted", "accepting", "_expected", "_next", "_waiting_all", "_leo", "memo",
        "__weakref__",
    )

    def __init__(self) -> None:
        self._scans: dict[int, list[Item]] = {}  # terminal -> kernel items waiting for it
        self._waiting: dict[int, list[Item]] = {}  # nonterminal symbol -> kernel items waiting for it
        self._predicted: _Predictions | None = None
        self.accepting = False
        self._expected: frozenset[int] | None = None
        self._next: dict[frozenset[int], EarleySet | None] = {}  # scan results, memoised
        self._waiting_all: dict[int, list[Item]] = {}  # waiting_for, memoised (a set is final once built)
        self._leo: dict[int, Item | None] = {}  # per nonterminal symbol: see EarleyParser._topmost
        self.memo: dict = {}  # for the layers above: results that depend only on this parse state

    @property
    def expected(self) -> frozenset[int]:
        """The terminals this set can scan next."""
        if self._expected is None:
            keys = set(self._scans)
            if self._predicted is not None:
                keys.update(self._predicted.scans)
            self._expected = frozenset(keys)
        return self._expected

    def items_after(self, terminal: int) -> list[Item]:
        """The items waiting for ``terminal``, each with its dot moved over it."""
        out = [(r, d + 1, o) for r, d, o in self._scans.get(terminal, ())]
        if self._predicted is not None:
            out.extend([(r, d + 1, self) for r, d in self._predicted.scans.get(terminal, ())])
        return out

    def waiting_for(self, sym: int) -> list[Item]:
        """The items waiting for nonterminal ``sym`` (shared: do not modify)."""
        out = self._waiting_all.get(sym)
        if out is None:
            out = list(self._waiting.get(sym, ()))
            if self._predicted is not None:
                out.extend((r, d, self) for r, d in self._predicted.waiting.get(sym, ()))
            self._waiting_all[sym] = out
        return out


class EarleyParser:
    """Builds Earley sets for one prepared grammar."""

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self._lhs = [lhs for lhs, _ in grammar.rules]
        self._rhs = [rhs for _, rhs in grammar.rules]
        self._nullable = grammar.nullable
        self._bundles: dict[frozenset[int], _Predictions] = {}
        self._interned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._reach = self._prediction_reach()
        self.initial = self._close([(grammar.accept_rule, 0, None)], first=True)

    def scan(self, chart: EarleySet, terminals: frozenset[int]) -> EarleySet | None:
        """The set after reading one of ``terminals`` (an ambiguous lexeme may be several), or None."""
        memo = chart._next
        if terminals in memo:
            return memo[terminals]
        seeds = [item for t in terminals for item in chart.items_after(t)]
        out = memo[terminals] = self._close(seeds) if seeds else None
        return out

    # -- predictions ------------------------------------------------------------------------

    def _prediction_reach(self) -> list[frozenset[int]]:
        """For each nonterminal: the nonterminal symbols its prediction predicts (itself included)."""
        g = self.grammar
        direct: list[set[int]] = [set() for _ in g.nonterminals]
        for lhs, rhs in g.rules:
            for sym in rhs:
                if sym >= 0:
                    break
                direct[lhs].add(sym)
                if sym not in self._nullable:
                    break
        reach = []
        for n in range(len(g.nonterminals)):
            seen = {-1 - n}
            stack = [n]
            while stack:
                for sym in direct[stack.pop()]:
                    if sym not in seen:
                        seen.add(sym)
                        stack.append(-1 - sym)
            reach.append(frozenset(seen))
        return reach

    def _bundle(self, predicted: frozenset[int]) -> _Predictions:
        bundle = self._bundles.get(predicted)
        if bundle is not None:
            return bundle
        closure: set[int] = set()
        for sym in predicted:
            closure |= self._reach[-1 - sym]
        scans: dict[int, list[tuple[int, int]]] = {}
        waiting: dict[int, list[tuple[int, int]]] = {}
        rules_of, rhs_of, nullable = self.grammar.rules_of, self._rhs, self._nullable
        for sym in closure:
            for rule in rules_of[-1 - sym]:
                rhs = rhs_of[rule]
                for dot, nxt in enumerate(rhs):  # step over nullable prefixes (Aycock-Horspool)
                    (scans if nxt >= 0 else waiting).setdefault(nxt, []).append((rule, dot))
                    if nxt >= 0 or nxt not in nullable:
                        break
        bundle = self._bundles[predicted] = _Predictions(scans, waiting)
        return bundle

    def _topmost(self, origin: EarleySet, sym: int) -> Item | None:
        """Leo's deterministic reduction path: where completing ``sym`` in ``origin`` finishes.

        When exactly one item of ``origin`` waits for ``sym`` and ``sym`` ends its rule, completing
        ``sym`` completes that rule too, and so on up: the top of such a chain is one completed item,
        memoised per (set, symbol). The members of an object with many optional properties (each
        ``rest_i -> rest_i+1`` when property ``i`` is left out, each written one ending with the
        rest of the list) then cost one step per closure, not one per property. None where the
        path branches or the waiting item goes on after ``sym``.
        """
        path: list[tuple[EarleySet, int, Item]] = []  # walked up iteratively: chains can be long
        on_path: set[tuple[int, int]] = set()
        top: Item | None = None
        while True:
            if sym in origin._leo:
                top = origin._leo[sym]
                break
            waiting = origin.waiting_for(sym)
            if len(waiting) != 1 or (id(origin), sym) in on_path:  # branches, or a cycle of unit rules
                origin._leo[sym] = None
                break
            on_path.add((id(origin), sym))
            rule, dot, above = waiting[0]
            if dot + 1 != len(self._rhs[rule]) or rule == self.grammar.accept_rule:
                origin._leo[sym] = None
                break
            path.append((origin, sym, (rule, dot + 1, above)))
            origin, sym = above, -1 - self._lhs[rule]
        for where, what, completed in reversed(path):  # each level's top: the one above, or itself
            top = where._leo[what] = top or completed
        return top

    # -- closure ----------------------------------------------------------------------------

    def _close(self, seeds: list[Item], first: bool = False) -> EarleySet:
        new = EarleySet()
        if first:
            seeds = [(r, d, new) for r, d, _ in seeds]
        lhs_of, rhs_of, nullable = self._lhs, self._rhs, self._nullable
        accept_rule = self.grammar.accept_rule
        scans, waiting = new._scans, new._waiting
        predicted: set[int] = set()
        done: set = set()  # (nonterminal, id(origin)) completions already propagated
        seen: set = set()
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
                if origin is new:
                    continue  # an empty completion: the nullable step-over already advanced its parents
                sym = -1 - lhs_of[rule]
                done_key = (sym, id(origin))
                if done_key in done:
                    continue
                done.add(done_key)
                top = self._topmost(origin, sym)
                if top is not None:
                    agenda.append(top)
                else:
                    agenda.extend((r2, d2 + 1, o2) for r2, d2, o2 in origin.waiting_for(sym))
                continue
            sym = rhs[dot]
            if sym >= 0:
                scans.setdefault(sym, []).append(item)
                continue
            waiting.setdefault(sym, []).append(item)
            predicted.add(sym)
            if sym in nullable:
                agenda.append((rule, dot + 1, origin))
        if predicted:
            new._predicted = self._bundle(frozenset(predicted))
        if first:
            return new
        # the key's origins stay alive (and their ids unique) while the interned set is alive
        key = (
            id(new._predicted),
            new.accepting,
            frozenset((r, d, id(o)) for items in scans.values() for r, d, o in items),
            frozenset((r, d, id(o)) for items in waiting.values() for r, d, o in items),
        )
        twin = self._interned.get(key)
        if twin is not None:
            return twin
        self._interned[key] = new
        return new
