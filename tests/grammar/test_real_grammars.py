"""Real grammars on real inputs: accepted token by token, broken variants refused where lark refuses.

The reference is lark itself (``lark.Lark(text)``, its Earley parser): every input here parses
with it, and each broken variant fails to.
"""

from __future__ import annotations

from pathlib import Path

import lark
import pytest

from structgen import UnsupportedFeatureError, compile_grammar
from tests.conftest import SHARED_DATA

SYNCODE = SHARED_DATA / "grammars" / "syncode" / "syncode" / "parsers" / "grammars"
LARK_EXAMPLES = SHARED_DATA / "grammars" / "lark" / "examples"
INPUTS = Path(__file__).parent / "inputs"

CASES = [
    ("go", SYNCODE / "go.lark", (INPUTS / "hello.go").read_text(), ("func main() {", "func main() {{")),
    ("sql", SYNCODE / "sql.lark", (INPUTS / "queries.sql").read_text(), ("GROUP BY", "GROUP GROUP BY")),
    ("c", SYNCODE / "c.lark", (INPUTS / "sort.c").read_text(), ("return a;", "return a")),
    ("java", SYNCODE / "java.lark", (INPUTS / "Hello.java").read_text(), ("names.add(", "names.add(;")),
    ("json", SYNCODE / "json.lark", '{"name": "x", "tags": ["a", "b"], "n": -1.5e3, "ok": true}', (": -", ": --")),
    ("calc", SYNCODE / "calc.lark", "1 + 2 * (3 - 4) / 5", ("(3", "((3")),
    ("lark-json", LARK_EXAMPLES / "standalone" / "json.lark", '{"a": [1, "b\\"c"], "d": null}', ("[1", "[1 1")),
]


@pytest.fixture(params=["smollm2", "deepseek"])
def tokenizer_and_vocab(request):
    return request.getfixturevalue(f"{request.param}_tokenizer"), request.getfixturevalue(f"{request.param}_vocab")


def _reference(path: Path) -> lark.Lark:
    return lark.Lark(path.read_text(), import_paths=[str(path.parent)])


@pytest.mark.parametrize(("name", "path", "text", "breakage"), CASES, ids=[c[0] for c in CASES])
def test_real_input_is_accepted_token_by_token(tokenizer_and_vocab, name, path, text, breakage):
    real_tokenizer, real_vocab = tokenizer_and_vocab
    _reference(path).parse(text)  # the input is in lark's language
    c = compile_grammar(path.read_text(), real_vocab, import_paths=[str(path.parent)])
    m = c.matcher()
    ids = real_tokenizer.encode(text, add_special_tokens=False)
    for step, token in enumerate(ids):
        assert m.check(token), (name, real_tokenizer.decode(ids[: step + 1])[-40:])
        assert m.advance(token)
    assert m.is_accepting()
    assert m.check(real_vocab.eos_token_ids[0])


@pytest.mark.parametrize(("name", "path", "text", "breakage"), CASES, ids=[c[0] for c in CASES])
def test_broken_input_is_refused_at_the_first_impossible_token(tokenizer_and_vocab, name, path, text, breakage):
    real_tokenizer, real_vocab = tokenizer_and_vocab
    good, bad = breakage
    assert good in text
    broken = text.replace(good, bad, 1)
    with pytest.raises(lark.exceptions.LarkError):
        _reference(path).parse(broken)
    c = compile_grammar(path.read_text(), real_vocab, import_paths=[str(path.parent)])
    assert not c.matches(broken)
    cut = text.index(good) + len(bad)  # the broken text is fine up to here, impossible by its end
    for k in range(len(bad), 0, -1):
        if broken[:cut - k] == text[:cut - k]:
            break
    m = c.matcher()
    ids = real_tokenizer.encode(broken, add_special_tokens=False)
    consumed = 0
    refused_at = None
    for step, token in enumerate(ids):
        if not m.advance(token):
            refused_at = step
            break
        consumed += len(real_vocab.token_bytes[token])
    assert refused_at is not None or not m.is_accepting()
    if refused_at is not None:
        # refused no earlier than the first byte where the broken text leaves the language
        prefix = broken.encode()[:consumed]
        assert c.engine.step_bytes(c.engine.initial, prefix) is not None


def test_python_grammar_with_an_indenter_is_refused_with_the_reason(smollm2_vocab):
    path = SYNCODE / "python.lark"
    with pytest.raises(UnsupportedFeatureError, match=r"%declare.*Indenter"):
        compile_grammar(path.read_text(), smollm2_vocab)
