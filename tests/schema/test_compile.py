"""compile_json_schema: what each keyword accepts and refuses, errors that say where, options."""

from __future__ import annotations

import json
import random
import string
import time

import numpy as np
import pytest

import structgen.schema._compile as schema_compile
from structgen import (
    CompileTimeoutError,
    SchemaError,
    UnsupportedFeatureError,
    compile_json_schema,
    schema_report,
)


def check(vocab, tokenizer, schema, passing=(), failing=(), **options):
    """Each passing value is accepted (string path and token path); each failing one refused."""
    constraint = compile_json_schema(schema, vocab, **options)
    whitespace = options.get("whitespace", "compact")
    sep = (",", ":") if whitespace == "compact" else (", ", ": ")
    indent = options.get("indent", 2) if whitespace == "indented" else None
    for value, should_pass in [*((v, True) for v in passing), *((v, False) for v in failing)]:
        text = value if isinstance(value, str) and value.startswith("#raw:") else None
        text = text[5:] if text else json.dumps(value, ensure_ascii=False, separators=None if indent is not None
                                                else sep, indent=indent)
        assert constraint.matches(text) == should_pass, (schema, text)
        matcher = constraint.matcher()
        ids = tokenizer.encode(text, add_special_tokens=False)
        token_path = matcher.advance_many(ids) == len(ids) and matcher.is_accepting()
        assert token_path == should_pass, (schema, text)
    return constraint


CASES = {
    "integer range": ({"type": "integer", "minimum": -5, "exclusiveMaximum": 100}, [-5, 0, 99], [-6, 100, 1.5, "1"]),
    "number bounds": ({"type": "number", "exclusiveMinimum": 0, "maximum": 2}, [0.5, 2, 1.99], [0, -1, 2.5]),
    "unbounded number": ({"type": "number"}, [0, -1.5, 3e10, 1.25e-3], ["x", True]),
    "string lengths": ({"type": "string", "minLength": 2, "maxLength": 3}, ["ab", "é😀", 'a"'], ["a", "abcd"]),
    "pattern is a search": ({"type": "string", "pattern": "[0-9]{3}"}, ["a123b", "999"], ["12", "abc"]),
    "anchored pattern": ({"type": "string", "pattern": "^[a-z]+$"}, ["abc"], ["ab1", "", "A"]),
    "format date": ({"type": "string", "format": "date"}, ["2024-02-29"], ["2024-13-01", "24-01-01"]),
    "format uuid": ({"type": "string", "format": "uuid"}, ["123e4567-e89b-12d3-a456-426614174000"], ["123"]),
    "enum": ({"enum": ["red", 1, None, {"a": [1]}]}, ["red", 1, None, {"a": [1]}], ["blue", 2, {"a": []}]),
    "const": ({"const": {"x": 1}}, [{"x": 1}], [{"x": 2}, {}]),
    "type union": ({"type": ["string", "null"]}, ["a", None], [1, True]),
    "object required and order": (
        {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"],
         "additionalProperties": False},
        [{"a": 1}, {"a": 1, "b": "x"}],
        [{"b": "x"}, {"a": 1, "c": 2}, {"a": "1"}],
    ),
    "additional properties schema": (
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}},
        [{"a": 1, "z": True}, {"q": False}],
        [{"a": 1, "z": 1}, {"a": 1, "a2": "x"}],
    ),
    "min and max properties": (
        {"type": "object", "additionalProperties": {"type": "integer"}, "minProperties": 1, "maxProperties": 2},
        [{"a": 1}, {"a": 1, "b": 2}],
        [{}, {"a": 1, "b": 2, "c": 3}],
    ),
    "array bounds": ({"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 3},
                     [[1], [1, 2, 3]], [[], [1, 2, 3, 4], ["a"]]),
    "prefix items": ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
                     [["a", 1], ["a"], []], [[1, "a"], ["a", 1, 2]]),
    "anyOf": ({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]}, [1, "a"], ["ab", None]),
    "oneOf disjoint by type": ({"oneOf": [{"type": "integer"}, {"type": "string"}]}, [1, "a"], [None]),
    "allOf merged": ({"allOf": [{"type": "integer", "minimum": 0}, {"maximum": 9}]}, [0, 9], [-1, 10]),
    "ref to defs": (
        {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "array", "items": {"$ref": "#/$defs/pos"}},
        [[1, 2]],
        [[0]],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_keyword_accepts_and_refuses(smollm2_vocab, smollm2_tokenizer, name):
    schema, passing, failing = CASES[name]
    check(smollm2_vocab, smollm2_tokenizer, schema, passing, failing)


def test_flexible_whitespace_is_bounded(smollm2_vocab, smollm2_tokenizer):
    schema = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    check(smollm2_vocab, smollm2_tokenizer, schema, [{"a": [1, 2]}, "#raw:{ \"a\" :[1,\n 2] }"],
          ["#raw:{\"a\":[1,     2]}"], whitespace="flexible", max_whitespace=2)


def test_recursion_unrolled_on_request_is_bounded_and_reported(smollm2_vocab, smollm2_tokenizer):
    tree = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}},
            "additionalProperties": False}
    constraint = check(smollm2_vocab, smollm2_tokenizer, tree, [{}, {"children": [{"children": [{}]}]}],
                       [{"children": [{"children": [{"children": [{"children": [{}]}]}]}]}],
                       recursion="unroll", max_recursion=3)
    assert [i.kind for i in constraint.schema_issues] == ["restricted"]


