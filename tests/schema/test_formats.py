"""Every string a format constraint can produce passes jsonschema's format checker."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest

from structgen.automata._regular import to_dfa
from structgen.schema._formats import FORMATS
from structgen.schema._pattern import pattern_to_ir
from tests.reference import sample_string


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_random_strings_of_each_format_pass_the_format_checker(name):
    dfa = to_dfa(pattern_to_ir(FORMATS[name], anchored=True))
    checker = jsonschema.FormatChecker()
    rng = np.random.default_rng(0)
    samples = [s for s in (sample_string(dfa, rng) for _ in range(300)) if s is not None]
    assert len(samples) > 100
    for data in samples:
        text = data.decode("utf-8")
        assert checker.conforms(text, name), (name, text)


def test_dates_follow_month_lengths_and_leap_years():
    dfa = to_dfa(pattern_to_ir(FORMATS["date"], anchored=True))
    assert dfa.matches(b"2024-02-29") and dfa.matches(b"2000-02-29")
    assert not dfa.matches(b"2023-02-29") and not dfa.matches(b"1900-02-29")
    assert not dfa.matches(b"2022-02-31") and not dfa.matches(b"2022-04-31") and not dfa.matches(b"0000-01-01")


@pytest.mark.parametrize("name", ["uri", "uri-reference", "iri"])
def test_uris_with_an_empty_or_sub_delim_host_are_accepted(name):
    dfa = to_dfa(pattern_to_ir(FORMATS[name], anchored=True))
    for text in ["file:///C:/Users/me/Templates", "http://a!b/c", "x://:80/a", "https://ex.com:8080/p?q=1#f"]:
        assert jsonschema.FormatChecker().conforms(text, name)
        assert dfa.matches(text.encode()), text
