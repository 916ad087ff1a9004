"""not, if/then/else, dependencies, patternProperties, propertyNames, contains, multipleOf, decimal bounds,
property_order="any": each compared with jsonschema (Draft 2020-12, format checker) on instances.

Two properties are checked: soundness (every accepted text validates) on everything, and exactness
(accepted exactly when valid) on the instances the compiler's language covers: written compactly,
properties in schema order, nested within ``any_value_depth``.
"""

from __future__ import annotations

import json
from decimal import Decimal
from fractions import Fraction

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structgen import UnsupportedFeatureError, compile_json_schema, schema_report
from structgen.automata._ir import literal, star
from structgen.automata._regular import difference_dfas, intersect_dfas, to_dfa, union_dfas
from structgen.schema import _json_text as jt
from structgen.schema._compiler import SchemaCompiler, SchemaOptions

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def text_of(value) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def validator(schema):
    # "dependencies" is a draft 4-7 keyword (2020-12 ignores it): judge such schemas by draft 7
    cls = jsonschema.Draft7Validator if "dependencies" in schema else jsonschema.Draft202012Validator
    return cls(schema, format_checker=jsonschema.FormatChecker())


_COMPILED: dict[str, object] = {}


def compiled(vocab, schema, **options):
    """One constraint per schema and options for the whole module: compiling is the slow part."""
    key = json.dumps([schema, options], sort_keys=True)
    if key not in _COMPILED:
        _COMPILED[key] = compile_json_schema(schema, vocab, **options)
    return _COMPILED[key]


def agree(constraint, schema, instances):
    """Accepted exactly when jsonschema says valid, for every instance."""
    v = validator(schema)
    wrong = [(i, v.is_valid(i)) for i in instances if constraint.matches(text_of(i)) != v.is_valid(i)]
    assert wrong == [], f"{schema}: (instance, valid) pairs the constraint gets wrong: {wrong}"


SCALARS = [None, True, False, 0, 1, -1, 2, 3, 7, 10, 1.5, -2.5, 0.25, "", "a", "ab", "abc", "ba", "x\"y", "é"]
SMALL = [*SCALARS, [], [1], ["a"], [1, "a"], [1, 2, 3], {}, {"a": 1}, {"b": "x"}, {"a": "x"}, {"c": None}]

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-30, 30) | st.decimals(-10, 10, places=2).map(float)
    | st.text("abé\"", max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abcx"), inner, max_size=3),
    max_leaves=6,
)


# ---- not ---------------------------------------------------------------------------------------

NOT_CASES = [
    {"not": {"type": "null"}},
    {"not": {"type": ["string", "integer"]}},
    {"not": {"type": "integer"}},
    {"not": {"enum": [1, "a", None]}},
    {"not": {"const": [1]}},
    {"not": {"minLength": 2}},
    {"not": {"minimum": 2}},
    {"not": {"type": "string", "maxLength": 1}},
    {"not": {"required": ["a"]}},
    {"not": {"properties": {"a": {"type": "integer"}}}},
    {"not": {"items": {"type": "integer"}}},
    {"not": {"anyOf": [{"type": "integer"}, {"minLength": 2}]}},
    {"not": {"not": {"type": "string"}}},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {}}, "not": {"required": ["b"]}},
    {"type": "string", "not": {"pattern": "^a"}},
]


@pytest.mark.parametrize("schema", NOT_CASES, ids=[json.dumps(s)[:60] for s in NOT_CASES])
def test_not_agrees_with_jsonschema(smollm2_vocab, schema):
    agree(compiled(smollm2_vocab, schema), schema, SMALL)


@SETTINGS
@given(value=JSON)
def test_not_is_sound_on_random_values(smollm2_vocab, value):
    for schema in NOT_CASES:
        constraint = compiled(smollm2_vocab, schema)
        if constraint.matches(text_of(value)):
            assert validator(schema).is_valid(value), (schema, value)


def test_not_complement_is_restricted_not_silently_narrowed():
    report = schema_report({"not": {"enum": [1]}})
    assert any(i.keyword == "not" and i.kind == "restricted" for i in report.issues)
    assert not report.unsupported


def test_not_over_a_narrowed_schema_is_refused(smollm2_vocab):
    # uniqueItems is enforced by at most one item: its complement would accept [1, 2]
    with pytest.raises(UnsupportedFeatureError, match="#/not"):
        compile_json_schema({"not": {"uniqueItems": True}}, smollm2_vocab)


