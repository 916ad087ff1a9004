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

_ids = count()
BLOCKED = -2  # a transition into a state only shadow terminals are alive in: the lexeme can never be taken


class LexerUnion:
    """The product DFA of ``terminal_ids``; state 0 is the start (an empty lexeme)."""

    __slots__ = ("id", "terminal_ids", "transitions", "accepting", "accepts")

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
        k = len(ids)
        tables = [d.transitions for d in dfas]
        start = np.array([d.start for d in dfas], np.int32)
        index: dict[bytes, int] = {start.tobytes(): 0}
        states = [start]
        rows: list[np.ndarray] = []
        accepts: list[frozenset[int]] = []
        block = np.empty((k, 256), np.int32)
        i = 0
        while i < len(states):
            comps = states[i]
            for j in range(k):
                q = comps[j]
                block[j] = tables[j][q] if q >= 0 else DEAD
            accepts.append(
                frozenset(ids[j] for j in range(k) if real[j] and comps[j] >= 0 and dfas[j].accepting[comps[j]])
            )
            row = np.full(256, DEAD, np.int32)
            alive = (block >= 0).any(axis=0)
            taken = (block[real] >= 0).any(axis=0)
            row[alive & ~taken] = BLOCKED
            taken_bytes = np.flatnonzero(taken)
            if taken_bytes.size:
                # one dict lookup per distinct successor, not per byte
                distinct, where = np.unique(block.T[taken_bytes], axis=0, return_inverse=True)
                targets = np.empty(len(distinct), np.int32)
                for u, col in enumerate(distinct):
                    key = col.tobytes()
                    target = index.get(key)
                    if target is None:
                        target = index[key] = len(states)
                        states.append(np.ascontiguousarray(col))
                        if len(states) > max_states:
                            raise CompileTimeoutError(
                                f"the lexer for {k} terminals passed {max_states} states; "
                                "the grammar's terminals overlap too much to run side by side"
                            )
                    targets[u] = target
                row[taken_bytes] = targets[where.reshape(-1)]
            rows.append(row)
            i += 1
        self.transitions = np.stack(rows) if rows else np.zeros((0, 256), np.int32)
        self.accepts = accepts
        self.accepting = np.array([bool(a) for a in accepts], dtype=np.bool_)

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

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])
