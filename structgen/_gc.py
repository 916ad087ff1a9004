"""``gc_paused``: no cyclic garbage collection while a constraint compiles.

Compiling allocates hundreds of thousands of small objects (IR nodes, NFA edge lists) and frees
few: each allocation burst triggers collections that rescan every live object, which measured
up to 10x the time of building an NFA (Github_medium o558: 72 ms with collections, 6 ms without).
Reference counting still frees everything acyclic; collection resumes when the outermost paused
call returns, which first runs the young collection the pause made due.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_depth = 0  # paused calls in progress, over all threads
_was_enabled = False


def gc_paused(func: Callable[P, R]) -> Callable[P, R]:
    """Run ``func`` with the cyclic collector off (nested and concurrent calls share one pause)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        global _depth, _was_enabled
        with _lock:
            if _depth == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _depth += 1
        try:
            return func(*args, **kwargs)
        finally:
            with _lock:
                _depth -= 1
                if _depth == 0 and _was_enabled:
                    gc.enable()
                    _collect_young()

    return wrapper


_YOUNG_LIMIT = 5000  # young objects past which the compile also collects the middle generation


def _collect_young() -> None:
    """Run the young collection that the compile's own allocations made due.

    Otherwise the first allocation after the compile pays for it: a young collection over a
    compile's leftovers (100-300 µs for a few thousand objects) landed in most first masks of
    JSONSchemaBench schemas, and after a grammar compile the first collection met 48,000
    unreachable objects (26 ms) and the next one promoted the survivors (13 ms), both inside mask
    fills. The compile is where that latency belongs.
    """
    young, middle, _ = gc.get_count()
    threshold_young, threshold_middle, _ = gc.get_threshold()
    if threshold_young and young > threshold_young:  # a threshold of 0 turns collection off
        gc.collect(1 if young > _YOUNG_LIMIT or middle > threshold_middle else 0)
