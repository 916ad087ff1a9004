"""regex → byte DFA: full-match semantics equal Python's ``re`` on the supported syntax."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from structgen import GrammarError, UnsupportedFeatureError
from structgen.automata import regex_to_dfa
from structgen.automata._utf8 import utf8_sequences

PATTERNS = [
    r"\d{4}-\d{2}-\d{2}",
    r"(red|green|blue)",
    r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?",
    r"[A-Za-z_][A-Za-z0-9_]{0,10}",
    r"\"([^\"\\]|\\.)*\"",
    r"[à-ÿ]+ ?[\u4e00-\u9fff]{1,3}",
    r"(😀|🎉)+x?",
    r"a*b+c?",
    r"(ab|cd){2,4}",
    r".{0,5}",
    r"[^a-z]{1,3}",
    r"",
]

TEXT = st.text(alphabet=st.sampled_from(list("abcdxyz019-._\"\\ é中😀🎉\nAZ")), max_size=12)


@pytest.mark.parametrize("pattern", PATTERNS)
@settings(max_examples=150, deadline=None)
@given(text=TEXT)
def test_dfa_accepts_exactly_what_re_fullmatch_accepts(pattern, text):
    dfa = regex_to_dfa(pattern)
    assert dfa.matches(text.encode("utf-8")) == bool(re.fullmatch(pattern, text))


@given(lo=st.integers(0, 0x10FFFF), span=st.integers(0, 70000))
@settings(max_examples=200, deadline=None)
def test_utf8_sequences_cover_exactly_the_code_point_range(lo, span):
    hi = min(lo + span, 0x10FFFF)
    if lo <= 0xDFFF and hi >= 0xD800:
        return  # callers cut surrogates out first
    seqs = utf8_sequences(lo, hi)
    for cp in {lo, hi, (lo + hi) // 2, max(lo - 1, 0), min(hi + 1, 0x10FFFF)}:
        if 0xD800 <= cp <= 0xDFFF:
            continue
        data = chr(cp).encode("utf-8")
        inside = any(len(s) == len(data) and all(a <= b <= z for (a, z), b in zip(s, data)) for s in seqs)
        assert inside == (lo <= cp <= hi)


def test_dfa_is_minimal_for_a_simple_language():
    assert regex_to_dfa(r"(a|b)*").n_states == 1
    assert regex_to_dfa(r"\d{3}").n_states == 4


def test_non_ascii_classes_never_accept_invalid_utf8():
    dfa = regex_to_dfa(r".*")
    assert not dfa.matches(b"\xff")
    assert not dfa.matches(b"\xc3")  # truncated é
    assert not dfa.matches("\ud800".encode("utf-8", "surrogatepass"))
    assert dfa.matches("é中😀".encode())


def test_dot_does_not_match_newline_like_python():
    assert not regex_to_dfa(r".").matches(b"\n")


def test_forced_bytes_follow_the_only_path():
    dfa = regex_to_dfa(r"abc(d|e)")
    assert dfa.forced_bytes(dfa.start) == b"abc"


ERRORS = [
    (r"(ab", GrammarError, "position 0"),
    (r"ab)", GrammarError, "position 2"),
    (r"a{3,2}", GrammarError, "position"),
    (r"[z-a]", GrammarError, "position 1"),
    (r"(a)\1", UnsupportedFeatureError, "backreferences"),
    (r"a(?=b)", UnsupportedFeatureError, "lookahead"),
    (r"\w+(?<!c)", UnsupportedFeatureError, "lookahead/lookbehind"),
    (r"^a|b$", UnsupportedFeatureError, "anchors"),
    (r"a\bb", UnsupportedFeatureError, "word boundaries"),
    (r"(?:^a)", UnsupportedFeatureError, "cannot enforce"),
]


@pytest.mark.parametrize("pattern", [r"^ab$", r"^(a|b)+$", r"^\d+", r"x\$"])
def test_outer_anchors_are_dropped_because_matching_is_always_in_full(pattern):
    dfa = regex_to_dfa(pattern)
    for text in ["ab", "abab", "12", "x$", "x", "ab\n"]:
        assert dfa.matches(text.encode()) == bool(re.fullmatch(pattern, text))


@pytest.mark.parametrize(("pattern", "error", "message"), ERRORS)
def test_bad_regexes_raise_specific_errors_that_say_where(pattern, error, message):
    with pytest.raises(error, match=message):
        regex_to_dfa(pattern)


def test_syntax_error_shows_a_caret_under_the_position():
    with pytest.raises(GrammarError) as info:
        regex_to_dfa(r"ab)")
    assert "    ab)\n      ^" in str(info.value)


def test_empty_language_gives_an_automaton_with_no_states():
    assert regex_to_dfa(r"[^\s\S]").n_states == 0
