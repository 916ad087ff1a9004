"""The Earley recognizer: left recursion, ambiguity, empty rules, deep nesting."""

from __future__ import annotations

import pytest

from structgen.grammar import compile_gbnf, compile_grammar
from tests.grammar.oracle import small_vocab

VOCAB = small_vocab("ab()+1 ", 1)


@pytest.mark.parametrize(
    ("grammar", "inside", "outside"),
    [
        # left recursion
        ('start: e\ne: e "+" t | t\nt: "1" | "(" e ")"', ["1", "1+1+1", "(1+(1))+1"], ["", "+1", "1+", "(1"]),
        # right recursion and an ambiguous grammar (s s has exponentially many parses)
        ('start: s\ns: s s | "a"', ["a", "aaaaaaaaaaaa"], ["", "b"]),
        # empty rules and nullable chains
        ('start: x x "b" x\nx: | y\ny: "a" |', ["b", "ab", "aab", "aaba", "ba"], ["", "aaaab", "bb"]),
        # a nullable start
        ('start: "a"*', ["", "a", "aaaa"], ["b"]),
        # unit rules in a cycle (a completion path that comes back to where it started)
        ('start: x\nx: y | "a"\ny: x | "b" y', ["a", "ba", "bbba"], ["", "b", "ab"]),
        # right recursion ending in a nullable rest (deterministic completion chains, Leo)
        ('start: l\nl: "a" l | "b" r\nr: l |', ["b", "ab", "aabab", "bbbb"], ["", "a", "ba"]),
    ],
)
def test_recognizes_exactly_the_language(grammar, inside, outside):
    c = compile_grammar(grammar, VOCAB)
    for text in inside:
        assert c.matches(text), text
    for text in outside:
        assert not c.matches(text), text


def test_deep_nesting_does_not_overflow():
    c = compile_grammar('start: e\ne: "(" e ")" | "1"', VOCAB)
    depth = 20_000
    assert c.matches("(" * depth + "1" + ")" * depth)
    assert not c.matches("(" * depth + "1" + ")" * (depth - 1))


def test_long_right_recursion_with_a_nullable_rest_recognizes_every_prefix():
    # each "a" ends its rule with the rest of the list, which may be empty: completing the end
    # runs up a chain as long as the text, which must neither overflow nor lose the language
    c = compile_grammar('start: l\nl: "a" l | "b" l |', VOCAB)
    text = "ab" * 3000
    assert c.matches(text)
    assert not c.matches(text + "1")
    m = c.matcher()
    ids = {VOCAB.token_bytes[i]: i for i in range(VOCAB.size - 1)}
    for ch in text[:400]:
        assert m.is_accepting()
        assert m.advance(ids[ch.encode()])
    assert not m.check(ids[b"1"])


def test_deep_nesting_token_by_token_with_rollback():
    c = compile_gbnf('root ::= "(" root ")" | "1"', VOCAB)
    m = c.matcher()
    ids = {VOCAB.token_bytes[i]: i for i in range(VOCAB.size - 1)}
    for _ in range(3000):
        assert m.advance(ids[b"("])
    assert not m.check(ids[b")"])
    assert m.advance(ids[b"1"])
    m.rollback(1)
    assert m.advance(ids[b"1"])
    for _ in range(3000):
        assert not m.is_accepting()
        assert m.advance(ids[b")"])
    assert m.is_accepting()
    assert m.forced_tokens() == [VOCAB.eos_token_ids[0]]
