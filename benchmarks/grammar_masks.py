"""Context-free grammars: structgen vs llguidance (Lark) vs XGrammar (GBNF / EBNF), token-mask costs.

For each grammar case and vocabulary, every engine that can take the grammar compiles it cold, fills
its first token bitmask, then walks a real input's tokens: the mask is filled (timed), the next input
token must be in it (if not, the walk stops: "refused at token k"), and the token is consumed (timed
apart). A second matcher on the same compiled grammar walks the input again ("warm"): structgen's
engine caches its lexer/parser walks per compiled grammar, so its first pass is the realistic figure.
Each engine runs in its own worker process per vocabulary, killed past a per-case time limit or a
memory limit.

Run from the repository root::

    .venv/bin/python benchmarks/grammar_masks.py --out docs/benchmarks.md

writes the section "Context-free grammars (issue #3)" of ``docs/benchmarks.md`` and the raw results
to ``benchmarks/results/grammar_masks.json``. ``--vocab smollm2`` runs one vocabulary, ``--cases``
some of the cases.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _adapters import LLGuidanceAdapter, StructgenAdapter, XGrammarAdapter, bit_is_set
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
from regex_masks import _clear_tail, _token_repr, _without_nan

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Context-free grammars (issue #3)"
SHARED = ROOT.parent / "shared" / "data" / "grammars"
SYNCODE = SHARED / "syncode" / "syncode" / "parsers" / "grammars"
LLAMA_CPP = SHARED / "llama.cpp" / "grammars"
INPUTS = ROOT / "tests" / "grammar" / "inputs"
ENGINES = ("structgen", "llguidance", "xgrammar")
BASELINE = "structgen"
VERSIONED = ("structgen", "xgrammar", "llguidance", "lark", "transformers", "tokenizers", "numba", "numpy")
# unrelated to the cases: pays numba JIT / lazy set-up once per worker
WARMUP_LARK = 'start: "(" NUM ("," NUM)* ")"\nNUM: /[0-9]+/\n'
WARMUP_GBNF = 'root ::= "(" [0-9]+ ("," [0-9]+)* ")"\n'
WARMUP_TEXT = "(12,345)"


# --------------------------------------------------------------------------------------------- cases


JSON_DOCUMENT = json.dumps(
    {
        "id": 4821,
        "name": 'Zoë "Z" Müller',
        "tags": ["admin", "β-tester", "東京"],
        "active": True,
        "score": 98.75,
        "address": {"street": "12 Rue de l'Église", "city": "Paris", "geo": [48.8566, -2.3522]},
        "notes": "line 1\nline 2\ttabbed \\ done\u0007",
        "manager": None,
        "history": [{"year": 2021, "role": "dev"}, {"year": 2023, "role": "lead"}],
    },
    indent=2,
    ensure_ascii=False,
)
PYTHON_EXPRESSION = (
    'sorted([(name.upper(), len(items[i:j]), {"k": 2.5e3}) for name in groups if not name.startswith("_")], '
    "key=lambda p: p[1] * 2 + 1, reverse=True)"
)
ARITHMETIC_INPUT = "(price*quantity)+tax = total\nx1*(y+3)-42/z = result\nrate/(base_2+1) = r\n"
C_INPUT = (
    "int add(int a){int b = a*2;while(b<100){b = b+a;}return b;}"
    "int main(){int x = add(3);if(x>10){x = x-1;}else{x = 0;}// done\nreturn x;}"
)


def strip_priorities(text: str) -> str:
    """The Lark grammar without rule / terminal priorities (``name.2:`` -> ``name:``).

    Priorities only steer lark's choice among parses or lexemes; they do not change the language,
    which is what a constraint enforces. llguidance refuses them.
    """
    return re.sub(r"(?m)^(\s*[?!]?[A-Za-z_]\w*)\.-?\d+(\s*:)", r"\1\2", text)


def gbnf_json_for_xgrammar(text: str) -> str:
    """llama.cpp's json.gbnf with its empty alternative spelled as an optional group (same language).

    XGrammar's EBNF parser refuses ``ws ::= | " " | ...``.
    """
    rewritten = text.replace('ws ::= | " " | "\\n" [ \\t]{0,20}', 'ws ::= ( " " | "\\n" [ \\t]{0,20} )?')
    assert rewritten != text, "json.gbnf changed: update the ws rewrite"
    return rewritten


@dataclass
class Case:
    name: str
    grammar: str  # what the grammar is, for the report
    input_name: str
    input_text: str
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # engine -> how it gets the grammar


def _lark(text: str, note: str = "", import_paths: list[str] | None = None) -> dict[str, Any]:
    return {"kind": "lark", "text": text, "import_paths": import_paths or [], "note": note}


def _gbnf(text: str, note: str = "") -> dict[str, Any]:
    return {"kind": "gbnf", "text": text, "note": note}


def _unsupported(note: str) -> dict[str, Any]:
    return {"kind": "unsupported", "note": note}


def build_cases() -> list[Case]:
    from structgen.grammar import shipped_grammar

    no_lark = _unsupported("no Lark front end")
    cases = []
    json_lark = shipped_grammar("json")
    cases.append(Case(
        "json", "structgen shipped `json` (Lark); XGrammar: its builtin JSON grammar", "JSON document",
        JSON_DOCUMENT,
        {"structgen": _lark(json_lark), "llguidance": _lark(json_lark),
         "xgrammar": {"kind": "builtin_json", "note": "builtin JSON grammar (not the same grammar)"}},
    ))  # fmt: skip
    py = shipped_grammar("python_expr")
    cases.append(Case(
        "python", "structgen shipped `python_expr` (Lark)", "Python expression", PYTHON_EXPRESSION,
        {"structgen": _lark(py), "llguidance": _lark(py), "xgrammar": no_lark},
    ))  # fmt: skip
    go = (SYNCODE / "go.lark").read_text()
    cases.append(Case(
        "go", "syncode `go.lark`", "tests/grammar/inputs/hello.go", (INPUTS / "hello.go").read_text(),
        {"structgen": _lark(go, import_paths=[str(SYNCODE)]),
         "llguidance": _lark(strip_priorities(go), "priorities stripped"), "xgrammar": no_lark},
    ))  # fmt: skip
    sql = (SYNCODE / "sql.lark").read_text()
    queries = (INPUTS / "queries.sql").read_text()
    cases.append(Case(
        "sql", "syncode `sql.lark`", "tests/grammar/inputs/queries.sql", queries,
        {"structgen": _lark(sql, import_paths=[str(SYNCODE)]),
         "llguidance": _lark(strip_priorities(sql), "priorities stripped"), "xgrammar": no_lark},
    ))  # fmt: skip
    sql_shipped = shipped_grammar("sql")
    cases.append(Case(
        "sql_shipped", "structgen shipped `sql` (Lark)", "tests/grammar/inputs/queries.sql", queries,
        {"structgen": _lark(sql_shipped), "llguidance": _lark(sql_shipped), "xgrammar": no_lark},
    ))  # fmt: skip
    for name, text_input in (("arithmetic", ARITHMETIC_INPUT), ("c", C_INPUT), ("json", JSON_DOCUMENT)):
        gbnf = (LLAMA_CPP / f"{name}.gbnf").read_text()
        xgr = _gbnf(gbnf_json_for_xgrammar(gbnf), "`ws ::= | ...` rewritten as `ws ::= ( ... )?`") if (
            name == "json"
        ) else _gbnf(gbnf)
        cases.append(Case(
            f"gbnf_{name}", f"llama.cpp `{name}.gbnf`", f"{name} input", text_input,
            {"structgen": _gbnf(gbnf), "llguidance": _gbnf(gbnf, "via `llguidance.gbnf_to_lark`"), "xgrammar": xgr},
        ))  # fmt: skip
    return cases


def check_inputs(cases: list[Case]) -> None:
    """Every Lark case's input parses with lark (the reference), the JSON documents with ``json``."""
    import lark

    for case in cases:
        spec = case.specs[BASELINE]
        if spec["kind"] == "lark":
            lark.Lark(spec["text"], import_paths=spec["import_paths"]).parse(case.input_text)
    json.loads(JSON_DOCUMENT)


