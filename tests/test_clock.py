"""The compile clock leaves numba's JIT compilation off a compile's time limit, and nothing else."""

from __future__ import annotations

import itertools
import time

import numba
import numpy as np
import pytest
from numba.core import event

import structgen.grammar._compile as grammar_compile
import structgen.schema._compile as schema_compile
from structgen import CompileTimeoutError, compile_grammar, compile_json_schema
from structgen._clock import deadline_after, jit_seconds, now

_fresh = itertools.count()


def _slowed(real, seconds: float, as_jit: bool):
    """``real`` preceded by ``seconds`` of sleep, reported to numba's listeners as a JIT compile or not."""

    def slowed(*args, **kwargs):
        if as_jit:
            with event.trigger_event("numba:compile"):
                time.sleep(seconds)
        else:
            time.sleep(seconds)
        return real(*args, **kwargs)

    return slowed


def test_jit_compilation_is_counted_and_never_more_than_the_wall_time_it_took():
    deadline_after(1.0)  # starts listening
    before, started = jit_seconds(), time.monotonic()

    @numba.njit(cache=False)
    def fresh(x):  # a new function object: numba compiles it on this first call
        return np.sum(x * x) + 1

    assert fresh(np.arange(4.0)) == 15.0
    wall = time.monotonic() - started
    assert 0 < jit_seconds() - before <= wall


def test_the_clock_runs_with_monotonic_time_outside_jit():
    deadline_after(1.0)
    jit, clock, mono = jit_seconds(), now(), time.monotonic()
    time.sleep(0.05)
    assert jit_seconds() == jit
    assert now() - clock == pytest.approx(time.monotonic() - mono, abs=0.01)


def test_a_grammar_compile_slowed_only_by_jit_keeps_within_its_time_limit(smollm2_vocab, monkeypatch):
    compile_grammar(f'start: "c{next(_fresh)}" /[0-9]+/', smollm2_vocab)  # loads the kernels from numba's cache
    monkeypatch.setattr(grammar_compile, "GrammarEngine", _slowed(grammar_compile.GrammarEngine, 0.3, as_jit=True))
    constraint = compile_grammar(f'start: "a{next(_fresh)}" /[0-9]+/', smollm2_vocab, time_limit=0.25)
    assert constraint is not None


def test_a_grammar_compile_slowed_by_its_own_work_still_times_out(smollm2_vocab, monkeypatch):
    monkeypatch.setattr(grammar_compile, "GrammarEngine", _slowed(grammar_compile.GrammarEngine, 0.3, as_jit=False))
    with pytest.raises(CompileTimeoutError):
        compile_grammar(f'start: "b{next(_fresh)}" /[0-9]+/', smollm2_vocab, time_limit=0.25)


def test_a_schema_compile_slowed_only_by_jit_keeps_within_its_time_limit(smollm2_vocab, monkeypatch):
    compile_json_schema({"type": "integer", "minimum": next(_fresh)}, smollm2_vocab)  # loads the kernels
    monkeypatch.setattr(schema_compile, "to_dfa", _slowed(schema_compile.to_dfa, 0.3, as_jit=True))
    constraint = compile_json_schema({"type": "integer", "minimum": next(_fresh)}, smollm2_vocab, time_limit=0.25)
    assert constraint.matches("12345")


def test_a_schema_compile_slowed_by_its_own_work_still_times_out(smollm2_vocab, monkeypatch):
    monkeypatch.setattr(schema_compile, "to_dfa", _slowed(schema_compile.to_dfa, 0.3, as_jit=False))
    with pytest.raises(CompileTimeoutError):
        compile_json_schema({"type": "integer", "minimum": next(_fresh)}, smollm2_vocab, time_limit=0.25)