# ---- if / then / else and dependencies ---------------------------------------------------------------

CONDITIONAL_CASES = [
    {"if": {"type": "integer"}, "then": {"minimum": 2}, "else": {"type": "string"}},
    {"if": {"minLength": 2}, "then": {"pattern": "b"}},
    {"if": {"maximum": 2}, "else": {"multipleOf": 5}},
    {"type": "object", "properties": {"a": {}, "b": {"type": "string"}},
     "if": {"properties": {"a": {"const": 1}}}, "then": {"required": ["b"]}, "else": {"properties": {"b": False}}},
    {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "dependentRequired": {"a": ["b"], "c": ["a"]}},
    {"properties": {"a": {}, "b": {}}, "dependencies": {"a": ["b"]}},
    {"properties": {"a": {}, "b": {"type": "integer"}},
     "dependentSchemas": {"a": {"properties": {"b": {"minimum": 2}}, "required": ["b"]}}},
    {"properties": {"a": {}}, "dependencies": {"a": False}},
]

OBJECTS = [{}, {"a": 1}, {"b": 1}, {"a": 1, "b": 1}, {"a": 1, "b": 3}, {"a": 2, "b": "x"}, {"a": 1, "b": "x"},
           {"a": 2}, {"c": 1}, {"a": 1, "c": 1}, {"a": 1, "b": 2, "c": 3}, {"b": 2, "c": 3}, {"a": 1, "b": 5, "c": 0}]


@pytest.mark.parametrize("schema", CONDITIONAL_CASES, ids=[json.dumps(s)[:60] for s in CONDITIONAL_CASES])
def test_conditionals_and_dependencies_agree_with_jsonschema(smollm2_vocab, smollm2_tokenizer, schema):
    constraint = compiled(smollm2_vocab, schema)
    agree(constraint, schema, [*SCALARS, *OBJECTS])
    # and token by token, for a valid and an invalid instance where there are both
    v = validator(schema)
    for instance in [next((o for o in OBJECTS if v.is_valid(o)), None), next((o for o in OBJECTS if not v.is_valid(o)),
                                                                             None)]:
        if instance is not None:
            ids = smollm2_tokenizer.encode(text_of(instance), add_special_tokens=False)
            matcher = constraint.matcher()
            assert (matcher.advance_many(ids) == len(ids) and matcher.is_accepting()) == v.is_valid(instance)


# ---- patternProperties and propertyNames --------------------------------------------------------------

OBJECT_CASES = [
    {"patternProperties": {"^a": {"type": "integer"}}},
    {"patternProperties": {"^a": {"type": "integer"}, "b$": {"minimum": 2}}, "additionalProperties": False},
    {"properties": {"ab": {"type": "number"}}, "patternProperties": {"^a": {"type": "integer"}},
     "additionalProperties": {"type": "string"}},
    {"propertyNames": {"maxLength": 1}},
    {"propertyNames": {"pattern": "^[ab]+$"}, "properties": {"a": {}, "c": {}}},
    {"propertyNames": {"enum": ["a", "b"]}, "minProperties": 1},
    {"allOf": [{"patternProperties": {"^a": {"minimum": 0}}}, {"patternProperties": {"^a": {"maximum": 3},
                                                                                    "x": {"type": "string"}}}]},
]
KEYED = [{}, {"a": 1}, {"a": 1.5}, {"a": "s"}, {"ab": 1}, {"ab": 1.5}, {"ab": "s"}, {"b": 1}, {"b": 3}, {"bb": 2},
         {"x": "s"}, {"x": 1}, {"abb": 1}, {"abb": 5}, {"c": 1}, {"ca": 2}, {"a": 1, "b": 3}, {"a": -1},
         {"a": 4}, {"ax": "s"}, {"ax": 1}, {"": 1}, {"é": 1}]


@pytest.mark.parametrize("schema", OBJECT_CASES, ids=[json.dumps(s)[:60] for s in OBJECT_CASES])
def test_pattern_properties_and_property_names_agree_with_jsonschema(smollm2_vocab, schema):
    agree(compiled(smollm2_vocab, schema), schema, [*SCALARS, *KEYED])


