"""States no short word tells apart: ``bounded_representatives`` against a brute-force oracle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structgen.automata._bounded_equivalence import bounded_representatives

ALPHABET = b"abc"


def _trace(transitions, observation, state, word):
    """What each prefix of ``word`` shows from ``state``: the observation, or the sink reached."""
    out = [("obs", int(observation[state]))]
    for b in word:
        state = int(transitions[state, b])
        if state < 0:
            out.append(("sink", state))
            break
        out.append(("obs", int(observation[state])))
    return out


def _distinguishable(transitions, observation, p, q, depth):
    return any(
        _trace(transitions, observation, p, word) != _trace(transitions, observation, q, word)
        for n in range(depth + 1)
        for word in itertools.product(ALPHABET, repeat=n)
    )


@st.composite
def tables(draw):
    n = draw(st.integers(1, 9))
    transitions = np.full((n, 256), -1, np.int32)
    for s in range(n):
        for b in ALPHABET:
            transitions[s, b] = draw(st.integers(-2, n - 1))
    observation = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), np.int32)
    return transitions, observation


@settings(max_examples=150, deadline=None)
@given(table=tables(), depth=st.integers(0, 4))
def test_representatives_equal_exactly_the_states_no_short_word_tells_apart(table, depth):
    transitions, observation = table
    reps = bounded_representatives(transitions, observation, depth)
    for p in range(transitions.shape[0]):
        assert reps[p] <= p and reps[reps[p]] == reps[p]  # the lowest state of its class
        for q in range(p):
            same = reps[p] == reps[q]
            assert same == (not _distinguishable(transitions, observation, p, q, depth)), (p, q)


def test_a_long_bounded_counter_collapses_away_from_its_bounds():
    # state i: i characters read of a string of 5 to 300; the quote (byte 34) leaves at state 301
    n = 302
    transitions = np.full((n, 256), -1, np.int32)
    for i in range(300):
        transitions[i, ord("a")] = i + 1
    transitions[5:301, 34] = 301
    observation = np.zeros(n, np.int32)
    observation[301] = 1
    reps = bounded_representatives(transitions, observation, depth=16)
    # below the minimum, every position sees the quote's fate at a different distance
    assert len(set(reps[:6].tolist())) == 6
    # from the minimum until 16 characters before the maximum, no 16-byte word tells them apart
    assert set(reps[5:285].tolist()) == {5}
    # the last 16 positions see the maximum
    assert len(set(reps[285:301].tolist())) == 16


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="expected an"):
        bounded_representatives(np.zeros((3, 255), np.int32), np.zeros(4, np.int32), 2)
    with pytest.raises(ValueError, match="depth"):
        bounded_representatives(np.zeros((3, 256), np.int32), np.zeros(3, np.int32), -1)
