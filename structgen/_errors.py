"""The structgen exception tree.

::

    StructgenError                         root: catch this to catch everything structgen raises
    ├── GrammarError (ValueError)          a constraint's text is malformed (says where: position, line:col)
    ├── SchemaError (ValueError)           a JSON Schema is invalid (says where: the JSON pointer)
    ├── UnsupportedFeatureError (ValueError)  well-formed, but uses something structgen does not enforce
    ├── UnsatisfiableConstraintError (ValueError)  the constraint's language is empty for this vocabulary
    ├── TokenizerError (ValueError)        a tokenizer structgen cannot read exactly
    ├── CompileTimeoutError (TimeoutError)  compiling a constraint ran past its time limit
    └── MissingDependencyError (ImportError)  an optional package is needed; says what to install
"""

from __future__ import annotations


class StructgenError(Exception):
    """Root of every error structgen raises."""


class GrammarError(StructgenError, ValueError):
    """A constraint's source text is malformed."""


class SchemaError(StructgenError, ValueError):
    """A JSON Schema is malformed."""


class UnsupportedFeatureError(StructgenError, ValueError):
    """A constraint uses a feature structgen does not enforce."""


class UnsatisfiableConstraintError(StructgenError, ValueError):
    """No token sequence of the vocabulary can satisfy the constraint."""


class TokenizerError(StructgenError, ValueError):
    """The tokenizer's token bytes cannot be determined exactly."""


class CompileTimeoutError(StructgenError, TimeoutError):
    """Compiling a constraint ran past its time limit."""


class MissingDependencyError(StructgenError, ImportError):
    """An optional dependency is not installed."""


def caret_snippet(text: str, pos: int) -> str:
    """Return ``text`` with a caret line under character ``pos`` (for error messages)."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line_end = len(text) if line_end == -1 else line_end
    line = text[line_start:line_end]
    return f"    {line}\n    {' ' * (pos - line_start)}^"
