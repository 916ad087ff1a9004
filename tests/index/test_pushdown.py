"""Open values to any depth: holes in the schema automaton, the container automaton, the stack.

The pushdown index's masks are checked two ways: against stepping every token through the
machine byte by byte (a small vocabulary of JSON fragments, deep random walks), and against the
grammar engine, which builds the same language as a context-free grammar (real vocabulary).
"""

from __future__ import annotations

import json
import random
import time

import jsonschema
import pytest

from structgen import Vocabulary, compile_json_schema, schema_report
from structgen._pushdown import PushdownConstraint, PushdownMatcher, _Machine
from structgen.schema import _compile
from structgen.schema._compiler import SchemaCompiler, SchemaOptions
from tests.grammar.oracle import mask_set

KUBERNETES_LIKE = {  # typed members, and two members left open (`metadata` values, `spec`)
    "type": "object",
    "properties": {
        "kind": {"enum": ["Pod", "Job"]},
        "metadata": {"type": "object", "properties": {"name": {"type": "string"}},
                     "additionalProperties": {}},
        "spec": {},
        "count": {"type": "integer"},
    },
    "required": ["kind", "spec"],
    "additionalProperties": False,
}
OPEN_ITEMS = {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}}}, "maxItems": 3}

FRAGMENTS = [
    "{", "}", "[", "]", ",", ":", '"', "{}", "[]", "[[", "]]", "}}", "]}", "}]", "[{", "{\"", "\"}", "\":",
    "\":{", "\":[", "\",", "},", "],", "}}}", "]]]", "[[[", "\":{\"", "\"]}", "1", "12", "-", ".", "0", "e",
    "a", "b", "ab", "kind", "spec", "metadata", "name", "count", "id", "Pod", "Job", "null", "true", "false",
    "nu", "ll", "\\", "\\\"", "\\n", " ", "\n", "é", "{\"a", "\"a\":", "\"b\":[", "x", "\"kind\":\"", "\"Pod\"",
    "\"spec\":", "\"metadata\":{", "\"name\":\"", "{\"kind\":\"Pod\",\"spec\":",
]


def fragment_vocab() -> Vocabulary:
    """Every printable ASCII byte, JSON fragments that cross brackets, and EOS (the last id)."""
    tokens = sorted({chr(b).encode() for b in range(32, 127)} | {f.encode() for f in FRAGMENTS},
                    key=lambda t: (len(t), t))
    return Vocabulary([*tokens, b""], eos_token_ids=[len(tokens)])


def stepped_mask(matcher: PushdownMatcher) -> set[int]:
    """The mask by stepping every token through the machine byte by byte (no trie, no index walk)."""
    index = matcher._index
    machine = _Machine(index)
    s, stack = matcher._history[-1]
    out = set()
    for t, data in enumerate(index.vocab.token_bytes):
        if not data or not index.vocab.usable[t]:
            continue
        end = machine.step(s, stack, data)
        if end is not None and (end[1] is not None or index.good[end[0]]):
            out.add(t)
    if stack is None and index.dfa.accepting[s]:
        out.update(index.vocab.eos_token_ids)
    return out


def random_walk(constraint, rng: random.Random, steps: int, check, follower=None) -> str:
    """Take allowed tokens at random (brackets favoured, to go deep), calling ``check(matcher)`` first at
    each step; ``follower`` (another matcher) takes the same tokens."""
    vocab = constraint.vocab
    matcher = constraint.matcher()
    out = b""
    for _ in range(steps):
        allowed = check(matcher)
        if not allowed:
            break
        opening = [t for t in allowed if vocab.token_bytes[t][:1] in (b"{", b"[")]
        token = rng.choice(sorted(opening if opening and rng.random() < 0.7 else allowed))
        if token in vocab.eos_token_ids:
            break
        assert matcher.advance(token)
        assert follower is None or follower.advance(token)
        out += vocab.token_bytes[token]
    return out.decode()


@pytest.mark.parametrize("whitespace", ["compact", "flexible"])
@pytest.mark.parametrize("schema", [KUBERNETES_LIKE, OPEN_ITEMS, {}], ids=["kubernetes_like", "open_items", "any"])
def test_masks_inside_and_around_containers_equal_stepping_every_token(schema, whitespace):
    vocab = fragment_vocab()
    constraint = compile_json_schema(schema, vocab, any_value_depth=1, whitespace=whitespace, max_whitespace=2)
    assert isinstance(constraint, PushdownConstraint)
    rng = random.Random(7)
    depths = []

    def check(matcher):
        got = mask_set(matcher, vocab)
        assert got == stepped_mask(matcher)
        stack, depth = matcher._history[-1][1], 0
        while stack is not None:
            stack, depth = stack[1], depth + 1
        depths.append(depth)
        return got

    for _ in range(12):
        random_walk(constraint, rng, 100, check)
    assert max(depths) >= 4  # the walks went well below the automaton's one level


