"""Glue from ``generate`` / ``stream`` arguments to a ``DecodeLoop`` (prompt ids, matchers, sampling options)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from structgen.integrations._canonical import Canonicalizer
from structgen.integrations._decode import DecodeLoop, DecodeStats, SamplingOptions
from structgen.vocab import Vocabulary


def sampling_options(model: Any, generate_kwargs: dict) -> SamplingOptions:
    """Sampling settings from the call, defaulting to the model's generation config as ``model.generate`` does."""
    config = getattr(model, "generation_config", None)

    def pick(name: str, default: Any) -> Any:
        value = generate_kwargs.get(name)
        if value is None:
            value = getattr(config, name, None)
        return default if value is None else value

    return SamplingOptions(
        do_sample=bool(pick("do_sample", False)),
        temperature=float(pick("temperature", 1.0)),
        top_k=pick("top_k", None),
        top_p=pick("top_p", None),
        seed=generate_kwargs.get("seed"),
    )


def build_loop(
    model: Any,
    tokenizer: Any,
    vocab: Vocabulary,
    prompts: Sequence[str],
    constraints: Sequence[Any],
    *,
    repeats: int,
    max_new_tokens: int,
    jump_forward: bool,
    stop_strings: Sequence[str],
    generate_kwargs: dict,
) -> DecodeLoop:
    """A loop over ``len(prompts) * repeats`` rows; row ``r`` is prompt ``r // repeats`` under its constraint."""
    if repeats < 1:
        raise ValueError(f"Expected num_return_sequences >= 1, but got {repeats}")
    ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    per_constraint = len(prompts) // len(constraints)
    rows = [(ids[i], constraints[i // per_constraint]) for i in range(len(prompts)) for _ in range(repeats)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else vocab.eos_token_ids[0]
    return DecodeLoop(
        model,
        [r[0] for r in rows],
        [r[1].matcher() for r in rows],
        token_bytes=vocab.token_bytes,
        eos_token_ids=vocab.eos_token_ids,
        pad_token_id=pad,
        max_new_tokens=max_new_tokens,
        jump_forward=jump_forward,
        sampling=sampling_options(model, generate_kwargs),
        stop_strings=stop_strings,
        overlap=bool(generate_kwargs.get("overlap", False)),
        canonicalizer=Canonicalizer(lambda text: tokenizer(text, add_special_tokens=False)["input_ids"], vocab),
    )


def run_own_loop(
    model: Any, tokenizer: Any, vocab: Vocabulary, prompts: Sequence[str], constraints: Sequence[Any], **kwargs: Any
) -> tuple[list[tuple[list[int], bool]], DecodeStats]:
    """Run the loop to the end: ``([(tokens, ended), ...] per row, stats)``."""
    loop = build_loop(model, tokenizer, vocab, prompts, constraints, **kwargs)
    for _ in loop.steps():
        pass
    return [(r.tokens, r.ended) for r in loop.results], loop.stats