# --------------------------------------------------------------------------------------------- engines


class StructgenGrammar(StructgenAdapter):
    def reset_caches(self) -> None:
        from structgen.grammar import _compile, _terminals

        _compile._ENGINES.clear()
        _terminals.terminal_dfa.cache_clear()

    def compile(self, spec: dict[str, Any]) -> Any:
        if spec["kind"] == "gbnf":
            return self._structgen.compile_gbnf(spec["text"], self.vocab)
        return self._structgen.compile_grammar(spec["text"], self.vocab, import_paths=spec["import_paths"])


class LLGuidanceGrammar(LLGuidanceAdapter):
    def compile(self, spec: dict[str, Any]) -> Any:
        text = spec["text"]
        if spec["kind"] == "gbnf":
            from llguidance.gbnf_to_lark import gbnf_to_lark

            text = gbnf_to_lark(text)
        matcher_cls = self._llg.LLMatcher
        matcher = matcher_cls(self._tokenizer, matcher_cls.grammar_from_lark(text))
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return matcher


class XGrammarGrammar(XGrammarAdapter):
    def compile(self, spec: dict[str, Any]) -> Any:
        if spec["kind"] == "builtin_json":
            return self._compiler.compile_builtin_json_grammar()
        return self._compiler.compile_grammar(spec["text"])


