"""Applying an int32 token bitmask to a logits tensor on its own device."""

from __future__ import annotations

import numpy as np
import torch

_SHIFTS: dict[torch.device, torch.Tensor] = {}


def _shifts(device: torch.device) -> torch.Tensor:
    shifts = _SHIFTS.get(device)
    if shifts is None:
        shifts = _SHIFTS[device] = torch.arange(32, dtype=torch.int32, device=device)
    return shifts


def apply_token_bitmask_(logits: torch.Tensor, bitmask: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Set the logits of disallowed tokens to ``-inf`` in place; returns ``logits``.

    ``logits`` is ``(batch, width)``; ``bitmask`` is ``(batch, words)`` int32 on any device. Ids
    at or past ``32 * words`` are disallowed. One host-to-device copy, one masked fill.
    """
    if logits.dim() != 2:
        raise ValueError(f"Expected logits of shape (batch, vocab), but got {tuple(logits.shape)}")
    mask = torch.from_numpy(bitmask) if isinstance(bitmask, np.ndarray) else bitmask
    if mask.dtype != torch.int32 or mask.dim() != 2 or mask.shape[0] != logits.shape[0]:
        raise ValueError(
            f"Expected an int32 bitmask of shape ({logits.shape[0]}, words), "
            f"but got {mask.dtype} {tuple(mask.shape)}"
        )
    mask = mask.to(logits.device, non_blocking=True)
    allowed = ((mask.unsqueeze(-1) >> _shifts(logits.device)) & 1).view(mask.shape[0], -1).bool()
    width = logits.shape[1]
    if allowed.shape[1] >= width:
        allowed = allowed[:, :width]
    else:
        pad = torch.zeros(allowed.shape[0], width - allowed.shape[1], dtype=torch.bool, device=logits.device)
        allowed = torch.cat([allowed, pad], dim=1)
    return logits.masked_fill_(~allowed, float("-inf"))
