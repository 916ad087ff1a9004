"""Adaptive (weighted) rejection sampling: draw a constrained token checking only the tokens visited.

Lipkin et al. 2025 ("Fast Controlled Generation from Language Models with Adaptive Weighted
Rejection Sampling"); the spec is §1.2 A/B of the research note. Tokens are visited in the order of
Gumbel-perturbed log-probabilities, which is exactly sequential sampling without replacement, and
the first token the constraint accepts is the draw: its law is the masked (locally constrained)
distribution. A second trace of fresh keys gives the unbiased estimate of the allowed mass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from structgen._errors import StructgenError

# How many keys to take per lazy top-k when no fallback mask bounds the walk.
_CHUNK = 32


class SamplingError(StructgenError, ValueError):
    """A sampler was given arguments it cannot use (shapes, vocabularies, parameters)."""


class Draw(NamedTuple):
    """One constrained token draw."""

    token: int  # the drawn token; an invalid token when ``log_weight`` is -inf (no valid token)
    log_weight: float  # log of the unbiased estimate of sum_y w(y) c(y); nan when not estimated
    n_checks: int  # calls of ``check``
    fallback: bool  # whether the walk hit ``max_tries`` and finished on the full mask


def gumbel_like(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard Gumbel noise of ``logits``' shape, dtype and device."""
    e = torch.empty_like(logits).exponential_(generator=generator)
    return e.clamp_(min=torch.finfo(logits.dtype).tiny).log_().neg_()


class _Walk:
    """Visits tokens in descending key order, checking each, until one is accepted.

    ``keys`` is a float tensor (``-inf`` = excluded). ``known`` caches verdicts across traces (a
    token checked once is never checked again). With ``mask`` (a callable giving the bool tensor
    of allowed tokens), the walk stops checking after ``max_tries`` visits and finishes on the mask
    in one vectorised step: the same key order, so the law is unchanged.
    """

    def __init__(
        self, check: Callable[[int], bool], mask: Callable[[], torch.Tensor] | None, max_tries: int | None
    ) -> None:
        self.check = check
        self.mask_fn = mask
        self.allowed: torch.Tensor | None = None
        self.max_tries = max_tries if mask is not None else None
        self.known: dict[int, bool] = {}
        self.n_checks = 0

    def _verdict(self, token: int) -> bool:
        ok = self.known.get(token)
        if ok is None:
            if self.allowed is not None:
                ok = bool(self.allowed[token])
            else:
                ok = bool(self.check(token))
                self.n_checks += 1
            self.known[token] = ok
        return ok

    def run(self, keys: torch.Tensor) -> tuple[int, list[int]]:
        """Returns (accepted token or -1, rejected tokens in visiting order); ``keys`` is modified."""
        rejected: list[int] = []
        visits = 0
        while True:
            if self.allowed is not None or self.max_tries is not None and visits >= self.max_tries:
                return self._finish_on_mask(keys, rejected)
            k = min(_CHUNK if self.max_tries is None else self.max_tries - visits, keys.shape[0])
            top = torch.topk(keys, k)
            for key, token in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                if key == -math.inf:
                    return -1, rejected
                visits += 1
                if self._verdict(token):
                    return token, rejected
                rejected.append(token)
                keys[token] = -math.inf

    def _finish_on_mask(self, keys: torch.Tensor, rejected: list[int]) -> tuple[int, list[int]]:
        if self.allowed is None:
            self.allowed = self.mask_fn().to(keys.device)
        valid = torch.where(self.allowed, keys, torch.full_like(keys, -math.inf))
        best = int(torch.argmax(valid))
        best_key = valid[best]
        if best_key == -math.inf:  # nothing valid left: every finite key is a rejection
            more = torch.nonzero(keys > -math.inf).flatten()
            rejected.extend(more[torch.argsort(keys[more], descending=True)].tolist())
            keys[more] = -math.inf
            return -1, rejected
        more = torch.nonzero(keys > best_key).flatten()  # all invalid: best is the first valid key
        rejected.extend(more.tolist())  # order within the block is irrelevant to every caller
        keys[more] = -math.inf
        return best, rejected


