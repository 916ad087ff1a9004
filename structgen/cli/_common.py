"""Shared pieces of the command line: exit codes, errors, reading inputs, progress, warnings."""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

SCHEMA_HELP = "schema file, '-' for stdin, or inline JSON starting with '{'"

OK = 0
INVALID = 1  # validate: some instance does not match the schema
USAGE = 2  # bad arguments, unreadable file, invalid JSON, invalid schema
UNSUPPORTED = 3  # the schema uses keywords structgen does not enforce
CUT_OFF = 4  # generate: max_new_tokens ran out before the JSON could end
INTERNAL = 70  # an unexpected error (a bug)

STDIN = "-"
STDIN_NAME = "<stdin>"


class CliError(Exception):
    """An error to report as one message on stderr, with an exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def read_text(path: str) -> str:
    """Read a file (``-``: stdin) as UTF-8 text, or raise ``CliError`` naming the file."""
    if path == STDIN:
        return sys.stdin.read()
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}") from None


def display_name(path: str) -> str:
    """How a file argument is named in messages."""
    return STDIN_NAME if path == STDIN else path


def parse_json(text: str, name: str) -> Any:
    """Parse one JSON document, or raise ``CliError`` with ``name:line:column``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def load_schema_arg(arg: str) -> tuple[Any, str]:
    """The SCHEMA argument (a path, ``-`` for stdin, or inline JSON starting with ``{``) → (schema, name)."""
    if arg.lstrip().startswith("{"):
        return parse_json(arg, "<schema argument>"), "<schema argument>"
    name = display_name(arg)
    return parse_json(read_text(arg), name), name


def check_schema(schema: Any, name: str) -> type:
    """The jsonschema validator class for ``schema``; raise ``CliError`` if the schema is invalid for it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, (dict, bool)):
        raise CliError(f"{name}: invalid schema: expected an object or a boolean, got {type(schema).__name__}")
    cls = validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = schema_pointer(exc.path)  # the location inside the schema document
        raise CliError(f"{name}: invalid schema at {where}: {shorten(exc.message)}") from None
    return cls


def json_pointer(parts: Any) -> str:
    """RFC 6901 JSON pointer of a path (``""`` is the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def schema_pointer(parts: Any) -> str:
    """A location in the schema as a URI fragment: ``#/properties/a/type``."""
    return "#" + json_pointer(parts)


def shorten(text: str, limit: int = 300) -> str:
    """Cut long messages (jsonschema quotes whole instances) to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def emit_json(obj: Any, out: TextIO | None = None) -> None:
    """Print one compact JSON object on its own line."""
    print(json.dumps(obj, ensure_ascii=False), file=out or sys.stdout)


def warn(message: str) -> None:
    """Print a warning on stderr."""
    print(f"structgen: warning: {message}", file=sys.stderr)


@contextmanager
def reported_warnings() -> Iterator[list[str]]:
    """Collect Python warnings raised inside the block; print each on stderr at the end."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        messages: list[str] = []
        try:
            yield messages
        finally:
            messages.extend(str(w.message) for w in caught)
            for message in messages:
                warn(message)


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal and the run is long."""

    MIN_TOTAL = 200
    INTERVAL = 0.1

    def __init__(self, total: int, label: str) -> None:
        self.total = total
        self.label = label
        self.enabled = total > self.MIN_TOTAL and sys.stderr.isatty()
        self._last = 0.0
        self._shown = False

    def update(self, done: int) -> None:
        """Redraw with ``done`` items finished (at most every ``INTERVAL`` seconds)."""
        now = time.monotonic()
        if not self.enabled or (now - self._last < self.INTERVAL and done < self.total):
            return
        self._last = now
        width = 30
        filled = width * done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {done}/{self.total}")
        sys.stderr.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the bar (before printing other lines, and at the end)."""
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self._shown = False
            self._last = 0.0
