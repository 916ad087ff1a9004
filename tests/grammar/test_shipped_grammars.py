"""The grammars that ship with structgen: each is exactly its documented language."""

from __future__ import annotations

import ast
import csv
import io
import json

import lark
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from structgen import compile_grammar
from structgen.grammar import shipped_grammar, shipped_grammar_names

SAMPLES = {
    "json": (
        ['{"a": [1, -2.5e3, {"b": null}], "c": "x\\"y\\u00e9", "d": true}', " [ ] ", '"\\ud83d"', "0", "-0.0E+1"],
        ["01", '{"a" 1}', "[1,]", '"\t"', "1.", "-", "+1", ".5", "[1 2]", "'a'", "nul"],
    ),
    "arithmetic": (["1 + 2 * (x - 3) ** -2", "-a % b", "2 ** 3 ** 4", "((x))"], ["1 +", "x y", "()", "1 ** ", "**2"]),
    "sql": (
        [
            "SELECT a, b AS c FROM t WHERE a > 1 AND b LIKE 'x%' ORDER BY a DESC LIMIT 10;",
            "select count(*) from t group by x having count(*) > 2",
            "SELECT DISTINCT t.a FROM s.t AS t LEFT OUTER JOIN u ON t.id = u.id WHERE u.x IS NOT NULL",
            "SELECT a FROM t WHERE a NOT IN (1, 2) OR b BETWEEN 1 AND 2",
        ],
        ["SELECT FROM t", "SELECT a FROM", "SELECT a t", "SELECT a FROM t WHERE", "SELECT a FROM t LIMIT x"],
    ),
    "python_expr": (
        [
            "f(x, y=2)[1:2].z if a else [i for i in range(10) if i % 2]",
            "lambda x, y: x + y",
            "{1: 'a', 2: \"b\"}",
            "not x in y",
            "(1,)",
            "a is not None and b >= -c ** 2",
            "x[::2]",
        ],
        ["a if b", "x.in", "lambda: ", "(1,,)", "f(x=)", "[i for in x]", "1 +", "not", "def is x", "x + class"],
    ),
    "csv": (['a,b,c\n1,"x,""y""",3\n', "a\n", ",\n", "a\r\nb\r\n"], ['a,"b\n', "a", 'a"b\n', '"a"b\n']),
}


def test_every_shipped_grammar_has_samples():
    assert sorted(SAMPLES) == shipped_grammar_names()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_shipped_grammar_agrees_with_lark(smollm2_vocab, name):
    c = compile_grammar(name, smollm2_vocab)
    reference = lark.Lark(shipped_grammar(name))
    inside, outside = SAMPLES[name]
    for text in inside:
        reference.parse(text)
        assert c.matches(text), text
    for text in outside:
        with pytest.raises(lark.exceptions.LarkError):
            reference.parse(text)
        assert not c.matches(text), text


def test_python_expr_samples_are_python_expressions():
    inside, outside = SAMPLES["python_expr"]
    for text in inside:
        ast.parse(text, mode="eval")
    for text in outside:
        with pytest.raises(SyntaxError):
            ast.parse(text, mode="eval")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, indent=st.sampled_from([None, 2]), ascii_only=st.booleans())
def test_json_grammar_accepts_every_serialised_value(smollm2_vocab, value, indent, ascii_only):
    c = compile_grammar("json", smollm2_vocab)
    assert c.matches(json.dumps(value, indent=indent, ensure_ascii=ascii_only))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet='{}[]":,0123456789.-+eE tfrunl\\a\n', max_size=14))
def test_json_grammar_accepts_exactly_what_json_loads_accepts(smollm2_vocab, text):
    c = compile_grammar("json", smollm2_vocab)
    try:
        json.loads(text)
        valid = text.strip(" \t\n\r") == text.strip() and not text.startswith("\ufeff")
    except ValueError:
        valid = False
    assert c.matches(text) == valid, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(st.text(alphabet='ab ,"\n', max_size=4), min_size=1, max_size=3), min_size=1, max_size=3))
def test_csv_grammar_accepts_what_the_csv_module_writes(smollm2_vocab, rows):
    c = compile_grammar("csv", smollm2_vocab)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    assert c.matches(out.getvalue()), out.getvalue()
    assert list(csv.reader(io.StringIO(out.getvalue()))) == rows


def _random_complete_outputs(constraint, vocab, seed: int, n: int, max_tokens: int = 30) -> list[str]:
    """Complete strings reached by walking random allowed tokens (short ones often, so they close)."""
    import random

    from structgen import allocate_bitmask
    from structgen._bitmask import allowed_tokens

    rng = random.Random(seed)
    eos = vocab.eos_token_ids[0]
    out = []
    row = allocate_bitmask(1, vocab.size)[0]
    for _ in range(n):
        m = constraint.matcher()
        text = b""
        for _ in range(max_tokens):
            m.fill_mask(row)
            allowed = allowed_tokens(row, vocab.size).tolist()
            if eos in allowed and (rng.random() < 0.2 or len(allowed) == 1):
                out.append(text.decode())
                break
            pool = [t for t in allowed if t != eos]
            if rng.random() < 0.5:
                pool = sorted(rng.sample(pool, min(20, len(pool))), key=lambda t: len(vocab.token_bytes[t]))[:3]
            token = rng.choice(pool)
            assert m.advance(token)
            text += vocab.token_bytes[token]
    return out


def test_python_expr_random_outputs_are_python_expressions(smollm2_vocab):
    c = compile_grammar("python_expr", smollm2_vocab)
    outputs = _random_complete_outputs(c, smollm2_vocab, seed=1, n=25)
    assert len(outputs) >= 5
    for text in outputs:
        ast.parse(text.lstrip(" "), mode="eval")  # eval() takes leading spaces, ast.parse does not


def test_keywords_are_not_split_off_words(smollm2_vocab):
    python = compile_grammar("python_expr", smollm2_vocab)
    assert not python.matches("which increases % i")  # lark reads `which in creases % i`; Python does not
    assert python.matches("x in y") and python.matches("x in(y)") and python.matches("1if x else y")
    sql = compile_grammar("sql", smollm2_vocab)
    assert not sql.matches("SELECT a FROM t WHERE x = 1 ANDy = 2")
    assert sql.matches("SELECT a FROM t WHERE x = 1 AND y = 2")
