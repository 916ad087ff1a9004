"""Sampling: rejection vs masking on SmolLM2, and SMC / ASAp distance to the exact constrained law.

1. SmolLM2-135M (CPU) samples (temperature 1) under a few regex constraints with
   ``StructuredLogitsProcessor`` in ``sampling="mask"`` and ``"rejection"`` mode: single-token
   constraint checks per token, fallbacks to the full mask, processor time and wall time per token,
   validity of the outputs.
1b. The same comparison on a fixed, seeded sample of small JSONSchemaBench schemas (``--json-schemas``),
   greedy and sampled, prompted through SmolLM2's chat template; every completed output is
   validated with ``jsonschema`` (format checks on).
1c. ``--grammars``: the same comparison on the shipped grammars (json, arithmetic, sql, python_expr,
   csv); completed outputs are parsed by lark with the grammar text (and ``json.loads`` / ``ast``).
   This mode only rewrites its own subsection of the sampling section.
2. SMC on the T6 toy of the research note (tiny table LM with exact probabilities): total
   variation between the weighted posterior and the exact target, and the mean normaliser
   estimate, against the number of particles; one unweighted particle is plain masking.
3. ASAp on the skewed grammar G_sk: the exact KL(Q_N || Q) of the sampler's law after N samples
   (computed from its trie), averaged over independent samplers; masking stays at 0.7538 nats.

Run from the repository root::

    .venv/bin/python benchmarks/sampling.py --out docs/benchmarks.md
    .venv/bin/python benchmarks/sampling.py --grammars --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shlex
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import torch
from _common import machine_summary, markdown_table, replace_section, token_bytes_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sampling"))

import toy_lm  # noqa: E402  (the tiny exact LM lives with the tests)

import structgen  # noqa: E402
from structgen.integrations._generate import model_vocabulary  # noqa: E402

HEADING = "## Sampling: rejection, SMC, grammar-aligned decoding"
NOTE_REJECTION = (
    "*checks/token* is the number of "
    "single-token `Matcher.check` calls per step for rejection; for masking it is the vocabulary size "
    "(every token is decided), although structgen's mask is a precomputed lookup, not a per-token "
    "evaluation, so masking's real cost is the *processor ms/token* column. Times are means on a 2-core "
    "machine shared with other jobs: rows vary several-fold between runs (the checks do not); trust the "
    "checks and the within-row ratios only loosely."
)
JSON_DATA = ROOT.parent / "shared" / "data" / "jsonschemabench"
JSON_SPLITS = ("Github_easy", "Glaiveai2K", "Github_medium")
JSON_MAX_PROPERTIES = 6  # a 135M model must be able to finish the object in max_new_tokens
JSON_MAX_CHARS = 1000  # schema text (compact JSON): bounds the nesting and the prompt
JSON_PROMPT = "Reply with a JSON object for this schema:\n{schema}"
NOTE_JSON = (
    "Schemas: each split's lines shuffled with `random.Random(0)`, keeping in that order the first schemas "
    f"that are a `type: object` with 1 to {JSON_MAX_PROPERTIES} top-level `properties`, at most "
    f"{JSON_MAX_CHARS:,} characters as compact JSON, and compile strictly (`compile_json_schema` without "
    "`lenient`; an `UnsupportedFeatureError` skips the schema); the splits take turns. Prompt: SmolLM2's "
    "chat template around `Reply with a JSON object for this schema:\\n<schema JSON>`. Each schema "
    "runs one untimed greedy masked warm-up (the lazy index's first states), then greedy and sampled "
    "(temperature 1, seeds 0, 1, ...) generation with masking and with rejection. *valid*: completed "
    "outputs that `jsonschema` accepts (the validator of the schema's `$schema` draft, Draft 2020-12 "
    "when absent, with `FormatChecker()`), decoded from the token ids independently of structgen; "
    "*cut off*: outputs that hit the token limit before the object closed (not validated). Greedy "
    "rejection must pick exactly the tokens greedy masking picks (counted below)."
)
CASES = [
    ("date", r"\d{4}-\d{2}-\d{2}", "The date of the first moon landing, as YYYY-MM-DD: "),
    ("yes/no", r"(yes|no)", "Is water wet? Answer yes or no: "),
    ("integer", r"-?\d{1,6}", "How many legs does a spider have? Answer with a number: "),
    ("name", r"[A-Z][a-z]{1,12}( [A-Z][a-z]{1,12})?", "Name a famous scientist: "),
    ("json-ish", r'\{"name": "[A-Za-z ]{1,20}", "age": \d{1,3}\}', "A person as JSON: "),
]


class Timed:
    """Wraps a logits processor, adding up the time spent in it."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, 0.0

    def __call__(self, input_ids, scores):
        start = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - start
        return out


