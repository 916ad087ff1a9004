"""``structgen validate SCHEMA DATA...``: check JSON / JSONL instances against a schema with jsonschema."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from structgen.cli._common import (
    INVALID,
    OK,
    SCHEMA_HELP,
    STDIN,
    USAGE,
    CliError,
    Progress,
    check_schema,
    display_name,
    emit_json,
    json_pointer,
    load_schema_arg,
    read_text,
    schema_pointer,
    shorten,
)

JSONL_SUFFIXES = (".jsonl", ".ndjson")


@dataclass
class Instance:
    """One JSON value to validate and where it came from."""

    file: str
    line: int | None
    value: Any
    errors: list[dict] = field(default_factory=list)

    @property
    def location(self) -> str:
        """``file:line`` for a JSONL record, ``file`` for a whole document."""
        return self.file if self.line is None else f"{self.file}:{self.line}"


@dataclass
class Inputs:
    """Everything read from the DATA arguments: instances, and messages for what could not be read."""

    instances: list[Instance] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def add_parser(subparsers: Any) -> None:
    """Register the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate",
        help="validate JSON / JSONL data against a JSON Schema (jsonschema, Draft 2020-12 by default)",
        description="Validate JSON documents or JSONL records against a schema. Exit status: 0 all valid, "
        "1 some instance invalid, 2 unreadable input, invalid JSON or invalid schema.",
    )
    p.add_argument("schema", metavar="SCHEMA", help=SCHEMA_HELP)
    p.add_argument("data", metavar="DATA", nargs="+", help="JSON or JSONL (.jsonl/.ndjson) files, '-' for stdin")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary")
    p.add_argument("--format", choices=("text", "json"), default="text", help="json: one JSON object per instance")
    p.set_defaults(run=run)


def _parse_lines(text: str, name: str, inputs: Inputs) -> None:
    """Read JSONL: one JSON value per non-blank line."""
    for number, line in enumerate(text.split("\n"), 1):  # not splitlines(): JSON strings may hold U+2028
        if not line.strip():
            continue
        try:
            inputs.instances.append(Instance(name, number, json.loads(line)))
        except json.JSONDecodeError as exc:
            inputs.problems.append(f"{name}:{number}:{exc.colno}: invalid JSON: {exc.msg}")


def _first_line_parses(text: str) -> bool:
    """Does the text have two or more non-blank lines, the first of them a JSON value on its own?"""
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) < 2:
        return False
    try:
        json.loads(lines[0])
    except json.JSONDecodeError:
        return False
    return True


def read_data(path: str, inputs: Inputs) -> None:
    """Add the instances of one DATA argument (JSON document or JSONL) to ``inputs``."""
    name = display_name(path)
    try:
        text = read_text(path)
    except CliError as exc:
        inputs.problems.append(str(exc))
        return
    if path.endswith(JSONL_SUFFIXES):
        _parse_lines(text, name, inputs)
        return
    if not text.strip():
        inputs.problems.append(f"{name}: empty: no JSON document")
        return
    try:
        inputs.instances.append(Instance(name, None, json.loads(text)))
    except json.JSONDecodeError as exc:
        if _first_line_parses(text):
            _parse_lines(text, name, inputs)
        else:
            inputs.problems.append(f"{name}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}")


def instance_errors(validator: Any, value: Any) -> list[dict]:
    """The validation errors of one instance, ordered by location."""
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [
        {
            "instance_path": json_pointer(e.absolute_path),
            "schema_path": schema_pointer(e.absolute_schema_path),
            "message": e.message,
        }
        for e in errors
    ]


def error_line(instance: Instance, error: dict) -> str:
    """``file:line: at /path: message (schema: #/...)``."""
    where = error["instance_path"] or "(root)"
    return f"{instance.location}: at {where}: {shorten(error['message'])} (schema: {error['schema_path']})"


def result_object(instance: Instance) -> dict:
    """The machine-readable result of one instance."""
    return {"file": instance.file, "line": instance.line, "valid": not instance.errors, "errors": instance.errors}


def summary(instances: list[Instance], problems: list[str]) -> dict:
    """Counts over the whole run."""
    invalid = sum(1 for i in instances if i.errors)
    return {
        "instances": len(instances),
        "valid": len(instances) - invalid,
        "invalid": invalid,
        "errors": sum(len(i.errors) for i in instances),
        "input_errors": len(problems),
    }


def summary_line(counts: dict) -> str:
    """One human line: ``3 instances: 2 valid, 1 invalid (2 errors)``."""
    n = counts["instances"]
    text = f"{n} instance{'s' if n != 1 else ''}: {counts['valid']} valid, {counts['invalid']} invalid"
    if counts["errors"]:
        text += f" ({counts['errors']} error{'s' if counts['errors'] != 1 else ''})"
    if counts["input_errors"]:
        text += f"; {counts['input_errors']} input error{'s' if counts['input_errors'] != 1 else ''}"
    return text


def report_instance(instance: Instance, args: argparse.Namespace, progress: Progress) -> None:
    """Print one instance's result (unless --quiet)."""
    if args.quiet or (args.format == "text" and not instance.errors):
        return
    progress.clear()
    if args.format == "json":
        emit_json(result_object(instance))
    else:
        for error in instance.errors:
            print(error_line(instance, error))


def validate_all(validator: Any, instances: list[Instance], args: argparse.Namespace, schema_name: str) -> None:
    """Validate every instance in order, printing results as they come."""
    from referencing.exceptions import Unresolvable

    progress = Progress(len(instances), "validating")
    try:
        for done, instance in enumerate(instances, 1):
            try:
                instance.errors = instance_errors(validator, instance.value)
            except Unresolvable as exc:
                raise CliError(f"{schema_name}: cannot resolve a $ref: {exc}") from None
            report_instance(instance, args, progress)
            progress.update(done)
    finally:
        progress.clear()


def run(args: argparse.Namespace) -> int:
    """Validate each DATA instance against SCHEMA; exit 0 all valid, 1 some invalid, 2 input errors."""
    if args.data.count(STDIN) + (args.schema == STDIN) > 1:
        raise CliError("stdin ('-') can be read only once: give it to SCHEMA or to one DATA argument")
    schema, schema_name = load_schema_arg(args.schema)
    cls = check_schema(schema, schema_name)
    from jsonschema import FormatChecker

    validator = cls(schema, format_checker=FormatChecker())
    inputs = Inputs()
    for path in args.data:
        read_data(path, inputs)
    for problem in inputs.problems:
        print(f"structgen: error: {problem}", file=sys.stderr)
    validate_all(validator, inputs.instances, args, schema_name)
    counts = summary(inputs.instances, inputs.problems)
    if args.format == "json":
        if args.quiet:
            emit_json(counts)
    else:
        print(summary_line(counts))
    if inputs.problems:
        return USAGE
    return INVALID if counts["invalid"] else OK
