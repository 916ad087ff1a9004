"""Lark and GBNF front ends: what compiles, and errors that say what is wrong and where."""

from __future__ import annotations

from pathlib import Path

import lark
import pytest

from structgen import (
    GrammarError,
    StructgenError,
    UnsatisfiableConstraintError,
    UnsupportedFeatureError,
    compile_gbnf,
    compile_grammar,
)
from tests.conftest import SHARED_DATA
from tests.grammar.oracle import ir_to_lark, small_vocab

VOCAB = small_vocab("ab1+(){}[],:\" \n", 1)
LLAMA = SHARED_DATA / "grammars" / "llama.cpp" / "grammars"


# -- Lark ----------------------------------------------------------------------------------


def test_lark_syntax_error_names_line_and_column():
    with pytest.raises(GrammarError, match=r"grammar \(line 2, column 13\): Unexpected token"):
        compile_grammar('start: x\nx: "a" ( "b"\n\n', VOCAB)
    with pytest.raises(GrammarError, match=r"grammar \(line 1, column 13\): Unclosed parenthesis"):
        compile_grammar('start: "a" (', VOCAB)


def test_lark_undefined_rule_is_named():
    with pytest.raises(GrammarError, match=r"'y' used but not defined"):
        compile_grammar('start: "a" y', VOCAB)


def test_lark_missing_start_rule_is_named():
    with pytest.raises(GrammarError, match=r"start rule 'start' is not defined.*rules: x"):
        compile_grammar('x: "a"', VOCAB)
    assert compile_grammar('x: "a"', VOCAB, start="x").matches("a")


def test_lark_declared_postlexer_terminals_are_refused():
    with pytest.raises(UnsupportedFeatureError, match=r"_INDENT.*%declare.*Indenter"):
        compile_grammar('start: "a" _INDENT "b"\n%declare _INDENT', VOCAB)


def test_lark_lookaround_terminal_is_refused_with_its_line():
    with pytest.raises(UnsupportedFeatureError, match=r"terminal WORD \(line 2\).*lookahead"):
        compile_grammar("start: WORD\nWORD: /a(?=b)/", VOCAB)


def test_lark_empty_language_is_unsatisfiable():
    with pytest.raises(UnsatisfiableConstraintError, match=r"empty language"):
        compile_grammar('start: "a" start', VOCAB)


def test_lark_zero_width_terminal_is_refused():
    with pytest.raises(GrammarError, match=r"terminal A .*matches the empty string"):
        compile_grammar("start: A\nA: /a*/", VOCAB)


def test_lark_escaped_string_idiom_is_exact():
    c = compile_grammar("start: ESCAPED_STRING\n%import common.ESCAPED_STRING", VOCAB)
    assert c.matches('"ab"') and c.matches('"a\\"b"') and c.matches('"a\\\\"')
    assert not c.matches('"a\\"') and not c.matches('"a"b"')


def test_lark_features_templates_repetition_ranges_and_inlining():
    grammar = """
    start: pair{"a", "b"} ("1"~2..3) maybe
    pair{x, y}: x y
    ?maybe: ["(" ")"]
    """
    c = compile_grammar(grammar, VOCAB)
    assert c.matches("ab11") and c.matches("ab111()")
    assert not c.matches("ab1") and not c.matches("ab1111")


def test_lark_case_insensitive_literals():
    c = compile_grammar('start: "ab"i', VOCAB)
    assert c.matches("ab")
    assert not c.matches("ba")


def test_unknown_shipped_grammar_lists_the_shipped_ones():
    with pytest.raises(GrammarError, match=r"no shipped grammar named 'yaml'.*json"):
        compile_grammar("yaml", VOCAB)


def test_errors_are_structgen_errors():
    with pytest.raises(StructgenError):
        compile_grammar("start: (", VOCAB)


# -- GBNF ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(LLAMA.glob("*.gbnf")), ids=lambda p: p.stem)
def test_every_llama_cpp_grammar_compiles(smollm2_vocab, path: Path):
    c = compile_gbnf(path.read_text(), smollm2_vocab)
    assert c.grammar.terminals


@pytest.mark.parametrize(
    ("name", "inside", "outside"),
    [
        ("json", ['{"a": [1, 2.5, {"b": null}], "c": "x\\"y"}', "{}"], ['{"a" 1}', "[1]", "01"]),
        ("arithmetic", ["x+(b2 )*3=1\n"], ["x=\n", "1+"]),
        ("list", ["- abc\n- d\n"], ["- \n", "abc\n"]),
        ("chess", ["1. e4 e5\n2. Nf3 Nc6\n"], ["1. e9 e5\n"]),
        ("english", ["Hello, world!"], ["", "Hello  world"]),
        ("japanese", ["こんにちは"], ["hello"]),
        ("json_arr", ['[\n{"a": 1}]'], ['[{"a": 1}]']),
        ("c", ["int main(){return 0;}"], ["int main({}"]),
    ],
)
def test_llama_cpp_grammars_recognize_their_language(smollm2_vocab, name, inside, outside):
    c = compile_gbnf((LLAMA / f"{name}.gbnf").read_text(), smollm2_vocab)
    reference = lark.Lark(ir_to_lark(c.grammar))  # lark's Earley parser over the same rules
    for text in inside:
        assert c.matches(text), text
        reference.parse(text)
    for text in outside:
        assert not c.matches(text), text
        with pytest.raises(lark.exceptions.LarkError):
            reference.parse(text)


def test_gbnf_repetition_counts():
    c = compile_gbnf('root ::= "a"{2,3} "b"{2} "1"{1,} [ab]?', VOCAB)
    assert c.matches("aabb1") and c.matches("aaabb111a")
    assert not c.matches("abb1") and not c.matches("aaaabb1") and not c.matches("aab1") and not c.matches("aabb")


def test_gbnf_syntax_error_names_line_and_column():
    with pytest.raises(GrammarError, match=r"line 2, column 11: expected '\)'"):
        compile_gbnf('root ::= x\nx ::= "a" ( "b"\n', VOCAB)


def test_gbnf_undefined_rule_names_where_it_is_used():
    with pytest.raises(GrammarError, match=r"line 1, column 14: rule 'missing' is used but never defined"):
        compile_gbnf('root ::= "a" missing', VOCAB)


def test_gbnf_bad_escape_and_missing_root():
    with pytest.raises(GrammarError, match=r"\\x needs 2 hex digits"):
        compile_gbnf('root ::= "\\xZ1"', VOCAB)
    with pytest.raises(GrammarError, match=r"start rule 'root' is not defined"):
        compile_gbnf('item ::= "a"', VOCAB)


def test_identifier_terminals_take_part_in_every_longest_match():
    grammar = 'start: NAME ("in" NAME)?\nNAME: /(?!(?:in)\\b)[a-z]+/\n%ignore " "'
    vocab = small_vocab("abin ", 1)
    plain = compile_grammar(grammar, vocab)
    assert plain.matches("a inb")  # lark's contextual reading: `a` `in` `b`
    for strict in (compile_grammar(grammar, vocab, identifier_terminals=["NAME"]),
                   compile_grammar("// structgen: identifier_terminals NAME\n" + grammar, vocab)):
        assert not strict.matches("a inb") and strict.matches("a in b") and strict.matches("a")
    with pytest.raises(GrammarError, match=r"identifier terminal 'WORD' is not a terminal"):
        compile_grammar(grammar, vocab, identifier_terminals=["WORD"])
