"""The ``model.generate`` path: ``StructuredLogitsProcessor`` inside Hugging Face's own loop (beams, rejection, ...)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from structgen.integrations._decode import DecodeStats
from structgen.vocab import Vocabulary


class ForwardCounter:
    """Counts a model's forward calls while in a ``with`` block (a forward hook)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.calls = 0
        self._handle = None

    def _hook(self, *args: Any) -> None:
        self.calls += 1

    def __enter__(self) -> ForwardCounter:
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._handle.remove()


class FirstTokenTimer:
    """A ``streamer`` for ``model.generate`` that notes when the first generated token arrives."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.first = math.nan
        self._puts = 0

    def put(self, value: Any) -> None:
        self._puts += 1
        if self._puts == 2 and math.isnan(self.first):  # the first put is the prompt
            self.first = time.perf_counter() - self.start

    def end(self) -> None:
        pass


def run_hf_generate(
    model: Any,
    tokenizer: Any,
    vocab: Vocabulary,
    prompts: Sequence[str],
    constraints: Sequence[Any],
    *,
    sampling: str,
    max_new_tokens: int,
    stop_strings: Sequence[str],
    generate_kwargs: dict,
) -> tuple[list[tuple[list[int], bool]], DecodeStats]:
    """``model.generate`` with the processor: ``([(tokens, ended), ...] per row, stats)``."""
    import torch
    from transformers import LogitsProcessorList

    from structgen.sampling import StructuredLogitsProcessor

    kwargs = dict(generate_kwargs)
    kwargs.pop("overlap", None)
    seed = kwargs.pop("seed", None)
    if sampling == "rejection":
        processor = StructuredLogitsProcessor(
            list(constraints),
            sampling="rejection",
            do_sample=bool(kwargs.get("do_sample", False)),
            temperature=float(kwargs.get("temperature", 1.0) or 1.0),
            seed=seed,
        )
    else:
        processor = StructuredLogitsProcessor(list(constraints), sampling=sampling)
        if seed is not None:
            torch.manual_seed(seed)
    if stop_strings:
        kwargs["stop_strings"] = list(stop_strings)
        kwargs["tokenizer"] = tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else vocab.eos_token_ids[0]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = old_side
    enc = {k: v.to(model.device) for k, v in enc.items()}
    user_processors = kwargs.pop("logits_processor", None) or []
    timer = FirstTokenTimer()
    with torch.no_grad(), ForwardCounter(model) as counter:
        out = model.generate(
            **enc,
            logits_processor=LogitsProcessorList([*user_processors, processor]),
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=list(vocab.eos_token_ids),
            streamer=None if kwargs.get("num_beams", 1) not in (None, 1) else timer,
            **kwargs,
        )
    total = time.perf_counter() - timer.start
    eos = set(vocab.eos_token_ids)
    rows = []
    n_tokens = 0
    for generated in out[:, enc["input_ids"].shape[1] :].tolist():
        tokens, ended = [], False
        for token in generated:
            if token in eos:
                ended = True
                n_tokens += 1
                break
            tokens.append(token)
        n_tokens += len(tokens)
        rows.append((tokens, ended))
    stats = DecodeStats(
        rows=len(rows), forward_passes=counter.calls, chosen_tokens=n_tokens,
        time_to_first_token_s=timer.first, total_s=total, per_row_tokens=[len(t) for t, _ in rows],
    )
    return rows, stats
