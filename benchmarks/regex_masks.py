"""Regex constraints: structgen vs outlines-core vs XGrammar vs llguidance, token-mask costs.

For each regex and vocabulary, every library compiles the regex cold, fills its first token
bitmask, then walks a sample string's tokens: one mask fill per token (timed), a check that the
mask allows the token, then the token is consumed (timed apart). A second matcher on the same
compiled constraint walks the sample again ("warm"). Each library runs in its own worker process,
killed past a per-regex time limit or a memory limit (outlines-core builds its whole index
eagerly and can take minutes and many GiB on large character classes).

Run from the repository root::

    .venv/bin/python benchmarks/regex_masks.py --out docs/benchmarks.md

writes the section "Regex constraints (issue: Foundation)" of ``docs/benchmarks.md`` and the raw
results to ``benchmarks/results/regex_masks.json``. ``--quick`` runs five regexes,
``--vocab smollm2`` one vocabulary.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import re
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _adapters import (
    ADAPTERS,
    BASELINE,
    Adapter,
    OutlinesCoreAdapter,
)
from _common import (
    VOCABULARIES,
    emit,
    fmt,
    format_load,
    load_tokenizer,
    machine_summary,
    markdown_table,
    median,
    package_versions,
    percentile,
    ratio,
    replace_section,
    run_case_workers,
    token_bytes_table,
)

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Regex constraints (issue: Foundation)"
WARMUP_PATTERN = r"(foo|bar)_[a-z]{2,5}[0-9]?"  # unrelated to the cases: pays one-time JIT / lazy set-up


@dataclass(frozen=True)
class RegexCase:
    name: str
    pattern: str
    sample: str


CASES: tuple[RegexCase, ...] = (
    RegexCase("iso_date", r"\d{4}-\d{2}-\d{2}", "2024-03-15"),
    RegexCase("time", r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?", "23:59:07"),
    RegexCase("email", r"[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,6}", "jane.doe+news@mail.example.org"),
    RegexCase("us_phone", r"\(\d{3}\) \d{3}-\d{4}", "(415) 555-0132"),
    RegexCase("intl_phone", r"\+\d{1,3} \d{3} \d{3} \d{4}", "+44 207 946 0958"),
    RegexCase("enum", r"(red|green|blue|yellow)", "yellow"),
    RegexCase("integer", r"-?(0|[1-9]\d*)", "-1234567890"),
    RegexCase("decimal", r"-?\d+\.\d{1,4}", "-273.15"),
    RegexCase("scientific", r"-?\d+(\.\d+)?([eE][+-]?\d+)?", "6.02214076e+23"),
    RegexCase("identifier", r"[A-Za-z_][A-Za-z0-9_]{0,30}", "max_retry_count_v2"),
    RegexCase(
        "uuid",
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "123e4567-e89b-12d3-a456-426614174000",
    ),
    RegexCase("ipv4", r"((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)", "192.168.254.31"),
    RegexCase(
        "url", r"https?://[a-z0-9.-]+(/[a-zA-Z0-9._-]*)*", "https://docs.example.com/api/v2/Regex_Guide.html"
    ),
    RegexCase("hex_color", r"#[0-9a-fA-F]{6}", "#1A2b3C"),
    RegexCase("latin_text", r"[\u00c0-\u024f a-z]{1,40}", "café déjà vu à la crème brûlée"),
    RegexCase("cjk", r"[\u4e00-\u9fff]{1,20}", "我们今天下午去公园散步"),
    RegexCase("json_string", r'"([^"\\]|\\.)*"', r'"He said \"hi\" and left\n"'),
    RegexCase(
        "sentence",
        r"[A-Z][^.!?]{0,200}[.!?]",
        "The quick brown fox jumps over the lazy dog, then naps in the warm sun all afternoon!",
    ),
    RegexCase("bounded_rep", r"(ab|cd){3,8}", "abcdabcdab"),
    RegexCase("key_value", r"name: [A-Za-z ]{1,30}, age: \d{1,3}", "name: Ada Lovelace, age: 36"),
    RegexCase(
        "json_object", r'\{"name": "[^"]{1,20}", "age": \d{1,3}\}', '{"name": "Grace Hopper", "age": 85}'
    ),
    RegexCase("password", r"[A-Za-z0-9!@#$%^&*]{8,16}", "Tr0ub4dor&3xYz!"),
)
VERSIONED = (
    "structgen",
    "xgrammar",
    "llguidance",
    "outlines-core",
    "transformers",
    "tokenizers",
    "numba",
    "numpy",
)
QUICK_CASES = ("iso_date", "email", "cjk", "json_string", "sentence")


def ascii_digits(pattern: str) -> str:
    r"""Spell ``\d`` as ``[0-9]`` (``0-9`` inside a class).

    structgen and XGrammar read ``\d`` as an ASCII digit; llguidance and outlines-core (Rust regex)
    read it as any Unicode digit, as Python's ``re`` does. Every library is given this spelling so
    that all of them constrain to the same language and their masks can be compared.
    """
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            escaped = pattern[i : i + 2]
            out.append(("0-9" if in_class else "[0-9]") if escaped == r"\d" else escaped)
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)




# --------------------------------------------------------------------------------------------- one case


@dataclass
class Walk:
    """One matcher along a sample: ``fill_us[i]`` is the mask after token ``i`` (the last: EOS mask)."""

    fill_us: list[float] = field(default_factory=list)
    fill_cpu_us: list[float] = field(default_factory=list)  # the same fills in process CPU time
    advance_us: list[float] = field(default_factory=list)
    rejected: list[list[int]] = field(default_factory=list)  # [position, token] not in the mask
    refused_at: int | None = None  # position whose token ``advance`` refused (walk stopped)
    eos_allowed: bool | None = None


def _clear_tail(bitmask: np.ndarray, vocab_size: int) -> np.ndarray:
    """A copy of the row with the bits of ids >= vocab_size cleared (libraries differ there)."""
    row = bitmask[0].copy()
    if vocab_size % 32:
        row[vocab_size // 32] &= np.int32((1 << (vocab_size % 32)) - 1)
    row[(vocab_size + 31) // 32 :] = 0
    return row


def walk(
    adapter: Adapter,
    matcher: Any,
    bitmask: np.ndarray,
    tokens: list[int],
    eos: int,
    vocab_size: int,
    masks: list[np.ndarray] | None = None,
) -> Walk:
    """Consume ``tokens``; ``bitmask`` already holds the mask of the matcher's current (start) state."""
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    result = Walk()
    for position, token in enumerate(tokens):
        if not adapter.allowed(bitmask, token):
            result.rejected.append([position, token])
        t0 = clock()
        ok = adapter.advance(matcher, token)
        t1 = clock()
        result.advance_us.append((t1 - t0) / 1e3)
        if not ok:
            result.refused_at = position
            return result
        c0 = cpu()
        t0 = clock()
        adapter.fill(matcher, bitmask)
        t1 = clock()
        c1 = cpu()
        result.fill_us.append((t1 - t0) / 1e3)
        result.fill_cpu_us.append((c1 - c0) / 1e3)
        if masks is not None:
            masks.append(_clear_tail(bitmask, vocab_size))
    result.eos_allowed = adapter.allowed(bitmask, eos)
    return result