def test_pydantic_models_compile_and_keep_their_class(smollm2_vocab):
    pydantic = pytest.importorskip("pydantic")

    class Point(pydantic.BaseModel):
        x: int
        y: int

    constraint = compile_json_schema(Point, smollm2_vocab)
    assert constraint.matches('{"x":1,"y":-2}') and not constraint.matches('{"x":1}')
    assert constraint.pydantic_model is Point


UNSUPPORTED = [
    ({"type": "array", "not": {"uniqueItems": True}}, "#/not: the negated schema is itself enforced only in part"),
    ({"properties": {"a": {"type": "number", "multipleOf": 0.123456789}}}, "#/properties/a/multipleOf"),
    ({"type": "array", "contains": {"type": "array", "uniqueItems": True}, "maxContains": 1}, "#/maxContains"),
    ({"type": "object", "unevaluatedProperties": False, "not": {"required": ["a"]}},
     "#/unevaluatedProperties: not enforced next to not"),
    ({"oneOf": [{"type": "array", "uniqueItems": True}, {"type": "array", "maxItems": 3}]},
     "#/oneOf: branches 0 and 1 may overlap; exclusivity is not enforced"),
    ({"$ref": "http://example.com/s.json"}, "points outside this schema document"),
]


@pytest.mark.parametrize(("schema", "message"), UNSUPPORTED)
def test_unenforced_keywords_are_refused_with_their_location(smollm2_vocab, schema, message):
    with pytest.raises(UnsupportedFeatureError, match=message.replace("$", r"\$")):
        compile_json_schema(schema, smollm2_vocab)


def test_lenient_compiles_and_warns_with_the_same_list(smollm2_vocab):
    with pytest.warns(UserWarning, match="#/not"):
        constraint = compile_json_schema({"type": "integer", "not": {"uniqueItems": True}}, smollm2_vocab,
                                         lenient=True)
    assert constraint.matches("4")


def test_schema_report_lists_issues_without_a_vocabulary():
    report = schema_report({"type": "array", "uniqueItems": True, "unevaluatedItems": False, "contains": {}})
    assert [str(i) for i in report.unsupported] == [
        "#/unevaluatedItems: not enforced next to contains (the items or properties those evaluate are not tracked)"]
    assert "uniqueItems" in [i.keyword for i in report.restricted]


MALFORMED = [
    ('{"type": ', "not valid JSON: line 1 column 10"),
    ({"type": "strnig"}, "#/type: unknown type 'strnig'"),
    ({"properties": {"a": {"minLength": -1, "type": "string"}}}, "#/properties/a/minLength: must be a non-negative"),
    ({"$ref": "#/$defs/missing"}, "does not resolve"),
    ({"items": 3, "type": "array"}, "must be an object or a boolean"),
]


@pytest.mark.parametrize(("schema", "message"), MALFORMED)
def test_malformed_schemas_raise_schema_error_naming_the_place(smollm2_vocab, schema, message):
    with pytest.raises(SchemaError, match=message.replace("$", r"\$")):
        compile_json_schema(schema, smollm2_vocab)


def test_compile_time_limit_stops_a_huge_schema(smollm2_vocab):
    # too big for both engines: 3,000 long words, as one automaton or as 3,000 terminals
    rng = random.Random(0)
    words = ["".join(rng.choice(string.ascii_lowercase) for _ in range(24)) for _ in range(3000)]
    with pytest.raises(CompileTimeoutError):
        compile_json_schema({"type": "array", "items": {"enum": words}, "maxItems": 5}, smollm2_vocab, time_limit=0.05)


def test_a_compile_whose_grammar_engine_build_ends_past_the_limit_raises(smollm2_vocab, monkeypatch):
    real = schema_compile._grammar_constraint

    def slow(*args):
        constraint = real(*args)
        time.sleep(1.1)
        return constraint

    recursive = {"$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"}}}, "$ref": "#/$defs/t"}
    compile_json_schema(recursive, smollm2_vocab)  # warms what the vocabulary computes once
    monkeypatch.setattr(schema_compile, "_grammar_constraint", slow)
    with pytest.raises(CompileTimeoutError, match="ran past its 1.0 s time limit"):
        compile_json_schema(recursive, smollm2_vocab, time_limit=1.0)


