"""JSONSchemaBench under the MaskBench protocol: structgen vs llguidance vs XGrammar vs outlines-core.

For every sampled schema each engine compiles the schema (TTFM = compile + first token mask), then
forces every test instance of the schema through a fresh matcher token by token: one mask fill per
token (timed), a check that the mask allows the next token, then the token is consumed (untimed).
An instance is *accepted* when every token was allowed and the matcher ends in an accepting state.
A schema *passes* (MaskBench's definition) when it compiled, every valid instance was accepted and
no invalid instance was. Each engine runs in its own worker process, killed past a per-schema time
limit or a memory limit, and restarted on the next schema.

Run from the repository root::

    .venv/bin/python benchmarks/jsonschemabench.py --engines structgen,llguidance,xgrammar,outlines \\
        --splits all --limit 50 --seed 0 --out docs/benchmarks.md

writes the section "JSON Schema: JSONSchemaBench (MaskBench protocol)" of ``docs/benchmarks.md`` and
the raw per-schema results to ``benchmarks/results/jsonschemabench-<engine>.jsonl`` (the first line
of each is the run's metadata). ``--report-only`` rebuilds the section from those files.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import re
import shlex
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # for tests.schema.suite_runner
    sys.path.insert(0, str(ROOT))

from _adapters import (  # noqa: E402
    LLGuidanceAdapter,
    OutlinesCoreAdapter,
    StructgenAdapter,
    XGrammarAdapter,
    bit_is_set,
)
from _common import (  # noqa: E402
    Worker,
    WorkerLimit,
    emit,
    load_tokenizer,
    machine_summary,
    package_versions,
    replace_section,
)
from _schemabench_results import (  # noqa: E402
    RESULTS,
    findings_markdown,
    kill_after,
    load_results,
    report_markdown,
    results_path,
    same_plan,
)

SECTION = "## JSON Schema: JSONSchemaBench (MaskBench protocol)"
FULL_SECTION = "## JSON Schema: JSONSchemaBench, every schema (MaskBench protocol)"  # a sample's is SECTION
DATA = ROOT.parent / "shared" / "data" / "jsonschemabench"
SPLITS = (
    "Github_trivial",
    "Github_easy",
    "Github_medium",
    "Github_hard",
    "Github_ultra",
    "Glaiveai2K",
    "JsonSchemaStore",
    "Kubernetes",
    "Snowplow",
    "WashingtonPost",
)
VERSIONED = ("structgen", "llguidance", "xgrammar", "outlines-core", "transformers", "tokenizers", "numpy")
TOKENIZER = "deepseek"
# run before the timings, so that no engine's first schema pays for loading its code: a flat
# schema, and a recursive one (structgen's grammar engine)
WARMUPS = [
    ({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}}, {"a": 1, "b": "x"}),
    (
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"$ref": "#"}}},
        {"a": 1, "b": "x", "c": {"a": 2, "d": "y"}},
    ),
]
PEER_UNSUPPORTED = re.compile(r"unimplemented|not supported|unsupported|not implemented", re.IGNORECASE)


# --------------------------------------------------------------------------------------------- engines


class SchemaEngine(ABC):
    """What the benchmark needs from an engine, on top of the regex benchmark's adapters."""

    name = ""
    compile_limit_s = 10.0
    self_limiting = False  # stops its own compile at the limit (the others are killed a little after)

    @abstractmethod
    def compile_schema(self, schema: dict[str, Any]) -> Any:
        ...

    def compile_status(self, exc: Exception) -> str:
        """The compile status an exception from ``compile_schema`` stands for."""
        return "unsupported" if PEER_UNSUPPORTED.search(str(exc)) else "error"

    def serialisations(self, data: Any, schema: dict[str, Any]) -> list[str]:
        """MaskBench's serialisation (its runner: ``json.dumps(data, indent=None, ensure_ascii=False)``)."""
        return [json.dumps(data, indent=None, ensure_ascii=False)]

    def accepting(self, matcher: Any, bitmask: np.ndarray, eos: int) -> bool:
        """Whether the matcher may stop here (default: the mask just filled allows EOS)."""
        return bit_is_set(bitmask, eos)


