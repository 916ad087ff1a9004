"""Recursive schemas ($ref cycles) compile to a grammar: any depth, the exact language, sound masks."""

from __future__ import annotations

import json
import random

import jsonschema
import pytest

from structgen import compile_json_schema
from structgen.grammar._compile import GrammarConstraint
from tests.grammar.oracle import brute_force_mask, mask_set
from tests.schema.suite_runner import _in_schema_order, _name_order

TREE = {
    "$defs": {"node": {"type": "object", "properties": {
        "name": {"type": "string", "maxLength": 4},
        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 3}},
        "required": ["name"], "additionalProperties": False}},
    "$ref": "#/$defs/node",
}
LINKED_LIST = {
    "definitions": {"cell": {"type": "object", "properties": {
        "value": {"type": "integer", "minimum": 0, "maximum": 9},
        "next": {"anyOf": [{"type": "null"}, {"$ref": "#/definitions/cell"}]}},
        "required": ["value", "next"], "additionalProperties": False}},
    "$ref": "#/definitions/cell",
}
EXPRESSION = {  # mutual recursion: expr -> call -> expr
    "$defs": {
        "expr": {"anyOf": [{"type": "integer"}, {"type": "string", "enum": ["x", "y"]}, {"$ref": "#/$defs/call"}]},
        "call": {"type": "object", "properties": {
            "op": {"enum": ["+", "*", "-"]},
            "args": {"type": "array", "items": {"$ref": "#/$defs/expr"}, "minItems": 1}},
            "required": ["op", "args"], "additionalProperties": False},
    },
    "$ref": "#/$defs/expr",
}
OPEN_TREE = {  # extra members and an optional recursive member, properties of any other name allowed
    "type": "object",
    "properties": {"id": {"type": "integer"}, "sub": {"$ref": "#"}},
    "required": ["id"],
    "additionalProperties": {"type": "boolean"},
}
SCHEMAS = {"tree": TREE, "linked_list": LINKED_LIST, "expression": EXPRESSION, "open_tree": OPEN_TREE}


def dumps(value, schema) -> str:
    return json.dumps(_in_schema_order(value, _name_order(schema)), ensure_ascii=False, separators=(",", ":"))


def fuzz(schema: dict, rng: random.Random, root: dict, depth: int = 0):
    """A value shaped by ``schema`` that breaks it now and then (a wrong type, a missing or extra key)."""
    if rng.random() < 0.08:
        return rng.choice([None, True, 7, -1, 2.5, "", "long string", [], {}, {"name": 3}, [1, "a"]])
    if "$ref" in schema:
        target = root
        for part in schema["$ref"].lstrip("#/").split("/") if schema["$ref"] != "#" else []:
            target = target[part]
        return fuzz(target, rng, root, depth + (depth > 4) * 3 + 1)
    if "anyOf" in schema:
        branches = schema["anyOf"] if depth < 6 else schema["anyOf"][:1]
        return fuzz(rng.choice(branches), rng, root, depth)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        out = {}
        for name, sub in schema.get("properties", {}).items():
            if name in schema.get("required", []) or (rng.random() < 0.5 and depth < 6):
                out[name] = fuzz(sub, rng, root, depth + 1)
        if rng.random() < 0.15:
            out[rng.choice(["zz", "name", "extra"])] = rng.choice([True, 1, "v"])
        return out
    if kind == "array":
        n = rng.randint(0, 3) if depth < 6 else 0
        return [fuzz(schema.get("items", {}), rng, root, depth + 1) for _ in range(n)]
    if kind == "string":
        return rng.choice(["", "ab", "abcd", "abcde", "x"])
    if kind == "integer":
        return rng.choice([0, 3, 9, 10, -4])
    if kind == "null":
        return None
    return rng.choice([True, False])


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_recursive_language_equals_jsonschema_validity_on_fuzzed_values(smollm2_vocab, name):
    schema = SCHEMAS[name]
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert isinstance(constraint, GrammarConstraint)
    assert not any(i.keyword == "$ref" for i in constraint.schema_issues)
    validator = jsonschema.Draft202012Validator(schema)
    rng = random.Random(name)
    seen = {True: 0, False: 0}
    for _ in range(400):
        value = fuzz(schema, rng, schema)
        expected = validator.is_valid(value)
        seen[expected] += 1
        text = dumps(value, schema)
        assert constraint.matches(text) == expected, text
    assert seen[True] > 40 and seen[False] > 40, seen


def test_any_depth_is_accepted_token_by_token(smollm2_vocab, smollm2_tokenizer):
    constraint = compile_json_schema(TREE, smollm2_vocab)
    value = {"name": "leaf"}
    for i in range(40):
        value = {"name": f"n{i % 10}", "children": [value, {"name": "x"}]}
    text = dumps(value, TREE)
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    matcher = constraint.matcher()
    assert matcher.advance_many(ids) == len(ids)
    assert matcher.is_accepting()
    broken = text.replace('"name":"x"', '"name":"xxxxx"', 1)  # maxLength 4, at depth 40
    ids = smollm2_tokenizer.encode(broken, add_special_tokens=False)
    matcher = constraint.matcher()
    assert not (matcher.advance_many(ids) == len(ids) and matcher.is_accepting())


