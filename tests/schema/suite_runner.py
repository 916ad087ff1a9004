"""Runs the official JSON-Schema-Test-Suite through compile_json_schema, token by token.

For every test: compile the group's schema (strictly: a keyword structgen does not enforce is a
compile failure, never a silent pass), serialise the instance the way the constraint writes JSON
(compact, or json.dumps(indent=...) with whitespace="indented"; properties in the instance's order,
or else the schema's), tokenize it, and advance a matcher token by token. A valid instance passes
when every token is accepted and the matcher ends accepting; an invalid one passes when some token
is refused or the end is not accepting.

``python -m tests.schema.suite_runner --write-baseline`` rewrites the ratchet file.
"""

from __future__ import annotations

import argparse
import functools
import json
from collections import Counter
from pathlib import Path

from structgen import StructgenError, compile_json_schema

SUITE = Path(__file__).resolve().parents[3] / "shared" / "data" / "json-schema-test-suite" / "tests"
DRAFTS = ["draft4", "draft6", "draft7", "draft2019-09", "draft2020-12"]
BASELINE = Path(__file__).with_name("test_suite_baseline.json")
REMOTES = SUITE.parent / "remotes"


@functools.cache
def remote_documents() -> dict[str, object]:
    """The suite's remote schemas by the URI its tests use for them (served, in the suite's own
    runner, at http://localhost:1234/): structgen takes them as registered documents."""
    return {f"http://localhost:1234/{p.relative_to(REMOTES).as_posix()}": json.loads(p.read_text())
            for p in sorted(REMOTES.rglob("*.json"))}


def _accepts(constraint, token_ids: list[int]) -> bool:
    matcher = constraint.matcher()
    return matcher.advance_many(token_ids) == len(token_ids) and matcher.is_accepting()


def _name_order(schema) -> dict[str, int]:
    """Property names in the order the schema document first mentions them."""
    order: dict[str, int] = {}

    def visit(node, in_properties: bool = False) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if in_properties:
                    order.setdefault(key, len(order))
                visit(value, key == "properties")
                if key == "required" and isinstance(value, list):
                    for name in value:
                        if isinstance(name, str):
                            order.setdefault(name, len(order))
                if key in ("const", "enum"):
                    for literal in value if key == "enum" and isinstance(value, list) else [value]:
                        if isinstance(literal, dict):
                            for name in literal:
                                order.setdefault(name, len(order))
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    return order


def _in_schema_order(value, order: dict[str, int]):
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: order.get(k, len(order)))
        return {k: _in_schema_order(value[k], order) for k in keys}
    if isinstance(value, list):
        return [_in_schema_order(v, order) for v in value]
    return value


def dumps(value, whitespace: str = "compact", indent: int = 2) -> str:
    """``value`` as the constraint writes it: json.dumps(indent=...) when indented, else compact
    (which flexible whitespace also accepts)."""
    if whitespace == "indented":
        return json.dumps(value, ensure_ascii=False, indent=indent)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def serialisations(data, schema, whitespace: str = "compact", indent: int = 2) -> list[str]:
    """The instance as the constraint writes JSON (see ``dumps``); properties in instance or schema order."""
    texts = [dumps(data, whitespace, indent)]
    reordered = dumps(_in_schema_order(data, _name_order(schema)), whitespace, indent)
    return texts if reordered == texts[0] else [*texts, reordered]


def run_file(path: Path, vocab, encode, **options) -> Counter:
    """Outcome counts for one test file: pass, false_negative, false_positive, compile_error.

    ``options`` are compile_json_schema's schema options (``whitespace``, ``indent``, ...).
    """
    counts: Counter = Counter()
    layout = {k: options[k] for k in ("whitespace", "indent") if k in options}
    for group in json.loads(path.read_text()):
        try:
            constraint = compile_json_schema(group["schema"], vocab, time_limit=20, documents=remote_documents(),
                                             **options)
        except StructgenError:
            counts["compile_error"] += len(group["tests"])
            continue
        except Exception as exc:  # a bug: counted, and the ratchet test demands zero
            counts["crash"] += len(group["tests"])
            print(f"CRASH {path.parent.name}/{path.name}: {type(exc).__name__}: {exc}")
            continue
        for test in group["tests"]:
            accepted = any(_accepts(constraint, encode(t))
                           for t in serialisations(test["data"], group["schema"], **layout))
            if accepted == test["valid"]:
                counts["pass"] += 1
            else:
                counts["false_negative" if test["valid"] else "false_positive"] += 1
    return counts


def run_suite(vocab, encode, drafts=DRAFTS, **options) -> dict[str, dict[str, dict[str, int]]]:
    results: dict[str, dict[str, dict[str, int]]] = {}
    for draft in drafts:
        results[draft] = {}
        for path in sorted((SUITE / draft).glob("*.json")):
            results[draft][path.stem] = dict(run_file(path, vocab, encode, **options))
    return results


def _smollm2():
    from transformers import AutoTokenizer

    from structgen import Vocabulary
    from structgen.integrations._default_model import default_model_path

    path = default_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return Vocabulary.from_tokenizer(tokenizer), lambda text: tokenizer.encode(text, add_special_tokens=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write-baseline", action="store_true")
    args = parser.parse_args()
    vocab, encode = _smollm2()
    results = run_suite(vocab, encode)
    for draft, files in results.items():
        total = Counter()
        for counts in files.values():
            total.update(counts)
        n = sum(total.values())
        print(f"{draft}: {total['pass']}/{n} pass ({total['pass'] / n:.1%}), {dict(total)}")
    if args.write_baseline:
        BASELINE.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
