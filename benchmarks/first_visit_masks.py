"""Token index cost per state, the working tree's ``structgen.index`` against an earlier revision's.

JSONSchemaBench schemas (a fixed sample per split) are compiled with the DeepSeek vocabulary and
their valid instances forced token by token, as ``jsonschemabench.py`` does; the automaton states
a matcher visits are recorded. Then each version of the token index is built on the same automaton
(index construction + start mask: its part of TTFM) and asked for the mask of every visited state
in that order, timed one by one with process CPU time: a state's first visit computes its mask, the
next ones read it. The two versions run in the same process, one after the other on every schema
(alternating which goes first), so they share the machine's load.

Run from the repository root::

    .venv/bin/python benchmarks/first_visit_masks.py --before HEAD --limit 4

``--before REV`` takes ``structgen/index`` from that git revision (the rest of structgen is the
working tree's).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # for tests.schema.suite_runner
    sys.path.insert(0, str(ROOT))

from _common import load_tokenizer, percentile  # noqa: E402
from jsonschemabench import DATA, SPLITS, read_records, sample_indices  # noqa: E402

PACKAGE = "structgen/index"
# loads every kernel of both versions before the timings (a free string, a pattern, a bounded one)
WARMUP_SCHEMA = {
    "type": "object",
    "properties": {
        "a": {"type": "integer"},
        "b": {"type": "string"},
        "c": {"type": "string", "pattern": "^[a-z]+$"},
        "d": {"type": "string", "maxLength": 3},
    },
}
WARMUP_INSTANCE = {"a": 1, "b": "x y", "c": "abc", "d": "xy"}


def load_revision(rev: str, folder: Path) -> Any:
    """``structgen.index`` of git revision ``rev`` as a package of its own (``sg_index_before``)."""
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", rev, PACKAGE + "/"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    pkg = folder / "sg_index_before"
    pkg.mkdir()
    for path in names:
        if not path.endswith(".py"):
            continue
        text = subprocess.run(
            ["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (pkg / Path(path).name).write_text(text.replace("structgen.index", "sg_index_before"))
    sys.path.insert(0, str(folder))
    return importlib.import_module("sg_index_before._token_index")


def visited_states(constraint: Any, tokenizer: Any, rec: dict[str, Any]) -> list[list[int]]:
    """Per valid instance: the states a matcher is in before each mask fill (start included)."""
    from tests.schema.suite_runner import serialisations

    paths = []
    for test in rec.get("tests", []):
        if not test["valid"]:
            continue
        for text in serialisations(test["data"], rec["schema"]):
            matcher, path, ok = constraint.matcher(), [], True
            for token in tokenizer.encode(text, add_special_tokens=False):
                path.append(_outer_state(matcher))
                if not matcher.advance(token):
                    ok = False
                    break
            if ok:
                path.append(_outer_state(matcher))
                paths.append([s for s in path if s is not None])
                break
    return paths


def _outer_state(matcher: Any) -> int | None:
    """The automaton state; None inside an open value's containers (a ``PushdownMatcher`` with a
    stack), whose masks are not the token index's."""
    if hasattr(matcher, "state"):
        return matcher.state
    state, stack = matcher._history[-1]
    return state if stack is None else None


def time_version(module: Any, dfa: Any, vocab: Any, paths: list[list[int]]) -> tuple[float, list[float], list[float]]:
    """``(index build + start mask µs, every mask µs, first-visit mask µs)`` of one index version."""
    clock = time.process_time_ns
    t0 = clock()
    index = module.TokenIndex(dfa, vocab)
    build = (clock() - t0) / 1e3
    seen = {dfa.start}
    every, first = [], []
    for path in paths:
        for state in path:
            if state < 0:  # finished
                continue
            t0 = clock()
            index.mask(state)
            dt = (clock() - t0) / 1e3
            every.append(dt)
            if state not in seen:
                seen.add(state)
                first.append(dt)
    return build, every, first


