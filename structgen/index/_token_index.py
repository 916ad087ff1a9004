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
from collections import OrderedDict
from functools import cached_property

import numpy as np

from structgen._errors import UnsatisfiableConstraintError
from structgen.automata import ByteDFA
from structgen.index import _disk_cache
from structgen.index._kernels import (
    _region_of,
    _states_with_good_successor,
    _walk_frontier,
    _walk_region,
    _walk_state_mask,
)
from structgen.vocab import Vocabulary


def _good_states(dfa: ByteDFA, vocab: Vocabulary) -> np.ndarray:
    """States from which a token sequence of ``vocab`` reaches acceptance."""
    good = np.ones(dfa.n_states, dtype=bool)
    used_bytes = np.flatnonzero((dfa.transitions != -1).any(axis=0))
    if vocab.single_byte_tokens[used_bytes].all():
        return good  # every byte is a token: byte-level liveness is token-level liveness
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


# Region masks. A permissive state (a string body: ~all tokens allowed) costs a full trie walk.
# Its mask splits into the tokens that stay inside its region (the rest of the string body: the
# states it reaches without crossing a quote) and those that leave it. The first part depends only on
# the region's shape, which is the same in every schema: it is walked once per vocabulary and
# kept, with the trie nodes where walks leave the region (the frontier). A state then costs a
# copy of that part plus walks of the frontier subtrees from its own exits.
_FENCE = 0x22  # the quote: JSON strings are left only through it
_MIN_LIVE_BYTES = 64  # live bytes of a state before its mask goes through its region (a permissive state)
_MAX_REGION = 256  # states; a larger region is walked directly
_MAX_REGIONS = 256
_REGIONS: OrderedDict[str, tuple[np.ndarray, int, np.ndarray, np.ndarray]] = OrderedDict()
_REGIONS_LOCK = threading.Lock()


def clear_region_cache() -> None:
    """Forget the per-vocabulary region masks (the next permissive state is walked in full)."""
    with _REGIONS_LOCK:
        _REGIONS.clear()


def _region_part(
    table: np.ndarray, good: np.ndarray, vocab: Vocabulary
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """``(words, count, frontier nodes, frontier canonical states)`` of a canonical region table."""
    h = hashlib.sha256(table.tobytes())
    h.update(np.packbits(good).tobytes())
    h.update(vocab.fingerprint.encode())
    key = h.hexdigest()[:40]
    with _REGIONS_LOCK:
        entry = _REGIONS.get(key)
        if entry is not None:
            _REGIONS.move_to_end(key)
            return entry
    trie = vocab.trie
    words = np.zeros(vocab.n_words, dtype=np.uint32)
    count, f_nodes, f_states = _walk_region(
        trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
        trie.token_order, trie.max_depth, table, good, words,
    )
    entry = (words, int(count), f_nodes, f_states)
    with _REGIONS_LOCK:
        _REGIONS[key] = entry
        while len(_REGIONS) > _MAX_REGIONS:
            _REGIONS.popitem(last=False)
    return entry


_EAGER_ROWS = 2048  # automata up to this many states get all their rows as lists at once


class _LazyRows:
    """Rows of a transition table as Python lists, each converted when first read."""

    __slots__ = ("_table", "_rows")

    def __init__(self, table: np.ndarray) -> None:
        self._table = table
        self._rows: list[list[int] | None] = [None] * table.shape[0]

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, state: int) -> list[int]:
        row = self._rows[state]
        if row is None:
            row = self._rows[state] = self._table[state].tolist()
        return row


def _eos_words(vocab: Vocabulary) -> np.ndarray:
    words = np.zeros(vocab.n_words, dtype=np.uint32)
    for eos in vocab.eos_token_ids:
        words[eos >> 5] |= np.uint32(1 << (eos & 31))
    return words


class TokenIndex:
    """Per-state token masks of one byte DFA over one vocabulary."""

    def __init__(self, dfa: ByteDFA, vocab: Vocabulary, *, eager: bool = False) -> None:
        self.dfa = dfa
        self.vocab = vocab
        self.key = hashlib.sha256(f"{dfa.fingerprint}|{vocab.fingerprint}".encode()).hexdigest()[:40]
        self._lock = threading.Lock()
        self._scratch: np.ndarray | None = None  # per-state scratch space of region searches
        n = dfa.n_states
        cached = _disk_cache.load(self.key)
        if cached is not None and cached["state_mask"].shape == (n,):
            self.good = cached["good"]
            self._state_mask = cached["state_mask"]
            self._masks = list(cached["masks"])
            self._counts = cached["counts"]
            self._single = cached["single"]
            self._by_bytes = {m.tobytes(): i for i, m in enumerate(self._masks)}
            return
        self.good = _good_states(dfa, vocab) if n else np.zeros(0, dtype=bool)
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

    @property
    def n_masks(self) -> int:
        """Distinct masks computed so far."""
        return len(self._masks)

    @property
    def is_complete(self) -> bool:
        return bool((self._state_mask[self.good] >= 0).all())

    @cached_property
    def transition_rows(self) -> list[list[int]] | _LazyRows:
        """The DFA's transitions as Python lists: the fastest form for walking a few bytes.

        A large automaton's rows are converted on first use: converting all of them at once
        costs ~10 ms per 5,000 states, paid by the first matcher (time to first mask).
        """
        if self.dfa.n_states <= _EAGER_ROWS:
            return self.dfa.transitions.tolist()
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

    def _region_mask(self, state: int) -> tuple[np.ndarray | None, int]:
        """The token bits of ``state`` through its region, or ``(None, 0)`` when it has none."""
        with self._lock:  # the scratch array is shared by this index's walks
            if self._scratch is None:
                self._scratch = np.full(self.dfa.n_states, -1, np.int32)
            table, real = _region_of(self.dfa.transitions, state, _FENCE, _MAX_REGION, self._scratch)
        if not real.size:
            return None, 0
        inner, count, f_nodes, f_states = _region_part(table, self.good[real], self.vocab)
        words = inner.copy()
        trie = self.vocab.trie
        count += _walk_frontier(
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            trie.token_order, trie.max_depth, self.dfa.transitions, self.good, f_nodes, real[f_states], words,
        )
        return words, count

    def _compute(self, state: int) -> int:
        trie = self.vocab.trie
        words = None
        if np.count_nonzero(self.dfa.transitions[state] >= 0) >= _MIN_LIVE_BYTES:
            words, count = self._region_mask(state)
            last = -1
            if count == 1:
                last = int(np.flatnonzero(np.unpackbits(words.view(np.uint8), bitorder="little"))[0])
        if words is None:
            words = np.zeros(self.vocab.n_words, dtype=np.uint32)
            count, last = _walk_state_mask(
                trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
                trie.token_order, trie.max_depth, self.dfa.transitions, self.good, state, words,
            )
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
