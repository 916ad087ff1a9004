"""Bitmask layout: int32 words, bit i % 32 of word i // 32."""

from __future__ import annotations

import numpy as np
import pytest

from structgen import allocate_bitmask
from structgen._bitmask import allowed_tokens, bitmask_to_bool


def test_allocate_bitmask_shape_and_dtype():
    mask = allocate_bitmask(3, 49153)
    assert mask.shape == (3, 1537) and mask.dtype == np.int32 and not mask.any()


def test_bit_layout_matches_the_shared_convention():
    mask = allocate_bitmask(1, 100)
    for token in (0, 31, 32, 63, 99):
        mask[0, token // 32] |= np.int32(np.uint32(1 << (token % 32)).view(np.int32))
    assert allowed_tokens(mask[0], 100).tolist() == [0, 31, 32, 63, 99]
    assert bitmask_to_bool(mask[0], 100).sum() == 5


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="positive"):
        allocate_bitmask(0, 10)
