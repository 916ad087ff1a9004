"""``TokenIndex``: the token mask of every automaton state, computed once and stored deduplicated.

A state's mask is the set of tokens whose bytes lead the automaton from that state to a *good*
state (one from which some token sequence reaches acceptance), plus the EOS ids where the state
accepts. Masks are computed on first use (``lazy``, the default: time to first mask is one walk)
or all at compile time (``eager``: the index is then also written to the disk cache, and a later
process loads it instead of walking).
"""

from __future__ import annotations

import hashlib
import threading
from functools import cached_property

import numpy as np

from structgen._errors import UnsatisfiableConstraintError
from structgen.automata import ByteDFA
from structgen.index import _disk_cache
from structgen.index._kernels import (
    A_BITS,
    FINAL,
    SIM_UNKNOWN,
    _simulate,
    _states_with_good_successor,
    _walk_pushdown,
    _walk_skipping,
)
from structgen.index._skipping import NOTHING_REFUSED, reference_less, refused_bytes, vocab_tables
from structgen.index._string_kernels import _states_before_quotes, _string_like
from structgen.index._string_reference import reference_dfa, string_ends, string_reference
from structgen.vocab import Vocabulary
from structgen.vocab._per_vocabulary import per_vocabulary


def _good_states(dfa: ByteDFA, vocab: Vocabulary) -> np.ndarray:
    """States from which a token sequence of ``vocab`` reaches acceptance."""
    good = np.ones(dfa.n_states, dtype=bool)
    trie = vocab.trie
    while True:
        candidates = np.flatnonzero(good & ~dfa.accepting).astype(np.int32)
        ok = _states_with_good_successor(
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            trie.max_depth, dfa.transitions, good, candidates,
        )
        if ok.all():
            return good
        good[candidates[~ok]] = False


# Permissive states (a string body: nearly every byte keeps them going) get a budget search and
# may start their walk from the row of all tokens, clearing the refused ones (see _skipping).
_MIN_LIVE_BYTES = 24  # live bytes of a state before it counts as permissive
_ENOUGH = 32  # a budget of this many characters takes nearly every subtree a larger one takes
_DEPTH = 2 * _ENOUGH  # characters a budget search goes from its state (the next _ENOUGH get final budgets)
_MAX_PAIRS = 4096  # (state, reference state) pairs per budget search; past it budgets only shrink
_MAX_STRING_PAIRS = 4096  # (reference state, state) pairs a string-likeness check may visit


_A_MASK = (1 << A_BITS) - 1  # the reference state in a packed budget


def _budget(packed: int) -> int:
    """The budget in a packed budget (-1 for none)."""
    return int(packed) >> (A_BITS + 1) if packed >= 0 else -1


_NO_CALLS = np.zeros(0, np.int32)  # an automaton without holes (see _pushdown)


class _LazyRows(dict):
    """Rows of a transition table as Python lists, each converted when first read.

    Nothing is done per state up front: a matcher on a 30,000-state automaton reads a few dozen
    rows, and converting a whole table (~1.5 µs per state) would land in the first mask. A hit
    is a plain dict lookup.
    """

    __slots__ = ("_table",)

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self._table = table

    def __missing__(self, state: int) -> list[int]:
        row = self[state] = self._table[state].tolist()
        return row


_SCRATCH = threading.local()


def _event_scratch(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """This thread's event arrays for a walk (one event per trie node at most): allocated once,
    since a fresh megabyte per walk cost more than most walks."""
    found = getattr(_SCRATCH, "events", None)
    if found is None or found[0].shape[0] < n_nodes:
        found = _SCRATCH.events = (np.empty(n_nodes, np.int32), np.empty(n_nodes, np.int32))
    return found


def _count_and_last(words: np.ndarray) -> tuple[int, int]:
    """The tokens set in ``words``, and the last of them where there is one (else -1)."""
    count = int(np.bitwise_count(words).sum())
    if count != 1:
        return count, -1
    return 1, int(np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))[0])


@per_vocabulary
def _eos_words(vocab: Vocabulary) -> np.ndarray:
    """The bitmask words of the EOS ids alone (shared: read-only)."""
    words = np.zeros(vocab.n_words, dtype=np.uint32)
    for eos in vocab.eos_token_ids:
        words[eos >> 5] |= np.uint32(1 << (eos & 31))
    words.flags.writeable = False
    return words