def bench_rejection(model, tokenizer, vocab, samples: int, max_new_tokens: int) -> list[list[str]]:
    from transformers import LogitsProcessorList

    rows = []
    for name, pattern, prompt in CASES:
        constraint = structgen.compile_regex(pattern, vocab)
        enc = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():  # warm-up: the lazy index's first masks and the model's first calls
            model.generate(
                **enc,
                logits_processor=LogitsProcessorList([structgen.StructuredLogitsProcessor(constraint)]),
                do_sample=True,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.eos_token_id,
            )
        figures = {}
        for mode in ("mask", "rejection"):
            kwargs = {"sampling": "rejection", "do_sample": True, "seed": 0} if mode == "rejection" else {}
            processor = structgen.StructuredLogitsProcessor(constraint, **kwargs)
            steps = checks = fallbacks = tokens = valid = 0
            proc_s = wall_s = 0.0
            torch.manual_seed(0)
            for _ in range(samples):
                timed = Timed(processor)
                start = time.perf_counter()
                with torch.no_grad():
                    out = model.generate(
                        **enc,
                        logits_processor=LogitsProcessorList([timed]),
                        do_sample=True,
                        max_new_tokens=max_new_tokens,
                        pad_token_id=tokenizer.eos_token_id,
                        top_k=0,
                        top_p=1.0,
                        temperature=1.0,
                    )
                wall_s += time.perf_counter() - start
                proc_s += timed.seconds
                new = out[0, enc["input_ids"].shape[1] :].tolist()
                text = b"".join(vocab.token_bytes[t] for t in new if t not in vocab.eos_token_ids)
                valid += bool(re.fullmatch(pattern, text.decode("utf-8", "replace")))
                tokens += len(new)
                steps += processor.stats.steps
                checks += processor.stats.checks
                fallbacks += processor.stats.fallbacks
            figures[mode] = (steps, checks, fallbacks, tokens, valid, proc_s, wall_s)
        for mode, (steps, checks, fallbacks, tokens, valid, proc_s, wall_s) in figures.items():
            per_token = vocab.size if mode == "mask" else checks / steps
            rows.append(
                [
                    name if mode == "mask" else "",
                    mode,
                    f"{per_token:,.1f}",
                    f"{fallbacks / steps:.2f}",
                    f"{1e3 * proc_s / steps:.2f}",
                    f"{1e3 * wall_s / tokens:.1f}",
                    f"{valid}/{samples}",
                ]
            )
    return rows


@dataclass
class JsonSchemaCase:
    """One JSONSchemaBench schema and its compiled constraint."""

    uid: str
    schema: dict[str, Any]
    constraint: Any


