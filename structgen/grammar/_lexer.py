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
from structgen.automata._bounded_equivalence import bounded_representatives
from structgen.automata._kernels import _byte_classes_by_rows
from structgen.grammar._cfg import Terminal
from structgen.grammar._kernels import PRODUCT_TOO_LARGE, _joint_byte_classes, _lexer_product

_ids = count()
_VISITS_BEFORE_CLASSES = 6  # new states walked before a large lexer's classes are worth computing
_MIN_CLASS_STATES = 256
BLOCKED = -2  # a transition into a state only shadow terminals are alive in: the lexeme can never be taken


class LexerUnion:
    """The product DFA of ``terminal_ids``; state 0 is the start (an empty lexeme)."""

    __slots__ = (
        "id", "terminal_ids", "transitions", "accepting", "accepts", "_observation", "_loops", "_representatives",
        "_first_visits", "_by_class", "like_ref", "after_quote",
    )

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
        starts = np.array([d.start if d.n_states else DEAD for d in dfas], np.int32)
        of_byte = np.array([d.byte_classes for d in dfas], np.int32).reshape(len(dfas), 256)
        byte_class, byte_reps = _joint_byte_classes(of_byte)
        # each terminal's table by its own classes of bytes (kept on its DFA), one column per
        # joint class here: a 14,000-state string terminal is not copied 256 bytes wide
        stacked = (
            np.concatenate([np.take(d.class_table, d.byte_classes[byte_reps], axis=1) for d in dfas])
            if sizes.sum() else np.zeros((1, byte_reps.shape[0]), np.int32)
        )
        status, by_class, comps = _lexer_product(stacked, offsets, starts, real, BLOCKED, max_states)
        if status == PRODUCT_TOO_LARGE:
            raise CompileTimeoutError(
                f"the lexer for {len(ids)} terminals passed {max_states} states; "
                "the grammar's terminals overlap too much to run side by side"
            )
        accepting_all = np.concatenate([d.accepting for d in dfas]) if sizes.sum() else np.zeros(1, bool)
        # a component accepts where it is alive, real, and its DFA accepts there
        accepts_matrix = (comps >= 0) & real & accepting_all[offsets + np.maximum(comps, 0)]
        self.transitions = np.take(by_class, byte_class, axis=1)  # C order (``[:, cols]`` is not)
        self._by_class: np.ndarray | None = by_class
        # one frozenset per distinct row (most states accept nothing or one terminal); a byte more
        # than the bits need, so that a lexer of no terminals still has rows to tell apart
        packed = np.zeros((accepts_matrix.shape[0], 1 + accepts_matrix.shape[1] // 8), np.uint8)
        packed[:, : (accepts_matrix.shape[1] + 7) // 8] = np.packbits(accepts_matrix, axis=1)
        rows = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
        _, first, observation = np.unique(rows, return_index=True, return_inverse=True)
        ids_array = np.array(ids)
        sets = [frozenset(ids_array[accepts_matrix[i]].tolist()) for i in first.tolist()]
        self.accepts = [sets[j] for j in observation.tolist()]
        self.accepting = accepts_matrix.any(axis=1)
        self._observation = observation.astype(np.int32).ravel()
        self._mask_state_arrays()

    def _single(self, dfa, terminal: int) -> None:
        """One terminal: its own DFA, no product (a 1,000-character string lexeme has thousands of
        states), shared as it is where its start is state 0 (minimised DFAs are numbered so),
        else renumbered so."""
        n = dfa.n_states
        if dfa.start == 0:  # as minimised DFAs are numbered: the DFA's own (read-only) arrays
            self.transitions, self.accepting = dfa.transitions, dfa.accepting.astype(np.bool_)
        else:
            order = np.arange(n)
            order[[0, dfa.start]] = order[[dfa.start, 0]]  # new state i is old state order[i]
            new_of = np.empty(n, np.int32)
            new_of[order] = np.arange(n, dtype=np.int32)
            old = dfa.transitions[order]
            self.transitions = np.where(old >= 0, new_of[np.maximum(old, 0)], DEAD).astype(np.int32)
            self.accepting = dfa.accepting[order].astype(np.bool_)
        mine, none = frozenset({terminal}), frozenset()
        self.accepts = [mine if a else none for a in self.accepting.tolist()]
        self._observation = self.accepting.astype(np.int32)
        self._by_class = None  # derived when needed (_table_by_class)
        self._mask_state_arrays()

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    def _mask_state_arrays(self) -> None:
        """What the mask walk learns per state as it goes: which states behave as a JSON string
        body (0 unknown, 1 yes, 2 no) and, for those, the state after the closing quote; the
        classes of states that share a mask, once worth computing."""
        self.like_ref = np.zeros(self.n_states, np.int8)
        self.after_quote = np.full(self.n_states, -1, np.int32)
        self._representatives: np.ndarray | None = None
        self._first_visits = 0

    def shared_mask_state(self, state: int) -> int:
        """The state whose mask ``state`` shares (itself until ``note_first_visit`` sees enough)."""
        return state if self._representatives is None else int(self._representatives[state])

    def note_first_visit(self, depth: int) -> None:
        """Count a mask walk from a new state; a large lexer that keeps meeting new states (a long
        bounded string, one state per character) then gets its classes of states that no token
        of at most ``depth`` bytes tells apart (same bytes dead, blocked or alive, same terminals
        accepting), which share one mask. Paid for only where the walks cost more already."""
        self._first_visits += 1
        if self._first_visits == _VISITS_BEFORE_CLASSES and self.n_states >= _MIN_CLASS_STATES:
            self._representatives = bounded_representatives(self._table_by_class(), self._observation, depth)

    def _table_by_class(self) -> np.ndarray:
        """The transitions with one column per class of bytes they treat alike (a product has it
        from its construction; a single terminal's is derived once)."""
        if self._by_class is None:
            _, reps, ok = _byte_classes_by_rows(self.transitions)
            self._by_class = np.take(self.transitions, reps if ok else np.arange(256), axis=1)
        return self._by_class

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
