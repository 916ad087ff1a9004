"""structgen's own decode loop: a KV-cached loop over a Hugging Face causal LM with one-pass jump-forward.

Only the matcher contract is used (``fill_mask``, ``fill_eos_mask``, ``advance``, ``forced_tokens``,
``is_accepting``, ``is_finished``), so any constraint whose ``matcher()`` honours it can drive the loop.

Jump-forward: where a row's matcher forces tokens, they are appended without asking the model and
fed, together with the token just chosen, through the model in one forward pass (a multi-token
prefill on the KV cache). Why the output stays the model's: the forced bytes are the only bytes any
allowed continuation can start with, so the constraint leaves the model no choice over *what* they
are, only over how they are cut into tokens. ``Matcher.forced_tokens`` never forces a token where a
longer vocabulary token could start and run past the forced bytes (``"order`` with ``"orderId"``
and ``"orderName"`` ahead forces ``"`` only: the model picks ``order...`` itself), and
``_canonical.Canonicalizer`` re-spells the forced bytes the way the tokenizer does (longest match is
not BPE), so the model is only ever fed token sequences its tokenizer produces. The one thing it
gives up is a non-canonical split the model itself might have picked greedily (``{`` then ``"``
where the tokenizer writes ``{"``); the tests pin those cases.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from structgen._bitmask import allocate_bitmask
from structgen._errors import StructgenError
from structgen.integrations._canonical import Canonicalizer, advance_all
from structgen.sampling._bitmask_torch import apply_token_bitmask_


class DecodeError(StructgenError, RuntimeError):
    """The decode loop reached a state the constraint cannot continue from (a mask bug)."""


@dataclass
class DecodeStats:
    """What one decode call did: forward passes, tokens chosen by the model and forced, timings."""

    rows: int = 0
    forward_passes: int = 0  # the prompt prefill counts as one
    chosen_tokens: int = 0  # picked from the model's (masked) logits, EOS included
    forced_tokens: int = 0  # appended by jump-forward without a model choice, EOS included
    respelled_spans: int = 0  # forced spans re-spelled in the tokenizer's canonical split
    mask_s: float = 0.0  # host time spent filling bitmasks (part of it hidden behind forward passes)
    forward_s: float = 0.0  # wall time inside model forward calls
    time_to_first_token_s: float = math.nan  # call start to the first output token known (forced or chosen)
    total_s: float = 0.0
    per_row_tokens: list[int] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        """Output tokens of all rows (chosen + forced)."""
        return self.chosen_tokens + self.forced_tokens

    @property
    def forward_passes_per_row(self) -> float:
        return self.forward_passes / self.rows if self.rows else 0.0


@dataclass
class RowResult:
    """One row's output: its tokens (EOS excluded) and how it ended."""

    tokens: list[int]
    ended: bool = False  # EOS consumed: the constraint was complete
    stopped: bool = False  # a stop string appeared
    cut: bool = False  # reached max_new_tokens first


@dataclass
class SamplingOptions:
    """Greedy (``do_sample=False``) or sampling with temperature, top-k and top-p, as ``model.generate``."""

    do_sample: bool = False
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.do_sample and not self.temperature > 0:
            raise ValueError(f"Expected temperature > 0 when sampling, but got {self.temperature}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"Expected 0 < top_p <= 1, but got {self.top_p}")
        if self.top_k is not None and self.top_k < 0:
            raise ValueError(f"Expected top_k >= 0, but got {self.top_k}")


class _Chooser:
    """Picks each row's next token from masked logits (argmax, or the warped distribution)."""

    def __init__(self, options: SamplingOptions, device: torch.device) -> None:
        self.options = options
        self.generator = None
        if options.do_sample and options.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(options.seed)

    def __call__(self, scores: torch.Tensor) -> list[int]:
        o = self.options
        if not o.do_sample:
            return scores.argmax(dim=-1).tolist()
        if o.temperature != 1.0:
            scores = scores / o.temperature
        if o.top_k:  # the order of HF's warpers: temperature, top-k, top-p
            k = min(o.top_k, scores.shape[-1])
            kth = torch.topk(scores, k, dim=-1).values[..., -1:]
            scores = scores.masked_fill(scores < kth, -math.inf)
        if o.top_p is not None and o.top_p < 1.0:
            sorted_scores, order = torch.sort(scores, descending=False, dim=-1)
            cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
            drop_sorted = cumulative <= 1 - o.top_p
            drop_sorted[..., -1:] = False  # keep at least the most likely token
            drop = drop_sorted.scatter(1, order, drop_sorted)
            scores = scores.masked_fill(drop, -math.inf)
        probs = scores.softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1).tolist()