def pick_json_schemas(n: int, vocab, seed: int = 0) -> tuple[list[JsonSchemaCase], dict[str, int]]:
    """``n`` small schemas that compile strictly, the splits taking turns; also counts why others were skipped."""
    queues = {}
    for split in JSON_SPLITS:
        lines = (JSON_DATA / f"{split}.jsonl").read_text().splitlines()
        order = list(range(len(lines)))
        random.Random(seed).shuffle(order)
        queues[split] = (lines, iter(order))
    picked: list[JsonSchemaCase] = []
    skipped = {"not a small object": 0, "unsupported keyword": 0, "other compile error": 0}
    while len(picked) < n and queues:
        for split in list(queues):
            if len(picked) == n:
                break
            lines, order = queues[split]
            for i in order:
                rec = json.loads(lines[i])
                schema = rec["schema"]
                if not _small_object(schema):
                    skipped["not a small object"] += 1
                    continue
                try:
                    constraint = structgen.compile_json_schema(schema, vocab)
                except structgen.UnsupportedFeatureError:
                    skipped["unsupported keyword"] += 1
                    continue
                except Exception:  # noqa: BLE001 - unsatisfiable, too large, timed out: not this benchmark's concern
                    skipped["other compile error"] += 1
                    continue
                picked.append(JsonSchemaCase(rec["unique_id"], schema, constraint))
                break
            else:
                del queues[split]
    return picked, skipped


def _small_object(schema: Any) -> bool:
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return False
    props = schema.get("properties")
    return (
        isinstance(props, dict)
        and 1 <= len(props) <= JSON_MAX_PROPERTIES
        and len(json.dumps(schema, separators=(",", ":"))) <= JSON_MAX_CHARS
    )


