"""``generate``: constrained generation with a Hugging Face model in one call."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

from structgen._constraint import Constraint, compile_regex
from structgen.vocab import Vocabulary


def model_vocabulary(model: Any, tokenizer: Any) -> Vocabulary:
    """The ``Vocabulary`` of ``tokenizer`` at ``model``'s logits width, with the model's EOS ids."""
    width = None
    embeddings = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if embeddings is not None and getattr(embeddings, "weight", None) is not None:
        width = int(embeddings.weight.shape[0])
    elif getattr(model.config, "vocab_size", None):
        width = int(model.config.vocab_size)
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    return Vocabulary.from_tokenizer(tokenizer, vocab_size=width, eos_token_ids=eos_ids)


def _per_prompt(value: Any, n_prompts: int, name: str) -> list:
    single = not isinstance(value, (list, tuple))
    values = [value] * n_prompts if single else list(value)
    if len(values) != n_prompts:
        raise ValueError(f"Expected one {name} or one per prompt ({n_prompts}), but got {len(values)}")
    return values


def _constraints(regex: Any, schema: Any, n_prompts: int, vocab: Vocabulary, schema_options: dict) -> list[Constraint]:
    if (regex is None) == (schema is None):
        raise TypeError("generate() needs exactly one constraint: regex=... or schema=...")
    if regex is not None:
        return [compile_regex(p, vocab) for p in _per_prompt(regex, n_prompts, "regex")]
    from structgen.schema import compile_json_schema

    return [compile_json_schema(s, vocab, **schema_options) for s in _per_prompt(schema, n_prompts, "schema")]


def _parse(text: str, constraint: Constraint) -> Any:
    value = json.loads(text)
    model = constraint.pydantic_model
    return model.model_validate(value) if model is not None else value


def generate(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str],
    *,
    regex: str | Sequence[str] | None = None,
    schema: Any = None,
    schema_options: dict | None = None,
    sampling: str = "mask",
    max_new_tokens: int = 256,
    **generate_kwargs: Any,
) -> Any:
    """Generate text that matches ``regex``, or JSON that validates against ``schema``.

    Each takes one value or one per prompt. ``schema`` is a JSON Schema (dict or JSON text) or a
    pydantic model class; outputs are then parsed objects (model instances for a model class), and
    ``schema_options`` go to ``compile_json_schema`` (``lenient``, ``whitespace``, ...).
    ``sampling="rejection"`` checks only the tokens the model draws instead of masking the whole
    vocabulary (same output distribution; no top-k / top-p / beams in that mode).

    Prompts are used as given (apply a chat template first for chat models). ``generate_kwargs``
    go to ``model.generate`` (``do_sample``, ``temperature``, ``num_beams``, ...). Returns one
    string per prompt (a single string for a single prompt), or a list of ``num_return_sequences``
    strings per prompt. A row cut off by ``max_new_tokens`` before its constraint could end is
    returned as far as it got, with a warning.
    """
    import torch
    from transformers import LogitsProcessorList

    from structgen.sampling import StructuredLogitsProcessor

    single = isinstance(prompts, str)
    prompt_list = [prompts] if single else list(prompts)
    vocab = model_vocabulary(model, tokenizer)
    constraints = _constraints(regex, schema, len(prompt_list), vocab, schema_options or {})
    if sampling == "rejection":
        processor = StructuredLogitsProcessor(
            constraints,
            sampling="rejection",
            do_sample=bool(generate_kwargs.get("do_sample", False)),
            temperature=float(generate_kwargs.get("temperature", 1.0) or 1.0),
        )
    else:
        processor = StructuredLogitsProcessor(constraints, sampling=sampling)

    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else vocab.eos_token_ids[0]
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(prompt_list, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = old_side
    enc = {k: v.to(model.device) for k, v in enc.items()}
    user_processors = generate_kwargs.pop("logits_processor", None) or []
    with torch.no_grad():
        out = model.generate(
            **enc,
            logits_processor=LogitsProcessorList([*user_processors, processor]),
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=list(vocab.eos_token_ids),
            **generate_kwargs,
        )
    generated = out[:, enc["input_ids"].shape[1] :].tolist()
    texts: list[Any] = []
    eos = set(vocab.eos_token_ids)
    for row, tokens in enumerate(generated):
        data = bytearray()
        ended = False
        for token in tokens:
            if token in eos:
                ended = True
                break
            data += vocab.token_bytes[token]
        text = data.decode("utf-8", errors="replace")
        constraint = constraints[row * len(constraints) // len(generated)]
        complete = ended or constraint.matches(bytes(data))
        if not complete:
            warnings.warn(
                f"row {row} reached max_new_tokens={max_new_tokens} before its constraint could end: "
                f"{text[:60]!r}... is incomplete" + (" (returned as None)" if schema is not None else ""),
                stacklevel=2,
            )
        if schema is not None:
            texts.append(_parse(text, constraint) if complete else None)
        else:
            texts.append(text)
    per_prompt = len(texts) // len(prompt_list)
    if per_prompt == 1:
        return texts[0] if single else texts
    grouped = [texts[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompt_list))]
    return grouped[0] if single else grouped
