"""unevaluatedProperties / unevaluatedItems: scoped to their schema, counted across in-place applicators."""

from __future__ import annotations

import json

import jsonschema
import pytest

from structgen import compile_json_schema

CASES = [
    # allOf parts evaluate for the outer keyword
    ({"properties": {"a": {"type": "integer"}}, "allOf": [{"properties": {"b": {"type": "string"}}}],
      "unevaluatedProperties": False},
     [{"a": 1, "b": "x"}, {"b": "x"}, {}], [{"a": 1, "c": 2}, {"b": 2}]),
    # a part's own keyword sees only that part: the outer `b` does not count for it
    ({"properties": {"b": {}}, "allOf": [{"properties": {"a": {}}, "unevaluatedProperties": False}]},
     [{"a": 1}, {}], [{"a": 1, "b": 2}, {"b": 2}]),
    # a $ref's properties count, and the keyword takes a schema
    ({"$defs": {"base": {"properties": {"id": {"type": "integer"}}}}, "$ref": "#/$defs/base",
      "unevaluatedProperties": {"type": "boolean"}},
     [{"id": 1}, {"id": 1, "flag": True}], [{"id": 1, "flag": 3}]),
    # a dependent schema evaluates only when its property is present
    ({"properties": {"foo": {}}, "dependentSchemas": {"foo": {"properties": {"bar": {}}}},
      "unevaluatedProperties": False},
     [{"foo": 1, "bar": 2}, {"foo": 1}], [{"bar": 2}]),
    # items: prefixItems merged from allOf count, later positions meet the keyword
    ({"prefixItems": [{"type": "string"}], "allOf": [{"prefixItems": [True, {"type": "number"}]}],
      "unevaluatedItems": False},
     [["a", 1], ["a"], []], [["a", 1, True]]),
    ({"prefixItems": [{"type": "string"}], "unevaluatedItems": {"type": "integer"}},
     [["a", 1, 2]], [["a", "b"]]),
]


@pytest.mark.parametrize(("schema", "valid", "invalid"), CASES)
def test_unevaluated_keywords_agree_with_jsonschema(smollm2_vocab, schema, valid, invalid):
    constraint = compile_json_schema(schema, smollm2_vocab)
    validator = jsonschema.Draft202012Validator(schema)
    for value in valid + invalid:
        expected = value in valid
        assert validator.is_valid(value) == expected, value  # the case itself is right
        assert constraint.matches(json.dumps(value, separators=(",", ":"))) == expected, value


def test_unevaluated_with_anyof_is_a_reported_narrowing(smollm2_vocab):
    schema = {"anyOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}], "unevaluatedProperties": False}
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert [i.kind for i in constraint.schema_issues if i.keyword == "unevaluatedProperties"] == ["restricted"]
    assert constraint.matches('{"a":1}') and constraint.matches('{"b":1}') and not constraint.matches('{"c":1}')
    # valid (both branches pass, so both keys are evaluated) but not generated: the narrowing
    assert not constraint.matches('{"a":1,"b":2}')