def test_required_property_outside_properties_meets_additional_properties(smollm2_vocab):
    schema = {"required": ["z"], "additionalProperties": {"type": "integer"}}
    agree(compiled(smollm2_vocab, schema), schema, [{"z": 1}, {"z": "s"}, {}, {"z": 1, "y": 2}])


# ---- contains -------------------------------------------------------------------------------------

CONTAINS_CASES = [
    {"contains": {"type": "integer"}},
    {"contains": {"type": "integer"}, "minContains": 2},
    {"contains": {"type": "integer"}, "maxContains": 1},
    {"contains": {"minimum": 2}, "minContains": 0, "maxContains": 1},
    {"contains": {"type": "string"}, "minContains": 2, "maxContains": 3, "items": {"type": ["string", "null"]}},
    {"type": "array", "prefixItems": [{"type": "string"}], "contains": {"const": "a"}, "maxItems": 3},
    {"contains": True, "minContains": 2, "maxContains": 3},
    {"contains": False, "minContains": 0},
]
ARRAYS = [[], [1], ["a"], [1, 2], ["a", "a"], [1, "a"], ["a", 1, "b"], [None, "a", "b", "c"], ["a", "b", "c", "d"],
          [1, 2, 3], [3, 1, 0], [0, 0], [[1]], [{"a": 1}, 2], ["b", "a"], ["a", None, None]]


@pytest.mark.parametrize("schema", CONTAINS_CASES, ids=[json.dumps(s)[:60] for s in CONTAINS_CASES])
def test_contains_counts_agree_with_jsonschema(smollm2_vocab, schema):
    agree(compiled(smollm2_vocab, schema), schema, [*SCALARS, *ARRAYS])


@SETTINGS
@given(value=st.lists(JSON, max_size=5))
def test_contains_is_sound_on_random_arrays(smollm2_vocab, value):
    for schema in CONTAINS_CASES:
        if compiled(smollm2_vocab, schema).matches(text_of(value)):
            assert validator(schema).is_valid(value), (schema, value)


# ---- numbers: multipleOf and decimal bounds --------------------------------------------------------------

def exact_multiple(x: str, m) -> bool:
    return (Fraction(x) / Fraction(repr(m))).denominator == 1


NUMBERS = st.builds(lambda sign, whole, frac: f"{sign}{whole}{frac}", st.sampled_from(["", "-"]),
                    st.integers(0, 400).map(str), st.sampled_from(["", ".0", ".5", ".25", ".75", ".05", ".1", ".125",
                                                                   ".333", ".01", ".50", ".2500"]))


@SETTINGS
@given(text=NUMBERS, m=st.sampled_from([2, 3, 7, 12, 0.5, 0.25, 1.5, 0.01, 0.1, 0.3]),
       kind=st.sampled_from(["number", "integer"]))
def test_multiple_of_is_exact_decimal_arithmetic(smollm2_vocab, text, m, kind):
    # jsonschema divides binary floats (0.07 / 0.01 is not integral there): the oracle is exact
    # decimal arithmetic, which is what the JSON Schema specification asks for
    constraint = compiled(smollm2_vocab, {"type": kind, "multipleOf": m})
    value = Fraction(text)
    expected = exact_multiple(text, m) and (kind == "number" or value.denominator == 1)
    if kind == "integer" and "." in text:  # integral decimals like 4.0: integer only as json.dumps writes them
        expected = expected and text.rstrip("0").endswith(".")
    assert constraint.matches(text) == expected, text


@pytest.mark.parametrize("m", [2, 5, 0.5, 1.5])
def test_multiple_of_agrees_with_jsonschema_where_floats_are_exact(smollm2_vocab, m):
    schema = {"type": "number", "multipleOf": m, "minimum": -10, "maximum": 10}
    agree(compiled(smollm2_vocab, schema), schema,
          [x / 4 for x in range(-60, 60)] + list(range(-12, 13)))


BOUNDS = st.decimals(-50, 50, places=3).filter(lambda d: d.is_finite()).map(lambda d: float(d))


@SETTINGS
@given(lo=BOUNDS | st.none(), hi=BOUNDS | st.none(), lo_excl=st.booleans(), hi_excl=st.booleans(),
       x=st.decimals(-60, 60, places=4).filter(lambda d: d.is_finite()))
