"""The contextual lexer: its product automaton against stepping every terminal DFA side by side."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from structgen.automata import regex_to_dfa
from structgen.grammar._cfg import Terminal
from structgen.grammar._kernels import _joint_byte_classes
from structgen.grammar._lexer import BLOCKED, LexerUnion

PATTERNS = ["a", "ab", "abc", "b+", "[a-c]*d", "ba?", "c[ab]", "(ab)+", "[^a]x", "zz"]


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(0, 3), min_size=256, max_size=256), min_size=0, max_size=4))
def test_joint_byte_classes_group_exactly_the_bytes_every_row_groups(rows):
    of_byte = np.array(rows, np.int32).reshape(len(rows), 256)
    cls, reps = _joint_byte_classes(of_byte)
    for b in range(0, 256, 7):
        for c in range(256):
            assert (cls[b] == cls[c]) == all(row[b] == row[c] for row in rows)
    assert [cls[r] for r in reps] == list(range(len(reps)))


@settings(max_examples=60, deadline=None)
@given(
    chosen=st.sets(st.integers(0, len(PATTERNS) - 1), min_size=1, max_size=6),
    shadow=st.sets(st.integers(0, len(PATTERNS) - 1), max_size=2),
    words=st.lists(st.text("abcdxz", max_size=5), min_size=1, max_size=12),
)
def test_lexer_product_steps_as_the_terminals_run_side_by_side(chosen, shadow, words):
    terminals = [Terminal(f"T{i}", regex_to_dfa(p), p) for i, p in enumerate(PATTERNS)]
    allowed = frozenset(chosen)
    shadow = frozenset(shadow)
    lexer = LexerUnion(terminals, allowed, 1000, shadow)
    for word in words:
        alive = {t: terminals[t].dfa.start for t in allowed | shadow}
        s = 0
        for b in word.encode():
            alive = {t: int(terminals[t].dfa.transitions[q, b]) for t, q in alive.items()}
            alive = {t: q for t, q in alive.items() if q >= 0}
            nxt = int(lexer.transitions[s, b])
            if not alive:
                assert nxt == -1
                break
            if not set(alive) & allowed:
                assert nxt == BLOCKED
                break
            assert nxt >= 0
            s = nxt
            accepting = {t for t, q in alive.items() if t in allowed and terminals[t].dfa.accepting[q]}
            assert lexer.accepts[s] == accepting
            assert bool(lexer.accepting[s]) == bool(accepting)
