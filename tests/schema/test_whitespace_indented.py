"""whitespace="indented": exactly the spelling of json.dumps(value, indent=N, ensure_ascii=False).

The oracle is json.dumps itself: each valid value, dumped with the constraint's indent, is accepted
(as text and token by token); the same value written compactly, with another indent, with tabs,
with a trailing space or without the space after a colon is refused; invalid values are refused.
"""

from __future__ import annotations

import json

import pytest

from structgen import compile_json_schema
from structgen.automata._regular import to_dfa
from structgen.schema._compiler import SchemaCompiler, SchemaOptions
from tests.schema.suite_runner import SUITE, run_file

NESTED = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "address": {"type": "object", "properties": {"city": {"type": "string"}, "zip": {"type": "integer"}},
                    "required": ["city"]},
    },
    "required": ["name", "address"],
}

CASES = {
    "nested objects": (
        NESTED,
        [{"name": "a", "address": {"city": "B"}}, {"name": "é\n", "address": {"city": "B", "zip": -3}}],
        [{"name": "a"}, {"name": "a", "address": {"zip": 1}}, {"name": 1, "address": {"city": "B"}}],
    ),
    "arrays of objects": (
        {"type": "array", "minItems": 1,
         "items": {"type": "object", "additionalProperties": False, "required": ["id"],
                   "properties": {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}},
        [[{"id": 1}], [{"id": 1, "tags": []}, {"id": 2, "tags": ["a", "b"]}]],
        [[], [{"tags": []}], [{"id": 1, "x": 2}], [{"id": 1, "tags": [1]}]],
    ),
    "empty containers": (
        {"type": "object", "properties": {"a": {"type": "array", "maxItems": 0},
                                          "b": {"type": "object", "additionalProperties": False},
                                          "c": {"type": "array", "items": {"type": "array"}}}},
        [{}, {"a": [], "b": {}}, {"c": [[], [1, []]]}],
        [{"a": [1]}, {"b": {"x": 1}}, {"c": [1]}],
    ),
    "prefix items": (
        {"type": "array", "prefixItems": [{"type": "string"}, {"type": "object"}], "items": False},
        [["a", {"k": [1]}], ["a"], []],
        [["a", 1], ["a", {}, 2]],
    ),
    "enum with object and array values": (
        {"enum": [{"k": [1, {"x": None}], "e": {}, "l": []}, [], [[1], {}], "s"]},
        [{"k": [1, {"x": None}], "e": {}, "l": []}, [], [[1], {}], "s"],
        [{"k": [1]}, [[1]], [{}], {"k": [1, {"x": None}], "e": {}}],
    ),
    "const nested in a property": (
        {"type": "object", "properties": {"c": {"const": {"a": [1, 2], "b": {"z": "y"}}}}, "required": ["c"]},
        [{"c": {"a": [1, 2], "b": {"z": "y"}}}],
        [{"c": {"a": [1, 2]}}, {"c": {"a": [2, 1], "b": {"z": "y"}}}],
    ),
    "additionalProperties schema": (
        {"type": "object", "properties": {"a": {"type": "integer"}},
         "additionalProperties": {"type": "array", "items": {"type": "object"}}},
        [{"a": 1, "z": [{"q": True}]}, {"q": []}, {"a": 1, "y": [{}, {"p": {"r": None}}]}],
        [{"a": 1, "z": [1]}, {"a": "1"}, {"q": {}}],
    ),
    "open sub-schema {}": (
        {"type": "object", "properties": {"meta": {}, "list": {"type": "array"}}},
        [{"meta": {"a": [1, "x"]}, "list": [{"x": 1}, []]}, {"meta": []}, {"meta": None, "list": [[2, 3]]}],
        [{"list": {}}, {"list": 1}],
    ),
    "not under items": (
        {"type": "array", "items": {"not": {"type": "object", "required": ["a"]}}},
        [[{"b": [1]}], [[], {}], [1, "a"]],
        [[{"a": 1}], [1, {"a": []}]],
    ),
    "contains with maxContains": (
        {"type": "array", "contains": {"type": "object", "required": ["k"]}, "maxContains": 1},
        [[1, {"k": 1}], [{"k": [2]}, [3]]],
        [[{"k": 1}, {"k": 2}], [1], []],
    ),
}

ANY_ORDER = (
    {"type": "object", "required": ["a"],
     "properties": {"a": {"type": "integer"}, "b": {"type": "object", "properties": {"c": {"type": "null"}}},
                    "d": {"type": "array", "items": {"type": "boolean"}}}},
    [{"a": 1}, {"b": {"c": None}, "a": 1}, {"d": [True], "a": 2, "b": {}}, {"a": 1, "d": []}],
    [{"b": {"c": None}}, {"a": 1, "d": [1]}, {"d": [], "a": 1, "b": {"c": 0}}],
)


def misspellings(value, indent: int) -> list[str]:
    """Spellings of ``value`` that differ from json.dumps(value, indent=indent), each a near miss."""
    right = json.dumps(value, ensure_ascii=False, indent=indent)
    texts = [
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),  # compact
        json.dumps(value, ensure_ascii=False, indent=indent + 1),
        json.dumps(value, ensure_ascii=False, indent="\t"),
        json.dumps(value, ensure_ascii=False, indent=indent, separators=(", ", ": ")),  # a space after each comma
        json.dumps(value, ensure_ascii=False, indent=indent, separators=(",", ":")),  # no space after a colon
        right.replace("\n", " \n", 1),  # a trailing space
        right + "\n",
        " " + right,
    ]
    return [t for t in dict.fromkeys(texts) if t != right]