class StructgenEngine(StructgenAdapter, SchemaEngine):
    name = "structgen"
    self_limiting = True

    def compile_schema(self, schema: dict[str, Any]) -> Any:
        return self._structgen.compile_json_schema(schema, self.vocab, time_limit=self.compile_limit_s)

    def reset_caches(self) -> None:
        """Also forget the DFAs of IR subtrees (kept across schemas), so every compile is cold."""
        super().reset_caches()
        from structgen.automata import _ir, _regular

        _regular.clear_dfa_cache()
        _ir.literal.cache_clear()

    def compile_status(self, exc: Exception) -> str:
        sg = self._structgen
        if isinstance(exc, sg.UnsupportedFeatureError):
            return "unsupported"
        if isinstance(exc, sg.CompileTimeoutError):
            return "timeout"
        if isinstance(exc, sg.StructgenError):  # SchemaError, UnsatisfiableConstraintError, ...
            return "error"
        return "crash"

    def serialisations(self, data: Any, schema: dict[str, Any]) -> list[str]:
        from tests.schema.suite_runner import serialisations

        return serialisations(data, schema)

    def accepting(self, matcher: Any, bitmask: np.ndarray, eos: int) -> bool:
        return bool(matcher.is_accepting())


class LLGuidanceEngine(LLGuidanceAdapter, SchemaEngine):
    name = "llguidance"

    def compile_schema(self, schema: dict[str, Any]) -> Any:
        matcher_cls = self._llg.LLMatcher
        matcher = matcher_cls(self._tokenizer, matcher_cls.grammar_from_json_schema(schema))
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return matcher

    def accepting(self, matcher: Any, bitmask: np.ndarray, eos: int) -> bool:
        return bool(matcher.is_accepting())


class XGrammarEngine(XGrammarAdapter, SchemaEngine):
    """MaskBench's "XGrammar" configuration: ``any_whitespace=False``, ``strict_mode=True``, one thread."""

    name = "xgrammar"

    def setup(self, tokenizer: Any) -> None:
        import xgrammar

        self._xgr = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
        self._compiler = xgrammar.GrammarCompiler(info, max_threads=1, cache_enabled=False)

    def compile_schema(self, schema: dict[str, Any]) -> Any:
        return self._compiler.compile_json_schema(json.dumps(schema), any_whitespace=False, strict_mode=True)


class OutlinesEngine(OutlinesCoreAdapter, SchemaEngine):
    """outlines-core: ``build_regex_from_schema`` (default whitespace ``[ ]?``), then the eager ``Index``."""

    name = "outlines"

    def compile_schema(self, schema: dict[str, Any]) -> Any:
        from outlines_core.json_schema import build_regex_from_schema

        return self._oc.Index(build_regex_from_schema(json.dumps(schema)), self._vocabulary)


ENGINES: dict[str, type[SchemaEngine]] = {
    e.name: e for e in (StructgenEngine, LLGuidanceEngine, XGrammarEngine, OutlinesEngine)
}


# --------------------------------------------------------------------------------------------- data


def sample_indices(split: str, limit: int | None, seed: int, data_dir: Path) -> list[int]:
    """Line numbers of the split's sampled schemas: a fixed random sample per (seed, split)."""
    with open(data_dir / f"{split}.jsonl") as f:
        n = sum(1 for _ in f)
    if limit is None or limit >= n:
        return list(range(n))
    return sorted(random.Random(f"{seed}:{split}").sample(range(n), limit))


def read_records(split: str, indices: list[int], data_dir: Path) -> Iterator[dict[str, Any]]:
    """The records on those lines of the split, in order (only those lines are parsed)."""
    wanted = set(indices)
    with open(data_dir / f"{split}.jsonl") as f:
        for i, line in enumerate(f):
            if i in wanted:
                yield json.loads(line)


# --------------------------------------------------------------------------------------------- one schema


@dataclass
class Walk:
    accepted: bool  # every token allowed by the mask and consumed, and the end accepting
    tokens_ok: bool  # every token allowed and consumed (MaskBench's own criterion)
    fill_us: list[float]
    stopped_at: int | None = None  # position of the first token refused
    inconsistent: bool = False  # the mask allowed a token that advance then refused