def test_fractional_bounds_are_exact(lo, hi, lo_excl, hi_excl, x):
    schema: dict = {"type": "number"}
    if lo is not None:
        schema["exclusiveMinimum" if lo_excl else "minimum"] = lo
    if hi is not None:
        schema["exclusiveMaximum" if hi_excl else "maximum"] = hi
    text = format(x.normalize(), "f") if x != 0 else "0"
    value = float(text)
    expected = validator(schema).is_valid(int(value) if value.is_integer() and "." not in text else value)
    # the schema's byte automaton (no vocabulary): one compile per example stays cheap
    dfa = to_dfa(SchemaCompiler(schema, SchemaOptions()).compile(schema))
    assert dfa.matches(text.encode()) == expected, (schema, text)


def test_decimal_range_trailing_zeros_and_signs(smollm2_vocab):
    schema = {"type": "number", "exclusiveMinimum": -1.5, "maximum": 2.25}
    constraint = compiled(smollm2_vocab, schema)
    for text, ok in [("-1.5", False), ("-1.49", True), ("2.25", True), ("2.2500", True), ("2.2501", False),
                     ("0", True), ("-0.0001", True), ("-1.50", False), ("3", False)]:
        assert constraint.matches(text) == ok, text


def test_enum_float_is_also_written_without_exponent(smollm2_vocab):
    constraint = compile_json_schema({"enum": [1e-07, 1e20]}, smollm2_vocab)
    assert constraint.matches("0.0000001") and constraint.matches("100000000000000000000")
    assert Decimal("0.0000001") == Decimal(repr(1e-07))


# ---- property order -------------------------------------------------------------------------------------

ORDER_SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {}},
                "required": ["a"], "additionalProperties": {"type": "boolean"}, "maxProperties": 3}
PERMUTED = [{"a": 1}, {"b": "x", "a": 1}, {"c": None, "b": "x", "a": 1}, {"z": True, "a": 1}, {"a": 1, "z": True},
            {"b": "x", "z": False, "a": 2}, {"b": "x"}, {"a": "1"}, {"a": 1, "z": 1},
            {"a": 1, "b": "x", "c": 1, "z": True}]


def test_property_order_any_accepts_every_order(smollm2_vocab, smollm2_tokenizer):
    constraint = compiled(smollm2_vocab, ORDER_SCHEMA, property_order="any", time_limit=120)  # ~3 s of CPU
    agree(constraint, ORDER_SCHEMA, PERMUTED)
    text = text_of({"c": None, "b": "x", "a": 1})
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    matcher = constraint.matcher()
    assert matcher.advance_many(ids) == len(ids) and matcher.is_accepting()


def test_property_order_schema_keeps_schema_order(smollm2_vocab):
    constraint = compile_json_schema(ORDER_SCHEMA, smollm2_vocab)
    assert constraint.matches('{"a":1,"b":"x"}') and not constraint.matches('{"b":"x","a":1}')


def test_property_order_any_beyond_the_cap_is_reported():
    schema = {"properties": {k: {} for k in "abcdefgh"}}
    report = schema_report(schema, property_order="any", max_any_order=3)
    assert any(i.keyword == "properties" and i.kind == "restricted" for i in report.issues)


# ---- the automaton helpers -------------------------------------------------------------------------------

@SETTINGS
@given(a=st.sampled_from(["ab", "a", "b", ""]), b=st.sampled_from(["ab", "ba", "b", ""]),
       w=st.text("ab", max_size=5))
def test_difference_and_union_of_dfas(a, b, w):
    x = to_dfa(star(literal(a)) if a else literal(""))
    y = to_dfa(star(literal(b)) if b else literal(""))
    data = w.encode()
    assert difference_dfas(x, y).matches(data) == (x.matches(data) and not y.matches(data))
    assert union_dfas(x, y).matches(data) == (x.matches(data) or y.matches(data))
    assert intersect_dfas(x, y).matches(data) == (x.matches(data) and y.matches(data))


def test_canonical_number_is_json_dumps_spelling():
    dfa = to_dfa(jt.CANONICAL_NUMBER)
    for text, ok in [("0", True), ("-0", False), ("1.5", True), ("1.50", False), ("-0.5", True), ("1e5", False),
                     ("10", True), ("01", False)]:
        assert dfa.matches(text.encode()) == ok, text