def _median_walk(walks: list[Walk]) -> Walk:
    """The first walk's checks, with each position's timings the median over the repeats."""
    first = walks[0]
    complete = [w for w in walks if len(w.fill_us) == len(first.fill_us)]
    return Walk(
        fill_us=[median(ts) for ts in zip(*(w.fill_us for w in complete), strict=True)],
        fill_cpu_us=[median(ts) for ts in zip(*(w.fill_cpu_us for w in complete), strict=True)],
        advance_us=[median(ts) for ts in zip(*(w.advance_us for w in complete), strict=True)],
        rejected=first.rejected,
        refused_at=first.refused_at,
        eos_allowed=first.eos_allowed,
    )


def measure_case(
    adapter: Adapter, pattern: str, tokens: list[int], eos: int, vocab_size: int, repeats: int
) -> tuple[dict[str, Any], np.ndarray]:
    """``repeats`` times: cold compile + first mask, a cold walk of the sample, a warm walk.

    Each repeat starts from nothing (caches cleared), so every repeat's first walk is cold; the
    per-position median over repeats damps preemption spikes on a shared machine. Wall-clock times,
    plus process CPU time (all threads) for compile, TTFM and mask fills.
    """
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
    compile_ms: list[float] = []
    ttfm_ms: list[float] = []
    cpu_ms: dict[str, list[float]] = {"compile": [], "ttfm": []}
    colds: list[Walk] = []
    warms: list[Walk] = []
    masks: list[np.ndarray] = []
    for repeat in range(max(1, repeats)):
        adapter.reset_caches()
        gc.collect()
        c0 = cpu()
        t0 = clock()
        compiled = adapter.compile(pattern)
        t1 = clock()
        c1 = cpu()
        matcher = adapter.new_matcher(compiled)
        adapter.fill(matcher, bitmask)
        t2 = clock()
        c2 = cpu()
        if repeat == 0:
            masks.append(_clear_tail(bitmask, vocab_size))
        colds.append(walk(adapter, matcher, bitmask, tokens, eos, vocab_size, masks if repeat == 0 else None))
        warm_matcher = adapter.new_matcher(compiled)
        adapter.fill(warm_matcher, bitmask)
        warms.append(walk(adapter, warm_matcher, bitmask, tokens, eos, vocab_size))
        compile_ms.append((t1 - t0) / 1e6)
        ttfm_ms.append((t2 - t0) / 1e6)
        cpu_ms["compile"].append((c1 - c0) / 1e6)
        cpu_ms["ttfm"].append((c2 - c0) / 1e6)
        if t1 - t0 > 1e9:  # a slow compile: one measurement says enough
            break
    cold = _median_walk(colds)
    result = {
        "status": "ok" if cold.refused_at is None and not cold.rejected and cold.eos_allowed else "wrong",
        "compile_ms": compile_ms,
        "ttfm_ms": ttfm_ms,
        "compile_cpu_ms": cpu_ms["compile"],
        "ttfm_cpu_ms": cpu_ms["ttfm"],
        "cold": asdict(cold),
        "warm": asdict(_median_walk(warms)),
    }
    return result, np.stack(masks)