@dataclass
class SchemaResult:
    split: str
    id: str
    status: str
    detail: str = ""
    compile_ms: float | None = None
    ttfm_ms: float | None = None
    n_valid: int = 0
    n_invalid: int = 0
    valid_accepted: int = 0
    valid_tokens_ok: int = 0
    invalid_accepted: int = 0
    invalid_tokens_ok: int = 0
    inconsistent: int = 0
    tests_timeout: bool = False
    passing: bool = False
    problems: list[str] = field(default_factory=list)  # rejected valid / accepted invalid instances
    mask_us: list[float] = field(default_factory=list)


def walk(engine: SchemaEngine, matcher: Any, bitmask: np.ndarray, tokens: list[int], eos: int) -> Walk:
    """Force ``tokens``; ``bitmask`` already holds the start mask. Only the mask fills are timed."""
    clock = time.perf_counter_ns
    fill_us: list[float] = []
    for position, token in enumerate(tokens):
        if not bit_is_set(bitmask, token):
            return Walk(False, False, fill_us, position)
        if not engine.advance(matcher, token):
            return Walk(False, False, fill_us, position, inconsistent=True)
        t0 = clock()
        engine.fill(matcher, bitmask)
        fill_us.append((clock() - t0) / 1e3)
    return Walk(engine.accepting(matcher, bitmask, eos), True, fill_us)


def new_matcher(engine: SchemaEngine, compiled: Any, bitmask: np.ndarray) -> tuple[Any, float]:
    t0 = time.perf_counter_ns()
    matcher = engine.new_matcher(compiled)
    engine.fill(matcher, bitmask)
    return matcher, (time.perf_counter_ns() - t0) / 1e3


def run_tests(
    engine: SchemaEngine, rec: dict[str, Any], compiled: Any, first: Any, bitmask: np.ndarray, ctx: Any
) -> None:
    """Every test instance of ``rec`` through fresh matchers (the first reuses the TTFM matcher)."""
    res: SchemaResult = ctx.result
    for i, test in enumerate(rec.get("tests", [])):
        valid = bool(test["valid"])
        walks: list[Walk] = []
        for text in engine.serialisations(test["data"], rec["schema"]):
            if first is not None:
                matcher, first = first, None
            else:
                matcher, first_us = new_matcher(engine, compiled, bitmask)
                res.mask_us.append(first_us)
            w = walk(engine, matcher, bitmask, ctx.encode(text), ctx.eos)
            res.mask_us.extend(w.fill_us)
            walks.append(w)
            if w.accepted:
                break
        accepted = any(w.accepted for w in walks)
        tokens_ok = any(w.tokens_ok for w in walks)
        res.inconsistent += sum(w.inconsistent for w in walks)
        if valid:
            res.n_valid += 1
            res.valid_accepted += accepted
            res.valid_tokens_ok += tokens_ok
            if not accepted:
                where = ", ".join(
                    f"token {w.stopped_at}" if w.stopped_at is not None else "end" for w in walks
                )
                res.problems.append(f"valid #{i} rejected ({where})")
        else:
            res.n_invalid += 1
            res.invalid_accepted += accepted
            res.invalid_tokens_ok += tokens_ok
            if accepted:
                res.problems.append(f"invalid #{i} accepted: {test.get('description', '')}")


@dataclass
class Context:
    encode: Any
    eos: int
    emit: Any
    result: SchemaResult = field(init=False)


def run_schema(engine: SchemaEngine, rec: dict[str, Any], bitmask: np.ndarray, ctx: Context) -> SchemaResult:
    res = ctx.result = SchemaResult(split=rec["split"], id=rec["unique_id"], status="ok")
    engine.reset_caches()
    t0 = time.perf_counter_ns()
    try:
        compiled = engine.compile_schema(rec["schema"])
    except Exception as exc:  # classified: unsupported / error / timeout / crash
        res.status = engine.compile_status(exc)
        res.detail = f"{type(exc).__name__}: {str(exc).strip()}"[:4000]
        return res
    t1 = time.perf_counter_ns()
    first, first_us = new_matcher(engine, compiled, bitmask)
    res.compile_ms, res.ttfm_ms = (t1 - t0) / 1e6, (t1 - t0) / 1e6 + first_us / 1e3
    res.mask_us.append(first_us)
    if res.compile_ms > engine.compile_limit_s * 1e3:
        res.status, res.detail = "timeout", f"compiled in {res.compile_ms / 1e3:.1f} s"
        return res
    ctx.emit({"event": "compiled", "compile_ms": res.compile_ms, "ttfm_ms": res.ttfm_ms})
    run_tests(engine, rec, compiled, first, bitmask, ctx)
    res.passing = res.valid_accepted == res.n_valid and res.invalid_accepted == 0
    return res


