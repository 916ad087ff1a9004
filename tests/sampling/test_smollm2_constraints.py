"""SmolLM2 under the shipped "json" grammar and a JSON schema: every output valid in every sampling mode.

Mask, rejection (greedy and sampled), SMC and ASAp, each with a small token budget. Completed outputs
are checked independently of structgen (lark with the grammar text, ``json.loads``, ``jsonschema``);
cut-off ones must still be accepted token by token. Greedy rejection must pick masking's tokens.
"""

from __future__ import annotations

import json
import warnings

import jsonschema
import lark
import pytest
import torch
from transformers import LogitsProcessorList

import structgen
from structgen.integrations._generate import model_vocabulary

pytestmark = pytest.mark.model

MAX_NEW_TOKENS = 20
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
REQUEST = "Reply with a JSON object for a person: their name and their age."


def _json_grammar_ok(text: str) -> None:
    lark.Lark(structgen.grammar.shipped_grammar("json")).parse(text)
    json.loads(text)


def _schema_ok(text: str) -> None:
    jsonschema.validate(json.loads(text), SCHEMA)


@pytest.fixture(scope="module")
def setup(default_model):
    model, tokenizer = default_model
    vocab = model_vocabulary(model, tokenizer)
    messages = [{"role": "user", "content": REQUEST}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return model, tokenizer, vocab, prompt


@pytest.mark.parametrize("kind", ["json-grammar", "json-schema"])
def test_every_output_is_valid_in_every_mode(setup, kind):
    model, tokenizer, vocab, prompt = setup
    if kind == "json-grammar":
        constraint, validate = structgen.compile_grammar("json", vocab), _json_grammar_ok
    else:
        constraint, validate = structgen.compile_json_schema(SCHEMA, vocab), _schema_ok
    eos = vocab.eos_token_ids[0]
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)

    def generate(processor, **kwargs):
        with torch.no_grad():
            out = model.generate(**enc, logits_processor=LogitsProcessorList([processor]),
                                 max_new_tokens=MAX_NEW_TOKENS, pad_token_id=eos, **kwargs)
        rows = out[:, enc["input_ids"].shape[1] :].tolist()
        return [(row[: row.index(eos)], True) if eos in row else (row, False) for row in rows]

    outputs: dict[str, list[tuple[list[int], bool]]] = {}
    outputs["mask, greedy"] = generate(structgen.StructuredLogitsProcessor(constraint), do_sample=False)
    processor = structgen.StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=False)
    outputs["rejection, greedy"] = generate(processor, do_sample=False)
    assert outputs["rejection, greedy"] == outputs["mask, greedy"]
    processor = structgen.StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=True, seed=0)
    outputs["rejection, sampled"] = generate(processor, do_sample=True)
    assert processor.stats.checks_per_step < 64  # vs 49,152 tokens decided by the mask
    smc = structgen.smc(model, tokenizer, prompt, constraint, n_particles=2, max_new_tokens=MAX_NEW_TOKENS, seed=0)
    outputs["smc"] = list(zip(smc.token_ids, smc.complete, strict=True))
    sampler = structgen.GrammarAlignedSampler(model, tokenizer, constraint)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a cut-off sample warns
        ids = sampler.sample_tokens(prompt, 2, max_new_tokens=MAX_NEW_TOKENS, seed=0)
    outputs["asap"] = [(t, len(t) < MAX_NEW_TOKENS) for t in ids]

    completed = 0
    for mode, rows in outputs.items():
        for tokens, done in rows:
            matcher = constraint.matcher()
            assert matcher.advance_many(tokens) == len(tokens), (mode, tokens)  # every token allowed
            if done:
                text = b"".join(vocab.token_bytes[t] for t in tokens).decode()
                validate(text)  # raises (with the text) if the output is not valid
                completed += 1
    assert completed >= 3, outputs
