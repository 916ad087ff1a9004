"""Choosing each prompt's constraint from ``generate``'s keyword arguments (``regex=``, ``schema=``, ``constraint=``).

One place to extend: a new constraint source is one more entry in ``COMPILERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from structgen.vocab import Vocabulary


def _compile_regex(pattern: Any, vocab: Vocabulary, options: dict) -> Any:
    from structgen._constraint import compile_regex

    return compile_regex(pattern, vocab)


def _compile_schema(schema: Any, vocab: Vocabulary, options: dict) -> Any:
    from structgen.schema import compile_json_schema

    return compile_json_schema(schema, vocab, **options.get("schema_options", {}))


def _compile_grammar(grammar: Any, vocab: Vocabulary, options: dict) -> Any:
    from structgen.grammar import compile_grammar

    return compile_grammar(grammar, vocab, **options.get("grammar_options", {}))


def _compile_gbnf(grammar: Any, vocab: Vocabulary, options: dict) -> Any:
    from structgen.grammar import compile_gbnf

    return compile_gbnf(grammar, vocab, **options.get("grammar_options", {}))


# keyword -> compile(value, vocab, options); "constraint" (already compiled) is handled separately.
COMPILERS: dict[str, Callable[[Any, Vocabulary, dict], Any]] = {
    "regex": _compile_regex,
    "schema": _compile_schema,
    "grammar": _compile_grammar,
    "gbnf": _compile_gbnf,
}


def per_prompt(value: Any, n_prompts: int, name: str) -> list:
    """``value`` repeated for every prompt, or the list given (checked to have one per prompt)."""
    single = not isinstance(value, (list, tuple))
    values = [value] * n_prompts if single else list(value)
    if len(values) != n_prompts:
        raise ValueError(f"Expected one {name} or one per prompt ({n_prompts}), but got {len(values)}")
    return values


def select_constraints(
    sources: dict[str, Any], n_prompts: int, vocab: Vocabulary, options: dict | None = None
) -> tuple[str, list[Any]]:
    """``(kind, one constraint per prompt)`` from exactly one non-None entry of ``sources``.

    ``sources`` maps keyword names (``regex``, ``schema``, ``constraint``, ...) to what the caller
    passed. A ``constraint`` is anything with ``matcher()``, ``matches()`` and ``vocab`` (a
    ``Constraint``, or a grammar constraint), used as given.
    """
    given = {k: v for k, v in sources.items() if v is not None}
    if len(given) != 1:
        names = " or ".join(f"{k}=..." for k in sources)
        raise TypeError(f"generate() needs exactly one constraint: {names} (got {len(given)})")
    kind, value = given.popitem()
    values = per_prompt(value, n_prompts, kind)
    if kind == "constraint":
        for c in values:
            if not (hasattr(c, "matcher") and hasattr(c, "matches") and hasattr(c, "vocab")):
                raise TypeError(
                    f"Expected a compiled constraint (compile_regex, compile_json_schema, ...), "
                    f"but got {type(c).__name__}"
                )
        return kind, values
    compile_one = COMPILERS.get(kind)
    if compile_one is None:
        raise TypeError(f"Unknown constraint keyword {kind!r}; expected one of {sorted([*COMPILERS, 'constraint'])}")
    compiled: dict[int, Any] = {}  # one value repeated for every prompt compiles once
    for v in values:
        if id(v) not in compiled:
            compiled[id(v)] = compile_one(v, vocab, options or {})
    return kind, [compiled[id(v)] for v in values]