# --------------------------------------------------------------------------------------------- worker


def run_worker(args: argparse.Namespace) -> None:
    """Child process: one library, one vocabulary, the named cases; one JSON line per event."""
    spec = json.loads(Path(args.cases_file).read_text())
    cases = {c["name"]: c for c in spec["cases"]}
    tokenizer = load_tokenizer(spec["vocab"])
    vocab_size, eos = spec["vocab_size"], spec["eos"]
    adapter = ADAPTERS[args.worker]()
    clock = time.perf_counter_ns
    t0 = clock()
    adapter.setup(tokenizer)
    t1 = clock()
    warmup = adapter.new_matcher(adapter.compile(WARMUP_PATTERN))
    bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
    adapter.fill(warmup, bitmask)
    adapter.advance(warmup, int(tokenizer.encode("foo", add_special_tokens=False)[0]))
    adapter.fill(warmup, bitmask)
    t2 = clock()
    emit({"event": "setup", "setup_ms": (t1 - t0) / 1e6, "warmup_ms": (t2 - t1) / 1e6})
    masks_dir = Path(args.masks_dir)
    for name in args.worker_cases.split(","):
        case = cases[name]
        emit({"event": "start", "case": name})
        try:
            result, masks = measure_case(
                adapter, case["pattern"], case["tokens"], eos, vocab_size, args.compile_repeats
            )
            np.save(masks_dir / f"{adapter.name}.{name}.npy", masks)
            if result["status"] == "wrong":
                result["detail"] = describe_wrong(result["cold"], tokenizer)
        except Exception as exc:  # a peer that cannot compile a regex: record it, go on
            result = {"status": "error", "detail": f"{type(exc).__name__}: {str(exc).strip()[:300]}"}
        emit({"event": "result", "case": name, **result})
    emit({"event": "done"})


