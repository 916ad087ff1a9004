import gc

import pytest

from structgen._gc import gc_paused


@gc_paused
def _collector_state() -> bool:
    return gc.isenabled()


@gc_paused
def _nested() -> tuple[bool, bool]:
    inner = _collector_state()
    return inner, gc.isenabled()  # still paused after the inner call returned


@gc_paused
def _fails() -> None:
    raise ValueError("boom")


def test_the_collector_is_off_inside_and_back_on_after():
    assert gc.isenabled()
    assert _collector_state() is False
    assert gc.isenabled()


def test_a_nested_pause_ends_with_the_outermost_call():
    assert _nested() == (False, False)
    assert gc.isenabled()


def test_the_collector_comes_back_when_the_call_raises():
    with pytest.raises(ValueError, match="boom"):
        _fails()
    assert gc.isenabled()


def test_a_collector_the_caller_turned_off_stays_off():
    gc.disable()
    try:
        assert _collector_state() is False
        assert not gc.isenabled()
    finally:
        gc.enable()


class _Cycle:
    def __init__(self) -> None:
        self.me = self


@gc_paused
def _leave_cycles(n: int) -> None:
    for _ in range(n):
        _Cycle()


def test_a_pause_that_leaves_many_young_objects_collects_them_before_returning():
    gc.collect()
    _leave_cycles(20_000)  # unreachable cycles: only the collector frees them
    assert gc.get_count()[0] < 1_000
    assert not any(isinstance(o, _Cycle) for o in gc.get_objects(generation=0))


def test_a_pause_that_leaves_few_young_objects_does_not_collect():
    gc.collect()
    _leave_cycles(100)
    assert sum(isinstance(o, _Cycle) for o in gc.get_objects(generation=0)) == 100


def test_a_pause_that_makes_a_young_collection_due_runs_it_before_returning():
    gc.collect()
    _leave_cycles(2 * gc.get_threshold()[0])  # past the young threshold, below the large-compile limit
    assert gc.get_count()[0] < gc.get_threshold()[0]
    assert not any(isinstance(o, _Cycle) for o in gc.get_objects(generation=0))
