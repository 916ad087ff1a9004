"""structgen: constrained generation for language models.

Compile a constraint against a tokenizer's vocabulary, then let it mask the model's choices::

    import structgen
    model, tokenizer = structgen.load_default_model()
    structgen.generate(model, tokenizer, "A date: ", regex=r"\\d{4}-\\d{2}-\\d{2}")

Constraints: ``compile_regex``, ``compile_json_schema`` (dicts, JSON text, pydantic models),
``compile_grammar`` (Lark grammars, or a shipped one by name: ``"json"``, ``"sql"``, ...) and
``compile_gbnf`` (llama.cpp grammars).

``import structgen`` stays light: numba, torch and transformers load on first use of the names
that need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from structgen._errors import (
    CompileTimeoutError,
    GrammarError,
    MissingDependencyError,
    SchemaError,
    StructgenError,
    TokenizerError,
    UnsatisfiableConstraintError,
    UnsupportedFeatureError,
)

__version__ = "0.1.0"

_LAZY = {
    "Constraint": "structgen._constraint",
    "compile_regex": "structgen._constraint",
    "compile_grammar": "structgen.grammar",
    "compile_gbnf": "structgen.grammar",
    "compile_json_schema": "structgen.schema",
    "schema_report": "structgen.schema",
    "Matcher": "structgen._matcher",
    "allocate_bitmask": "structgen._bitmask",
    "Vocabulary": "structgen.vocab",
    "StructuredLogitsProcessor": "structgen.sampling",
    "apply_token_bitmask_": "structgen.sampling",
    "smc": "structgen.sampling",
    "GrammarAlignedSampler": "structgen.sampling",
    "generate": "structgen.integrations",
    "load_default_model": "structgen.integrations",
    "stream": "structgen.integrations",
}

__all__ = [
    "CompileTimeoutError",
    "Constraint",
    "GrammarAlignedSampler",
    "GrammarError",
    "Matcher",
    "MissingDependencyError",
    "SchemaError",
    "StructgenError",
    "StructuredLogitsProcessor",
    "TokenizerError",
    "UnsatisfiableConstraintError",
    "UnsupportedFeatureError",
    "Vocabulary",
    "allocate_bitmask",
    "apply_token_bitmask_",
    "compile_gbnf",
    "compile_grammar",
    "compile_json_schema",
    "compile_regex",
    "generate",
    "load_default_model",
    "schema_report",
    "smc",
    "stream",
]

if TYPE_CHECKING:
    from structgen._bitmask import allocate_bitmask
    from structgen._constraint import Constraint, compile_regex
    from structgen._matcher import Matcher
    from structgen.grammar import compile_gbnf, compile_grammar
    from structgen.integrations import generate, load_default_model, stream
    from structgen.sampling import GrammarAlignedSampler, StructuredLogitsProcessor, apply_token_bitmask_, smc
    from structgen.schema import compile_json_schema, schema_report
    from structgen.vocab import Vocabulary


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'structgen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