@pytest.mark.parametrize("schema", [KUBERNETES_LIKE, OPEN_ITEMS], ids=["kubernetes_like", "open_items"])
def test_masks_equal_the_grammar_engines_on_a_real_vocabulary(schema, smollm2_vocab):
    pushdown = compile_json_schema(schema, smollm2_vocab)
    compiler = SchemaCompiler(schema, SchemaOptions(), time.monotonic() + 30)
    node = compiler.compile(schema)
    grammar = _compile._grammar_constraint(node, compiler, smollm2_vocab, time.monotonic() + 30)
    rng = random.Random(3)
    for _ in range(6):
        twin = grammar.matcher()

        def check(matcher, twin=twin):
            got = mask_set(matcher, smollm2_vocab)
            assert got == mask_set(twin, smollm2_vocab)
            return got

        text = random_walk(pushdown, rng, 80, check, twin)
        assert grammar.matches(text) == pushdown.matches(text)


def test_generated_values_validate_at_any_depth():
    vocab = fragment_vocab()
    constraint = compile_json_schema(KUBERNETES_LIKE, vocab, any_value_depth=1)
    validator = jsonschema.Draft202012Validator(KUBERNETES_LIKE)
    rng = random.Random(11)
    finished = 0
    for _ in range(40):
        matcher = constraint.matcher()
        text = b""
        for _ in range(300):
            allowed = sorted(mask_set(matcher, vocab))
            closing = [t for t in allowed if t in vocab.eos_token_ids or vocab.token_bytes[t][:1] in (b"}", b"]")]
            token = rng.choice(closing if closing and len(text) > 120 else allowed)
            if token in vocab.eos_token_ids:
                finished += 1
                assert validator.is_valid(json.loads(text)), text
                break
            assert matcher.advance(token)
            text += vocab.token_bytes[token]
    assert finished >= 10


def test_open_values_take_any_depth_and_no_narrowing_is_reported(smollm2_tokenizer, smollm2_vocab):
    deep = {"kind": "Pod", "metadata": {"x": [{}]}, "spec": {"a": [[[[[[[[[[{"b": {"c": [1, {"d": None}]}}]]]]]]]]]]}}
    text = json.dumps(deep, separators=(",", ":"))
    constraint = compile_json_schema(KUBERNETES_LIKE, smollm2_vocab)
    assert isinstance(constraint, PushdownConstraint)
    assert constraint.matches(text)
    assert not constraint.matches(text[:-1]) and not constraint.matches(text.replace("]]]]", "]]]}", 1))
    assert not any(i.keyword == "*" for i in constraint.schema_issues)
    matcher = constraint.matcher()
    ids = smollm2_tokenizer.encode(text, add_special_tokens=False)
    assert matcher.advance_many(ids) == len(ids) and matcher.is_accepting()


def test_indented_json_keeps_open_values_bounded_and_says_so(smollm2_vocab):
    constraint = compile_json_schema({"type": "object"}, smollm2_vocab, whitespace="indented", any_value_depth=2)
    assert not isinstance(constraint, PushdownConstraint)
    assert any(i.keyword == "*" for i in constraint.schema_issues)
    assert any(i.keyword == "*" for i in schema_report({"type": "object"}, whitespace="indented").restricted)
    assert not any(i.keyword == "*" for i in schema_report({"type": "object"}).restricted)


def test_a_matcher_forks_rolls_back_and_forces_bytes_inside_containers(smollm2_tokenizer, smollm2_vocab):
    schema = {"type": "object", "properties": {"spec": {}, "end": {"const": "x"}}, "required": ["spec", "end"],
              "additionalProperties": False}
    constraint = compile_json_schema(schema, smollm2_vocab, any_value_depth=0)
    matcher = constraint.matcher()
    ids = smollm2_tokenizer.encode('{"spec":[[{"a":[]}]]', add_special_tokens=False)
    assert matcher.advance_many(ids) == len(ids)
    assert matcher.forced_bytes() == b',"end":"x"}'
    twin = matcher.fork()
    forced = twin.forced_tokens()
    assert forced and twin.advance_many(forced) == len(forced)
    spelled = b"".join(smollm2_vocab.token_bytes[t] for t in forced)
    assert spelled + twin.forced_bytes() == b',"end":"x"}'
    assert matcher.forced_bytes() == b',"end":"x"}'  # the fork moved on alone
    matcher.rollback(len(ids))
    assert mask_set(matcher, smollm2_vocab) == mask_set(constraint.matcher(), smollm2_vocab)


def test_making_a_matcher_converts_no_transition_rows_and_shares_one_machine(smollm2_tokenizer, smollm2_vocab):
    # a matcher is made per sequence, the first one inside the first mask: its cost must not grow
    # with the automaton (rows are converted when a step first reads them, once per index)
    constraint = compile_json_schema(KUBERNETES_LIKE, smollm2_vocab)
    assert isinstance(constraint, PushdownConstraint)
    first = constraint.matcher()
    converted = len(first._machine.rows)  # earlier matchers on this (cached) index may have read some
    second = constraint.matcher()
    assert second._machine is first._machine and len(second._machine.rows) == converted
    ids = smollm2_tokenizer.encode('{"kind":"Pod","spec":{"a":[1]}', add_special_tokens=False)
    assert second.advance_many(ids) == len(ids)
    assert len(second._machine.rows) < constraint.index.containers.transitions.shape[0]
