"""``generate``: constrained generation with a Hugging Face model in one call."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from typing import Any

from structgen.integrations._select import select_constraints
from structgen.vocab import Vocabulary

# generate_kwargs structgen's own loop understands; anything else goes to model.generate.
_OWN_LOOP_KWARGS = {"do_sample", "temperature", "top_k", "top_p", "seed", "num_return_sequences", "overlap"}


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


def _parse(text: str, constraint: Any) -> Any:
    value = json.loads(text)
    model = getattr(constraint, "pydantic_model", None)
    return model.model_validate(value) if model is not None else value


def uses_own_loop(decoder: str, sampling: str, generate_kwargs: dict) -> bool:
    """Can structgen's own decode loop serve this call, or does it need ``model.generate``?"""
    if decoder not in ("structgen", "hf"):
        raise ValueError(f"Expected decoder='structgen' or 'hf', but got {decoder!r}")
    if sampling not in ("mask", "rejection"):
        raise ValueError(f"Expected sampling='mask' or 'rejection', but got {sampling!r}")
    if decoder == "hf" or sampling == "rejection":
        return False
    if int(generate_kwargs.get("num_beams", 1) or 1) > 1:
        return False
    return set(generate_kwargs) <= _OWN_LOOP_KWARGS | {"num_beams"}


def generate(
    model: Any,
    tokenizer: Any,
    prompts: str | Sequence[str],
    *,
    regex: str | Sequence[str] | None = None,
    schema: Any = None,
    grammar: str | Sequence[str] | None = None,
    gbnf: str | Sequence[str] | None = None,
    constraint: Any = None,
    schema_options: dict | None = None,
    sampling: str = "mask",
    max_new_tokens: int = 256,
    jump_forward: bool = True,
    stop_strings: str | Sequence[str] | None = None,
    decoder: str = "structgen",
    return_stats: bool = False,
    **generate_kwargs: Any,
) -> Any:
    """Generate text in a constraint's language: a regex, a JSON Schema, a Lark or GBNF grammar.

    Give exactly one of ``regex``, ``schema``, ``grammar`` (Lark text, or a shipped grammar's name:
    ``"json"``, ``"sql"``, ...), ``gbnf`` (llama.cpp grammar text) or ``constraint`` (an already
    compiled constraint), each one value or one per prompt. ``schema`` is a JSON Schema (dict or
    JSON text) or a pydantic model class; outputs are then parsed objects (model instances for a
    model class), and ``schema_options`` go to ``compile_json_schema`` (``lenient``,
    ``whitespace``, ...). Other constraints give text.

    Decoding runs structgen's own KV-cached loop (``structgen.integrations._decode``): with
    ``jump_forward=True`` the tokens the constraint forces are appended without a model choice and
    run through the model in one forward pass with the next chosen token. It supports greedy and
    sampling (``do_sample``, ``temperature``, ``top_k``, ``top_p``, ``seed``), batches of prompts
    with different constraints, ``num_return_sequences``, ``stop_strings`` (a row stops after the
    token that completes one; the stop string stays in the text) and ``overlap=True`` (fill the next
    mask in a thread while the model runs). Anything else falls back to ``model.generate`` with
    ``StructuredLogitsProcessor`` (no jump-forward there): ``num_beams > 1``, ``sampling="rejection"``
    (checks only the drawn tokens; same distribution as masking), a ``logits_processor``, any other
    ``model.generate`` keyword, or ``decoder="hf"``.

    Prompts are used as given (apply a chat template first for chat models). Returns one result per
    prompt (a single one for a single prompt), or a list of ``num_return_sequences`` per prompt;
    with ``return_stats=True`` a ``(results, DecodeStats)`` pair (forward passes, chosen and forced
    tokens, time to first token). A row cut off by ``max_new_tokens`` before its constraint could
    end is returned as far as it got (``None`` for a schema), with a warning.
    """
    single = isinstance(prompts, str)
    prompt_list = [prompts] if single else list(prompts)
    if not prompt_list:
        raise ValueError("Expected at least one prompt")
    if max_new_tokens < 1:
        raise ValueError(f"Expected max_new_tokens >= 1, but got {max_new_tokens}")
    vocab = model_vocabulary(model, tokenizer)
    kind, constraints = select_constraints(
        {"regex": regex, "schema": schema, "grammar": grammar, "gbnf": gbnf, "constraint": constraint},
        len(prompt_list),
        vocab,
        {"schema_options": schema_options or {}},
    )
    for c in constraints:
        if c.vocab.size != vocab.size:
            raise ValueError(
                f"Expected a constraint compiled for the model's logits width {vocab.size}, but got one for "
                f"{c.vocab.size}: compile it against "
                "structgen.integrations._generate.model_vocabulary(model, tokenizer)"
            )
    stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
    repeats = int(generate_kwargs.get("num_return_sequences", 1) or 1)
    if uses_own_loop(decoder, sampling, generate_kwargs):
        from structgen.integrations._own_loop import run_own_loop

        rows, stats = run_own_loop(
            model, tokenizer, vocab, prompt_list, constraints, repeats=repeats, max_new_tokens=max_new_tokens,
            jump_forward=jump_forward, stop_strings=stops, generate_kwargs=generate_kwargs,
        )
    else:
        from structgen.integrations._hf_loop import run_hf_generate

        rows, stats = run_hf_generate(
            model, tokenizer, vocab, prompt_list, constraints, sampling=sampling, max_new_tokens=max_new_tokens,
            stop_strings=stops, generate_kwargs=generate_kwargs,
        )
    results = _finish(rows, constraints, vocab, kind, max_new_tokens, bool(stops))
    per_prompt = len(results) // len(prompt_list)
    if per_prompt == 1:
        out: Any = results[0] if single else results
    else:
        grouped = [results[i * per_prompt : (i + 1) * per_prompt] for i in range(len(prompt_list))]
        out = grouped[0] if single else grouped
    return (out, stats) if return_stats else out


def _finish(rows: list, constraints: list, vocab: Vocabulary, kind: str, max_new_tokens: int, stops: bool) -> list:
    """Texts (or parsed objects for ``schema=``) from each row's tokens, warning on cut-off rows."""
    out: list[Any] = []
    for row, (tokens, ended) in enumerate(rows):
        data = b"".join(vocab.token_bytes[t] for t in tokens)
        text = data.decode("utf-8", errors="replace")
        constraint = constraints[row * len(constraints) // len(rows)]
        complete = ended or constraint.matches(data)
        if not complete:
            warnings.warn(
                f"row {row} reached max_new_tokens={max_new_tokens}{' or a stop string' if stops else ''} "
                "before its constraint could end: "
                f"{text[:60]!r}... is incomplete" + (" (returned as None)" if kind == "schema" else ""),
                stacklevel=3,
            )
        if kind == "schema":
            out.append(_parse(text, constraint) if complete else None)
        else:
            out.append(text)
    return out
