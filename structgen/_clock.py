"""The compile clock: monotonic time less the time numba spends JIT-compiling kernels.

A compile's ``time_limit`` bounds the work its constraint needs. The first compile after an
install also JIT-compiles every kernel it reaches (up to about 15 s on a small machine; numba
then caches them on disk), and that one-off cost must not turn a tiny grammar into a
``CompileTimeoutError``. Loading kernels from numba's cache still counts (about 0.3 s for the
grammar engine's, once per process).
"""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()
_jit_seconds = 0.0
_listening = False


def now() -> float:
    """Seconds on the compile clock (``time.monotonic()`` less all JIT compilation so far)."""
    return time.monotonic() - _jit_seconds


def deadline_after(seconds: float) -> float:
    """The compile-clock time ``seconds`` from now; starts counting JIT time on first use."""
    _listen_to_numba()
    return now() + seconds


def jit_seconds() -> float:
    """Seconds spent JIT-compiling since the clock first started a deadline."""
    return _jit_seconds


def _listen_to_numba() -> None:
    global _listening
    if _listening:
        return
    with _lock:
        if _listening:
            return
        from numba.core import event

        class _JitTimer(event.Listener):
            # a kernel's compile triggers its callees' compiles inside it: time the outermost
            def __init__(self) -> None:
                self.depth = 0
                self.started = 0.0

            def on_start(self, ev: event.Event) -> None:
                if self.depth == 0:
                    self.started = time.monotonic()
                self.depth += 1

            def on_end(self, ev: event.Event) -> None:
                global _jit_seconds
                self.depth -= 1
                if self.depth == 0:
                    _jit_seconds += time.monotonic() - self.started

        event.register("numba:compile", _JitTimer())
        _listening = True
