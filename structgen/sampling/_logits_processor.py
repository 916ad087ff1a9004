"""``StructuredLogitsProcessor``: constrained decoding inside any ``model.generate(...)`` call."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

from structgen._bitmask import allocate_bitmask
from structgen._constraint import Constraint
from structgen._matcher import Matcher
from structgen.sampling._bitmask_torch import apply_token_bitmask_


class StructuredLogitsProcessor(LogitsProcessor):
    """Masks every row's logits to the tokens its constraint allows.

    ``constraints`` is one constraint for every row, or one per prompt: ``generate`` repeats each
    prompt ``num_beams * num_return_sequences`` times in a row, and row ``r`` follows
    ``constraints[r // repeats]``. Works with greedy search, sampling and beam search (beams are
    re-matched to their parent sequence every step). EOS is allowed only where the constraint may
    end and is the only choice where nothing else is. The processor notices a new ``generate``
    call and starts over; ``reset()`` does so explicitly.
    """

    def __init__(self, constraints: Constraint | Sequence[Constraint]) -> None:
        self.constraints = [constraints] if isinstance(constraints, Constraint) else list(constraints)
        if not self.constraints:
            raise ValueError("Expected at least one constraint")
        sizes = {c.vocab.size for c in self.constraints}
        if len(sizes) != 1:
            raise ValueError(f"Expected constraints over one vocabulary size, but got {sorted(sizes)}")
        self.vocab_size = sizes.pop()
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
        bitmask = self._bitmask
        for row, matcher in enumerate(self._matchers):
            if self._refused[row]:
                bitmask[row] = matcher._index.eos_row  # a refused row (a pruned beam) may only end
            else:
                matcher.fill_mask(bitmask[row])
        return apply_token_bitmask_(scores, bitmask)

    def _start(self, batch: int, length: int) -> None:
        n = len(self.constraints)
        if n != 1 and batch % n:
            raise ValueError(f"Expected a batch that is a multiple of the {n} constraints, but got {batch} rows")
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
