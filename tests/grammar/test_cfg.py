"""prepare's analyses: productive and nullable nonterminals equal the naive fixed point."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from structgen.grammar._cfg import _derivable, nonterminal


def _naive(rules, terminals):
    found, changed = set(), True
    while changed:
        changed = False
        for lhs, rhs in rules:
            sym = nonterminal(lhs)
            if sym not in found and all(s in found if s < 0 else s in terminals for s in rhs):
                found.add(sym)
                changed = True
    return found


symbols = st.integers(min_value=-6, max_value=3)  # nonterminals -1..-6 (0..5), terminals 0..3
rules = st.lists(st.tuples(st.integers(0, 5), st.lists(symbols, max_size=4).map(tuple)), max_size=14)


@settings(max_examples=300, deadline=None)
@given(rules, st.sets(st.integers(0, 3)))
def test_derivable_nonterminals_equal_the_naive_fixed_point(rules, terminals):
    assert _derivable(rules, terminals) == _naive(rules, terminals)
    assert _derivable(rules, set()) == _naive(rules, set())  # nullable: no terminal counts
