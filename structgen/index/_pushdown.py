"""Open JSON values of any depth on the automaton engine: holes, and the container automaton behind them.

A schema automaton keeps the values a schema leaves open (``{}``, ``additionalProperties: true``)
only a few levels deep. Below that, where a value may be a whole object or array, it has a
*hole*: an edge on ``HOLE``, a byte no UTF-8 text holds. A ``{`` or ``[`` read where the
automaton refuses it but has a hole pushes the hole's target state and enters the *container
automaton*: any JSON object or array written in the same layout, whose member values are
scalars or holes again. Closing the container (its automaton's final state) pops. The language
is the schema's exactly, at any depth, with a stack of return states instead of an automaton
that grows twofold per level.

``PushdownIndex`` is the token index of that machine: a state's mask with an empty stack
includes the tokens that run into containers (and out again); inside containers the masks are
kept per (state, the frames a token can pop).
"""

from __future__ import annotations

from functools import cache, cached_property

import numpy as np

from structgen.automata import ByteDFA
from structgen.index._kernels import _walk_pushdown
from structgen.index._skipping import vocab_tables
from structgen.index._string_reference import staying_words, string_body_exit, string_reference
from structgen.index._token_index import TokenIndex
from structgen.vocab import Vocabulary
from structgen.vocab._per_vocabulary import per_vocabulary

HOLE = 0xFE  # never a byte of UTF-8 text: stands for one whole JSON object or array
_OPEN = (ord("{"), ord("["))


@cache
def hole_dfa() -> ByteDFA:
    """The language of the one-byte string ``HOLE``."""
    transitions = np.full((2, 256), -1, np.int32)
    transitions[0, HOLE] = 1
    return ByteDFA(transitions, np.array([False, True]), 0)


class Containers:
    """The combined machine: the outer automaton's states, then the container automaton's.

    ``transitions`` (HOLE column cleared: a vocabulary may hold the byte 0xFE as a token),
    ``calls[s]`` (the state a container read from ``s`` returns to, or -1), ``opens`` (the
    container states after ``{`` and ``[``), ``final`` (a container just closed: pop).
    """

    def __init__(self, outer: ByteDFA, container: ByteDFA) -> None:
        n_outer, n_inner = outer.n_states, container.n_states
        finals = np.flatnonzero(container.accepting)
        if finals.size != 1 or (container.transitions[finals[0]] >= 0).any():
            raise ValueError("Expected a container automaton with one final state and no way out of it")
        inner = np.where(container.transitions >= 0, container.transitions + n_outer, -1).astype(np.int32)
        self.n_outer = n_outer
        self.transitions = np.ascontiguousarray(np.concatenate([outer.transitions, inner]), dtype=np.int32)
        self.calls = self.transitions[:, HOLE].copy()
        self.transitions[:, HOLE] = -1
        self.opens = np.array([inner[container.start, b] for b in _OPEN], np.int32)
        self.final = int(finals[0]) + n_outer
        own = (self.transitions[:n_outer, _OPEN] >= 0).any(axis=1)
        # a hole where the schema also reads `{` or `[` itself: those containers come from the schema
        self.shadowed = bool((own & (self.calls[:n_outer] >= 0)).any())
        same = self.transitions[n_outer:] == np.arange(n_outer, n_outer + n_inner, dtype=np.int32)[:, None]
        self.loops = np.packbits(same, axis=1, bitorder="little").view(np.uint64).reshape(n_inner, 4)
        self.outer = ByteDFA(self.transitions[:n_outer], outer.accepting, outer.start)
        self._parts = (outer, container)  # the fingerprint's, when asked
        like, after = _string_bodies(container)
        self.like_ref = like  # container states that read a JSON string body exactly as the reference
        self.after_quote = np.where(after >= 0, after + n_outer, -1).astype(np.int32)  # ... and after its quote

    @cached_property
    def fingerprint(self) -> str:
        """The combined machine's content key (the disk cache's; computed when first asked)."""
        outer, container = self._parts
        return f"{outer.fingerprint}/{container.fingerprint}"

    def liveness_dfa(self) -> ByteDFA:
        """The outer automaton with each hole read as the one byte ``{`` or ``[`` where the
        automaton does not read that byte itself: ``{}`` then goes on from the hole's target."""
        transitions = self.outer.transitions.copy()
        calls = self.calls[: self.n_outer]
        for b in _OPEN:
            free = (calls >= 0) & (transitions[:, b] < 0)
            transitions[free, b] = calls[free]
        return ByteDFA(transitions, self.outer.accepting, self.outer.start)


