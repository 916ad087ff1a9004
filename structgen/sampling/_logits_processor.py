"""``StructuredLogitsProcessor``: constrained decoding inside any ``model.generate(...)`` call."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from transformers import LogitsProcessor

from structgen._bitmask import allocate_bitmask
from structgen._constraint import Constraint
from structgen._matcher import Matcher
from structgen.sampling._bitmask_torch import apply_token_bitmask_
from structgen.sampling._rejection import SamplingError, gumbel_like

Sampling = Literal["mask", "rejection"]


@dataclass
class SamplingStats:
    """Constraint work of a processor since its last reset (one ``step`` = one row at one position)."""

    steps: int = 0
    checks: int = 0  # single-token ``check`` calls (rejection mode)
    fallbacks: int = 0  # steps that needed the full mask (every step in mask mode)

    @property
    def checks_per_step(self) -> float:
        """Mean single-token checks per step (fallback steps add their checks before the mask)."""
        return self.checks / self.steps if self.steps else 0.0


class StructuredLogitsProcessor(LogitsProcessor):
    """Constrains every row's next token to the tokens its constraint allows.

    ``constraints`` is one constraint for every row, or one per prompt: ``generate`` repeats each
    prompt ``num_beams * num_return_sequences`` times in a row, and row ``r`` follows
    ``constraints[r // repeats]``. Works with greedy search, sampling and beam search (beams are
    re-matched to their parent sequence every step). EOS is allowed only where the constraint may
    end and is the only choice where nothing else is. The processor notices a new ``generate``
    call and starts over; ``reset()`` does so explicitly.

    ``sampling="mask"`` (the default) masks the scores. ``sampling="rejection"`` (adaptive rejection
    sampling, Lipkin et al. 2025) picks the token itself and returns scores where only that token
    is finite, so generate's sampler or argmax takes it: it visits tokens in the order of the
    scores it receives (``do_sample=False``: greedy) or of Gumbel-perturbed ``scores / temperature``
    (``do_sample=True``), ``check``-ing each until one is allowed, and after ``max_tries`` visits
    finishes on the full mask in the same order. The token's law is exactly that of masking the
    scores, dividing by ``temperature`` and sampling (greedy: the same token as masking). Set
    ``do_sample`` and ``temperature`` here to what generate is asked for: generate's own warpers
    (temperature, top-k, top-p) run after processors and see a single finite score, so they have
    no effect in this mode, and truncation (top-k, top-p) is not supported by it. Processors
    placed before this one do apply. Not for beam search. ``seed`` fixes its random draws
    (otherwise torch's global generator is used). ``stats`` counts the constraint work.
    """

    def __init__(
        self,
        constraints: Constraint | Sequence[Constraint],
        *,
        sampling: Sampling = "mask",
        do_sample: bool | None = None,
        temperature: float = 1.0,
        max_tries: int = 64,
        seed: int | None = None,
    ) -> None:
        self.constraints = [constraints] if isinstance(constraints, Constraint) else list(constraints)
        if not self.constraints:
            raise ValueError("Expected at least one constraint")
        sizes = {c.vocab.size for c in self.constraints}
        if len(sizes) != 1:
            raise ValueError(f"Expected constraints over one vocabulary size, but got {sorted(sizes)}")
        if sampling not in ("mask", "rejection"):
            raise SamplingError(f"Expected sampling='mask' or 'rejection', but got {sampling!r}")
        if sampling == "rejection" and do_sample is None:
            raise SamplingError(
                "sampling='rejection' picks the token itself: pass do_sample=True (and temperature=...) "
                "or do_sample=False (greedy), matching the generate() call"
            )
        if not temperature > 0 or max_tries < 1:
            raise SamplingError(
                f"Expected temperature > 0 and max_tries >= 1, but got {temperature}, {max_tries}"
            )
        self.vocab_size = sizes.pop()
        self.sampling = sampling
        self.do_sample = bool(do_sample)
        self.temperature = float(temperature)
        self.max_tries = int(max_tries)
        self.seed = seed
        self._generators: dict[torch.device, torch.Generator] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all sequences (a new ``generate`` call starts)."""
        self._prompt_len = -1
        self._last_len = -1
        self._matchers: list[Matcher] = []
        self._refused: list[bool] = []
        self._prev: np.ndarray | None = None
        self._repeats = 1
        self._bitmask: np.ndarray | None = None
        self.stats = SamplingStats()

    @property
    def matchers(self) -> list[Matcher]:
        """The matcher of every row after the last call."""
        return self._matchers

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        batch, length = input_ids.shape
        if length <= self._last_len or batch != len(self._matchers) and self._matchers:
            self.reset()
        if self._prompt_len < 0:
            self._start(batch, length)
        else:
            self._advance(input_ids[:, self._prompt_len :].cpu().numpy())
        self._last_len = length
        if self.sampling == "rejection":
            return self._choose(scores)
        for row in range(batch):
            self._fill(row)
        self.stats.steps += batch
        self.stats.fallbacks += batch
        return apply_token_bitmask_(scores, self._bitmask)

    def _fill(self, row: int) -> None:
        matcher = self._matchers[row]
        if self._refused[row]:
            matcher.fill_eos_mask(self._bitmask[row])  # a refused row (a pruned beam) may only end
        else:
            matcher.fill_mask(self._bitmask[row])

    def _generator(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return None
        gen = self._generators.get(device)
        if gen is None:
            gen = self._generators[device] = torch.Generator(device=device).manual_seed(self.seed)
        return gen

    def _choose(self, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Rejection mode: walk each row's keys in descending order, checking; fall back to the mask."""
        batch = scores.shape[0]
        keys = scores.to(torch.float32)
        if self.do_sample:
            keys = keys / self.temperature + gumbel_like(keys, self._generator(scores.device))
        top = torch.topk(keys, min(self.max_tries, keys.shape[1]), dim=1)  # one device-to-host copy below
        top_keys, top_ids = top.values.tolist(), top.indices.tolist()
        chosen = [-1] * batch
        fallback = []
        checks = 0
        for row in range(batch):
            if self._refused[row]:
                fallback.append(row)
                continue
            check = self._matchers[row].check
            for key, token in zip(top_keys[row], top_ids[row], strict=True):
                if key == -math.inf:
                    break  # only zero-probability tokens remain: let the mask decide (as masking would)
                checks += 1
                if check(token):
                    chosen[row] = token
                    break
            if chosen[row] < 0:
                fallback.append(row)
        self.stats.steps += batch
        self.stats.checks += checks
        self.stats.fallbacks += len(fallback)
        dead = []
        if fallback:
            for row in fallback:
                self._fill(row)
            rows = torch.tensor(fallback, device=scores.device)
            masked = apply_token_bitmask_(keys[rows].clone(), self._bitmask[fallback])
            best = masked.max(dim=1)
            for row, key, token in zip(fallback, best.values.tolist(), best.indices.tolist(), strict=True):
                if key == -math.inf:
                    dead.append(row)  # nothing allowed has mass: return the masked scores, as masking does
                else:
                    chosen[row] = token
        out = torch.full_like(scores, -math.inf)
        live = [row for row in range(batch) if chosen[row] >= 0]
        if live:
            out[live, [chosen[row] for row in live]] = 0.0
        if dead:
            out[dead] = apply_token_bitmask_(scores[dead].clone(), self._bitmask[dead])
        return out

    def _start(self, batch: int, length: int) -> None:
        n = len(self.constraints)
        if n != 1 and batch % n:
            raise ValueError(
                f"Expected a batch that is a multiple of the {n} constraints, but got {batch} rows"
            )
        repeats = batch if n == 1 else batch // n
        self._prompt_len = length
        self._repeats = repeats
        self._matchers = [self.constraints[0 if n == 1 else r // repeats].matcher() for r in range(batch)]
        self._refused = [False] * batch
        self._bitmask = allocate_bitmask(batch, self.vocab_size)

    def _advance(self, generated: np.ndarray) -> None:
        prev, repeats = self._prev, self._repeats
        parents = list(range(len(self._matchers)))
        if prev is not None and prev.shape[1] == generated.shape[1] - 1:
            prefix = generated[:, :-1]
            for row in range(len(parents)):
                if not np.array_equal(prefix[row], prev[row]):
                    # beam search reordered rows: find the parent among this prompt's rows
                    lo = row // repeats * repeats
                    hits = np.flatnonzero((prev[lo : lo + repeats] == prefix[row]).all(axis=1))
                    parents[row] = lo + int(hits[0]) if hits.size else row
        shared = {p for p in parents if parents.count(p) > 1}
        matchers, refused = [], []
        for row, parent in enumerate(parents):
            matcher = self._matchers[parent]
            if parent in shared:
                matcher = matcher.fork()
            was_refused = self._refused[parent]
            ok = was_refused or matcher.advance(int(generated[row, -1]))
            matchers.append(matcher)
            refused.append(was_refused or not ok)
        self._matchers, self._refused = matchers, refused
        self._prev = generated