GRAMMAR_ADAPTERS = {"structgen": StructgenGrammar, "llguidance": LLGuidanceGrammar, "xgrammar": XGrammarGrammar}


# --------------------------------------------------------------------------------------------- one case


@dataclass
class Walk:
    """One matcher along an input: ``fill_us[i]`` is the mask after token ``i`` (the last: the end)."""

    fill_us: list[float] = field(default_factory=list)
    fill_cpu_us: list[float] = field(default_factory=list)
    advance_us: list[float] = field(default_factory=list)
    allowed: list[int] = field(default_factory=list)  # allowed tokens per mask (start mask first)
    refused_at: int | None = None  # index of the first input token the mask (or advance) refused
    eos_allowed: bool | None = None


def popcount(row: np.ndarray) -> int:
    return int(np.unpackbits(row.view(np.uint8)).sum())


def walk(adapter: Any, matcher: Any, bitmask: np.ndarray, tokens: list[int], eos: int, vocab_size: int,
         masks: list[np.ndarray] | None = None) -> Walk:  # fmt: skip
    """Consume ``tokens``; ``bitmask`` already holds the matcher's start mask. Stops at a refused token."""
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    result = Walk(allowed=[popcount(_clear_tail(bitmask, vocab_size))])
    for position, token in enumerate(tokens):
        if not bit_is_set(bitmask, token):
            result.refused_at = position
            return result
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
        row = _clear_tail(bitmask, vocab_size)
        result.allowed.append(popcount(row))
        if masks is not None:
            masks.append(row)
    result.eos_allowed = bit_is_set(bitmask, eos)
    return result


def _median_walk(walks: list[Walk]) -> dict[str, Any]:
    first = walks[0]
    same = [w for w in walks if len(w.fill_us) == len(first.fill_us)]
    out = {
        key: [median(ts) for ts in zip(*(getattr(w, key) for w in same), strict=True)]
        for key in ("fill_us", "fill_cpu_us", "advance_us")
    }
    out.update(allowed=first.allowed, refused_at=first.refused_at, eos_allowed=first.eos_allowed)
    return out