def describe_wrong(cold: dict[str, Any], tokenizer: Any) -> str:
    """What went wrong along the sample, with the tokens' bytes."""
    table = token_bytes_table(tokenizer)
    problems = [
        f"mask disallowed sample token {token} ({table[token]!r}) at position {position}"
        for position, token in cold["rejected"]
    ]
    if cold["refused_at"] is not None:
        problems.append(f"advance refused position {cold['refused_at']} (walk stopped there)")
    elif not cold["eos_allowed"]:
        problems.append("EOS not allowed after the full sample")
    return "; ".join(problems)


# --------------------------------------------------------------------------------------------- parent


def prepare_cases(tokenizer: Any, cases: list[RegexCase]) -> list[dict[str, Any]]:
    """Tokenize every sample and check the tokens spell it back exactly."""
    table = token_bytes_table(tokenizer)
    out = []
    for case in cases:
        assert re.fullmatch(case.pattern, case.sample), f"{case.name}: sample does not match"
        pattern = ascii_digits(case.pattern)
        assert re.fullmatch(pattern, case.sample), f"{case.name}: sample does not match the ASCII form"
        tokens = tokenizer.encode(case.sample, add_special_tokens=False)
        spelled = b"".join(table[t] or b"\x00<special>" for t in tokens)
        assert spelled == case.sample.encode(), f"{case.name}: tokens spell {spelled!r}, not the sample"
        out.append({"name": case.name, "pattern": pattern, "source": case.pattern, "tokens": tokens})
    return out


def _one_line(result: dict[str, Any]) -> str:
    if result["status"] != "ok":
        return f"{result['status']}: {result.get('detail', '')}"
    cold = result["cold"]["fill_us"]
    return f"compile {median(result['compile_ms']):9.2f} ms   mask p50 {median(cold):8.1f} µs"


def compare_masks(work: Path, library: str, names: list[str], table: list[bytes | None]) -> dict[str, Any]:
    """Per case: at how many walk steps the library's mask differs from structgen's, with examples."""
    out: dict[str, Any] = {}
    for name in names:
        base_path, peer_path = (
            work / "masks" / f"{BASELINE}.{name}.npy",
            work / "masks" / f"{library}.{name}.npy",
        )
        if not (base_path.exists() and peer_path.exists()):
            continue
        base, peer = np.load(base_path), np.load(peer_path)
        steps = min(len(base), len(peer))
        differing = [i for i in range(steps) if not np.array_equal(base[i], peer[i])]
        entry: dict[str, Any] = {"steps": steps, "differing_steps": len(differing)}
        if differing:
            i = differing[0]
            bits_base = np.unpackbits(base[i].view(np.uint8), bitorder="little").astype(bool)
            bits_peer = np.unpackbits(peer[i].view(np.uint8), bitorder="little").astype(bool)
            only_peer, only_base = (
                np.flatnonzero(bits_peer & ~bits_base),
                np.flatnonzero(bits_base & ~bits_peer),
            )
            entry.update(
                first_step=i,
                only_peer=len(only_peer),
                only_structgen=len(only_base),
                only_peer_examples=[_token_repr(table, t) for t in only_peer[:6]],
                only_structgen_examples=[_token_repr(table, t) for t in only_base[:6]],
            )
        out[name] = entry
    return out


def _token_repr(table: list[bytes | None], token: int) -> str:
    data = table[token] if token < len(table) else None
    return f"{token}:{'<special>' if data is None else repr(data)[1:]}"


# --------------------------------------------------------------------------------------------- summary


EAGER_PEER = OutlinesCoreAdapter.name  # builds its whole index: the library most often past the limits