def summary(label: str, build: list[float], every: list[float], first: list[float]) -> dict[str, Any]:
    out = {"version": label, "schemas": len(build), "masks": len(every), "first_visits": len(first)}
    for name, values in (("mask", every), ("first_visit", first)):
        for q in (50, 99):
            out[f"{name}_p{q}_us"] = round(percentile(values, q), 1)
        out[f"{name}_max_us"] = round(max(values, default=float("nan")), 1)
    out["first_visit_total_ms"] = round(sum(first) / 1e3, 1)
    for q in (50, 99):
        out[f"index_ttfm_p{q}_us"] = round(percentile(build, q), 1)
    out["index_ttfm_max_us"] = round(max(build, default=float("nan")), 1)
    return out


class CompileStuck(Exception):
    pass


def _stuck(signum: int, frame: Any) -> None:
    raise CompileStuck


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGALRM, _stuck)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", default="HEAD", help="git revision of the 'before' structgen/index")
    p.add_argument("--limit", type=int, default=4, help="schemas per split (fixed sample)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--splits", default="all")
    p.add_argument("--compile-limit", type=float, default=5.0)
    p.add_argument("--json", type=Path, help="also write the per-schema timings here")
    args = p.parse_args(argv)
    os.environ["STRUCTGEN_CACHE_DIR"] = ""  # no disk cache: every index is built cold
    import structgen
    from structgen.index import _token_index as after

    tokenizer = load_tokenizer("deepseek")
    vocab = structgen.Vocabulary.from_tokenizer(tokenizer)
    vocab.trie  # noqa: B018 - built once per vocabulary, outside the timings
    with tempfile.TemporaryDirectory() as tmp:
        before = load_revision(args.before, Path(tmp))
        versions = {"before": before, "after": after}
        # warm-up (numba loads, per-vocabulary tables, the warm-up schema's caches), untimed
        warm = structgen.compile_json_schema(WARMUP_SCHEMA, vocab)
        warm_rec = {"schema": WARMUP_SCHEMA, "tests": [{"valid": True, "data": WARMUP_INSTANCE}]}
        warm_paths = visited_states(warm, tokenizer, warm_rec)
        for module in versions.values():
            time_version(module, warm.index.dfa, vocab, warm_paths)
        results: dict[str, tuple[list[float], list[float], list[float]]] = {k: ([], [], []) for k in versions}
        rows = []
        splits = list(SPLITS) if args.splits == "all" else args.splits.split(",")
        n = 0
        for split in splits:
            for rec in read_records(split, sample_indices(split, args.limit, args.seed, DATA), DATA):
                print(f"{rec['unique_id']} ...", file=sys.stderr, flush=True)
                signal.alarm(int(2 * args.compile_limit) + 1)  # a compile that misses its own limit
                try:
                    constraint = structgen.compile_json_schema(rec["schema"], vocab, time_limit=args.compile_limit)
                except Exception:  # refused, timed out, stuck (the alarm can surface as SystemError)
                    continue
                finally:
                    signal.alarm(0)
                if not hasattr(constraint, "index"):
                    continue  # a grammar (recursive schema): no token index
                paths = visited_states(constraint, tokenizer, rec)
                if not paths:
                    continue
                order = list(versions) if n % 2 == 0 else list(reversed(versions))
                n += 1
                row = {"id": rec["unique_id"], "states": constraint.index.dfa.n_states}
                for label in order:
                    build, every, first = time_version(versions[label], constraint.index.dfa, vocab, paths)
                    results[label][0].append(build)
                    results[label][1].extend(every)
                    results[label][2].extend(first)
                    row[label] = {"build_us": build, "first_visit_us": first}
                rows.append(row)
                print(f"{rec['unique_id']}: " + ", ".join(
                    f"{k} {sum(row[k]['first_visit_us']) / 1e3:.1f} ms" for k in versions
                ), flush=True)
        for label in versions:
            print(json.dumps(summary(label, *results[label])))
        if args.json:
            args.json.write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