def measure_case(adapter: Any, spec: dict[str, Any], tokens: list[int], eos: int, vocab_size: int,
                 repeats: int) -> tuple[dict[str, Any], np.ndarray]:  # fmt: skip
    """``repeats`` times from nothing: cold compile + first mask, a cold walk, a warm walk (new matcher).

    A repeat that takes over 5 s in all is not repeated (one measurement says enough then).
    """
    clock, cpu = time.perf_counter_ns, time.process_time_ns
    bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
    times: dict[str, list[float]] = {"compile_ms": [], "ttfm_ms": [], "compile_cpu_ms": [], "ttfm_cpu_ms": []}
    colds: list[Walk] = []
    warms: list[Walk] = []
    masks: list[np.ndarray] = []
    for repeat in range(max(1, repeats)):
        adapter.reset_caches()
        gc.collect()
        c0, t0 = cpu(), clock()
        compiled = adapter.compile(spec)
        t1, c1 = clock(), cpu()
        matcher = adapter.new_matcher(compiled)
        adapter.fill(matcher, bitmask)
        t2, c2 = clock(), cpu()
        if repeat == 0:
            masks.append(_clear_tail(bitmask, vocab_size))
        colds.append(walk(adapter, matcher, bitmask, tokens, eos, vocab_size, masks if repeat == 0 else None))
        warm_matcher = adapter.new_matcher(compiled)
        adapter.fill(warm_matcher, bitmask)
        warms.append(walk(adapter, warm_matcher, bitmask, tokens, eos, vocab_size))
        times["compile_ms"].append((t1 - t0) / 1e6)
        times["ttfm_ms"].append((t2 - t0) / 1e6)
        times["compile_cpu_ms"].append((c1 - c0) / 1e6)
        times["ttfm_cpu_ms"].append((c2 - c0) / 1e6)
        if clock() - t0 > 5e9:
            break
    cold = _median_walk(colds)
    ok = cold["refused_at"] is None and cold["eos_allowed"]
    result = {"status": "ok" if ok else "refused", **times, "cold": cold, "warm": _median_walk(warms)}
    return result, np.stack(masks)


# --------------------------------------------------------------------------------------------- worker


