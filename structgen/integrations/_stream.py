"""``stream``: constrained generation for one prompt, yielding text as it is produced."""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from typing import Any

from structgen.integrations._generate import model_vocabulary
from structgen.integrations._select import select_constraints


def stream(
    model: Any,
    tokenizer: Any,
    prompt: str,
    *,
    regex: str | None = None,
    schema: Any = None,
    grammar: str | Sequence[str] | None = None,
    gbnf: str | Sequence[str] | None = None,
    constraint: Any = None,
    schema_options: dict | None = None,
    max_new_tokens: int = 256,
    jump_forward: bool = True,
    stop_strings: str | Sequence[str] | None = None,
    **generate_kwargs: Any,
) -> Iterator[str]:
    """Yield the text of one constrained generation in chunks as it is produced (forced chunks included).

    Takes the arguments of ``generate`` for a single prompt (``do_sample``, ``temperature``,
    ``top_k``, ``top_p``, ``seed``, ``overlap``); the chunks joined are ``generate``'s text (JSON text
    for ``schema=``: nothing is parsed). Bytes of a character split across tokens are held back
    until the character is complete. A cut-off generation warns, as ``generate`` does.
    """
    if not isinstance(prompt, str):
        raise TypeError(f"stream() takes one prompt (a str), but got {type(prompt).__name__}")
    unknown = set(generate_kwargs) - {"do_sample", "temperature", "top_k", "top_p", "seed", "overlap"}
    if unknown:
        raise TypeError(f"stream() does not take {sorted(unknown)} (structgen's own decode loop only)")
    from structgen.integrations._own_loop import build_loop  # torch loads on first use, not on import

    vocab = model_vocabulary(model, tokenizer)
    kind, constraints = select_constraints(
        {"regex": regex, "schema": schema, "grammar": grammar, "gbnf": gbnf, "constraint": constraint}, 1, vocab,
        {"schema_options": schema_options or {}},
    )
    stops = [stop_strings] if isinstance(stop_strings, str) else list(stop_strings or [])
    loop = build_loop(
        model, tokenizer, vocab, [prompt], constraints, repeats=1, max_new_tokens=max_new_tokens,
        jump_forward=jump_forward, stop_strings=stops, generate_kwargs=generate_kwargs,
    )
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    eos = set(vocab.eos_token_ids)
    data = bytearray()
    for step in loop.steps():
        for _, tokens in step:
            chunk = b"".join(vocab.token_bytes[t] for t in tokens if t not in eos)
            data += chunk
            text = decoder.decode(chunk)
            if text:
                yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail
    result = loop.results[0]
    if not result.ended and not constraints[0].matches(bytes(data)):
        import warnings

        warnings.warn(
            f"row 0 reached max_new_tokens={max_new_tokens} before its constraint could end: "
            f"{data[:60].decode('utf-8', errors='replace')!r}... is incomplete",
            stacklevel=2,
        )