def awrs(
    logw: torch.Tensor,
    check: Callable[[int], bool],
    *,
    generator: torch.Generator | None = None,
    max_tries: int | None = None,
    mask: Callable[[], torch.Tensor] | None = None,
    estimate: bool = True,
) -> Draw:
    """Draw a token from ``softmax(logw)`` restricted to ``check``-accepted tokens, with its weight.

    ``logw`` is a 1-D tensor of (possibly unnormalised) log weights, ``-inf`` for pruned tokens.
    ``check(token)`` is the constraint. With ``estimate`` (AWRS, §1.2 B) ``log_weight`` is log of an
    unbiased estimate of ``sum_y exp(logw[y]) c(y)`` (properly weighted: ``E[exp(log_weight)
    f(token)] = sum_y exp(logw[y]) c(y) f(y)``); without it only the sampler runs (ARS, §1.2 A).
    ``mask()`` (bool tensor of allowed tokens) bounds the work: after ``max_tries`` checks in a
    trace the walk continues on the mask, which keeps both the law and the estimator exact.
    """
    noise = torch.stack([gumbel_like(logw, generator) for _ in range(2 if estimate else 1)])
    return awrs_with_noise(logw, check, noise, max_tries=max_tries, mask=mask)


def awrs_with_noise(
    logw: torch.Tensor,
    check: Callable[[int], bool],
    noise: torch.Tensor,
    *,
    max_tries: int | None = None,
    mask: Callable[[], torch.Tensor] | None = None,
) -> Draw:
    """``awrs`` with given Gumbel noise: ``noise[0]`` for the draw, ``noise[1]`` (if any) for the estimate."""
    if logw.dim() != 1:
        raise SamplingError(f"Expected 1-D log weights, but got shape {tuple(logw.shape)}")
    if max_tries is not None and max_tries < 1:
        raise SamplingError(f"Expected max_tries >= 1, but got {max_tries}")
    logw = logw.detach().to(torch.float64)
    log_total = torch.logsumexp(logw, 0)
    if log_total == -math.inf:
        return Draw(-1, -math.inf, 0, False)
    logp = logw - log_total
    walk = _Walk(check, mask, max_tries)
    keys0 = logp + noise[0].to(logp)
    token, rejected0 = walk.run(keys0)
    if token < 0:  # Z = 0: the particle is dead; return a rejected (invalid) token by convention
        return Draw(rejected0[-1] if rejected0 else -1, -math.inf, walk.n_checks, walk.allowed is not None)
    if noise.shape[0] < 2:
        return Draw(token, math.nan, walk.n_checks, walk.allowed is not None)
    # Trace 1: fresh keys over V \ R0 (the accepted token stays available), counting its rejections.
    keys1 = logp + noise[1].to(logp)
    kept = torch.ones_like(logp, dtype=torch.bool)
    if rejected0:
        index = torch.tensor(rejected0, device=logp.device)
        kept[index] = False
        keys1[index] = -math.inf
    _, rejected1 = walk.run(keys1)
    # log(1 - psi0) from the kept mass itself: no cancellation when psi0 rounds to 1 (T5)
    log_kept = torch.logsumexp(torch.where(kept, logp, torch.full_like(logp, -math.inf)), 0)
    n = len(rejected0) + len(rejected1) + 1
    log_weight = float(log_total + log_kept) - math.log(n)
    return Draw(token, log_weight, walk.n_checks, walk.allowed is not None)


def allowed_tokens(matcher, size: int) -> torch.Tensor:
    """The bool tensor (length ``size``) of the tokens ``matcher`` allows now (one mask fill)."""
    row = np.zeros((size + 31) // 32, dtype=np.int32)
    matcher.fill_mask(row)
    bits = np.unpackbits(row.astype("<i4").view(np.uint8), bitorder="little")[:size]  # bit i%32 of word i//32
    return torch.from_numpy(bits.astype(bool))
