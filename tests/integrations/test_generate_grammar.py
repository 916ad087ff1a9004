"""End to end with SmolLM2: every complete output under a grammar parses with the reference parser.

Lark grammars are checked with ``lark.Lark(text)`` (Earley), GBNF grammars with lark's Earley
parser over the grammar's rules (``ir_to_lark``), JSON also with ``json.loads`` and Python
expressions with ``ast.parse``.
"""

from __future__ import annotations

import ast
import json

import lark
import pytest
import torch
from transformers import LogitsProcessorList

import structgen
from structgen.grammar import shipped_grammar
from structgen.integrations._generate import model_vocabulary
from tests.conftest import SHARED_DATA
from tests.grammar.oracle import ir_to_lark

pytestmark = pytest.mark.model

SYNCODE = SHARED_DATA / "grammars" / "syncode" / "syncode" / "parsers" / "grammars"
LLAMA = SHARED_DATA / "grammars" / "llama.cpp" / "grammars"

LARK_CASES = {
    "json": (shipped_grammar("json"), "Give a JSON object with a cat's name and age, nothing more."),
    "arithmetic": (shipped_grammar("arithmetic"), "Give one short arithmetic expression, like 3 * 4."),
    "sql": (shipped_grammar("sql"), "Write an SQL query that lists the names of users older than 30."),
    "python_expr": (shipped_grammar("python_expr"), "Write a Python expression that sums the squares of 1 to 10."),
    "csv": (shipped_grammar("csv"), "Write a CSV table of three fruits and their colours."),
    "syncode-sql": ((SYNCODE / "sql.lark").read_text(), "Write an SQL query that counts the rows of table t."),
    "syncode-c": ((SYNCODE / "c.lark").read_text(), "Write a C function that adds two integers."),
    "syncode-go": ((SYNCODE / "go.lark").read_text(), "Write a Go program that prints hello."),
    "syncode-java": ((SYNCODE / "java.lark").read_text(), "Write a Java class with a main method."),
    "syncode-json": ((SYNCODE / "json.lark").read_text(), "Write a JSON list of two numbers."),
}
GBNF_CASES = {
    path.stem: (path.read_text(), f"Write an example of: {path.stem}.") for path in sorted(LLAMA.glob("*.gbnf"))
}


def _run(model, tokenizer, constraint, prompt: str, do_sample: bool, max_new_tokens: int = 64) -> tuple[str, bool]:
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    enc = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    processor = structgen.StructuredLogitsProcessor(constraint)
    torch.manual_seed(0)
    with torch.no_grad():
        out = model.generate(
            **enc,
            logits_processor=LogitsProcessorList([processor]),
            max_new_tokens=max_new_tokens,
            do_sample=do_sample,
            eos_token_id=list(constraint.vocab.eos_token_ids),
            pad_token_id=constraint.vocab.eos_token_ids[0],
        )
    tokens = out[0, enc["input_ids"].shape[1] :].tolist()
    eos = set(constraint.vocab.eos_token_ids)
    data = bytearray()
    ended = False
    for token in tokens:
        if token in eos:
            ended = True
            break
        data += constraint.vocab.token_bytes[token]
    matcher = processor.matchers[0]
    assert not matcher.is_finished() or ended
    return data.decode("utf-8"), ended


@pytest.fixture(scope="module")
def model_and_vocab(default_model):
    model, tokenizer = default_model
    return model, tokenizer, model_vocabulary(model, tokenizer)


@pytest.mark.parametrize("name", list(LARK_CASES))
def test_lark_grammar_outputs_parse_with_lark(model_and_vocab, name):
    model, tokenizer, vocab = model_and_vocab
    grammar, prompt = LARK_CASES[name]
    constraint = structgen.compile_grammar(grammar, vocab)
    reference = lark.Lark(grammar)
    complete = 0
    for do_sample in (False, True):
        text, ended = _run(model, tokenizer, constraint, prompt, do_sample)
        if ended:
            complete += 1
            reference.parse(text)
            if name == "json":
                json.loads(text)
            if name == "python_expr":
                ast.parse(text.lstrip(" "), mode="eval")  # eval() takes leading spaces
    if name in ("json", "arithmetic", "sql"):
        assert complete, f"{name}: no output ended within the token budget"


@pytest.mark.parametrize("name", list(GBNF_CASES))
def test_gbnf_grammar_outputs_parse_with_lark_earley(model_and_vocab, name):
    model, tokenizer, vocab = model_and_vocab
    grammar, prompt = GBNF_CASES[name]
    constraint = structgen.compile_gbnf(grammar, vocab)
    reference = lark.Lark(ir_to_lark(constraint.grammar))
    for do_sample in (False, True):
        text, ended = _run(model, tokenizer, constraint, prompt, do_sample, max_new_tokens=32)
        if ended:
            reference.parse(text)
            if name == "json":
                json.loads(text)


SHIPPED_PROMPTS = {
    "json": "Give a JSON object with a cat's name and age, nothing more.",
    "arithmetic": "Give one short arithmetic expression, like 3 * 4.",
    "sql": "Write an SQL query that lists the names of users older than 30.",
    "python_expr": "Write a Python expression that sums the squares of 1 to 10.",
    "csv": "Write a CSV table of three fruits and their colours.",
}


@pytest.mark.parametrize("name", list(SHIPPED_PROMPTS))
def test_generate_with_a_shipped_grammar_matches_hf_generate(model_and_vocab, name):
    """structgen's loop without jump-forward is token-identical to model.generate with the processor;
    with jump-forward, identical wherever the HF path spelled its text as the tokenizer does."""
    import warnings

    model, tokenizer, vocab = model_and_vocab
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": SHIPPED_PROMPTS[name]}], tokenize=False, add_generation_prompt=True
    )
    kwargs = dict(grammar=name, max_new_tokens=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outputs cut at max_new_tokens are compared as far as they got
        hf = structgen.generate(model, tokenizer, prompt, decoder="hf", **kwargs)
        plain = structgen.generate(model, tokenizer, prompt, jump_forward=False, **kwargs)
        jumped = structgen.generate(model, tokenizer, prompt, **kwargs)
    assert plain == hf
    hf_ids = _hf_token_ids(model, tokenizer, vocab, prompt, name)
    assert b"".join(vocab.token_bytes[t] for t in hf_ids).decode() == hf
    if tokenizer(hf, add_special_tokens=False)["input_ids"] == hf_ids:  # HF spelled its text canonically
        assert jumped == hf
    reference = lark.Lark(shipped_grammar(name))
    for text in (hf, jumped):
        if structgen.compile_grammar(name, vocab).matches(text):
            reference.parse(text)


def _hf_token_ids(model, tokenizer, vocab, prompt: str, name: str) -> list[int]:
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    processor = structgen.StructuredLogitsProcessor(structgen.compile_grammar(name, vocab))
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=32,
                             do_sample=False, eos_token_id=list(vocab.eos_token_ids),
                             pad_token_id=vocab.eos_token_ids[0])
    return [t for t in out[0, enc["input_ids"].shape[1]:].tolist() if t not in vocab.eos_token_ids]


def test_stream_with_a_grammar_joins_to_generate(model_and_vocab):
    model, tokenizer, _ = model_and_vocab
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": SHIPPED_PROMPTS["arithmetic"]}], tokenize=False, add_generation_prompt=True
    )
    chunks = list(structgen.stream(model, tokenizer, prompt, grammar="arithmetic", max_new_tokens=32))
    assert "".join(chunks) == structgen.generate(model, tokenizer, prompt, grammar="arithmetic", max_new_tokens=32)