class DecodeLoop:
    """Constrained decoding of a batch of prompts; ``steps()`` yields each step's new tokens per row.

    ``prompt_ids`` are token id lists (one per row, any lengths: rows are left-padded), ``matchers``
    one fresh matcher per row. Every forward pass feeds each live row the tokens it gained since the
    last one (one chosen token, plus the forced ones with jump-forward); rows with fewer are padded on
    the left of the chunk and the pads masked out of attention, so positions stay each row's own.
    Finished rows leave the batch (their cache rows are dropped).
    """

    def __init__(
        self,
        model: Any,
        prompt_ids: Sequence[Sequence[int]],
        matchers: Sequence[Any],
        *,
        token_bytes: Sequence[bytes],
        eos_token_ids: Sequence[int],
        pad_token_id: int,
        max_new_tokens: int,
        jump_forward: bool = True,
        sampling: SamplingOptions | None = None,
        stop_strings: Sequence[str] = (),
        overlap: bool = False,
        canonicalizer: Canonicalizer | None = None,
    ) -> None:
        if len(prompt_ids) != len(matchers) or not matchers:
            raise ValueError(f"Expected one matcher per prompt, but got {len(matchers)} for {len(prompt_ids)}")
        if max_new_tokens < 1:
            raise ValueError(f"Expected max_new_tokens >= 1, but got {max_new_tokens}")
        if any(len(p) == 0 for p in prompt_ids):
            raise ValueError("Expected every prompt to have at least one token")
        self.model = model
        self.prompt_ids = [list(p) for p in prompt_ids]
        self.matchers = list(matchers)
        self.token_bytes = token_bytes
        self.eos = frozenset(int(e) for e in eos_token_ids)
        self.pad_token_id = int(pad_token_id)
        self.max_new_tokens = int(max_new_tokens)
        self.jump_forward = jump_forward
        self.sampling = sampling or SamplingOptions()
        self.stops = [s.encode("utf-8") for s in stop_strings if s]
        self.overlap = overlap
        self.canonicalizer = canonicalizer
        self.results = [RowResult(tokens=[]) for _ in self.matchers]
        self.stats = DecodeStats(rows=len(self.matchers))
        self._texts = [bytearray() for _ in self.matchers]

    # ----------------------------------------------------------------------------------------- per row

    def _take(self, row: int, tokens: list[int], forced: bool) -> list[int]:
        """Append ``tokens`` to ``row`` (already accepted by its matcher); returns what the model must see."""
        result, feed = self.results[row], []
        for token in tokens:
            if forced:
                self.stats.forced_tokens += 1
            else:
                self.stats.chosen_tokens += 1
            if token in self.eos:
                result.ended = True
                return []  # nothing after EOS is fed
            result.tokens.append(token)
            feed.append(token)
            if self.stops and self._hit_stop(row, token):
                result.stopped = True
                return []
        if len(result.tokens) + (1 if result.ended else 0) >= self.max_new_tokens:
            result.cut = not result.ended
        return feed

    def _hit_stop(self, row: int, token: int) -> bool:
        text = self._texts[row]
        old = len(text)
        text += self.token_bytes[token]
        longest = max(len(s) for s in self.stops)
        window = bytes(text[max(0, old - longest + 1) :])
        return any(s in window for s in self.stops)

    def _done(self, row: int) -> bool:
        r = self.results[row]
        return r.ended or r.stopped or r.cut

    def _budget(self, row: int) -> int:
        return self.max_new_tokens - len(self.results[row].tokens)

    def _forced(self, row: int) -> list[int]:
        """The tokens jump-forward appends now (within the budget), each accepted by the matcher."""
        if not self.jump_forward or self._done(row):
            return []
        matcher = self.matchers[row]
        forced = matcher.forced_tokens()
        if not forced:
            return []
        budget = self._budget(row)
        if self.canonicalizer is not None:
            full = matcher.forced_bytes() if hasattr(matcher, "forced_bytes") else None  # optional in the contract
            canon = self.canonicalizer.canonical(forced, full)
            if canon is not None and canon != forced:
                canon = canon[:budget]
                if advance_all(matcher, canon):
                    self.stats.respelled_spans += 1
                    return canon
        forced = forced[:budget]
        for n, token in enumerate(forced):
            if not matcher.advance(token):  # forced_tokens promises these; stop trusting it if not
                return forced[:n]
        return forced

    # ----------------------------------------------------------------------------------------- the loop

    @torch.no_grad()
    def steps(self) -> Iterator[list[tuple[int, list[int]]]]:
        """Run to the end, yielding ``[(row, new tokens), ...]`` whenever rows gain tokens (EOS not included)."""
        start = time.perf_counter()
        try:
            yield from self._steps(start)
        finally:
            self.stats.total_s = time.perf_counter() - start
            self.stats.per_row_tokens = [len(r.tokens) for r in self.results]

    def _first_token_seen(self, start: float) -> None:
        if math.isnan(self.stats.time_to_first_token_s):
            self.stats.time_to_first_token_s = time.perf_counter() - start

    def _steps(self, start: float) -> Iterator[list[tuple[int, list[int]]]]:
        n = len(self.matchers)
        model = self.model
        device = model.device
        chooser = _Chooser(self.sampling, device)
        width = None
        bitmask = None

        # Forced tokens at the very start (``{"`` of an object) join the prompt in the prefill.
        feeds: list[list[int]] = []
        new: list[tuple[int, list[int]]] = []
        for row in range(n):
            forced = self._forced(row)
            feed = self._take(row, forced, forced=True) if forced else []
            feeds.append(self.prompt_ids[row] + feed)
            if forced:
                new.append((row, list(self.results[row].tokens)))
        if new:
            self._first_token_seen(start)
            yield new

        live = [row for row in range(n) if not self._done(row)]
        cache = None
        attention: torch.Tensor | None = None
        pool = ThreadPoolExecutor(max_workers=1) if self.overlap else None
        try:
            while live:
                chunk = [feeds[row] for row in live]
                k = max(len(c) for c in chunk)
                ids = torch.full((len(live), k), self.pad_token_id, dtype=torch.long)
                mask = torch.zeros((len(live), k), dtype=torch.long)
                for i, c in enumerate(chunk):
                    if c:
                        ids[i, k - len(c) :] = torch.tensor(c, dtype=torch.long)
                        mask[i, k - len(c) :] = 1
                attention = mask if attention is None else torch.cat([attention, mask], dim=1)
                positions = (attention.cumsum(dim=1) - 1).clamp(min=0)[:, -k:]

                if bitmask is None:
                    width = _logits_width(model)
                    bitmask = allocate_bitmask(n, width)
                # The next mask depends only on tokens already appended: fill it while the model runs.
                fill = pool.submit(self._fill, live, bitmask) if pool is not None else None
                if fill is None:
                    self._fill(live, bitmask)
                t0 = time.perf_counter()
                out = model(
                    input_ids=ids.to(device),
                    attention_mask=attention.to(device),
                    position_ids=positions.to(device),
                    past_key_values=cache,
                    use_cache=True,
                    logits_to_keep=1,
                )
                self.stats.forward_s += time.perf_counter() - t0
                self.stats.forward_passes += 1
                cache = out.past_key_values
                scores = out.logits[:, -1, :].to(dtype=torch.float32)
                if fill is not None:
                    fill.result()
                apply_token_bitmask_(scores, bitmask[live])
                chosen = chooser(scores)

                new = []
                for row, token in zip(live, chosen):
                    before = len(self.results[row].tokens)
                    matcher = self.matchers[row]
                    if not matcher.advance(token):
                        raise DecodeError(
                            f"row {row}: token {token} was chosen from the constraint's mask but the matcher "
                            "refuses it (every allowed token has zero probability, or the mask is wrong)"
                        )
                    feed = self._take(row, [token], forced=False)
                    forced = self._forced(row)
                    if forced:
                        feed += self._take(row, forced, forced=True)
                    feeds[row] = feed
                    new.append((row, self.results[row].tokens[before:]))  # EOS and tokens past a stop excluded
                self._first_token_seen(start)
                yield new

                keep = [i for i, row in enumerate(live) if not self._done(row)]
                if len(keep) < len(live):
                    if keep:
                        index = torch.tensor(keep, device=device)
                        cache.batch_select_indices(index)
                        attention = attention[keep]
                    live = [live[i] for i in keep]
        finally:
            if pool is not None:
                pool.shutdown(wait=True)

    def _fill(self, live: list[int], bitmask: np.ndarray) -> None:
        t0 = time.perf_counter()
        for row in live:
            self.matchers[row].fill_mask(bitmask[row])
        self.stats.mask_s += time.perf_counter() - t0


def _logits_width(model: Any) -> int:
    embeddings = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if embeddings is not None and getattr(embeddings, "weight", None) is not None:
        return int(embeddings.weight.shape[0])
    return int(model.config.vocab_size)


def warn_incomplete(row: int, text: str, max_new_tokens: int, note: str = "", stacklevel: int = 3) -> None:
    """The existing warning for a row cut off by ``max_new_tokens`` before its constraint could end."""
    warnings.warn(
        f"row {row} reached max_new_tokens={max_new_tokens} before its constraint could end: "
        f"{text[:60]!r}... is incomplete" + note,
        stacklevel=stacklevel,
    )
