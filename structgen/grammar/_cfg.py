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
    productive: set[int] = set()  # nonterminal symbols
    changed = True
    while changed:
        changed = False
        for lhs, rhs in grammar.rules:
            sym = nonterminal(lhs)
            if sym not in productive and all(s in productive if s < 0 else s in productive_t for s in rhs):
                productive.add(sym)
                changed = True
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
    nullable: set[int] = set()
    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            sym = nonterminal(lhs)
            if sym not in nullable and all(s < 0 and s in nullable for s in rhs):
                nullable.add(sym)
                changed = True
    grammar.nullable = frozenset(nullable)
    return grammar


def undefined_rule_error(name: str, where: str, source: str) -> GrammarError:
    return GrammarError(f"{source}: rule {name!r} is used {where} but never defined")
