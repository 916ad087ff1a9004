"""The vocabulary's byte trie as flat arrays, in pre-order, for compiled walks.

Node 0 is the root (the empty string). Node ``i`` spells one byte, ``node_byte[i]``, at depth
``node_depth[i]``; its subtree is ``i .. node_end[i] - 1``, so a walk skips a dead subtree in one
step. The tokens whose bytes end exactly at node ``i`` are ``token_order[node_tok_start[i]:
node_tok_end[i]]`` (several ids can share bytes, e.g. ``A`` and ``<0x41>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np


@dataclass(frozen=True)
class ByteTrie:
    node_byte: np.ndarray  # uint8
    node_depth: np.ndarray  # int32
    node_end: np.ndarray  # int32
    node_tok_start: np.ndarray  # int32
    node_tok_end: np.ndarray  # int32
    token_order: np.ndarray  # int32: token ids sorted by their bytes
    max_depth: int

    @property
    def n_nodes(self) -> int:
        return int(self.node_byte.shape[0])

    def find(self, data: bytes) -> int:
        """The node spelling ``data``, or -1 when no usable token starts with ``data``."""
        node = 0
        for b in data:
            child, end = node + 1, self.node_end[node]
            while child < end and self.node_byte[child] != b:
                child = self.node_end[child]
            if child >= end:
                return -1
            node = child
        return node

    def has_longer_token(self, data: bytes) -> bool:
        """Does some usable token start with ``data`` and go on past it?"""
        node = self.find(data)
        return node >= 0 and self.node_end[node] > node + 1


@numba.njit(cache=True, nogil=True)
def _build_trie(flat, offsets, order):  # pragma: no cover - compiled
    total = 0
    for k in range(order.shape[0]):
        t = order[k]
        total += offsets[t + 1] - offsets[t]
    cap = total + 1
    node_byte = np.zeros(cap, np.uint8)
    node_depth = np.zeros(cap, np.int32)
    node_end = np.zeros(cap, np.int32)
    tok_start = np.zeros(cap, np.int32)
    tok_end = np.zeros(cap, np.int32)
    max_len = 0
    for k in range(order.shape[0]):
        t = order[k]
        max_len = max(max_len, offsets[t + 1] - offsets[t])
    path = np.zeros(max_len + 1, np.int32)  # path[d] = node at depth d on the current branch
    n = 1
    depth = 0  # depth of the current branch's deepest node
    prev = -1
    for k in range(order.shape[0]):
        t = order[k]
        a, b = offsets[t], offsets[t + 1]
        length = b - a
        lcp = 0
        if prev >= 0:
            pa, pb = offsets[prev], offsets[prev + 1]
            while lcp < length and lcp < pb - pa and flat[a + lcp] == flat[pa + lcp]:
                lcp += 1
        while depth > lcp:  # close the nodes the new token does not share
            node_end[path[depth]] = n
            depth -= 1
        for d in range(lcp, length):
            node_byte[n] = flat[a + d]
            node_depth[n] = d + 1
            tok_start[n] = k
            tok_end[n] = k
            depth = d + 1
            path[depth] = n
            n += 1
        node = path[length]
        if tok_end[node] == tok_start[node]:
            tok_start[node] = k
        tok_end[node] = k + 1
        prev = t
    while depth > 0:
        node_end[path[depth]] = n
        depth -= 1
    node_end[0] = n
    return node_byte[:n], node_depth[:n], node_end[:n], tok_start[:n], tok_end[:n], max_len


def build_trie(token_bytes: list[bytes], usable: np.ndarray) -> ByteTrie:
    """Build the trie of the usable tokens (a once-per-vocabulary pass)."""
    ids = np.flatnonzero(usable)
    order = np.array(sorted(ids.tolist(), key=token_bytes.__getitem__), dtype=np.int32)
    lengths = np.fromiter((len(b) for b in token_bytes), dtype=np.int64, count=len(token_bytes))
    offsets = np.zeros(len(token_bytes) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.frombuffer(b"".join(token_bytes), dtype=np.uint8)
    byte, depth, end, start, stop, max_depth = _build_trie(flat, offsets, order)
    return ByteTrie(byte, depth, end, start, stop, order, int(max_depth))