# --------------------------------------------------------------------------------------------- worker


def run_worker(args: argparse.Namespace) -> None:
    """Child process: one engine over the listed (split, line) schemas; one JSON line per event."""
    tasks: list[list[Any]] = json.loads(Path(args.tasks_file).read_text())
    tokenizer = load_tokenizer(TOKENIZER)
    engine = ENGINES[args.worker]()
    engine.compile_limit_s = args.compile_limit
    t0 = time.perf_counter_ns()
    engine.setup(tokenizer)
    bitmask = np.zeros((1, (len(tokenizer) + 31) // 32), dtype=np.int32)
    ctx = Context(
        encode=lambda text: tokenizer.encode(text, add_special_tokens=False),
        eos=int(tokenizer.eos_token_id),
        emit=emit,
    )
    for schema, instance in WARMUPS:
        tests = [{"valid": True, "data": instance}]
        warm = {"split": "warmup", "unique_id": "warmup", "schema": schema, "tests": tests}
        run_schema(engine, warm, bitmask, ctx)
    emit({"event": "setup", "setup_ms": (time.perf_counter_ns() - t0) / 1e6})
    for split, indices in tasks:
        for rec in read_records(split, indices, Path(args.data)):
            emit({"event": "start", "id": rec["unique_id"]})
            result = run_schema(engine, rec, bitmask, ctx)
            emit({"event": "result", **asdict(result)})
    emit({"event": "done"})


# --------------------------------------------------------------------------------------------- parent


@dataclass
class RunOptions:
    compile_limit: float
    schema_limit: float
    mem_limit_gb: float
    data: Path
    work: Path
    jobs: int = 1


def engine_tasks(plan: dict[str, list[int]], done: set[str], ids: dict[str, list[str]]) -> list[list[Any]]:
    """The (split, lines) still to run, skipping the schemas with a result."""
    out = []
    for split, lines in plan.items():
        left = [line for line, uid in zip(lines, ids[split], strict=True) if uid not in done]
        if left:
            out.append([split, left])
    return out


def run_engine(
    name: str,
    plan: dict[str, list[int]],
    ids: dict[str, list[str]],
    opts: RunOptions,
    sink: Any,
    done: set[str] | None = None,
) -> None:
    """Run one engine over the plan, skipping ``done`` ids, in ``opts.jobs`` parallel worker processes."""
    done = set() if done is None else set(done)
    shards: list[tuple[dict[str, list[int]], dict[str, list[str]]]] = []
    for job in range(opts.jobs):  # round-robin, so a split's heavy schemas spread over the jobs
        shards.append((
            {s: lines[job :: opts.jobs] for s, lines in plan.items()},
            {s: uids[job :: opts.jobs] for s, uids in ids.items()},
        ))  # fmt: skip
    if opts.jobs == 1:
        run_shard(name, *shards[0], opts, sink, done, 0)
        return
    threads = [
        threading.Thread(target=run_shard, args=(name, p, i, opts, sink, done, job))
        for job, (p, i) in enumerate(shards)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def run_shard(
    name: str,
    plan: dict[str, list[int]],
    ids: dict[str, list[str]],
    opts: RunOptions,
    sink: Any,
    done: set[str],
    job: int,
) -> None:
    """One worker process at a time over the shard; a schema past a limit is recorded, the worker restarted."""
    done = set(done)
    split_of = {uid: split for split, uids in ids.items() for uid in uids}
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "RAYON_NUM_THREADS": "1",
        "STRUCTGEN_CACHE_DIR": str(opts.work / "structgen-cache"),
    }
    while tasks := engine_tasks(plan, done, ids):
        tasks_file = opts.work / f"{name}.{job}.tasks.json"
        tasks_file.write_text(json.dumps(tasks))
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            name,
            "--tasks-file",
            str(tasks_file),
            "--data",
            str(opts.data),
            "--compile-limit",
            str(opts.compile_limit),
        ]
        worker = Worker(
            cmd,
            env=env,
            stderr_path=opts.work / f"{name}.{job}.stderr",
            mem_limit_bytes=int(opts.mem_limit_gb * 2**30),
        )
        current: str | None = None
        compiled: dict[str, Any] = {}
        try:
            while True:
                wait = 600.0 if current is None else opts.schema_limit
                if current is not None and not compiled:
                    wait = kill_after(opts.compile_limit, self_limiting=ENGINES[name].self_limiting)
                event = json.loads(worker.next_line(wait))
                kind = event.pop("event")
                if kind == "start":
                    current, compiled = event["id"], {}
                elif kind == "compiled":
                    compiled = event
                elif kind == "result":
                    sink(name, event)
                    done.add(event["id"])
                    current = None
                elif kind == "done":
                    return
        except WorkerLimit as limit:
            if current is None:
                raise RuntimeError(f"{name} worker failed outside a schema: {limit}") from None
            sink(name, limit_result(name, split_of[current], current, limit, compiled, opts))
            done.add(current)
        finally:
            worker.kill()


def limit_result(
    engine: str, split: str, uid: str, limit: WorkerLimit, compiled: dict[str, Any], opts: RunOptions
) -> dict[str, Any]:
    """The result of a schema whose worker was killed (or died) on it."""
    status = {"timeout": "timeout", "memory": "oom", "exit": "crash"}[limit.reason]
    result = SchemaResult(split=split, id=uid, status=status, detail=limit.detail[:2000])
    if compiled:  # the compile finished: the limit hit the tests (the schema does not pass)
        result.status, result.tests_timeout = "ok", True
        result.compile_ms, result.ttfm_ms = compiled["compile_ms"], compiled["ttfm_ms"]
        result.detail = f"tests: {limit.reason}: {limit.detail}"[:2000]
    elif status == "timeout":
        killed = kill_after(opts.compile_limit, self_limiting=ENGINES[engine].self_limiting)
        result.detail = f"compile not finished within {killed:.0f} s"
    return asdict(result)


class Sink:
    """Appends each result to its engine's JSONL file and prints a one-line progress note."""

    def __init__(self, meta: dict[str, Any], engines: list[str], directory: Path, resume: bool) -> None:
        """``resume``: append to the engines' files that exist (their plan must be this run's: ``resumable``)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._files = {}
        for e in engines:
            appending = resume and results_path(e, directory).exists()
            self._files[e] = open(results_path(e, directory), "a" if appending else "w")  # noqa: SIM115 - closed in close()
            self._files[e].write(json.dumps({"resumed" if appending else "meta": meta}) + "\n")
        self._lock = threading.Lock()

    def __call__(self, engine: str, result: dict[str, Any]) -> None:
        with self._lock:
            self._files[engine].write(json.dumps(_rounded(result), ensure_ascii=False) + "\n")
            self._files[engine].flush()
            self._print(engine, result)

    @staticmethod
    def _print(engine: str, result: dict[str, Any]) -> None:
        note = result["status"] if not result.get("tests_timeout") else "tests timeout"
        if result["status"] == "ok" and not result["tests_timeout"]:
            note = (
                f"ttfm {result['ttfm_ms']:8.1f} ms  valid {result['valid_accepted']}/{result['n_valid']}"
                f"  invalid acc. {result['invalid_accepted']}/{result['n_invalid']}"
            )
        print(f"  {engine:10s} {result['id'][:48]:48s} {note}", flush=True)

    def close(self) -> None:
        end = {"load_after": _load_average(), "finished": _now()}
        for f in self._files.values():
            f.write(json.dumps({"end": end}) + "\n")
            f.close()


def _rounded(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "mask_us": [round(t, 2) for t in result.get("mask_us", [])]}


def resumable(engine: str, directory: Path, plan: dict[str, list[int]]) -> set[str]:
    """The ids an earlier run of this plan already has results for (raises if the file is another plan's)."""
    path = results_path(engine, directory)
    if not path.exists():
        if path.with_name(path.name + ".gz").exists():
            raise SystemExit(f"--resume: gunzip {path}.gz first (results are appended to the plain file)")
        return set()
    meta, rows = load_results(engine, directory)
    if not same_plan(meta.get("plan", {}), plan):
        raise SystemExit(f"--resume: {path} holds another sample; rerun with that file's options or without --resume")
    return {r["id"] for r in rows}


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma-separated, from {', '.join(ENGINES)}")
    p.add_argument("--splits", default="all", help="comma-separated split names, or 'all'")
    p.add_argument("--limit", type=int, default=None, help="a fixed random sample of N schemas per split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown file to update"
    )
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--compile-limit", type=float, default=10.0, help="compile time limit (s)")
    p.add_argument("--schema-limit", type=float, default=60.0, help="time limit for a schema's tests (s)")
    p.add_argument("--mem-limit-gb", type=float, default=6.0, help="resident memory limit of a worker")
    p.add_argument("--report-only", action="store_true", help="rebuild the section from the results files")
    p.add_argument("--results-dir", type=Path, default=RESULTS, help="where the per-engine JSONL files go")
    p.add_argument(
        "--resume", action="store_true", help="keep the results files' rows and run only the schemas they lack"
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes per engine, run in parallel")
    p.add_argument("--worker", choices=list(ENGINES), help=argparse.SUPPRESS)
    p.add_argument("--tasks-file", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def build_plan(args: argparse.Namespace) -> tuple[list[str], dict[str, list[int]], dict[str, list[str]]]:
    splits = list(SPLITS) if args.splits == "all" else args.splits.split(",")
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise SystemExit(f"unknown splits: {sorted(unknown)}")
    plan = {s: sample_indices(s, args.limit, args.seed, args.data) for s in splits}
    ids = {s: [r["unique_id"] for r in read_records(s, plan[s], args.data)] for s in splits}
    return splits, plan, ids


def run_meta(
    args: argparse.Namespace, argv: list[str] | None, splits: list[str], plan: dict[str, Any]
) -> dict:
    tokenizer = load_tokenizer(TOKENIZER)
    return {
        "command": "python benchmarks/jsonschemabench.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": _now(),
        "machine": machine_summary(),
        "versions": package_versions(VERSIONED),
        "splits": splits,
        "plan": plan,
        "limit": args.limit,
        "seed": args.seed,
        "compile_limit": args.compile_limit,
        "schema_limit": args.schema_limit,
        "mem_limit_gb": args.mem_limit_gb,
        "jobs": args.jobs,
        "vocab_size": len(tokenizer),
        "eos": int(tokenizer.eos_token_id),
        "load_before": _load_average(),
    }


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    engines = args.engines.split(",")
    if unknown := set(engines) - set(ENGINES):
        raise SystemExit(f"unknown engines: {sorted(unknown)}")
    run_order = engines  # as given: a slow engine can go last
    engines = sorted(engines, key=list(ENGINES).index)
    if not args.report_only:
        splits, plan, ids = build_plan(args)
        done = {e: resumable(e, args.results_dir, plan) if args.resume else set() for e in engines}
        meta = run_meta(args, argv, splits, plan)
        sink = Sink(meta, engines, args.results_dir, args.resume)
        with tempfile.TemporaryDirectory(prefix="jsonschemabench-") as tmp:
            opts = RunOptions(
                args.compile_limit, args.schema_limit, args.mem_limit_gb, args.data, Path(tmp), args.jobs
            )
            try:
                # split by split, every engine on each: a run stopped early still compares complete splits
                for split in splits:
                    for engine in run_order:
                        print(f"{split} / {engine}:", flush=True)
                        run_engine(engine, {split: plan[split]}, {split: ids[split]}, opts, sink, done[engine])
            finally:
                sink.close()
    loaded = {e: load_results(e, args.results_dir) for e in engines}
    metas = {e: meta for e, (meta, _) in loaded.items()}
    if any(not same_plan(m["plan"], next(iter(metas.values()))["plan"]) for m in metas.values()):
        raise SystemExit("the engines' results files hold different samples: run them with the same options")
    results = {e: rows for e, (_, rows) in loaded.items()}
    command = "python benchmarks/jsonschemabench.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    section = FULL_SECTION if metas[engines[0]]["limit"] is None else SECTION
    replace_section(args.out, section, report_markdown(metas, results, command, args.results_dir))
    print(findings_markdown(results))
    print(f"wrote {args.out} and {', '.join(str(results_path(e, args.results_dir)) for e in engines)}")


if __name__ == "__main__":
    main()