@dataclass
class Tally:
    """Per-token work and validity of a set of generations in one mode."""

    runs: int = 0
    steps: int = 0
    checks: int = 0
    fallbacks: int = 0
    tokens: int = 0
    processor_s: float = 0.0
    wall_s: float = 0.0
    completed: int = 0
    valid: int = 0
    invalid: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        for name in ("runs", "steps", "checks", "fallbacks", "tokens", "processor_s", "wall_s", "completed", "valid"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.invalid += other.invalid

    def row(self, label: str, mode: str, vocab_size: int) -> list[str]:
        per_token = vocab_size if mode == "mask" else self.checks / self.steps
        return [
            label,
            mode,
            f"{per_token:,.1f}",
            f"{self.fallbacks / self.steps:.2f}",
            f"{1e3 * self.processor_s / self.steps:.2f}",
            f"{1e3 * self.wall_s / self.tokens:.1f}",
            f"{self.valid}/{self.completed}",
            str(self.runs - self.completed),
        ]


def _json_validator(schema: dict[str, Any]):
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    return cls(schema, format_checker=jsonschema.FormatChecker())


class JsonRunner:
    """Generates for one schema with a given processor, timing it and validating the output."""

    def __init__(self, model, tokenizer, vocab, case: JsonSchemaCase, max_new_tokens: int) -> None:
        messages = [{"role": "user", "content": JSON_PROMPT.format(schema=json.dumps(case.schema))}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        self.enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        self.model, self.vocab, self.case, self.max_new_tokens = model, vocab, case, max_new_tokens
        self.table = token_bytes_table(tokenizer)  # the benchmark's own decoding, not structgen's
        self.validator = _json_validator(case.schema)

    def __call__(self, processor, seed: int | None = None) -> tuple[Tally, list[int]]:
        """One generation: greedy when ``seed`` is None, else sampled at temperature 1 from that seed."""
        tally, new, text = generate_once(self, processor, seed)
        if text is not None:
            try:
                ok = self.validator.is_valid(json.loads(text))
            except json.JSONDecodeError:
                ok = False
            tally.completed, tally.valid = 1, int(ok)
            if not ok:
                tally.invalid.append(f"{self.case.uid}: {text!r}")
        return tally, new


def generate_once(runner, processor, seed: int | None) -> tuple[Tally, list[int], str | None]:
    """One generation with ``processor``: greedy when ``seed`` is None, else sampled at temperature 1.

    ``runner`` has ``model``, ``enc``, ``vocab``, ``table`` and ``max_new_tokens``. Returns the tally
    (constraint work, times), the new tokens, and the text before EOS (None if it never ended).
    """
    from transformers import LogitsProcessorList

    if seed is None:
        decoding = {"do_sample": False}
    else:
        torch.manual_seed(seed)
        decoding = {"do_sample": True, "top_k": 0, "top_p": 1.0, "temperature": 1.0}
    timed = Timed(processor)
    eos = set(runner.vocab.eos_token_ids)
    start = time.perf_counter()
    with torch.no_grad():
        out = runner.model.generate(
            **runner.enc,
            logits_processor=LogitsProcessorList([timed]),
            max_new_tokens=runner.max_new_tokens,
            pad_token_id=runner.vocab.eos_token_ids[0],
            eos_token_id=list(eos),
            **decoding,
        )
    wall = time.perf_counter() - start
    new = out[0, runner.enc["input_ids"].shape[1] :].tolist()
    stats = processor.stats
    tally = Tally(1, stats.steps, stats.checks, stats.fallbacks, len(new), timed.seconds, wall)
    if not any(t in eos for t in new):
        return tally, new, None
    body = new[: min(new.index(t) for t in eos if t in new)]
    return tally, new, b"".join(runner.table[t] or b"" for t in body).decode("utf-8", "replace")


def bench_json(model, tokenizer, vocab, cases: list[JsonSchemaCase], samples: int, max_new_tokens: int):
    """Rejection vs masking on each schema: table rows, totals by (decoding, mode), greedy agreement."""
    totals = {(d, m): Tally() for d in ("greedy", "sampled") for m in ("mask", "rejection")}
    rows, identical = [], 0
    for case in cases:
        run = JsonRunner(model, tokenizer, vocab, case, max_new_tokens)

        def processor(mode: str, seed: int | None, constraint=case.constraint):
            if mode == "mask":
                return structgen.StructuredLogitsProcessor(constraint)
            return structgen.StructuredLogitsProcessor(
                constraint, sampling="rejection", do_sample=seed is not None, temperature=1.0, seed=seed
            )

        run(processor("mask", None))  # warm-up, not counted
        per_mode = {"mask": Tally(), "rejection": Tally()}
        greedy_tokens = {}
        for mode in ("mask", "rejection"):
            for seed in (None, *range(samples)):
                tally, tokens = run(processor(mode, seed), seed)
                per_mode[mode].add(tally)
                totals["greedy" if seed is None else "sampled", mode].add(tally)
                if seed is None:
                    greedy_tokens[mode] = tokens
        identical += greedy_tokens["mask"] == greedy_tokens["rejection"]
        for mode, tally in per_mode.items():
            rows.append(tally.row(case.uid if mode == "mask" else "", mode, vocab.size))
    for (decoding, mode), tally in totals.items():
        rows.append(tally.row(f"**all, {decoding}**" if mode == "mask" else "", mode, vocab.size))
    return rows, totals, identical


def bench_smc(runs: int) -> list[list[str]]:
    model = toy_lm.table_lm(4, toy_lm.t6_probs)
    constraint = structgen.compile_regex(toy_lm.T6_REGEX, toy_lm.vocabulary(toy_lm.T6_TOKENS))
    target = toy_lm.T6_TARGET
    rows = []
    for n, threshold, label in [
        (1, 0.0, "masking (1 unweighted particle)"),
        (2, 0.5, ""),
        (4, 0.5, ""),
        (8, 0.5, ""),
        (16, 0.5, ""),
        (32, 0.5, ""),
    ]:
        pooled: dict[str, float] = {}
        per_run_tv, z = 0.0, 0.0
        for seed in range(runs):
            result = structgen.smc(
                model, None, [0], constraint, n_particles=n, ess_threshold=threshold, seed=seed
            )
            if n == 1:  # plain masking: count the output, ignore the weight
                post = {result.texts[0]: 1.0}
            else:
                post = result.posterior()
            z += math.exp(result.log_normalizer)
            per_run_tv += _tv(post, target)
            for k, v in post.items():
                pooled[k] = pooled.get(k, 0.0) + v / runs
        rows.append(
            [
                label or f"SMC, {n} particles",
                f"{per_run_tv / runs:.3f}",
                f"{_tv(pooled, target):.3f}",
                "-" if n == 1 else f"{z / runs:.4f}",
            ]
        )
    return rows


def _tv(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def bench_asap(runs: int, checkpoints: list[int]) -> list[list[str]]:
    sys.path.insert(0, str(ROOT))
    from tests.sampling.test_asap import GSK_LANGUAGE, _kl, _proposal_law, _target

    model = toy_lm.table_lm(4, toy_lm.gsk_probs)
    constraint = structgen.compile_regex(toy_lm.GSK_REGEX, toy_lm.vocabulary(toy_lm.GSK_TOKENS))
    target = _target(toy_lm.gsk_probs, GSK_LANGUAGE)
    kl = {n: 0.0 for n in checkpoints}
    hits = {n: 0 for n in checkpoints}
    for run in range(runs):
        sampler = structgen.GrammarAlignedSampler(model, None, constraint)
        drawn = 0
        for n in checkpoints:
            texts = sampler.sample([0], n - drawn, seed=run * 1000 + n) if n > drawn else []
            drawn = n
            law = _proposal_law(sampler, toy_lm.gsk_probs, 4)
            kl[n] += _kl(law, target) / runs
            hits[n] += law.get((2,) * 5, 0.0) / runs
            del texts
    return [[str(n), f"{kl[n]:.4f}", f"{hits[n]:.4f}", "0.7538", "0.5000"] for n in checkpoints]


def json_section(model, tokenizer, vocab, args: argparse.Namespace) -> list[str]:
    import jsonschema

    cases, skipped = pick_json_schemas(args.json_schemas, vocab)
    rows, totals, identical = bench_json(model, tokenizer, vocab, cases, args.json_samples, args.json_max_new_tokens)
    every, masks = Tally(), Tally()
    for (_, mode), tally in totals.items():
        (masks if mode == "mask" else every).add(tally)
    ratio = vocab.size / (every.checks / every.steps)
    invalid = every.invalid + masks.invalid
    verdict = (
        f"**Target (at least 10x fewer checks per token than masking, no loss of validity): "
        f"{'met' if ratio >= 10 and not invalid else 'not met'}.** Rejection made "
        f"{every.checks / every.steps:.1f} checks per token over all {every.steps:,} JSON steps, "
        f"{ratio:,.0f}x fewer than masking's {vocab.size:,}; completed outputs valid: masking "
        f"{masks.valid}/{masks.completed} ({masks.runs - masks.completed} cut off), rejection "
        f"{every.valid}/{every.completed} ({every.runs - every.completed} cut off); greedy rejection "
        f"picked the same tokens as greedy masking on {identical}/{len(cases)} schemas."
    )
    parts = [
        f"### Rejection sampling vs masking on JSON Schema (SmolLM2-135M, CPU, {len(cases)} JSONSchemaBench "
        f"schemas from {', '.join(JSON_SPLITS)}; per schema and mode 1 greedy + {args.json_samples} sampled "
        f"generations, at most {args.json_max_new_tokens} new tokens)",
        "",
        f"{NOTE_JSON} `FormatChecker()` checks these formats here (others need optional packages): "
        f"{', '.join(sorted(jsonschema.FormatChecker().checkers))}. Skipped on the way: "
        + ", ".join(f"{v} {k}" for k, v in skipped.items())
        + ".",
        "",
        verdict,
        "",
        markdown_table(
            [
                "schema",
                "mode",
                "checks/token",
                "fallbacks/token",
                "processor ms/token",
                "wall ms/token",
                "valid/completed",
                "cut off",
            ],
            rows,
        ),
        "",
    ]
    if invalid:
        parts += ["Invalid completed outputs (a bug):", "", *[f"- `{line}`" for line in invalid], ""]
    return parts


GRAMMAR_HEADING = "### Rejection sampling vs masking on the shipped grammars"
GRAMMAR_CASES = [
    ("json", "Reply with a JSON object describing a book (title, author, year)."),
    ("arithmetic", "Reply with an arithmetic expression whose value is 42."),
    ("sql", "Reply with an SQL query that selects the names of all users older than 30."),
    ("python_expr", "Reply with a Python expression that computes the sum of the squares of a list xs."),
    ("csv", "Reply with a CSV table with a header and two rows: name and age of two people."),
]
NOTE_GRAMMARS = (
    "Grammars: `structgen.compile_grammar(name, vocab)` for each shipped grammar. Prompt: SmolLM2's chat "
    "template around the request shown in the table. Each grammar runs one untimed greedy masked warm-up, "
    "then greedy and sampled (temperature 1, seeds 0, 1, ...) generation with masking and with rejection. "
    "*valid*: completed outputs that lark's own Earley parser accepts with the shipped grammar text "
    "(`lark.Lark(shipped_grammar(name))`), decoded from the token ids independently of structgen; valid "
    "outputs are also given to `json.loads` (json) and `ast.parse(..., mode='eval')` (python_expr), and any "
    "they refuse are listed below the table; *cut off*: outputs that hit the token limit before the "
    "grammar could end (not validated)."
)


class GrammarRunner:
    """Generates under one shipped grammar with a given processor, timing it and validating the output."""

    def __init__(self, model, tokenizer, vocab, name: str, request: str, max_new_tokens: int) -> None:
        import lark

        messages = [{"role": "user", "content": request}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        self.enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        self.model, self.vocab, self.name, self.max_new_tokens = model, vocab, name, max_new_tokens
        self.constraint = structgen.compile_grammar(name, vocab)
        self.table = token_bytes_table(tokenizer)
        self.parser = lark.Lark(structgen.grammar.shipped_grammar(name))
        self.host_refused: list[str] = []  # in the grammar's language (lark agrees) but refused by json / ast

    def valid(self, text: str) -> bool:
        """Does lark (with the grammar text) accept ``text``? Also records texts json / Python refuse."""
        import ast

        import lark

        try:
            self.parser.parse(text)
        except lark.exceptions.LarkError:
            return False
        try:
            if self.name == "json":
                json.loads(text)
            elif self.name == "python_expr":
                ast.parse(text.lstrip(" "), mode="eval")  # eval() takes the leading spaces the grammar allows
        except (ValueError, SyntaxError):
            self.host_refused.append(text)
        return True

    def __call__(self, processor, seed: int | None = None) -> tuple[Tally, list[int]]:
        tally, new, text = generate_once(self, processor, seed)
        if text is not None:
            ok = self.valid(text)
            tally.completed, tally.valid = 1, int(ok)
            if not ok:
                tally.invalid.append(f"{self.name}: {text!r}")
        return tally, new


def bench_grammars(model, tokenizer, vocab, samples: int, max_new_tokens: int):
    """Rejection vs masking on each shipped grammar: table rows, per-grammar tallies, greedy agreement."""
    rows, tallies, identical, outputs, host_refused = [], {}, 0, {}, []
    for name, request in GRAMMAR_CASES:
        run = GrammarRunner(model, tokenizer, vocab, name, request, max_new_tokens)

        def processor(mode: str, seed: int | None, constraint=run.constraint):
            if mode == "mask":
                return structgen.StructuredLogitsProcessor(constraint)
            return structgen.StructuredLogitsProcessor(
                constraint, sampling="rejection", do_sample=seed is not None, temperature=1.0, seed=seed
            )

        run(processor("mask", None))  # warm-up, not counted
        per_mode = {"mask": Tally(), "rejection": Tally()}
        greedy_tokens = {}
        for mode in ("mask", "rejection"):
            for seed in (None, *range(samples)):
                tally, tokens = run(processor(mode, seed), seed)
                per_mode[mode].add(tally)
                if seed is None:
                    greedy_tokens[mode] = tokens
                if seed is None and mode == "mask":
                    outputs[name] = b"".join(run.table[t] or b"" for t in tokens if t not in vocab.eos_token_ids)
        identical += greedy_tokens["mask"] == greedy_tokens["rejection"]
        tallies[name] = per_mode
        host_refused += [f"{name}: {text!r}" for text in run.host_refused]
        for mode, tally in per_mode.items():
            rows.append([f"{name}: {request}" if mode == "mask" else "", *tally.row("", mode, vocab.size)[1:]])
    return rows, tallies, identical, outputs, host_refused


def grammar_section(model, tokenizer, vocab, args: argparse.Namespace, command: str, load: str) -> list[str]:
    rows, tallies, identical, outputs, host_refused = bench_grammars(
        model, tokenizer, vocab, args.grammar_samples, args.grammar_max_new_tokens
    )
    rej, mask = Tally(), Tally()
    for per_mode in tallies.values():
        rej.add(per_mode["rejection"])
        mask.add(per_mode["mask"])
    js = tallies["json"]["rejection"]
    json_ratio = vocab.size / (js.checks / js.steps)
    invalid = rej.invalid + mask.invalid
    json_ok = (
        json_ratio >= 10
        and not js.invalid
        and not tallies["json"]["mask"].invalid
        and not any(line.startswith("json:") for line in host_refused)
    )
    verdict = (
        f"**Target on the json grammar (at least 10x fewer checks per token than masking, no loss of validity): "
        f"{'met' if json_ok else 'not met'}.** "
        f"Rejection made {js.checks / js.steps:.1f} checks per token over {js.steps:,} json steps "
        f"({json_ratio:,.0f}x fewer than masking's {vocab.size:,}). Over all five grammars: "
        f"{rej.checks / rej.steps:.1f} checks per token over {rej.steps:,} steps "
        f"({vocab.size / (rej.checks / rej.steps):,.0f}x fewer), fallbacks to the full mask on "
        f"{rej.fallbacks / rej.steps:.1%} of steps; completed outputs valid: masking {mask.valid}/{mask.completed} "
        f"({mask.runs - mask.completed} cut off), rejection {rej.valid}/{rej.completed} "
        f"({rej.runs - rej.completed} cut off); greedy rejection picked the same tokens as greedy masking on "
        f"{identical}/{len(tallies)} grammars."
    )
    parts = [
        f"{GRAMMAR_HEADING} (SmolLM2-135M, CPU; per grammar and mode 1 greedy + {args.grammar_samples} sampled "
        f"generations, at most {args.grammar_max_new_tokens} new tokens)",
        "",
        f"Command: `{command}`. Run on {date.today().isoformat()}; load average at the start {load} (1, 5, 15 "
        f"min). Machine: {machine_summary()}; torch threads: {args.threads}. CPU only: no GPU was used.",
        "",
        NOTE_GRAMMARS + " " + NOTE_REJECTION,
        "",
        verdict,
        "",
        markdown_table(
            ["grammar: request", "mode", "checks/token", "fallbacks/token", "processor ms/token", "wall ms/token",
             "valid/completed", "cut off"],
            rows,
        ),
        "",
        "Greedy outputs (masking): "
        + "; ".join(f"{k}: `{v.decode('utf-8', 'replace')!r}`" for k, v in outputs.items()),
        "",
    ]
    if invalid:
        parts += ["Invalid completed outputs (a bug):", "", *[f"- `{line}`" for line in invalid], ""]
    if host_refused:
        parts += [
            "Completed outputs in the grammar's language (lark parses them too) that `json.loads` / "
            "`ast.parse` refuse, a gap between the shipped grammar and the host language, not a sampling "
            "error:",
            "",
            *[f"- `{line}`" for line in host_refused],
            "",
        ]
    return parts


def replace_subsection(path: Path, section: str, subsection: str, body: str, before: str) -> None:
    """Put ``body`` (starting with its ``### `` heading line) in place of the subsection whose heading starts
    with ``subsection`` inside ``section``; if absent, insert it before the subsection starting with ``before``
    (or at the end of the section). The rest of the file is kept byte for byte."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.rstrip("\n") == section)
    end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
    block = body.strip() + "\n\n"
    old = next((j for j in range(start, end) if lines[j].startswith(subsection)), None)
    if old is not None:
        stop = next((j for j in range(old + 1, end) if lines[j].startswith(("### ", "## "))), end)
        lines[old:stop] = [block]
    else:
        at = next((j for j in range(start, end) if lines[j].startswith(before)), end)
        lines[at:at] = [block]
    path.write_text("".join(lines))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="markdown file whose sampling section is (re)written")
    p.add_argument("--samples", type=int, default=4, help="SmolLM2 samples per constraint and mode")
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--runs", type=int, default=300, help="independent runs for the toy SMC / ASAp figures")
    p.add_argument("--json-schemas", type=int, default=8, help="JSONSchemaBench schemas (0: none)")
    p.add_argument("--json-samples", type=int, default=2, help="sampled generations per schema and mode")
    p.add_argument("--json-max-new-tokens", type=int, default=150)
    p.add_argument(
        "--threads", type=int, default=1, help="torch threads (2 on a shared 2-core machine ran ~15x slower)"
    )
    p.add_argument("--skip-model", action="store_true", help="only the toy-model parts")
    p.add_argument(
        "--grammars",
        action="store_true",
        help="only the shipped-grammar comparison: (re)write its subsection, keeping the rest of the section",
    )
    p.add_argument("--grammar-samples", type=int, default=2, help="sampled generations per grammar and mode")
    p.add_argument("--grammar-max-new-tokens", type=int, default=64)
    args = p.parse_args(argv)
    command = ".venv/bin/python benchmarks/sampling.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    if args.grammars:
        model, tokenizer = structgen.load_default_model()
        torch.set_num_threads(args.threads)
        body = "\n".join(grammar_section(model, tokenizer, model_vocabulary(model, tokenizer), args,
                                         command.strip(), load))
        print(body)
        if args.out:
            replace_subsection(args.out, HEADING, GRAMMAR_HEADING, body, "### SMC on the T6 toy")
        return
    parts = [
        f"Command: `{command.strip()}`. Run on {date.today().isoformat()}; load average at the start "
        f"{load} (1, 5, 15 min). Machine: {machine_summary()}; torch threads: {args.threads}.",
        "",
    ]
    if not args.skip_model:
        model, tokenizer = structgen.load_default_model()
        torch.set_num_threads(args.threads)
        vocab = model_vocabulary(model, tokenizer)
        rows = bench_rejection(model, tokenizer, vocab, args.samples, args.max_new_tokens)
        parts += [
            f"### Rejection sampling vs masking (SmolLM2-135M, CPU, temperature 1, {args.samples} samples "
            f"per constraint and mode after one warm-up sample, at most {args.max_new_tokens} new tokens)",
            "",
            NOTE_REJECTION,
            "",
            markdown_table(
                [
                    "constraint",
                    "mode",
                    "checks/token",
                    "fallbacks/token",
                    "processor ms/token",
                    "wall ms/token",
                    "valid",
                ],
                rows,
            ),
            "",
        ]
    if not args.skip_model and args.json_schemas > 0:
        parts += json_section(model, tokenizer, vocab, args)
    smc_rows = bench_smc(args.runs)
    parts += [
        f"### SMC on the T6 toy (exact target a .529, ab .353, ba .118; Z = .34; {args.runs} runs each)",
        "",
        "TV per run: total variation between one run's weighted posterior and the target, averaged; "
        "pooled: of the posterior averaged over runs (the self-normalisation bias). Masking's law is "
        "(.36, .24, .40).",
        "",
        markdown_table(["sampler", "TV per run", "TV pooled", "mean Z estimate"], smc_rows),
        "",
    ]
    checkpoints = [0, 1, 2, 4, 8, 16, 32]
    asap_rows = bench_asap(max(20, args.runs // 5), checkpoints)
    parts += [
        f"### ASAp on the skewed grammar G_sk ({max(20, args.runs // 5)} independent samplers)",
        "",
        "Exact KL(Q_N || Q) in nats of the sampler's next-sample law after N samples (computed from its trie "
        "by enumeration), and that law's probability of `00000` (target 1/17 = 0.0588).",
        "",
        markdown_table(
            ["samples N", "ASAp KL", "ASAp P(00000)", "masking KL", "masking P(00000)"], asap_rows
        ),
    ]
    body = "\n".join(parts)
    print(body)
    if args.out:
        replace_section(args.out, HEADING, body)


if __name__ == "__main__":
    main()
