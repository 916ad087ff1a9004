"""The token bitmask: int32 words, bit ``i % 32`` of word ``i // 32`` set = token ``i`` allowed.

The layout XGrammar and llguidance use, so a batch of masks moves to an accelerator as one tensor.
"""

from __future__ import annotations

import numpy as np


def bitmask_width(vocab_size: int) -> int:
    """Number of int32 words in one row for a logits width of ``vocab_size``."""
    return (int(vocab_size) + 31) // 32


def allocate_bitmask(batch_size: int, vocab_size: int) -> np.ndarray:
    """A zeroed ``(batch_size, ceil(vocab_size / 32))`` int32 bitmask (``torch.from_numpy`` shares it)."""
    if batch_size < 1 or vocab_size < 1:
        raise ValueError(f"Expected a positive batch size and vocabulary size, but got {batch_size}, {vocab_size}")
    return np.zeros((batch_size, bitmask_width(vocab_size)), dtype=np.int32)


def bitmask_to_bool(row: np.ndarray, vocab_size: int) -> np.ndarray:
    """Unpack one bitmask row into a bool array of length ``vocab_size``."""
    bits = np.unpackbits(np.ascontiguousarray(row).view(np.uint8), bitorder="little")
    return bits[:vocab_size].astype(bool)


def allowed_tokens(row: np.ndarray, vocab_size: int) -> np.ndarray:
    """The token ids set in one bitmask row."""
    return np.flatnonzero(bitmask_to_bool(row, vocab_size))
