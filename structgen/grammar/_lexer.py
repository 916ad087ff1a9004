"""The contextual lexer: one DFA for the terminals a parse state can take next.

A ``LexerUnion`` runs the DFAs of a set of terminals side by side (their product), so one state
tells which terminals are still alive and which accept. The lexer is greedy: a lexeme goes on
while any allowed terminal can extend it and ends at the first byte none can take (maximal munch,
as lark's lexers do); the accepting terminals of its last state are the lexeme's candidates.

*Shadow* terminals (a grammar's identifier terminal, say) always take part in the longest match
but are never candidates: a lexeme that only a shadow can go on with is refused (``BLOCKED``).
This is how a conventional lexer reads ``increases`` as one word even where only the keyword ``in``
may come next, instead of ``in`` + ``creases``.
"""

from __future__ import annotations

from itertools import count

import numpy as np

from structgen._errors import CompileTimeoutError
from structgen.automata import DEAD
from structgen.grammar._cfg import Terminal
from structgen.grammar._kernels import PRODUCT_TOO_LARGE, _lexer_product

_ids = count()
BLOCKED = -2  # a transition into a state only shadow terminals are alive in: the lexeme can never be taken


class LexerUnion:
    """The product DFA of ``terminal_ids``; state 0 is the start (an empty lexeme)."""

    __slots__ = ("id", "terminal_ids", "transitions", "accepting", "accepts", "_loops", "like_ref", "after_quote")

    def __init__(
        self,
        terminals: list[Terminal],
        terminal_ids: frozenset[int],
        max_states: int,
        shadow: frozenset[int] = frozenset(),
    ) -> None:
        self.id = next(_ids)
        self.terminal_ids = terminal_ids
        ids = sorted(terminal_ids | shadow)
        if len(ids) == 1 and ids[0] in terminal_ids:
            self._single(terminals[ids[0]].dfa, ids[0])
            return
        real = np.array([t not in shadow or t in terminal_ids for t in ids], dtype=np.bool_)
        dfas = [terminals[t].dfa for t in ids]
        sizes = np.array([d.n_states for d in dfas], np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        stacked = np.concatenate([d.transitions for d in dfas]) if sizes.sum() else np.zeros((1, 256), np.int32)
        starts = np.array([d.start if d.n_states else DEAD for d in dfas], np.int32)
        status, transitions, comps = _lexer_product(stacked, offsets, starts, real, BLOCKED, max_states)
        if status == PRODUCT_TOO_LARGE:
            raise CompileTimeoutError(
                f"the lexer for {len(ids)} terminals passed {max_states} states; "
                "the grammar's terminals overlap too much to run side by side"
            )
        accepting_all = np.concatenate([d.accepting for d in dfas]) if sizes.sum() else np.zeros(1, bool)
        # a component accepts where it is alive, real, and its DFA accepts there
        accepts_matrix = (comps >= 0) & real & accepting_all[offsets + np.maximum(comps, 0)]
        ids_array = np.array(ids)
        self.transitions = np.ascontiguousarray(transitions)
        self.accepts = [frozenset(ids_array[row].tolist()) for row in accepts_matrix]
        self.accepting = accepts_matrix.any(axis=1)
        self._reference_arrays()

    def _single(self, dfa, terminal: int) -> None:
        """One terminal: its own DFA, renumbered so the start is state 0 (a 1,000-character string
        lexeme has thousands of states; the product loop would visit each byte of each)."""
        n = dfa.n_states
        order = np.arange(n)
        order[[0, dfa.start]] = order[[dfa.start, 0]]  # new state i is old state order[i]
        new_of = np.empty(n, np.int32)
        new_of[order] = np.arange(n, dtype=np.int32)
        old = dfa.transitions[order]
        self.transitions = np.where(old >= 0, new_of[np.maximum(old, 0)], DEAD).astype(np.int32)
        self.accepting = dfa.accepting[order].astype(np.bool_)
        mine, none = frozenset({terminal}), frozenset()
        self.accepts = [mine if a else none for a in self.accepting.tolist()]
        self._reference_arrays()

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    def _reference_arrays(self) -> None:
        """Scratch the mask walk fills in: which states behave as a JSON string body (0 unknown,
        1 yes, 2 no) and, for those, the state after the closing quote."""
        self.like_ref = np.zeros(self.n_states, np.int8)
        self.after_quote = np.full(self.n_states, -1, np.int32)

    @property
    def loops(self) -> np.ndarray:
        """``loops[s]``: the bytes that lead state ``s`` back to itself (4 words of 64 bits)."""
        try:
            return self._loops
        except AttributeError:
            n = self.n_states
            same = self.transitions == np.arange(n, dtype=np.int32)[:, None]
            self._loops = np.packbits(same, axis=1, bitorder="little").view(np.uint64).reshape(n, 4)
            return self._loops