def test_masks_of_a_recursive_schema_equal_brute_force(smollm2_vocab, smollm2_tokenizer):
    constraint = compile_json_schema(EXPRESSION, smollm2_vocab)
    text = dumps({"op": "+", "args": [1, {"op": "*", "args": ["x", {"op": "-", "args": [22]}]}]}, EXPRESSION)
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    matcher = constraint.matcher()
    for step, token in enumerate(ids):
        if step % 4 == 0:  # brute force is a Python loop over 49k tokens
            assert mask_set(matcher, smollm2_vocab) == brute_force_mask(constraint, matcher._history[-1]), step
        assert matcher.advance(token)
    assert matcher.is_accepting()


def _masks_equal_brute_force_along(constraint, text: str, tokenizer) -> None:
    """Every mask along ``text``'s tokens equals a brute-force check of every token; ``text`` is accepted."""
    matcher = constraint.matcher()
    for step, token in enumerate(tokenizer.encode(text, add_special_tokens=False)):
        assert mask_set(matcher, constraint.vocab) == brute_force_mask(constraint, matcher._history[-1]), step
        assert matcher.advance(token)
    assert matcher.is_accepting()


def test_masks_inside_free_keys_and_string_values_equal_brute_force(smollm2_vocab, smollm2_tokenizer):
    # keys of any name and string values: the grammar walk reads string bodies off the reference
    # walk of the trie (string_reference), so its masks there must still be exact, closing
    # quotes and escapes and a key that is a prefix of a named one included
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                               "sub": {"$ref": "#"}},
              "required": ["id"], "additionalProperties": {"type": "string"}}
    value = {"id": 1, "name": "caf\u00e9 \"q\"", "sub": {"id": 2, "na": "x\ny", "idx": ""}, "nom": "ok"}
    text = dumps(value, schema)
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert isinstance(constraint, GrammarConstraint)
    _masks_equal_brute_force_along(constraint, text, smollm2_tokenizer)


def test_masks_inside_bounded_string_values_equal_brute_force(smollm2_vocab, smollm2_tokenizer):
    # maxLength strings: the grammar walk checks a bounded string once to its end and reads each
    # of its states' masks off a precomputed row by the characters left (escapes and multi-byte
    # characters count one each), so its masks must still be exact up to the bound and at it; a
    # pattern's string (a count of characters too, but not of any character) is not one of them
    schema = {"type": "object", "properties": {"a": {"type": "string", "maxLength": 3},
                                               "b": {"type": ["string", "null"], "maxLength": 7},
                                               "c": {"type": "string", "maxLength": 200},
                                               "d": {"type": "string", "pattern": "^[a-z]{0,30}$"},
                                               "sub": {"$ref": "#"}}}
    value = {"a": "\u00e9\"x", "b": "ab\ncd\u00e9f", "c": "long text " * 3,
             "d": "lower", "sub": {"a": "", "b": None, "c": "\u00e9" * 12}}
    text = dumps(value, schema)
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert isinstance(constraint, GrammarConstraint)
    _masks_equal_brute_force_along(constraint, text, smollm2_tokenizer)
    engine = constraint.engine
    spaces = [engine._space, *engine._singles.values()]
    assert any((space.string_rooms[: space.n_states] >= 0).any() for space in spaces)  # the bounded path ran


def test_recursion_under_not_falls_back_to_bounded_unrolling_and_says_so(smollm2_vocab):
    schema = {"$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"}}},
              "type": "object", "properties": {"a": {"not": {"$ref": "#/$defs/t"}}}}
    with pytest.warns(UserWarning, match="complement is not enforced"):
        constraint = compile_json_schema(schema, smollm2_vocab, lenient=True)
    assert not isinstance(constraint, GrammarConstraint)
    assert [i.kind for i in constraint.schema_issues if i.keyword == "not"] == ["unsupported"]
    assert constraint.matches('{"a":1}')


def test_a_recursive_schema_with_a_thousand_member_bound_compiles(smollm2_vocab):
    # the grammar's member rules go one per count written: built by a worklist, not recursion
    # (JsonSchemaStore tokenlist.schema reached Python's recursion limit)
    schema = {"type": "object", "properties": {"sub": {"$ref": "#"}},
              "additionalProperties": {"type": "integer"}, "maxProperties": 1000}
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert isinstance(constraint, GrammarConstraint)
    assert constraint.matches('{"sub":{"b":2},"a":1}')  # named properties first (schema order)
    assert constraint.matches("{" + ",".join(f'"k{i}":{i}' for i in range(1000)) + "}")
    assert not constraint.matches("{" + ",".join(f'"k{i}":{i}' for i in range(1001)) + "}")
