"""Sampling: rejection vs masking on SmolLM2, and SMC / ASAp distance to the exact constrained law.

1. SmolLM2-135M (CPU) samples (temperature 1) under a few regex constraints with
   ``StructuredLogitsProcessor`` in ``sampling="mask"`` and ``"rejection"`` mode: single-token
   constraint checks per token, fallbacks to the full mask, processor time and wall time per token,
   validity of the outputs.
2. SMC on the T6 toy of the research note (tiny table LM with exact probabilities): total
   variation between the weighted posterior and the exact target, and the mean normaliser
   estimate, against the number of particles; one unweighted particle is plain masking.
3. ASAp on the skewed grammar G_sk: the exact KL(Q_N || Q) of the sampler's law after N samples
   (computed from its trie), averaged over independent samplers; masking stays at 0.7538 nats.

Run from the repository root::

    .venv/bin/python benchmarks/sampling.py --out docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
import time
from pathlib import Path

import torch
from _common import machine_summary, markdown_table, replace_section

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sampling"))

import toy_lm  # noqa: E402  (the tiny exact LM lives with the tests)

import structgen  # noqa: E402
from structgen.integrations._generate import model_vocabulary  # noqa: E402

HEADING = "## Sampling: rejection, SMC, grammar-aligned decoding"
NOTE_REJECTION = (
    "Regex constraints only: grammars and JSON Schema constraints do not exist yet in structgen, so the "
    "issue's JSONSchemaBench / shipped-grammar runs are not done. *checks/token* is the number of "
    "single-token `Matcher.check` calls per step for rejection; for masking it is the vocabulary size "
    "(every token is decided), although structgen's mask is a precomputed lookup, not a per-token "
    "evaluation, so masking's real cost is the *processor ms/token* column. Times are means on a 2-core "
    "machine shared with other jobs: rows vary several-fold between runs (the checks do not); trust the "
    "checks and the within-row ratios only loosely."
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


def bench_rejection(samples: int, max_new_tokens: int) -> list[list[str]]:
    from transformers import LogitsProcessorList

    model, tokenizer = structgen.load_default_model()
    torch.set_num_threads(2)
    vocab = model_vocabulary(model, tokenizer)
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="markdown file whose sampling section is (re)written")
    p.add_argument("--samples", type=int, default=4, help="SmolLM2 samples per constraint and mode")
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--runs", type=int, default=300, help="independent runs for the toy SMC / ASAp figures")
    p.add_argument("--skip-model", action="store_true", help="only the toy-model parts")
    args = p.parse_args(argv)
    command = ".venv/bin/python benchmarks/sampling.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    parts = [f"Command: `{command.strip()}`. Machine: {machine_summary()}.", ""]
    if not args.skip_model:
        rows = bench_rejection(args.samples, args.max_new_tokens)
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