def test_remote_refs_resolve_against_registered_documents(smollm2_vocab):
    documents = {"https://example.com/defs.json": {"$defs": {"id": {"type": "integer", "minimum": 1}}}}
    schema = {"properties": {"id": {"$ref": "https://example.com/defs.json#/$defs/id"}}, "required": ["id"]}
    constraint = compile_json_schema(schema, smollm2_vocab, documents=documents)
    assert constraint.matches('{"id":3}') and not constraint.matches('{"id":0}')
    with pytest.raises(UnsupportedFeatureError, match="register the document it names"):
        compile_json_schema(schema, smollm2_vocab)


def test_fragment_refs_resolve_under_a_urn_base(smollm2_vocab):
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$id": "urn:uuid:deadbeef-1234-0000-0000-4321feebdaed",
              "properties": {"foo": {"$ref": "#/$defs/bar"}}, "$defs": {"bar": {"type": "string"}}}
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert constraint.matches('{"foo":"a"}') and not constraint.matches('{"foo":1}')


def test_not_of_all_of_is_the_any_of_of_the_negations(smollm2_vocab):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "object"}},
              "not": {"allOf": [{"required": ["a"]}, {"required": ["b"]}]}}
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert not any(i.keyword == "not" for i in constraint.schema_issues)  # pushed down, no complement
    assert constraint.matches('{"a":1}') and constraint.matches('{"b":{"x":[1]}}') and constraint.matches("{}")
    assert not constraint.matches('{"a":1,"b":{}}')


def test_schema_rewriting_stops_at_the_time_limit(smollm2_vocab):
    # anyOf inside allOf distributes: 2**16 branches, each a merge; the limit must stop it
    parts = [{"anyOf": [{"properties": {f"a{i}": {"type": "integer"}}}, {"properties": {f"b{i}": {"type": "string"}}}]}
             for i in range(16)]
    with pytest.raises(CompileTimeoutError):
        compile_json_schema({"type": "object", "allOf": parts}, smollm2_vocab, time_limit=0.5)


def test_draft4_integers_refuse_a_zero_fraction_that_later_drafts_allow(smollm2_vocab):
    # draft 4 counts 1.0 as a number but not as an integer; from draft 6 it is an integer too
    # (JSONSchemaBench Github_trivial o14485 and Github_easy o24544 label 12345.0 invalid)
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"}
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"}
    assert not compile_json_schema(draft4, smollm2_vocab).matches("12345.0")
    assert compile_json_schema(draft4, smollm2_vocab).matches("12345")
    assert compile_json_schema(draft7, smollm2_vocab).matches("12345.0")
    as_number = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number"}
    assert compile_json_schema(as_number, smollm2_vocab).matches("12345.0")


def test_a_schema_nested_past_the_recursion_limit_is_refused_with_where(smollm2_vocab):
    schema: dict = {"type": "integer"}
    for _ in range(400):  # each level costs the compiler several Python frames
        schema = {"type": "object", "properties": {"a": schema}, "required": ["a"]}
    with pytest.raises(UnsupportedFeatureError, match=r"#/properties/a/properties/a.*nests too deeply"):
        compile_json_schema(schema, smollm2_vocab)


def test_integer_bounds_of_nineteen_digits_compile_exactly(smollm2_vocab):
    # 2**63 rounded as a float: both halves of each digit split used to be rebuilt (2**19 calls)
    top = 9223372036854776000
    constraint = compile_json_schema({"type": "integer", "minimum": 0, "maximum": top}, smollm2_vocab)
    for n, ok in [(0, True), (123, True), (top, True), (top - 1, True), (top + 1, False), (10**19, False)]:
        assert constraint.matches(str(n)) == ok, n


@pytest.mark.parametrize("dialect", ["http://json-schema.org/draft-07/schema#", None])
def test_id_is_a_plain_property_after_draft_4(smollm2_vocab, dialect):
    # Github_medium o74424: a definition with "id": "MyModule.Def" that refers to itself by pointer
    definition = {"id": "MyModule.Def", "type": "object", "properties": {"next": {"$ref": "#/definitions/Leaf"}}}
    schema = {"definitions": {"MyModule.Def": definition, "Leaf": {"type": "integer"}},
              "$ref": "#/definitions/MyModule.Def"}
    if dialect:
        schema["$schema"] = dialect
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert constraint.matches('{"next":3}') and not constraint.matches('{"next":"x"}')


@pytest.mark.parametrize("words", [[], ["a"], ["name", "na", "é", 'q"uote', "back\\slash", "tab\t"]])
def test_quoted_key_automata_equal_the_ones_the_nfa_path_builds(words):
    from structgen.automata._ir import Automaton
    from structgen.automata._regular import to_dfa
    from structgen.schema import _json_text as jt

    content = to_dfa(jt.string_content_except(words))
    direct, built = jt.quoted_dfa(content), to_dfa(jt.string_of(Automaton(content)))
    assert np.array_equal(direct.transitions, built.transitions)
    assert np.array_equal(direct.accepting, built.accepting) and direct.fingerprint == built.fingerprint
