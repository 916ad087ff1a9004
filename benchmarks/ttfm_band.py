"""Time to first mask of structgen on a band of JSONSchemaBench schemas, in one process, for A/B runs.

The schemas are those whose TTFM in a results file (a JSONSchemaBench run's per-schema lines) lies
in ``[--lo, --hi]`` ms; each is compiled cold (caches reset, as the benchmark does) and its first
mask filled, ``--rounds`` times. Prints each round's total and the median over schemas of their best
round. Compare two commits by running this on each, alternately, with the same results file::

    git show 36a08c8:benchmarks/results/full/jsonschemabench-structgen.jsonl.gz > /tmp/band.jsonl.gz
    .venv/bin/python benchmarks/ttfm_band.py /tmp/band.jsonl.gz --lo 8 --hi 18 --n 60 --rounds 4
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from pathlib import Path

import numpy as np
from _common import load_tokenizer
from jsonschemabench import DATA, StructgenEngine


def band(results: Path, lo: float, hi: float, n: int, seed: int) -> list[dict]:
    """Up to ``n`` records (schema and tests) whose TTFM in ``results`` is within [lo, hi] ms."""
    opener = gzip.open if results.suffix == ".gz" else open
    with opener(results, "rt") as f:
        rows = [r for r in map(json.loads, f) if r.get("status") == "ok" and lo <= (r.get("ttfm_ms") or -1) <= hi]
    random.Random(seed).shuffle(rows)
    wanted = {r["id"] for r in rows[:n]}
    records = []
    for split in sorted({i.split("---")[0] for i in wanted}):
        with open(DATA / f"{split}.jsonl") as f:
            records += [d for d in map(json.loads, f) if d["unique_id"] in wanted]
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--lo", type=float, default=8.0)
    parser.add_argument("--hi", type=float, default=18.0)
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    engine = StructgenEngine()
    engine.setup(load_tokenizer("deepseek"))
    bitmask = np.zeros((1, (len(engine.vocab) + 31) // 32), np.int32)
    schemas = [json.loads(r["schema"]) if isinstance(r["schema"], str) else r["schema"]
               for r in band(args.results, args.lo, args.hi, args.n, args.seed)]
    times = np.full((args.rounds, len(schemas)), np.nan)
    for k in range(args.rounds):
        for j, schema in enumerate(schemas):
            engine.reset_caches()
            start = time.perf_counter()
            try:
                engine.compile_schema(schema).matcher().fill_mask(bitmask[0])
            except Exception:  # noqa: BLE001 - refused or timed out: timed all the same
                pass
            times[k, j] = (time.perf_counter() - start) * 1e3
        print(f"round {k + 1}: {times[k].sum() / 1e3:.3f} s over {len(schemas)} schemas")
    print(f"median over schemas of their best round: {np.median(times.min(axis=0)):.2f} ms")


if __name__ == "__main__":
    main()
