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
            columns = np.ascontiguousarray(block.T)
            for b in np.flatnonzero((block >= 0).any(axis=0)).tolist():
                col = columns[b]
                if not (col[real] >= 0).any():
                    row[b] = BLOCKED
                    continue
                key = col.tobytes()
                target = index.get(key)
                if target is None:
                    target = index[key] = len(states)
                    states.append(col.copy())
                    if len(states) > max_states:
                        raise CompileTimeoutError(
                            f"the lexer for {k} terminals passed {max_states} states; "
                            "the grammar's terminals overlap too much to run side by side"
                        )
                row[b] = target
            rows.append(row)
            i += 1
        self.transitions = np.stack(rows) if rows else np.zeros((0, 256), np.int32)
        self.accepts = accepts
        self.accepting = np.array([bool(a) for a in accepts], dtype=np.bool_)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])
