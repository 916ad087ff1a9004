"""``smc``: sequential Monte Carlo over constrained continuations, with AWRS proposals and weights.

The target is g(x) ∝ p(x) c(x) over complete strings (§1.3 of the research note): the model
conditioned on the constraint, not the step-by-step masked distribution. Particles run as one batch
of the model with its KV cache; each step draws every live particle's token with AWRS, multiplies
its weight by the unbiased local-normaliser estimate, and resamples (reordering the cache) when the
effective sample size falls below ``ess_threshold * n_particles``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from structgen._constraint import Constraint
from structgen.sampling._rejection import SamplingError, allowed_tokens, awrs


@dataclass
class SMCResult:
    """The particles at the end: outputs, normalised weights and the log normaliser estimate."""

    texts: list[str]
    token_ids: list[list[int]]  # generated ids, EOS excluded
    weights: list[float]  # normalised importance weights (0 for dead or unfinished particles)
    log_normalizer: float  # log of the unbiased estimate of sum over complete x of p(x) c(x)
    complete: list[bool]  # ended with EOS inside max_new_tokens
    n_resamples: int = 0
    n_checks: int = 0  # single-token constraint checks over the run
    n_fallbacks: int = 0  # draws that needed the full mask
    steps: int = 0  # particle-steps drawn
    log_weights: list[float] = field(default_factory=list)

    def posterior(self) -> dict[str, float]:
        """Total weight per distinct output text (the weighted approximation of the target)."""
        out: dict[str, float] = defaultdict(float)
        for text, weight in zip(self.texts, self.weights, strict=True):
            if weight > 0:
                out[text] += weight
        return dict(out)


def _prompt_ids(tokenizer: Any, prompt: str | Sequence[int]) -> list[int]:
    if isinstance(prompt, str):
        if tokenizer is None:
            raise SamplingError("a text prompt needs a tokenizer; pass one or give the prompt as token ids")
        return list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
    return [int(t) for t in prompt]


def _check_arguments(n_particles: int, ess_threshold: float, max_new_tokens: int) -> None:
    if n_particles < 1 or max_new_tokens < 1:
        raise SamplingError(
            f"Expected n_particles >= 1 and max_new_tokens >= 1, but got {n_particles}, {max_new_tokens}"
        )
    if not 0.0 <= ess_threshold <= 1.0:
        raise SamplingError(f"Expected 0 <= ess_threshold <= 1 (a share of particles), got {ess_threshold}")


def first_logits(model: Any, ids: list[int], constraint: Constraint) -> tuple[torch.Tensor, Any]:
    """Run the prompt once: (last-position logits of shape (1, V), the cache); checks the widths."""
    if not ids:
        raise SamplingError("Expected a non-empty prompt (start with a BOS token if the model has one)")
    out = model(input_ids=torch.tensor([ids], device=model.device), use_cache=True)
    logits = out.logits[:, -1, :]
    if logits.shape[-1] != constraint.vocab.size:
        raise SamplingError(
            f"The model's logits are {logits.shape[-1]} wide but the constraint's vocabulary has size "
            f"{constraint.vocab.size}: compile it against structgen.integrations._generate.model_vocabulary"
        )
    return logits, out.past_key_values


def decode(constraint: Constraint, tokens: Sequence[int]) -> str:
    """The text of generated token ids (EOS excluded), from the vocabulary's exact bytes."""
    data = b"".join(constraint.vocab.token_bytes[t] for t in tokens)
    return data.decode("utf-8", errors="replace")


@torch.no_grad()
def smc(
    model: Any,
    tokenizer: Any,
    prompt: str | Sequence[int],
    constraint: Constraint,
    *,
    n_particles: int = 8,
    ess_threshold: float = 0.5,
    max_new_tokens: int = 64,
    seed: int | None = None,
    max_tries: int = 64,
) -> SMCResult:
    """Sample ``n_particles`` weighted continuations of ``prompt``: the model conditioned on ``constraint``.

    ``prompt`` is text (encoded without special tokens) or token ids. Particles still unfinished
    after ``max_new_tokens`` get weight 0, so the target is the model conditioned on the constraint
    and on ending within that budget. ``max_tries`` bounds the checks of each AWRS trace before it
    finishes on the full mask (exactly, see ``awrs``).
    """
    _check_arguments(n_particles, ess_threshold, max_new_tokens)
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    eos = set(constraint.vocab.eos_token_ids)
    pad = constraint.vocab.eos_token_ids[0] if eos else 0
    size = constraint.vocab.size
    logits, cache = first_logits(model, _prompt_ids(tokenizer, prompt), constraint)
    n = n_particles
    cache.batch_repeat_interleave(n)
    logits = logits.expand(n, -1)
    matchers = [constraint.matcher() for _ in range(n)]
    tokens: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    logw = torch.zeros(n, dtype=torch.float64)
    result = SMCResult([], [], [], -math.inf, [])
    for _ in range(max_new_tokens):
        logp = logits.to("cpu", torch.float64)
        logp = logp - logp.logsumexp(dim=-1, keepdim=True)  # float64 log_softmax is slow with -inf on CPU
        feed = [pad] * n
        for k in range(n):
            if done[k]:
                continue
            matcher = matchers[k]
            draw = awrs(logp[k], matcher.check, generator=gen, max_tries=max_tries,
                        mask=lambda m=matcher: allowed_tokens(m, size))
            result.steps += 1
            result.n_checks += draw.n_checks
            result.n_fallbacks += draw.fallback
            logw[k] += draw.log_weight
            if draw.log_weight == -math.inf:  # no valid token: the particle is dead
                done[k] = True
                continue
            matcher.advance(draw.token)
            if draw.token in eos:
                done[k] = True
            else:
                tokens[k].append(draw.token)
                feed[k] = draw.token
        if all(done) or torch.all(logw == -math.inf):
            break
        if _ess(logw) < ess_threshold * n:
            index = torch.multinomial(torch.softmax(logw, 0), n, replacement=True, generator=gen)
            rows = index.tolist()
            matchers = [matchers[i].fork() for i in rows]
            tokens = [list(tokens[i]) for i in rows]
            done = [done[i] for i in rows]
            feed = [feed[i] for i in rows]
            cache.reorder_cache(index.to(model.device))
            logw = torch.full_like(logw, float(torch.logsumexp(logw, 0)) - math.log(n))
            result.n_resamples += 1
        if all(done):
            break
        feed_ids = torch.tensor(feed, device=model.device)[:, None]
        out = model(input_ids=feed_ids, past_key_values=cache, use_cache=True)
        cache, logits = out.past_key_values, out.logits[:, -1, :]
    complete = [d and matchers[k].is_finished() for k, d in enumerate(done)]
    logw = torch.where(torch.tensor(complete), logw, torch.full_like(logw, -math.inf))
    log_total = float(torch.logsumexp(logw, 0))
    result.log_normalizer = log_total - math.log(n)
    result.weights = [0.0] * n if log_total == -math.inf else torch.exp(logw - log_total).tolist()
    result.log_weights = logw.tolist()
    result.token_ids = tokens
    result.texts = [decode(constraint, t) for t in tokens]
    result.complete = complete
    return result


def _ess(logw: torch.Tensor) -> float:
    if torch.all(logw == -math.inf):
        return 0.0
    w = torch.softmax(logw, 0)
    return float(1.0 / (w * w).sum())
