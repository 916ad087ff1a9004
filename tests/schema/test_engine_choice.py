"""Which engine a schema compiles to: one DFA, or the grammar engine when the DFA is too large."""

from __future__ import annotations

import json

import jsonschema
import pytest

from structgen import compile_json_schema
from structgen.grammar._compile import GrammarConstraint
from structgen.schema import _compile

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 5}, "age": {"type": "integer", "minimum": 0},
                   "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2}},
    "required": ["name"],
}
VALUES = [{"name": "ann"}, {"name": "ann", "age": 3}, {"name": "ann", "age": -1}, {"name": "toolong"},
          {"name": "x", "tags": ["a", "b"]}, {"name": "x", "tags": ["a", "b", "a"]}, {"name": "x", "tags": ["c"]},
          {"age": 3}, {"name": "x", "extra": {"deep": [[[[[[[[1]]]]]]]]}}, {"name": "x", "extra": None}, [], "x"]


def test_a_schema_past_the_dfa_size_limit_compiles_to_the_grammar_engine_with_the_same_language(
        smollm2_vocab, monkeypatch):
    regular = compile_json_schema(PERSON, smollm2_vocab)
    monkeypatch.setattr(_compile, "_DFA_MAX_STATES", 20)
    grammar = compile_json_schema(PERSON, smollm2_vocab)
    assert not isinstance(regular, GrammarConstraint) and isinstance(grammar, GrammarConstraint)
    validator = jsonschema.Draft202012Validator(PERSON)
    for value in VALUES:  # open values: any depth in both (holes in the DFA, a rule in the grammar)
        text = json.dumps(value, separators=(",", ":"))
        assert grammar.matches(text) == validator.is_valid(value), text
        assert regular.matches(text) == validator.is_valid(value), text
    assert not any(i.keyword == "*" for i in regular.schema_issues + grammar.schema_issues)


@pytest.mark.parametrize(("schema", "unit"), [({"type": "string", "maxLength": 5000}, "x"),
                                              ({"type": "array", "maxItems": 5000}, "1")])
def test_counts_past_max_count_are_generated_up_to_it_and_reported(smollm2_vocab, schema, unit):
    constraint = compile_json_schema(schema, smollm2_vocab, max_count=64)
    assert [i.kind for i in constraint.schema_issues if i.keyword in ("maxLength", "maxItems")] == ["restricted"]
    def spell(n: int) -> str:
        return json.dumps(unit * n if schema["type"] == "string" else [1] * n, separators=(",", ":"))

    assert constraint.matches(spell(64)) and not constraint.matches(spell(65))


def test_indented_open_values_go_deeper_where_the_automaton_stays_small(smollm2_vocab):
    nested = json.dumps({"a": {"b": [{"c": [1]}]}}, indent=2)  # 4 levels below the document
    assert compile_json_schema({"type": "object"}, smollm2_vocab, whitespace="indented").matches(nested)
    assert not compile_json_schema({"type": "object"}, smollm2_vocab, whitespace="indented",
                                   any_value_depth=2).matches(nested)
