"""The public namespace is small, sorted and pinned; importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import structgen

PUBLIC = [
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


def test_public_names_are_exactly_the_documented_ones():
    assert structgen.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(structgen, name) is not None


def test_every_error_derives_from_structgen_error():
    for name in PUBLIC:
        obj = getattr(structgen, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, structgen.StructgenError)


def test_import_structgen_loads_neither_torch_nor_transformers_nor_numba():
    code = "import sys, structgen; print(sorted(m for m in ('torch', 'transformers', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
