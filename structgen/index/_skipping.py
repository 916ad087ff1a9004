"""Subtree skipping: the reference automaton and per-vocabulary tables of ``_walk_skipping``.

A permissive state (a JSON string body: nearly every byte keeps it going) would cost a walk of
nearly the whole trie. Instead the walk takes a subtree in one step where every token below is
known to be allowed, by a few comparisons at the node (see ``_kernels``):

- the *reference automaton* ``UTF8_TEXT`` reads the text such states read: well-formed UTF-8
  without control bytes, DEL, quote, backslash, U+2028 or U+2029 (a JSON string body, regex
  ``.`` in one). A state that refuses part of it (a pattern, a format) gets ``UTF8_TEXT`` less the
  set ``X`` of first bytes of the characters it refuses (``refused_bytes``);
- per vocabulary, each trie node has the most characters a suffix below it starts from each
  state of ``UTF8_TEXT`` (``NO_LIMIT`` if one leaves it), and the set of bytes below it;
- per automaton and ``X``, each state has a budget: every string of the reference of at most
  that many characters keeps it in good states (``TokenIndex`` computes them with ``_simulate``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from structgen.index._kernels import (
    A_BITS,
    _node_limits,
    _refused_bytes,
    _subtree_bytes,
    _tokens_by_chars,
)
from structgen.vocab import Vocabulary
from structgen.vocab._per_vocabulary import per_vocabulary


class Reference:
    """A reference automaton: ``table[a, b]`` (next state or -1), ``weight[a]`` (1 where a byte
    read from ``a`` starts a character); at most 16 states (packed in 4 bits), state 0 the start."""

    __slots__ = ("table", "weight", "byte_list", "n_bytes")

    def __init__(self, table: np.ndarray, weight: np.ndarray) -> None:
        assert table.ndim == 2 and table.shape[1] == 256 and 1 <= table.shape[0] <= 1 << A_BITS
        self.table = np.ascontiguousarray(table, dtype=np.int8)
        self.weight = np.ascontiguousarray(weight, dtype=np.int32)
        self.n_bytes = (self.table >= 0).sum(axis=1).astype(np.int32)  # the bytes each state reads,
        self.byte_list = np.zeros(self.table.shape, np.int32)  # listed in byte order
        for a in range(self.table.shape[0]):
            self.byte_list[a, : self.n_bytes[a]] = np.flatnonzero(self.table[a] >= 0)

    @property
    def n_states(self) -> int:
        return int(self.table.shape[0])


def _utf8_text() -> Reference:
    boundary, need1, need2, need3, after_e0, after_ed, after_f0, after_f4, after_e2, after_e2_80 = range(10)
    table = np.full((10, 256), -1, np.int8)
    table[boundary, 0x20:0x7F] = boundary
    table[boundary, [0x22, 0x5C]] = -1
    table[boundary, 0xC2:0xE0] = need1
    table[boundary, 0xE0] = after_e0
    table[boundary, 0xE1:0xF0] = need2
    table[boundary, 0xE2] = after_e2
    table[boundary, 0xED] = after_ed
    table[boundary, 0xF0] = after_f0
    table[boundary, 0xF1:0xF4] = need3
    table[boundary, 0xF4] = after_f4
    table[need1, 0x80:0xC0] = boundary
    table[need2, 0x80:0xC0] = need1
    table[need3, 0x80:0xC0] = need2
    table[after_e0, 0xA0:0xC0] = need1
    table[after_ed, 0x80:0xA0] = need1
    table[after_f0, 0x90:0xC0] = need2
    table[after_f4, 0x80:0x90] = need2
    table[after_e2, 0x80] = after_e2_80
    table[after_e2, 0x81:0xC0] = need1
    table[after_e2_80, 0x80:0xC0] = boundary
    table[after_e2_80, [0xA8, 0xA9]] = -1  # U+2028, U+2029: regex `.` refuses them
    weight = np.zeros(10, np.int32)
    weight[boundary] = 1
    return Reference(table, weight)


UTF8_TEXT = _utf8_text()
_FIRST = np.flatnonzero(UTF8_TEXT.table[0] >= 0)  # the bytes UTF8_TEXT starts a character with
NOTHING_REFUSED = bytes(32)  # X empty: UTF8_TEXT itself
MIN_KEPT = 8  # first bytes a derived reference keeps (fewer: too little to skip)


def refused_bytes(transitions: np.ndarray, good: np.ndarray, state: int) -> bytes | None:
    """``X`` (32 bytes, a 256-bit set) for a permissive state: the first bytes of the characters
    of ``UTF8_TEXT`` that do not all lead the state, through good states, to its most common good
    successor ``T`` (its loop where it loops, its next state where it counts). ``NOTHING_REFUSED``
    where the state takes every first byte of ``UTF8_TEXT`` (its budget there is its own: a
    counter's); ``None`` where fewer than ``MIN_KEPT`` first bytes would be kept."""
    row = transitions[state]
    first = row[_FIRST]
    live = first >= 0
    live[live] = good[first[live]]
    if live.all():
        return NOTHING_REFUSED
    if np.count_nonzero(live) < MIN_KEPT:
        return None
    ascii = first[live & (_FIRST < 0x80)]
    if not ascii.size:
        return None
    target = int(np.bincount(ascii).argmax())
    refused = _refused_bytes(transitions, good, state, target, UTF8_TEXT.table)
    if _FIRST.size - sum(int(w).bit_count() for w in refused) < MIN_KEPT:
        return None
    return refused.tobytes()


@lru_cache(maxsize=256)
def reference_less(refused: bytes) -> Reference:
    """``UTF8_TEXT`` less the first bytes ``refused`` (see ``refused_bytes``)."""
    if refused == NOTHING_REFUSED:
        return UTF8_TEXT
    table = UTF8_TEXT.table.copy()
    x = np.unpackbits(np.frombuffer(refused, np.uint8), bitorder="little").astype(bool)
    table[0, x] = -1
    return Reference(table, UTF8_TEXT.weight)


class VocabTables:
    """Per vocabulary: subtree token ranges, the all-tokens row, limits and bytes below nodes."""

    def __init__(self, vocab: Vocabulary) -> None:
        trie = vocab.trie
        order = trie.token_order
        n_tok = order.shape[0]
        self.n_tokens = int(n_tok)
        # the tokens of node i's subtree: token_order[node_tok_start[i]:sub_end[i]]
        self.sub_end = np.append(trie.node_tok_start, np.int32(n_tok))[trie.node_end].astype(np.int32)
        words = np.zeros(vocab.n_words, dtype=np.uint32)
        np.bitwise_or.at(words, order >> 5, np.left_shift(np.uint32(1), (order & 31).astype(np.uint32)))
        self.all_words = words  # every trie token (the start of a complement walk)
        ref = UTF8_TEXT
        lim = _node_limits(trie.node_byte, trie.node_depth, ref.table, ref.weight)
        self.lim = np.ascontiguousarray(lim.T)  # [a, i]: a walk reads one row, node after node
        self.below = _subtree_bytes(trie.node_byte, trie.node_depth)
        by_chars, by_first = _tokens_by_chars(
            trie.node_byte, trie.node_depth, trie.node_tok_start, trie.node_tok_end, ref.table, ref.weight
        )
        self.allowed_within = np.cumsum(by_chars)  # [r]: tokens of UTF8_TEXT within r characters
        self.text_by_first = by_first  # [b]: tokens of UTF8_TEXT starting with byte b

    def most_allowed(self, packed: int, refused: bytes) -> bool:
        """Would a state with this packed budget (state 0 of the reference) allow most trie tokens?
        (An estimate from the tokens of ``UTF8_TEXT`` by length and first byte.)"""
        if packed < 0 or packed & ((1 << A_BITS) - 1):
            return False
        budget = min(packed >> (A_BITS + 1), self.allowed_within.shape[0] - 1)
        allowed = int(self.allowed_within[budget])
        if refused != NOTHING_REFUSED:
            x = np.unpackbits(np.frombuffer(refused, np.uint8), bitorder="little").astype(bool)
            allowed -= int(self.text_by_first[x].sum())
        return 2 * allowed >= self.n_tokens


@per_vocabulary
def vocab_tables(vocab: Vocabulary) -> VocabTables:
    """The skipping tables of ``vocab`` (built on first use, kept while the vocabulary lives)."""
    return VocabTables(vocab)