def run_worker(args: argparse.Namespace) -> None:
    """Child process: one engine, one vocabulary, the named cases; one JSON line per event."""
    spec = json.loads(Path(args.cases_file).read_text())
    cases = {c["name"]: c for c in spec["cases"]}
    tokenizer = load_tokenizer(spec["vocab"])
    vocab_size, eos = spec["vocab_size"], spec["eos"]
    adapter = GRAMMAR_ADAPTERS[args.worker]()
    clock = time.perf_counter_ns
    t0 = clock()
    adapter.setup(tokenizer)
    t1 = clock()
    bitmask = np.zeros((1, (vocab_size + 31) // 32), dtype=np.int32)
    warm_tokens = tokenizer.encode(WARMUP_TEXT, add_special_tokens=False)
    warmups = [_lark(WARMUP_LARK), _gbnf(WARMUP_GBNF)] if args.worker != "xgrammar" else [_gbnf(WARMUP_GBNF)]
    for warmup in warmups:
        matcher = adapter.new_matcher(adapter.compile(warmup))
        adapter.fill(matcher, bitmask)
        walk(adapter, matcher, bitmask, warm_tokens, eos, vocab_size)
    adapter.reset_caches()
    t2 = clock()
    emit({"event": "setup", "setup_ms": (t1 - t0) / 1e6, "warmup_ms": (t2 - t1) / 1e6})
    table = token_bytes_table(tokenizer)
    for name in args.worker_cases.split(","):
        case = cases[name]
        emit({"event": "start", "case": name})
        try:
            result, masks = measure_case(
                adapter, case["specs"][args.worker], case["tokens"], eos, vocab_size, args.compile_repeats
            )
            np.save(Path(args.masks_dir) / f"{args.worker}.{name}.npy", masks)
            k = result["cold"]["refused_at"]
            if k is not None:
                text = b"".join(table[t] or b"" for t in case["tokens"][:k]).decode("utf-8", "replace")
                result["detail"] = (
                    f"refused at token {k} ({_token_repr(table, case['tokens'][k])}) after {text[-80:]!r}"
                )
            elif not result["cold"]["eos_allowed"]:
                result["detail"] = "EOS not allowed after the whole input"
        except Exception as exc:  # an engine that cannot compile a grammar: record it, go on
            result = {"status": "error", "detail": f"{type(exc).__name__}: {str(exc).strip()[:400]}"}
        emit({"event": "result", "case": name, **result})
    emit({"event": "done"})


# --------------------------------------------------------------------------------------------- parent


def _one_line(result: dict[str, Any]) -> str:
    if "cold" not in result:
        return f"{result['status']}: {result.get('detail', '')[:200]}"
    cold = result["cold"]["fill_us"]
    return (
        f"{result['status']:8s} compile {median(result['compile_ms']):9.2f} ms  mask p50 {percentile(cold, 50):8.1f}"
        f"  p99 {percentile(cold, 99):9.1f} µs  {result.get('detail', '')}"
    )


def compare_masks(work: Path, engine: str, names: list[str], table: list[bytes | None], eos: int
                  ) -> dict[str, Any]:  # fmt: skip
    """Per case: at how many cold-walk steps the engine's mask differs from structgen's."""
    out: dict[str, Any] = {}
    # compared: tokens that spell bytes (special tokens and EOS left out: engines differ there by design)
    spells = np.array([data is not None for data in table], dtype=bool)
    spells[eos] = False
    padded = np.zeros(-(-len(spells) // 32) * 32, dtype=bool)
    padded[: len(spells)] = spells
    keep = np.packbits(padded, bitorder="little").view(np.int32)
    for name in names:
        base_path, peer_path = work / "masks" / f"{BASELINE}.{name}.npy", work / "masks" / f"{engine}.{name}.npy"
        if not (base_path.exists() and peer_path.exists()):
            continue
        base, peer = np.load(base_path), np.load(peer_path)
        base &= keep[: base.shape[1]]
        peer &= keep[: peer.shape[1]]
        steps = min(len(base), len(peer))
        differing = [i for i in range(steps) if not np.array_equal(base[i], peer[i])]
        entry: dict[str, Any] = {"steps": steps, "differing_steps": len(differing)}
        if differing:
            i = differing[0]
            bits_base = np.unpackbits(base[i].view(np.uint8), bitorder="little").astype(bool)
            bits_peer = np.unpackbits(peer[i].view(np.uint8), bitorder="little").astype(bool)
            only_peer, only_base = np.flatnonzero(bits_peer & ~bits_base), np.flatnonzero(bits_base & ~bits_peer)
            entry.update(
                first_step=i,
                allowed_structgen=int(bits_base.sum()),
                allowed_peer=int(bits_peer.sum()),
                only_peer=len(only_peer),
                only_structgen=len(only_base),
                only_peer_examples=[_token_repr(table, t) for t in only_peer[:4]],
                only_structgen_examples=[_token_repr(table, t) for t in only_base[:4]],
            )
        out[name] = entry
    return out


# --------------------------------------------------------------------------------------------- report


def case_stats(c: dict[str, Any], cpu: bool = False) -> dict[str, float]:
    s = "_cpu" if cpu else ""
    cold, warm = c["cold"][f"fill{s}_us"], c["warm"][f"fill{s}_us"]
    return {
        "compile_ms": median(c[f"compile{s}_ms"]),
        "ttfm_ms": median(c[f"ttfm{s}_ms"]),
        "cold_p50_us": percentile(cold, 50),
        "cold_p99_us": percentile(cold, 99),
        "cold_max_us": max(cold, default=float("nan")),
        "warm_p50_us": percentile(warm, 50),
        "warm_p99_us": percentile(warm, 99),
        "advance_p50_us": percentile(c["cold"]["advance_us"], 50),
        "n_masks": len(cold),
    }


def _status_cell(spec: dict[str, Any], c: dict[str, Any] | None) -> str:
    if spec["kind"] == "unsupported":
        return f"unsupported ({spec['note']})"
    if c is None:
        return "not run"
    status = c["status"]
    if status == "ok":
        return "ok" + (f" ({spec['note']})" if spec.get("note") else "")
    detail = c.get("detail", "")
    if status == "error":
        detail = detail.split("\n")[0][:160]
    return f"**{status}**: {detail}"


def vocabulary_markdown(vocab: str, results: dict[str, Any], cases: list[Case], clock: str) -> str:
    cpu = clock == "cpu"
    header = [
        "case", "engine", "tokens", "compile (ms)", "TTFM (ms)", "mask p50 (µs)", "mask p99 (µs)",
        "mask max (µs)", "warm p50 (µs)", "warm p99 (µs)", "advance p50 (µs, wall)", "status",
    ]  # fmt: skip
    rows = []
    for case in cases:
        for engine in results["engines"]:
            c = results["engines"][engine]["cases"].get(case.name)
            status = _status_cell(case.specs[engine], c)
            if c is not None and "cold" in c:
                s = case_stats(c, cpu)
                rows.append([
                    case.name, engine, str(len(results["tokens"][case.name])), fmt(s["compile_ms"], 2),
                    fmt(s["ttfm_ms"], 2), fmt(s["cold_p50_us"]), fmt(s["cold_p99_us"]), fmt(s["cold_max_us"]),
                    fmt(s["warm_p50_us"]), fmt(s["warm_p99_us"]), fmt(s["advance_p50_us"]), status,
                ])  # fmt: skip
            else:
                rows.append([case.name, engine, str(len(results["tokens"][case.name]))] + ["–"] * 8 + [status])
    return markdown_table(header, rows, "llrrrrrrrrrl")


def ratio_rows(results: dict[str, Any], cases: list[Case], cpu: bool) -> list[list[str]]:
    """structgen ÷ peer per case, where both completed the input (below 1: structgen is faster)."""
    rows = []
    for case in cases:
        base = results["engines"][BASELINE]["cases"].get(case.name)
        if base is None or base.get("status") != "ok":
            continue
        b = case_stats(base, cpu)
        for engine in list(results["engines"])[1:]:
            peer = results["engines"][engine]["cases"].get(case.name)
            if peer is None or peer.get("status") != "ok":
                continue
            p = case_stats(peer, cpu)
            rows.append([
                case.name, engine, ratio(b["compile_ms"], p["compile_ms"]), ratio(b["ttfm_ms"], p["ttfm_ms"]),
                ratio(b["cold_p50_us"], p["cold_p50_us"]), ratio(b["cold_p99_us"], p["cold_p99_us"]),
                ratio(b["cold_max_us"], p["cold_max_us"]), ratio(b["warm_p50_us"], p["warm_p50_us"]),
                ratio(b["warm_p99_us"], p["warm_p99_us"]),
            ])  # fmt: skip
    return rows


def agreement_markdown(results: dict[str, Any]) -> str:
    lines = []
    for engine, per_case in results["mask_diffs"].items():
        for name, d in per_case.items():
            line = f"- {name}, structgen vs {engine}: {d['differing_steps']}/{d['steps']} masks differ"
            if d["differing_steps"]:
                line += (
                    f" (first at step {d['first_step']}: structgen allows {d['allowed_structgen']}, {engine} "
                    f"{d['allowed_peer']}; {d['only_peer']} only in {engine}'s, e.g. "
                    + ", ".join(f"`{t}`" for t in d["only_peer_examples"][:3])
                    + f"; {d['only_structgen']} only in structgen's, e.g. "
                    + ", ".join(f"`{t}`" for t in d["only_structgen_examples"][:3])
                    + ")"
                )
            lines.append(line)
    return "\n".join(lines) or "No two engines completed the same case."


METHOD = """\
Method. Each engine runs in its own worker process per vocabulary. Per case, {repeats} repeat(s) from
nothing (once when a repeat takes over 5 s): a cold compile (structgen: its per-process engine cache
`_compile._ENGINES` and `terminal_dfa` cache cleared, disk cache pointed at an empty directory;
XGrammar: `GrammarCompiler(cache_enabled=False)`; llguidance: a new `LLMatcher`, it keeps no cache),
a new matcher and its first mask (*TTFM* = compile + first mask), then the input's tokens
(`tok.encode(text, add_special_tokens=False)`) are walked: each token must be in the current mask (the
walk stops at the first refused one), is consumed (*advance*), and the next mask is filled (*mask*,
timed; the last is the mask after the whole input, where EOS must be allowed). *cold*: the first walk,
on the TTFM matcher; *warm*: a second matcher on the same compiled grammar. structgen's grammar
engine caches its lexer/parser walks per compiled grammar, shared by later matchers, so the cold walk
is the realistic figure for a new grammar and the warm one for a grammar in steady use. Compile and
TTFM: median of the repeats; each per-token time: the median of its position over the repeats;
p50/p99/max are then taken over the input's positions. Masks are numpy int32 bitmasks of width
ceil(V/32). Before the cases, each worker compiles and walks an unrelated small grammar once
(numba JIT / lazy first-use costs). Per-case limits: {timeout:.0f} s and {mem:.0f} GiB resident memory.

Grammars: llguidance refuses Lark priorities (`rule.2:`) — they only steer lark's choice among parses
and lexemes, not the language — so it gets syncode's grammars with priorities stripped; it refuses
look-arounds in terminal regexes (structgen's `python_expr` and `sql` exclude keywords from `NAME` /
`IDENT` with a `(?!…\\b)` lookahead), recorded as errors. llguidance takes GBNF through its own
`gbnf_to_lark`. XGrammar has no Lark front end: it runs the GBNF cases and, for `json`, its builtin JSON
grammar (a different grammar from structgen's RFC 8259 one: the mask comparison is informational);
its EBNF parser refuses `json.gbnf`'s empty alternative `ws ::= | " " | …`, so it gets the same rule
spelled `ws ::= ( " " | … )?`."""


def report_markdown(run: dict[str, Any], cases: list[Case], findings: str) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in run["versions"].items())
    setup_rows = []
    for engine in run["engines"]:
        row = [engine]
        for vocab in run["vocabularies"]:
            setup = run["results"][vocab]["engines"][engine]["setup"] or {}
            row += [fmt(setup.get("setup_ms"), 1), fmt(setup.get("warmup_ms"), 1)]
        setup_rows.append(row)
    setup_header = ["engine"] + [f"{v} {w}" for v in run["vocabularies"] for w in ("setup (ms)", "warm-up (ms)")]
    parts = [
        f"Command: `{run['command']}`",
        f"Date: {run['date']}  \nMachine: {run['machine']}  \n"
        f"Load average (1/5/15 min) before the run: {format_load(run['load_before'])}, after: "
        f"{format_load(run['load_after'])} (other engineers' work shared the 2 CPUs: wall times are noisy, the "
        f"process-CPU-time tables are the more robust figures)  \nVersions: {versions}",
        METHOD.format(repeats=run["compile_repeats"], timeout=run["timeout_s"], mem=run["mem_limit_gb"]),
        "One-time setup per tokenizer (vocabulary / tokenizer info) and warm-up:\n\n"
        + markdown_table(setup_header, setup_rows),
    ]
    ratio_header = [
        "case", "peer", "compile", "TTFM", "mask p50", "mask p99", "mask max", "warm p50", "warm p99",
    ]  # fmt: skip
    for vocab in run["vocabularies"]:
        results = run["results"][vocab]
        parts += [
            f"### {vocab} ({results['vocab_size']:,} tokens)",
            "Wall clock (`perf_counter_ns`):\n\n" + vocabulary_markdown(vocab, results, cases, "wall"),
            "Process CPU time (`process_time_ns`, all threads of the worker; a multi-threaded compile costs "
            "more CPU than wall time):\n\n" + vocabulary_markdown(vocab, results, cases, "cpu"),
            "Ratios structgen ÷ peer, process CPU time (below 1: structgen is faster; cases both completed):\n\n"
            + markdown_table(ratio_header, ratio_rows(results, cases, cpu=True)),
            "Ratios structgen ÷ peer, wall clock:\n\n"
            + markdown_table(ratio_header, ratio_rows(results, cases, cpu=False)),
            "Mask agreement along the cold walk, up to the first refused token (special tokens and EOS ignored; "
            "token examples as `id:bytes`):\n\n"
            + agreement_markdown(results),
        ]
    parts.append(
        "Cases and inputs:\n\n"
        + markdown_table(
            ["case", "grammar", "input", "chars"],
            [[c.name, c.grammar, c.input_name, str(len(c.input_text))] for c in cases],
            "lllr",
        )
    )
    if findings:
        parts.append("Findings (written after the run; `--report-only --findings FILE`):\n\n" + findings.strip())
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vocab", nargs="+", choices=VOCABULARIES, default=list(VOCABULARIES))
    p.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    p.add_argument("--cases", nargs="+", help="only these cases")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md", help="markdown file to update")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "grammar_masks.json")
    p.add_argument("--findings", type=Path, help="markdown list of findings to append to the section")
    p.add_argument("--report-only", action="store_true", help="rewrite the section from --json, run nothing")
    p.add_argument("--compile-repeats", type=int, default=3, help="cold repeats per case (median)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per case and engine")
    p.add_argument("--setup-timeout", type=float, default=300.0, help="seconds for a worker's setup")
    p.add_argument("--mem-limit-gb", type=float, default=8.0, help="resident memory limit of a worker")
    p.add_argument("--worker", choices=ENGINES, help=argparse.SUPPRESS)
    p.add_argument("--cases-file", help=argparse.SUPPRESS)
    p.add_argument("--worker-cases", help=argparse.SUPPRESS)
    p.add_argument("--masks-dir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    all_cases = build_cases()
    cases = [c for c in all_cases if not args.cases or c.name in args.cases]
    findings = args.findings.read_text() if args.findings else ""
    if args.report_only:
        run = json.loads(args.json.read_text())
        replace_section(args.out, SECTION, report_markdown(run, cases, findings))
        print(f"wrote {args.out}")
        return
    check_inputs(cases)
    names = [c.name for c in cases]
    engines = [BASELINE, *(e for e in args.engines if e != BASELINE)]
    run: dict[str, Any] = {
        "command": "python benchmarks/grammar_masks.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_summary(),
        "versions": package_versions(VERSIONED),
        "compile_repeats": args.compile_repeats,
        "timeout_s": args.timeout,
        "mem_limit_gb": args.mem_limit_gb,
        "vocabularies": args.vocab,
        "engines": engines,
        "cases": {c.name: {"grammar": c.grammar, "input": c.input_text,
                           "specs": {e: {k: v for k, v in s.items() if k != "text"} for e, s in c.specs.items()}}
                  for c in cases},  # fmt: skip
        "results": {},
        "load_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="grammar-masks-") as tmp:
        for vocab in args.vocab:
            work = Path(tmp) / vocab
            (work / "masks").mkdir(parents=True)
            tokenizer = load_tokenizer(vocab)
            table = token_bytes_table(tokenizer)
            tokens = {c.name: tokenizer.encode(c.input_text, add_special_tokens=False) for c in cases}
            for c in cases:
                spelled = b"".join(table[t] or b"\x00<special>" for t in tokens[c.name])
                assert spelled == c.input_text.encode(), f"{c.name}: tokens do not spell the input"
            spec = {
                "vocab": vocab, "vocab_size": len(tokenizer), "eos": tokenizer.eos_token_id,
                "cases": [{"name": c.name, "specs": c.specs, "tokens": tokens[c.name]} for c in cases],
            }  # fmt: skip
            cases_file = work / "cases.json"
            cases_file.write_text(json.dumps(spec))
            print(f"{vocab}: {len(tokenizer)} tokens, EOS {tokenizer.eos_token_id}", flush=True)
            results: dict[str, Any] = {"vocab_size": len(tokenizer), "eos": tokenizer.eos_token_id, "tokens": tokens,
                                       "engines": {}}  # fmt: skip
            for engine in engines:
                runnable = [c.name for c in cases if c.specs[engine]["kind"] != "unsupported"]
                results["engines"][engine] = run_case_workers(
                    Path(__file__), engine, runnable, args, cases_file, work, _one_line, (11, 16)
                )
            results["mask_diffs"] = {
                e: compare_masks(work, e, names, table, tokenizer.eos_token_id) for e in engines[1:]
            }
            run["results"][vocab] = results
    run["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(_without_nan(run), indent=1) + "\n")
    replace_section(args.out, SECTION, report_markdown(run, cases, findings))
    print(f"wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
