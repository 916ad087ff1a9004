"""The grammar IR both front ends (Lark, GBNF) produce: terminals as byte DFAs, rules over symbols.

A symbol is an ``int``: a terminal id ``t >= 0`` or a nonterminal ``-1 - n``. ``prepare`` checks
the grammar (start exists, language not empty), drops useless rules and adds the analyses the
parser needs (nullable nonterminals, rules per nonterminal, an augmented start rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from structgen._errors import GrammarError, UnsatisfiableConstraintError
from structgen.automata import ByteDFA


def nonterminal(n: int) -> int:
    return -1 - n


@dataclass(frozen=True)
class Terminal:
    name: str
    dfa: ByteDFA
    pattern: str  # the regex it came from, for messages


@dataclass
class Grammar:
    terminals: list[Terminal]
    nonterminals: list[str]
    rules: list[tuple[int, tuple[int, ...]]]  # (lhs nonterminal index, rhs symbols)
    start: int  # nonterminal index
    ignore: frozenset[int] = frozenset()
    shadow: frozenset[int] = frozenset()  # always in the longest match, candidates only where allowed
    # filled by prepare():
    rules_of: list[list[int]] = field(default_factory=list)
    nullable: frozenset[int] = frozenset()  # nonterminal symbols (negative ints)
    accept_rule: int = -1  # index of the augmented rule  S' -> start

    def symbol_name(self, sym: int) -> str:
        return self.terminals[sym].name if sym >= 0 else self.nonterminals[-1 - sym]


def prepare(grammar: Grammar, source: str) -> Grammar:
    """Check and analyse ``grammar`` in place; returns it."""
    nts = grammar.nonterminals
    productive_t = {t for t, term in enumerate(grammar.terminals) if term.dfa.n_states > 0}
    productive = _derivable(grammar.rules, productive_t)  # nonterminal symbols
    if nonterminal(grammar.start) not in productive:
        raise UnsatisfiableConstraintError(
            f"{source}: the start rule {nts[grammar.start]!r} derives no finite string (empty language)"
        )
    rules = [
        (lhs, rhs)
        for lhs, rhs in grammar.rules
        if nonterminal(lhs) in productive and all(s in productive if s < 0 else s in productive_t for s in rhs)
    ]
    accept_nt = len(nts)
    grammar.nonterminals = [*nts, "<accept>"]
    rules.append((accept_nt, (nonterminal(grammar.start),)))
    grammar.rules = rules
    grammar.accept_rule = len(rules) - 1
    grammar.rules_of = [[] for _ in grammar.nonterminals]
    for r, (lhs, _) in enumerate(rules):
        grammar.rules_of[lhs].append(r)
    grammar.nullable = frozenset(_derivable(rules, set()))
    return grammar


def _derivable(rules: list[tuple[int, tuple[int, ...]]], terminals: set[int]) -> set[int]:
    """The nonterminal symbols with a rule whose every symbol is one of ``terminals`` or such a
    nonterminal (least fixed point). A worklist: each rule waits on a count of its nonterminal
    symbols, so the work is linear in the grammar's size, not in its depth times its size."""
    waiting = [0] * len(rules)
    users: dict[int, list[int]] = {}
    ready = []
    for r, (_, rhs) in enumerate(rules):
        if any(s >= 0 and s not in terminals for s in rhs):
            waiting[r] = -1  # never satisfied
            continue
        for s in rhs:
            if s < 0:
                waiting[r] += 1
                users.setdefault(s, []).append(r)
        if not waiting[r]:
            ready.append(r)
    found: set[int] = set()
    while ready:
        sym = nonterminal(rules[ready.pop()][0])
        if sym in found:
            continue
        found.add(sym)
        for r in users.get(sym, ()):
            waiting[r] -= 1
            if not waiting[r]:
                ready.append(r)
    return found


def undefined_rule_error(name: str, where: str, source: str) -> GrammarError:
    return GrammarError(f"{source}: rule {name!r} is used {where} but never defined")