_BODIES: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _string_bodies(container: ByteDFA) -> tuple[np.ndarray, np.ndarray]:
    """Per container state: whether it reads a JSON string body as the reference does, and its
    state after the closing quote (else -1). Computed once per container automaton."""
    found = _BODIES.get(container.fingerprint)
    if found is None:
        like = np.zeros(container.n_states, np.bool_)
        after = np.full(container.n_states, -1, np.int32)
        for q in range(container.n_states):
            after[q] = string_body_exit(container.transitions, q)
            like[q] = after[q] >= 0
        found = _BODIES[container.fingerprint] = (like, after)
    return found


@per_vocabulary
def max_pops(vocab: Vocabulary) -> int:
    """The most closing brackets one token holds: the stack frames a token can pop."""
    return max((b.count(b"}") + b.count(b"]") for b in vocab.token_bytes if b), default=0)


class PushdownIndex(TokenIndex):
    """Token masks of an automaton with holes: per state with an empty stack (the ``TokenIndex``
    masks, tokens that enter containers included), and per (state, top frames) inside containers."""

    def __init__(self, dfa: ByteDFA, container: ByteDFA, vocab: Vocabulary, *, eager: bool = False) -> None:
        self.containers = Containers(dfa, container)
        self._stack_masks: dict[tuple, np.ndarray] = {}  # (state, top frames) -> row
        self._stack_rows: dict[bytes, np.ndarray] = {}
        self._frames_needed = max(max_pops(vocab), 1)
        self._combined_good: np.ndarray | None = None
        super().__init__(self.containers.outer, vocab, eager=eager)

    def _key_suffix(self) -> str:
        return "|holes:" + self.containers.fingerprint

    def _liveness_dfa(self) -> ByteDFA:
        return self.containers.liveness_dfa()

    def _used_bytes(self) -> np.ndarray:
        used = super()._used_bytes()
        if (self.containers.calls[: self.containers.n_outer] >= 0).any():
            used[list(_OPEN)] = True  # the liveness automaton reads a hole as `{` or `[`
        return used

    def _calls(self) -> np.ndarray:
        return self.containers.calls

    @property
    def combined_good(self) -> np.ndarray:
        """Good states of the combined machine: the outer automaton's, and every container state."""
        if self._combined_good is None:
            inner = np.ones(self.containers.transitions.shape[0] - self.containers.n_outer, bool)
            self._combined_good = np.concatenate([self.good, inner])
        return self._combined_good

    def _pushdown(self, words: np.ndarray, roots: np.ndarray, states: np.ndarray, frames: np.ndarray) -> None:
        trie, c = self.vocab.trie, self.containers
        _, _, r0, ref_state, ref_tok_ok, ref_events = string_reference(self.vocab)
        if roots.shape[0] == 1 and roots[0] == 0 and states[0] >= c.n_outer and c.like_ref[states[0] - c.n_outer]:
            # a whole mask from a string body: the tokens that stay in it are one precomputed row,
            # and only the string ends are walked on, from the state after the quote
            words |= staying_words(self.vocab)
            roots = ref_events
            states = np.full(roots.shape[0], c.after_quote[states[0] - c.n_outer], np.int32)
        tables = vocab_tables(self.vocab)
        _walk_pushdown(
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            tables.sub_end, trie.token_order, trie.max_depth, tables.below, c.transitions, self.combined_good,
            c.calls, c.opens, c.final, c.n_outer, c.loops, c.like_ref, c.after_quote,
            r0, ref_state, ref_tok_ok, ref_events, roots, states, frames, frames.shape[0], words,
        )

    def _continue(self, words: np.ndarray, nodes: np.ndarray, states: np.ndarray) -> None:
        self._pushdown(words, nodes.copy(), states.copy(), np.zeros(0, np.int32))

    def frames_key(self, state: int, stack: tuple | None) -> tuple:
        """``(state, the top frames a token can pop, bottom first)``: what a mask inside containers depends on."""
        frames = []
        while stack is not None and len(frames) < self._frames_needed:
            frames.append(stack[0])
            stack = stack[1]
        return (state, tuple(reversed(frames)))

    def stack_mask(self, state: int, stack: tuple) -> np.ndarray:
        """The int32 bitmask row of ``state`` inside containers (``stack``: linked ``(frame, rest)``)."""
        key = self.frames_key(state, stack)
        row = self._stack_masks.get(key)
        if row is None:
            words = np.zeros(self.vocab.n_words, np.uint32)
            self._pushdown(words, np.zeros(1, np.int32), np.array([state], np.int32), np.array(key[1], np.int32))
            row = words.view(np.int32)
            with self._lock:  # equal rows stored once (many stacks share a mask)
                row = self._stack_rows.setdefault(row.tobytes(), row)
                self._stack_masks[key] = row
        return row