class TokenIndex:
    """Per-state token masks of one byte DFA over one vocabulary."""

    def __init__(self, dfa: ByteDFA, vocab: Vocabulary, *, eager: bool = False) -> None:
        self.dfa = dfa
        self.vocab = vocab
        self._lock = threading.Lock()
        self._budgets: dict[bytes, np.ndarray] = {}  # per reference: packed budget per state (_kernels)
        self._marks: np.ndarray | None = None  # scratch of string-likeness checks (_string_like)
        self._pair_scratch: np.ndarray | None = None  # scratch space of budget searches
        n = dfa.n_states
        cached = _disk_cache.load(self.key) if _disk_cache.in_use() else None
        if cached is not None and cached["state_mask"].shape == (n,):
            self.good = cached["good"]
            self._state_mask = cached["state_mask"]
            self._masks = list(cached["masks"])
            self._counts = cached["counts"]
            self._single = cached["single"]
            self._by_bytes = {m.tobytes(): i for i, m in enumerate(self._masks)}
            return
        if n == 0:
            self.good = np.zeros(0, dtype=bool)
        elif vocab.single_byte_tokens[self._used_bytes()].all():
            # every byte the automaton reads is a token: byte-level liveness is token-level
            # liveness, and a trimmed DFA's states are all live (no table is copied or walked)
            self.good = np.ones(n, dtype=bool)
        else:
            self.good = _good_states(self._liveness_dfa(), vocab)
        if n == 0 or not self.good[dfa.start]:
            raise UnsatisfiableConstraintError(
                "no token sequence of this vocabulary spells a string of the constraint's language"
                + (" (the language is empty)" if n == 0 else "")
            )
        self._state_mask = np.full(n, -1, dtype=np.int32)
        self._counts = np.zeros(n, dtype=np.int64)  # allowed tokens per state, EOS included
        self._single = np.full(n, -1, dtype=np.int64)  # the only allowed token, where count == 1
        self._masks: list[np.ndarray] = []
        self._by_bytes: dict[bytes, int] = {}
        if eager:
            self.complete()
        else:
            self.mask(dfa.start)

    @cached_property
    def key(self) -> str:
        """The index's name in the disk cache: what decides its masks (content, not identity)."""
        key = f"{self.dfa.fingerprint}|{self.vocab.fingerprint}{self._key_suffix()}"
        return hashlib.sha256(key.encode()).hexdigest()[:40]

    def _key_suffix(self) -> str:
        """What besides the automaton and vocabulary decides the masks (for the disk cache key)."""
        return ""

    def _liveness_dfa(self) -> ByteDFA:
        """The automaton whose token-level liveness decides the good states."""
        return self.dfa

    def _used_bytes(self) -> np.ndarray:
        """Which bytes ``_liveness_dfa`` reads somewhere (256 flags)."""
        return self.dfa.transitions.max(axis=0) >= 0

    @property
    def n_masks(self) -> int:
        """Distinct masks computed so far."""
        return len(self._masks)

    @property
    def is_complete(self) -> bool:
        return bool((self._state_mask[self.good] >= 0).all())

    @cached_property
    def transition_rows(self) -> _LazyRows:
        """The DFA's transitions as Python lists (the fastest form for walking a few bytes), by row on first use."""
        return _LazyRows(self.dfa.transitions)

    @cached_property
    def eos_row(self) -> np.ndarray:
        """The bitmask row allowing only the EOS ids (what a finished sequence may emit)."""
        return _eos_words(self.vocab).view(np.int32)

    def mask(self, state: int) -> np.ndarray:
        """The int32 bitmask row of ``state`` (shared: do not modify)."""
        i = self._state_mask[state]
        if i < 0:
            i = self._compute(state)
        return self._masks[i]

    def count(self, state: int) -> int:
        if self._state_mask[state] < 0:
            self._compute(state)
        return int(self._counts[state])

    def single_token(self, state: int) -> int:
        """The only token allowed from ``state``, or -1."""
        if self._state_mask[state] < 0:
            self._compute(state)
        return int(self._single[state])

    def complete(self) -> None:
        """Compute every remaining good state's mask, then write the index to the disk cache."""
        for state in np.flatnonzero(self.good & (self._state_mask < 0)):
            self._compute(int(state))
        _disk_cache.save(
            self.key,
            {
                "good": self.good,
                "state_mask": self._state_mask,
                "masks": np.stack(self._masks),
                "counts": self._counts,
                "single": self._single,
            },
        )

    def _budgets_of(self, refused: bytes, state: int, search: bool) -> np.ndarray:
        """The packed budgets per state against ``UTF8_TEXT`` less ``refused``; with ``search``,
        ``state``'s made final."""
        with self._lock:  # searches write the shared arrays; walks only read single words
            budgets = self._budgets.get(refused)
            if budgets is None:
                budgets = self._budgets[refused] = np.full(self.dfa.n_states, SIM_UNKNOWN, np.int32)
            v = int(budgets[state])
            if search and (v == SIM_UNKNOWN or (v >= 0 and not v & FINAL)):
                if self._pair_scratch is None:
                    self._pair_scratch = np.full(self.dfa.n_states, -1, np.int32)
                ref = reference_less(refused)
                _simulate(
                    self.dfa.transitions, self.good, state, ref.table, ref.weight, ref.byte_list,
                    ref.n_bytes, _DEPTH, _ENOUGH, _MAX_PAIRS, self._pair_scratch, budgets,
                )
        return budgets

    def _walk(self, state: int) -> tuple[np.ndarray, int, int]:
        """``(words, count, last token)`` of ``state``'s walk (EOS not included)."""
        trie, dfa = self.vocab.trie, self.dfa
        tables = vocab_tables(self.vocab)
        refused = NOTHING_REFUSED
        permissive = np.count_nonzero(dfa.transitions[state] >= 0) >= _MIN_LIVE_BYTES
        if permissive:
            ref, r0 = reference_dfa()
            with self._lock:  # the marks are shared scratch
                if self._marks is None:
                    self._marks = np.zeros(dfa.n_states, np.uint32)
                string_like = _string_like(dfa.transitions, self.good, state, ref, r0, int(ref[r0, ord('"')]),
                                           _MAX_STRING_PAIRS, self._marks)
            if string_like:
                # inside a JSON string (a free one, or a key of given names or any other): the tokens
                # that stay in it are one precomputed row; only the closing quotes are walked on,
                # each from the state its path leads to
                inside, quote_nodes, parents = string_ends(self.vocab)
                before = np.empty(quote_nodes.shape[0], np.int32)
                _states_before_quotes(dfa.transitions, state, quote_nodes, parents, trie.node_byte,
                                      trie.node_depth, before)
                words = inside.copy()
                live = before >= 0
                self._continue(words, quote_nodes[live], before[live])
                return words, *_count_and_last(words)
        budgets = self._budgets_of(refused, state, permissive)
        packed = int(budgets[state])
        if permissive and _budget(packed) < _ENOUGH and (packed < 0 or not packed & _A_MASK):
            # the state may refuse part of UTF8_TEXT: try the reference less what it refuses
            derived = refused_bytes(dfa.transitions, self.good, state)
            if derived is not None and derived != NOTHING_REFUSED:
                derived_budgets = self._budgets_of(derived, state, True)
                if _budget(derived_budgets[state]) > _budget(packed):
                    refused, budgets, packed = derived, derived_budgets, int(derived_budgets[state])
        complement = permissive and tables.most_allowed(packed, refused)
        words = tables.all_words.copy() if complement else np.zeros(self.vocab.n_words, dtype=np.uint32)
        ev_node, ev_state = _event_scratch(trie.n_nodes)
        count, last, n_events = _walk_skipping(
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            tables.sub_end, trie.token_order, trie.max_depth, dfa.transitions, self.good, state,
            budgets, tables.lim, tables.below, np.frombuffer(refused, np.uint64), words, complement,
            self._calls(), ev_node, ev_state,
        )
        if n_events:
            self._continue(words, ev_node[:n_events], ev_state[:n_events])
            return words, *_count_and_last(words)
        if complement and count == 1:
            last = _count_and_last(words)[1]
        return words, int(count), int(last)

    def _calls(self) -> np.ndarray:
        """Per state, where a container read from it returns to: none here (see ``PushdownIndex``)."""
        return _NO_CALLS

    def _continue(self, words: np.ndarray, nodes: np.ndarray, states: np.ndarray) -> None:
        """Add the tokens below ``nodes``, each entered by reading its byte from ``states``."""
        trie, tables, dfa = self.vocab.trie, vocab_tables(self.vocab), self.dfa
        _, _, r0, ref_state, ref_tok_ok, ref_events = string_reference(self.vocab)
        n = dfa.n_states
        _walk_pushdown(  # an automaton without holes: no calls, no container states
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            tables.sub_end, trie.token_order, trie.max_depth, tables.below, dfa.transitions, self.good,
            np.full(n, -1, np.int32), np.full(2, -1, np.int32), -1, n, np.zeros((0, 4), np.uint64),
            np.zeros(0, np.bool_), np.zeros(0, np.int32), r0, ref_state, ref_tok_ok, ref_events,
            nodes, states, np.zeros(0, np.int32), 0, words,
        )

    def _compute(self, state: int) -> int:
        words, count, last = self._walk(state)
        if self.dfa.accepting[state] and self.vocab.eos_token_ids:
            words |= _eos_words(self.vocab)
            count += len(self.vocab.eos_token_ids)
            last = self.vocab.eos_token_ids[-1]
        row = words.view(np.int32)
        key = row.tobytes()
        with self._lock:
            i = self._by_bytes.get(key)
            if i is None:
                i = len(self._masks)
                self._masks.append(row)
                self._by_bytes[key] = i
            self._counts[state] = count
            self._single[state] = last if count == 1 else -1
            self._state_mask[state] = i
        return i