def _stats(cases: list[dict[str, Any]], cpu: bool) -> dict[str, float]:
    """Percentiles over ``cases``: compile / TTFM per regex (ms), masks pooled over all positions (µs)."""
    suffix = "_cpu" if cpu else ""
    compile_ms = [median(c[f"compile{suffix}_ms"]) for c in cases]
    ttfm_ms = [median(c[f"ttfm{suffix}_ms"]) for c in cases]
    cold = [t for c in cases for t in c["cold"][f"fill{suffix}_us"]]
    warm = [t for c in cases for t in c["warm"][f"fill{suffix}_us"]]
    return {
        "compile_p50_ms": percentile(compile_ms, 50),
        "compile_max_ms": max(compile_ms, default=float("nan")),
        "ttfm_p50_ms": percentile(ttfm_ms, 50),
        "ttfm_p99_ms": percentile(ttfm_ms, 99),
        "mask_cold_p50_us": percentile(cold, 50),
        "mask_cold_p99_us": percentile(cold, 99),
        "mask_cold_max_us": max(cold, default=float("nan")),
        "mask_warm_p50_us": percentile(warm, 50),
        "mask_warm_p99_us": percentile(warm, 99),
        "n_masks": len(cold),
    }


def summarize(results: dict[str, Any], names: list[str], libraries: list[str]) -> dict[str, Any]:
    """Statistics of ``libraries`` over the cases all of them completed (every row: the same regexes)."""
    libs = results["libraries"]
    common = [
        n for n in names if all(libs[lib]["cases"].get(n, {}).get("status") == "ok" for lib in libraries)
    ]
    summary: dict[str, Any] = {"libraries": libraries, "cases": common, "wall": {}, "cpu": {}}
    for lib in libraries:
        ok = [libs[lib]["cases"][n] for n in common]
        summary["wall"][lib] = _stats(ok, cpu=False)
        summary["wall"][lib]["advance_p50_us"] = percentile(
            [t for c in ok for t in c["cold"]["advance_us"]], 50
        )
        summary["cpu"][lib] = _stats(ok, cpu=True)
    return summary