def assert_indented(vocab, tokenizer, schema, passing, failing, indent: int = 2, **options):
    constraint = compile_json_schema(schema, vocab, whitespace="indented", indent=indent, **options)
    for value in passing:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
        assert constraint.matches(text), (schema, text)
        matcher = constraint.matcher()
        ids = tokenizer.encode(text, add_special_tokens=False)
        assert matcher.advance_many(ids) == len(ids) and matcher.is_accepting(), (schema, text)
        for wrong in misspellings(value, indent):
            assert not constraint.matches(wrong), (schema, wrong)
    for value in failing:
        text = json.dumps(value, ensure_ascii=False, indent=indent)
        assert not constraint.matches(text), (schema, text)
    return constraint


@pytest.mark.parametrize("name", list(CASES))
def test_indented_spelling_is_exactly_json_dumps(smollm2_vocab, smollm2_tokenizer, name):
    schema, passing, failing = CASES[name]
    assert_indented(smollm2_vocab, smollm2_tokenizer, schema, passing, failing)


def test_property_order_any_is_indented_in_every_order(smollm2_vocab, smollm2_tokenizer):
    schema, passing, failing = ANY_ORDER
    assert_indented(smollm2_vocab, smollm2_tokenizer, schema, passing, failing, property_order="any")


def test_indent_width_is_an_option(smollm2_vocab, smollm2_tokenizer):
    schema, passing, failing = CASES["nested objects"]
    constraint = assert_indented(smollm2_vocab, smollm2_tokenizer, schema, passing, failing, indent=4)
    assert not constraint.matches(json.dumps(passing[0], indent=2))
    flat = compile_json_schema(schema, smollm2_vocab, whitespace="indented", indent=0)
    assert flat.matches(json.dumps(passing[0], indent=0))  # newlines, no spaces
    assert not flat.matches(json.dumps(passing[0], separators=(",", ":")))


def test_recursive_schema_is_indented_at_every_depth(smollm2_vocab, smollm2_tokenizer):
    tree = {"$defs": {"node": {"type": "object", "required": ["v"], "additionalProperties": False,
                               "properties": {"v": {"type": "integer"},
                                              "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"}
    passing = [{"v": 1}, {"v": 1, "kids": []}, {"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}]}, {"v": 4}]}]
    failing = [{"kids": []}, {"v": 1, "kids": [{"v": "2"}]}]
    assert_indented(smollm2_vocab, smollm2_tokenizer, tree, passing, failing)


def test_the_object_written_at_depth_two_uses_that_depth():
    schema = {"type": "array", "items": {"type": "object", "properties": {"a": {"type": "array"}}}}
    dfa = to_dfa(SchemaCompiler(schema, SchemaOptions(whitespace="indented")).compile(schema))
    assert dfa.matches(b'[\n  {\n    "a": [\n      1\n    ]\n  }\n]')
    assert not dfa.matches(b'[\n  {\n    "a": [\n    1\n    ]\n  }\n]')
    assert not dfa.matches(b'[\n  {\n  "a": [\n      1\n    ]\n  }\n]')
    assert dfa.matches(b"[]") and dfa.matches(b"[\n  {}\n]")
    assert not dfa.matches(b"[\n]") and not dfa.matches(b"[\n  {\n  }\n]")


@pytest.mark.parametrize("name", ["properties", "items"])
def test_suite_files_pass_as_many_indented_as_compact(smollm2_vocab, smollm2_tokenizer, name):
    def encode(text: str) -> list[int]:
        return smollm2_tokenizer.encode(text, add_special_tokens=False)

    path = SUITE / "draft2020-12" / f"{name}.json"
    compact = run_file(path, smollm2_vocab, encode)
    indented = run_file(path, smollm2_vocab, encode, whitespace="indented")
    assert indented["false_positive"] == 0 and indented["crash"] == 0
    assert indented["pass"] == compact["pass"] > 0
