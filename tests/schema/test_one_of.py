"""oneOf whose branches may overlap: exactly one branch may hold, checked against jsonschema."""

from __future__ import annotations

import itertools
import json

import jsonschema
import pytest

from structgen import compile_json_schema

VALUES = [None, True, 0, 3, 7, -2, 2.5, 10.25, "", "ab", "abcdef", [], [1], [1, "a"], {}, {"bar": 2},
          {"foo": "x"}, {"foo": "x", "bar": 2}, {"bar": 2, "foo": "x"}, {"bar": "no"}, {"foo": 1, "baz": None}]
SCHEMAS = {
    "number_kinds": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 3}]},
    "string_lengths": {"oneOf": [{"type": "string", "maxLength": 2}, {"type": "string", "minLength": 2}]},
    "objects_by_required": {"type": "object", "oneOf": [
        {"properties": {"bar": {"type": "integer"}}, "required": ["bar"]},
        {"properties": {"foo": {"type": "string"}}, "required": ["foo"]}]},
    "three_branches": {"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 5},
                                 {"type": "number", "maximum": 0}]},
}


def spellings(value) -> list[str]:
    """The compact text, and for objects every order of their properties."""
    if not isinstance(value, dict):
        return [json.dumps(value, separators=(",", ":"))]
    return [json.dumps(dict(order), separators=(",", ":")) for order in itertools.permutations(value.items())]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_overlapping_one_of_accepts_exactly_the_values_one_branch_holds(smollm2_vocab, name):
    schema = SCHEMAS[name]
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert [i.kind for i in constraint.schema_issues if i.keyword == "oneOf"] == ["restricted"]
    validator = jsonschema.Draft202012Validator(schema)
    accepted_any = {True: 0, False: 0}
    for value in VALUES:
        valid = validator.is_valid(value)
        accepted = [constraint.matches(text) for text in spellings(value)]
        assert valid or not any(accepted), value  # never an invalid value, in any property order
        if valid:
            assert any(accepted), value  # each valid value in some order (objects: the schema's)
        accepted_any[valid] += 1
    assert accepted_any[True] >= 2 and accepted_any[False] >= 2


def test_exclusivity_is_given_up_where_its_count_of_states_runs_out(smollm2_vocab, monkeypatch):
    # the work for overlapping branches is bounded in automaton states, not seconds, so whether a
    # oneOf is made exclusive depends on the schema alone, not on the machine's load
    from structgen import UnsupportedFeatureError
    from structgen.schema import _compiler

    schema = SCHEMAS["objects_by_required"]
    monkeypatch.setattr(_compiler, "EXCLUSIVE_BUDGET_STATES", 50)
    with pytest.raises(UnsupportedFeatureError, match="exclusivity is not enforced .the branches are too large"):
        compile_json_schema(schema, smollm2_vocab)
    monkeypatch.setattr(_compiler, "EXCLUSIVE_BUDGET_STATES", 1_000_000)
    constraint = compile_json_schema(schema, smollm2_vocab)
    assert [i.kind for i in constraint.schema_issues if i.keyword == "oneOf"] == ["restricted"]