def summaries(results: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """All libraries over their common regexes; and, when that leaves regexes out, all but outlines-core."""
    libraries = list(results["libraries"])
    out = [summarize(results, names, libraries)]
    if EAGER_PEER in libraries and len(libraries) > 2:
        without = summarize(results, names, [lib for lib in libraries if lib != EAGER_PEER])
        if len(without["cases"]) > len(out[0]["cases"]):
            out.append(without)
    return out


def summary_intro(results: dict[str, Any], summary: dict[str, Any], names: list[str]) -> str:
    left_out = []
    for name in (n for n in names if n not in summary["cases"]):
        statuses = {
            lib: results["libraries"][lib]["cases"].get(name, {}).get("status")
            for lib in summary["libraries"]
        }
        left_out.append(f"{name} ({', '.join(f'{lib} {st}' for lib, st in statuses.items() if st != 'ok')})")
    n_masks = summary["wall"][BASELINE]["n_masks"]
    return (
        f"**{', '.join(summary['libraries'])}**: over the {len(summary['cases'])} regexes all of them "
        f"completed ({n_masks} per-token masks each)"
        + (f"; left out: {'; '.join(left_out)}." if left_out else ".")
    )


def summary_table(summary: dict[str, Any], clock: str) -> str:
    """One row per library; ``clock`` is 'wall' (perf_counter) or 'cpu' (process CPU time)."""
    stats = summary[clock]
    base = stats[BASELINE]
    header = [
        "library", "compile p50 (ms)", "compile max (ms)", "TTFM p50 (ms)", "TTFM p99 (ms)",
        "mask cold p50 (µs)", "mask cold p99 (µs)", "mask cold max (µs)", "mask warm p50 (µs)",
        "mask warm p99 (µs)", *(["advance p50 (µs)"] if clock == "wall" else []),
        "TTFM p50 ÷ sg", "mask p50 ÷ sg", "mask p99 ÷ sg",
    ]  # fmt: skip
    rows = []
    for lib in summary["libraries"]:
        s = stats[lib]
        rows.append([
            lib, fmt(s["compile_p50_ms"], 2), fmt(s["compile_max_ms"], 2), fmt(s["ttfm_p50_ms"], 2),
            fmt(s["ttfm_p99_ms"], 2), fmt(s["mask_cold_p50_us"]), fmt(s["mask_cold_p99_us"]),
            fmt(s["mask_cold_max_us"]), fmt(s["mask_warm_p50_us"]), fmt(s["mask_warm_p99_us"]),
            *([fmt(s["advance_p50_us"])] if clock == "wall" else []),
            *(["1 (base)"] * 3 if lib == BASELINE else [
                ratio(s["ttfm_p50_ms"], base["ttfm_p50_ms"]),
                ratio(s["mask_cold_p50_us"], base["mask_cold_p50_us"]),
                ratio(s["mask_cold_p99_us"], base["mask_cold_p99_us"]),
            ]),
        ])  # fmt: skip
    return markdown_table(header, rows)


def vocabulary_markdown(vocab: str, results: dict[str, Any], names: list[str]) -> str:
    parts = [f"### {vocab} ({results['vocab_size']:,} tokens)"]
    for summary in results["summaries"]:
        parts += [
            summary_intro(results, summary, names),
            "Wall clock (`perf_counter_ns`):\n\n" + summary_table(summary, "wall"),
            "Process CPU time (`process_time_ns`, all threads; robust to other load on the machine, but each "
            "mask figure carries about 0.5 µs of clock overhead):\n\n" + summary_table(summary, "cpu"),
        ]
    parts.append(_per_regex_table(results["libraries"], names))
    parts.append(_correctness_markdown(results, names))
    return "\n\n".join(parts)


def _per_regex_table(libs: dict[str, Any], names: list[str]) -> str:
    header = (
        ["regex", "tokens"] + [f"{lib} TTFM (ms)" for lib in libs] + [f"{lib} mask p50 (µs)" for lib in libs]
    )
    rows = []
    for name in names:
        cases = {lib: data["cases"].get(name, {"status": "missing"}) for lib, data in libs.items()}
        n_tokens = next((len(c["cold"]["fill_us"]) for c in cases.values() if c["status"] == "ok"), None)
        ttfm = [fmt(median(c["ttfm_ms"]), 2) if "ttfm_ms" in c else c["status"] for c in cases.values()]
        masks = [
            fmt(median(c["cold"]["fill_us"])) if c["status"] == "ok" else c["status"] for c in cases.values()
        ]
        rows.append([name, str(n_tokens or "–"), *ttfm, *masks])
    return (
        "Per regex, wall clock (TTFM: median of the repeats; mask: median over the sample's tokens, "
        "cold walk):\n\n" + markdown_table(header, rows)
    )


def _correctness_markdown(results: dict[str, Any], names: list[str]) -> str:
    """Counts per library (sample tokens the mask refused, masks unlike structgen's), then the details."""
    header = [
        "library", "sample tokens checked", "refused by the mask", "EOS refused at the end",
        "not completed", "steps compared with structgen", "masks ≠ structgen's",
    ]  # fmt: skip
    rows, details = [], []
    for lib, data in results["libraries"].items():
        cases = [data["cases"][n] for n in names if n in data["cases"]]
        walked = [c for c in cases if "cold" in c]
        diffs = results.get("mask_diffs", {}).get(lib, {})
        rows.append([
            lib,
            str(sum(len(c["cold"]["advance_us"]) for c in walked)),
            str(sum(len(c["cold"]["rejected"]) for c in walked)),
            str(sum(1 for c in walked if c["cold"]["refused_at"] is None and not c["cold"]["eos_allowed"])),
            str(sum(1 for c in cases if "cold" not in c)),
            str(sum(d["steps"] for d in diffs.values())) if lib != BASELINE else "–",
            str(sum(d["differing_steps"] for d in diffs.values())) if lib != BASELINE else "–",
        ])  # fmt: skip
        for name in names:
            case = data["cases"].get(name)
            if case is not None and case["status"] != "ok":
                details.append(f"- {lib}, {name}: **{case['status']}**: {case.get('detail', '')}")
        for name, d in diffs.items():
            if d["differing_steps"]:
                details.append(
                    f"- {lib}, {name}: mask ≠ structgen's at {d['differing_steps']}/{d['steps']} steps "
                    f"(first at step {d['first_step']}: {d['only_peer']} tokens only in {lib}'s, e.g. "
                    f"{_examples(d['only_peer_examples'])}; {d['only_structgen']} only in structgen's, e.g. "
                    f"{_examples(d['only_structgen_examples'])})"
                )
    intro = (
        "Correctness along the samples (a step is a mask on the cold walk, the start mask included; token "
        "examples as `id:bytes`):"
    )
    return "\n\n".join([intro, markdown_table(header, rows), "\n".join(details) or "No differences."])


def _examples(tokens: list[str]) -> str:
    return ", ".join(f"`{t}`" for t in tokens[:3]) or "–"


METHOD = """\
Method. Each library runs in its own worker process, one vocabulary at a time, the libraries one after
another. Per regex: a cold compile (structgen's in-memory caches cleared and its disk cache pointed at
an empty directory; XGrammar's compiler cache disabled; llguidance and outlines-core keep none;
otherwise every library with its default settings, e.g. XGrammar's compiler with `max_threads=8`), then
a new matcher and its first mask: *TTFM* = compile + first mask. Then the sample's tokens are walked:
each token is checked against the current mask, consumed (timed: *advance*), and the next mask is filled
(timed: *mask*; the last one is the mask after the full sample, where EOS must be allowed). *cold*: the
first walk, on the matcher the TTFM measurement made; *warm*: a second matcher on the same compiled
constraint (structgen's lazy index computes a state's mask on first reach and keeps it for later
matchers). All of this {repeats} times from scratch (once when a compile takes over 1 s): compile and
TTFM are the median of the repeats, each per-token time the median of its position's repeats. Every time
is taken twice: wall clock (`perf_counter_ns`, the headline) and process CPU time (`process_time_ns`,
all of the worker's threads), which other work on a shared machine inflates much less; a multi-threaded
compile (XGrammar) costs more CPU time than wall time. All masks are numpy int32 bitmasks of width
ceil(V/32). Percentiles are over all per-token masks of the regexes every library in the table
completed. Ratios are peer ÷ structgen: above 1 means structgen is faster. `\\d` is given to every
library as `[0-9]` (llguidance and outlines-core read `\\d` as any Unicode digit, structgen and XGrammar
as ASCII), so that all four constrain to the same language. Per-regex limits: {timeout:.0f} s and
{mem:.0f} GiB resident memory (the worker is killed past either).

One-time setup per tokenizer (in each library's fresh process): *setup* = structgen
`Vocabulary.from_tokenizer` + `vocab.trie`; XGrammar `TokenizerInfo.from_huggingface` +
`GrammarCompiler`; llguidance `llguidance.hf.from_tokenizer`; outlines-core decoding the token bytes +
`Vocabulary(eos, {{bytes: ids}})`. *warm-up* = compile + two masks of an unrelated regex (`{warmup}`),
which pays structgen's numba JIT (or its load from numba's cache) and any lazy first-use work of the
peers."""


def report_markdown(run: dict[str, Any], names: list[str]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    setup_rows = []
    for lib in run["libraries"]:
        row = [lib]
        for vocab in run["vocabularies"]:
            setup = run["results"][vocab]["libraries"][lib]["setup"] or {}
            row += [fmt(setup.get("setup_ms"), 1), fmt(setup.get("warmup_ms"), 1)]
        setup_rows.append(row)
    setup_header = ["library"] + [
        f"{v} {what}" for v in run["vocabularies"] for what in ("setup (ms)", "warm-up (ms)")
    ]
    regex_rows = [[f"`{c.name}`", f"`{c.pattern}`", f"`{c.sample}`"] for c in CASES if c.name in names]
    parts = [
        f"Command: `{run['command']}`",
        f"Date: {run['date']}  \nMachine: {run['machine']}  \n"
        f"Load average (1/5/15 min) before the run: {format_load(run['load_before'])}, after: "
        f"{format_load(run['load_after'])} (well above 0 before: other work shared the CPUs)  \n"
        f"Versions: {versions}",
        METHOD.format(
            repeats=run["compile_repeats"],
            timeout=run["timeout_s"],
            mem=run["mem_limit_gb"],
            warmup=WARMUP_PATTERN,
        ),
        markdown_table(setup_header, setup_rows),
        *(vocabulary_markdown(vocab, run["results"][vocab], names) for vocab in run["vocabularies"]),
        "Regexes and samples:\n\n" + markdown_table(["name", "regex", "sample"], regex_rows, "lll"),
    ]
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------- main


def _without_nan(value: Any) -> Any:
    """JSON has no NaN: missing statistics become null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nan(v) for v in value]
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab", nargs="+", choices=VOCABULARIES, default=list(VOCABULARIES))
    p.add_argument("--libraries", nargs="+", choices=list(ADAPTERS), default=list(ADAPTERS))
    p.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_CASES)}")
    p.add_argument("--cases", nargs="+", choices=[c.name for c in CASES], help="only these regexes")
    p.add_argument(
        "--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown file to update"
    )
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "regex_masks.json")
    p.add_argument("--compile-repeats", type=int, default=3, help="cold compiles per regex (median)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per regex and library")
    p.add_argument("--setup-timeout", type=float, default=300.0, help="seconds for a worker's setup")
    p.add_argument("--mem-limit-gb", type=float, default=8.0, help="resident memory limit of a worker")
    # worker mode (internal)
    p.add_argument("--worker", choices=list(ADAPTERS), help=argparse.SUPPRESS)
    p.add_argument("--cases-file", help=argparse.SUPPRESS)
    p.add_argument("--worker-cases", help=argparse.SUPPRESS)
    p.add_argument("--masks-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    libraries = [BASELINE, *(lib for lib in args.libraries if lib != BASELINE)]
    selected = args.cases or (QUICK_CASES if args.quick else [c.name for c in CASES])
    cases = [c for c in CASES if c.name in selected]
    names = [c.name for c in cases]
    run: dict[str, Any] = {
        "command": "python benchmarks/regex_masks.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_summary(),
        "versions": package_versions(VERSIONED),
        "compile_repeats": args.compile_repeats,
        "timeout_s": args.timeout,
        "mem_limit_gb": args.mem_limit_gb,
        "vocabularies": args.vocab,
        "libraries": libraries,
        "results": {},
    }
    run["load_before"] = os.getloadavg()
    if run["load_before"][0] > 0.5:
        print(
            f"warning: load average {run['load_before'][0]:.2f}: other work competes for the CPUs", flush=True
        )
    with tempfile.TemporaryDirectory(prefix="regex-masks-") as tmp:
        for vocab in args.vocab:
            work = Path(tmp) / vocab
            (work / "masks").mkdir(parents=True)
            tokenizer = load_tokenizer(vocab)
            table = token_bytes_table(tokenizer)
            spec = {"vocab": vocab, "vocab_size": len(tokenizer), "eos": tokenizer.eos_token_id,
                    "cases": prepare_cases(tokenizer, cases)}  # fmt: skip
            cases_file = work / "cases.json"
            cases_file.write_text(json.dumps(spec))
            print(f"{vocab}: {len(tokenizer)} tokens, EOS {tokenizer.eos_token_id}", flush=True)
            results: dict[str, Any] = {
                "vocab_size": len(tokenizer),
                "eos": tokenizer.eos_token_id,
                "libraries": {},
            }
            results["tokens"] = {c["name"]: c["tokens"] for c in spec["cases"]}
            for library in libraries:
                results["libraries"][library] = run_case_workers(
                    Path(__file__), library, names, args, cases_file, work, _one_line, (13, 12)
                )
            results["mask_diffs"] = {lib: compare_masks(work, lib, names, table) for lib in libraries[1:]}
            results["summaries"] = summaries(results, names)
            run["results"][vocab] = results
    run["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_without_nan(run), indent=1) + "\n")
    for vocab in args.vocab:
        print(f"\n{vocab}:\n{_correctness_markdown(run['results'][vocab], names)}")
    replace_section(args.out, SECTION, report_markdown(run, names))
    print(f"wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
