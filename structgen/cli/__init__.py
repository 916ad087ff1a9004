"""The ``structgen`` command line: ``validate``, ``check``, ``compile`` and ``generate`` JSON Schemas."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from structgen import __version__
from structgen._errors import StructgenError, UnsupportedFeatureError
from structgen.cli import _schema_commands, _validate
from structgen.cli._common import INTERNAL, UNSUPPORTED, USAGE, CliError

__all__ = ["build_parser", "main"]

EPILOG = """exit status:
  0  success (validate: every instance valid; check: everything supported)
  1  validate: some instance does not match the schema
  2  usage or input error: bad arguments, unreadable file, invalid JSON, invalid schema
  3  the schema uses keywords structgen does not enforce (compile/generate: pass --lenient)
  4  generate: cut off by --max-new-tokens before the JSON value ended
 70  internal error (a bug in structgen)"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its four subcommands."""
    parser = argparse.ArgumentParser(
        prog="structgen",
        description="Validate data against JSON Schemas and see what structgen's constrained generation makes of them.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"structgen {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _validate.add_parser(subparsers)
    _schema_commands.add_parsers(subparsers)
    return parser


def _exit_code(code: object) -> int:
    """argparse's ``SystemExit.code`` as an int."""
    if code is None:
        return 0
    return code if isinstance(code, int) else USAGE


def _error(message: str, code: int) -> int:
    """Print ``structgen: error: message`` on stderr and return ``code``."""
    print(f"structgen: error: {message}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    """Run the chosen command, turning every failure into a message and an exit code."""
    try:
        return args.run(args)
    except CliError as exc:
        return _error(str(exc), exc.code)
    except UnsupportedFeatureError as exc:
        return _error(str(exc), UNSUPPORTED)
    except StructgenError as exc:
        return _error(str(exc), USAGE)
    except KeyboardInterrupt:
        return _error("interrupted", 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 141
    except Exception as exc:  # the CLI's promise: a message, never a traceback
        return _error(f"internal error: {type(exc).__name__}: {exc}", INTERNAL)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return _exit_code(exc.code)
    if args.command is None:
        parser.print_usage(sys.stderr)
        return _error("a command is required: validate, check, compile or generate", USAGE)
    return _dispatch(args)
