"""structgen's own decode loop on SmolLM2: the same outputs as ``model.generate`` + the logits processor,
fewer forward passes with jump-forward, batches, sampling, stop strings, streaming."""

from __future__ import annotations

import json
import re
import warnings

import pytest
import torch
from transformers import LogitsProcessorList

import structgen
from structgen.integrations._generate import model_vocabulary
from structgen.sampling import StructuredLogitsProcessor
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.model

REGEXES = {
    "iso date": r"\d{4}-\d{2}-\d{2}",
    "email": r"[a-z0-9._]{1,20}@[a-z0-9]{1,12}\.(com|org|net)",
    "enum": r"(red|green|blue|yellow)",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "json-ish": r'\{"city": "[A-Za-z ]{1,20}", "population": \d{1,8}\}',
}

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "maxLength": 20},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


def _chat(tokenizer, text):
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True)


def _bench_schemas(n: int) -> list[dict]:
    """The first ``n`` Glaiveai2K schemas that compile strictly (function-call arguments: short objects)."""
    out = []
    with open(SHARED_DATA / "jsonschemabench" / "Glaiveai2K.jsonl") as f:
        for line in f:
            schema = json.loads(line)["schema"]
            if '"array"' in json.dumps(schema):
                continue
            try:
                structgen.schema_report(schema)
            except structgen.StructgenError:
                continue
            if not structgen.schema_report(schema).unsupported:
                out.append(schema)
            if len(out) == n:
                return out
    return out


@pytest.fixture(scope="module")
def vocab(default_model):
    model, tokenizer = default_model
    return model_vocabulary(model, tokenizer)


@pytest.fixture(scope="module")
def cases(default_model, vocab):
    """(name, prompt, constraint) for the regexes and a set of JSONSchemaBench schemas (compact JSON)."""
    _, tokenizer = default_model
    out = [(name, _chat(tokenizer, f"Reply with an example of: {name}."), structgen.compile_regex(rx, vocab))
           for name, rx in REGEXES.items()]
    for i, schema in enumerate(_bench_schemas(4)):
        prompt = _chat(tokenizer, f"Reply with a JSON object for this schema:\n{json.dumps(schema)[:1500]}")
        out.append((f"schema {i}", prompt, structgen.compile_json_schema(schema, vocab, whitespace="compact")))
    return out


def _hf_tokens(model, tokenizer, vocab, prompt, constraint, max_new_tokens):
    """The reference: the same constraint inside model.generate with StructuredLogitsProcessor, greedy."""
    enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=LogitsProcessorList([StructuredLogitsProcessor(constraint)]),
                             max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=list(vocab.eos_token_ids),
                             pad_token_id=vocab.eos_token_ids[0])
    tokens = out[0, enc["input_ids"].shape[1]:].tolist()
    return [t for t in tokens if t not in vocab.eos_token_ids]


def _own_tokens(model, tokenizer, vocab, prompt, constraint, max_new_tokens, jump_forward):
    from structgen.integrations._own_loop import run_own_loop

    rows, stats = run_own_loop(model, tokenizer, vocab, [prompt], [constraint], repeats=1,
                               max_new_tokens=max_new_tokens, jump_forward=jump_forward, stop_strings=[],
                               generate_kwargs={})
    return rows[0][0], stats


MAX = 48


@pytest.fixture(scope="module")
def runs(default_model, vocab, cases):
    """Every case decoded three ways: HF's loop, structgen's loop without and with jump-forward."""
    model, tokenizer = default_model
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows cut off by MAX are compared as far as they got
        for name, prompt, constraint in cases:
            hf = _hf_tokens(model, tokenizer, vocab, prompt, constraint, MAX)
            plain, plain_stats = _own_tokens(model, tokenizer, vocab, prompt, constraint, MAX, False)
            jf, jf_stats = _own_tokens(model, tokenizer, vocab, prompt, constraint, MAX, True)
            out[name] = (hf, plain, plain_stats, jf, jf_stats)
    return out


def test_without_jump_forward_tokens_are_identical_to_hf_generate(runs):
    for name, (hf, plain, plain_stats, _, _) in runs.items():
        assert plain == hf, name
        assert plain_stats.forced_tokens == 0
        # one forward pass per chosen token (EOS included): the prefill gives the first, the last needs none
        assert plain_stats.forward_passes == plain_stats.chosen_tokens, name


# Cases where jump-forward legitimately gives another text. Greedy SmolLM2 under the mask often spells
# forced text in splits its tokenizer never makes: it starts an object with `{` then `"` where the
# tokenizer writes `{"`, and the keys likewise. Jump-forward appends the tokenizer's (canonical) split
# instead, and from that context the model later picks other values. Every differing case is checked
# to be one where the HF path's tokens are not how the tokenizer spells their own text; where the HF
# path's tokens are canonical (the regexes below), the outputs are identical.
PINNED_DIFFERENT = {"json-ish", "schema 0", "schema 1", "schema 2", "schema 3"}


def test_jump_forward_text_is_hf_generates_except_where_hf_is_non_canonical(default_model, vocab, runs):
    _, tokenizer = default_model
    different = set()
    for name, (hf, _, _, jf, _) in runs.items():
        text = b"".join(vocab.token_bytes[t] for t in hf).decode()
        canonical = tokenizer(text, add_special_tokens=False)["input_ids"] == hf
        if jf != hf:
            different.add(name)
            assert not canonical, name  # the explanation, checked
        if canonical:
            assert jf == hf, name
    assert different == PINNED_DIFFERENT


def test_jump_forward_needs_fewer_forward_passes_than_tokens(runs):
    schema_runs = [r for name, r in runs.items() if name.startswith("schema")]
    assert schema_runs
    for *_, jf_stats in schema_runs:
        assert jf_stats.forced_tokens > 0
        assert jf_stats.forward_passes < jf_stats.tokens
        assert jf_stats.forward_passes == jf_stats.chosen_tokens  # forced tokens ride along, never a pass of their own


def test_fixed_keys_schema_forward_passes(default_model):
    model, tokenizer = default_model
    prompt = _chat(tokenizer, f"Reply with a JSON object for this schema:\n{json.dumps(PERSON)}")
    kwargs = dict(schema=PERSON, schema_options={"whitespace": "compact"}, max_new_tokens=80, return_stats=True)
    value, stats = structgen.generate(model, tokenizer, prompt, **kwargs)
    plain, plain_stats = structgen.generate(model, tokenizer, prompt, jump_forward=False, **kwargs)
    assert set(value) == {"name", "age", "city"}
    assert stats.forward_passes < stats.tokens
    assert stats.forward_passes < plain_stats.forward_passes
    assert plain_stats.forward_passes == plain_stats.tokens  # one per token, as model.generate
    assert set(plain) == {"name", "age", "city"}  # the texts may differ: see PINNED_DIFFERENT


def test_compiled_constraint_argument(default_model, vocab):
    model, tokenizer = default_model
    c = structgen.compile_regex(REGEXES["iso date"], vocab)
    prompt = _chat(tokenizer, "A date?")
    assert structgen.generate(model, tokenizer, prompt, constraint=c, max_new_tokens=20) == structgen.generate(
        model, tokenizer, prompt, regex=REGEXES["iso date"], max_new_tokens=20)
    with pytest.raises(TypeError, match="exactly one constraint"):
        structgen.generate(model, tokenizer, prompt, constraint=c, regex=REGEXES["iso date"])


def test_batch_rows_with_different_constraints_finishing_at_different_times(default_model):
    model, tokenizer = default_model
    names = ["enum", "uuid", "iso date", "json-ish"]
    prompts = [_chat(tokenizer, f"Reply with an example of: {n}.") for n in names]
    patterns = [REGEXES[n] for n in names]
    outs, stats = structgen.generate(model, tokenizer, prompts, regex=patterns, max_new_tokens=60, return_stats=True)
    assert all(re.fullmatch(p, o) for p, o in zip(patterns, outs)), outs
    assert len(set(stats.per_row_tokens)) > 1  # rows did finish at different times
    singles = [structgen.generate(model, tokenizer, p, regex=rx, max_new_tokens=60) for p, rx in zip(prompts, patterns)]
    assert outs == singles


def test_sampling_is_valid_and_seeded(default_model):
    model, tokenizer = default_model
    prompt = _chat(tokenizer, "An email address?")
    kwargs = dict(regex=REGEXES["email"], do_sample=True, temperature=1.0, top_k=50, top_p=0.95,
                  max_new_tokens=40, num_return_sequences=3)
    a = structgen.generate(model, tokenizer, prompt, seed=7, **kwargs)
    b = structgen.generate(model, tokenizer, prompt, seed=7, **kwargs)
    assert a == b
    assert len(a) == 3 and all(re.fullmatch(REGEXES["email"], o) for o in a), a


def test_stop_strings(default_model):
    model, tokenizer = default_model
    prompt = _chat(tokenizer, "Write a sentence about cats.")
    kwargs = dict(regex=r"[A-Za-z ,]{1,80}\.", stop_strings=" ", max_new_tokens=40)
    out = structgen.generate(model, tokenizer, prompt, **kwargs)
    assert " " in out
    assert " " not in out.rsplit(" ", 1)[0]  # stopped after the token that brought the first space
    assert out == structgen.generate(model, tokenizer, prompt, decoder="hf", **kwargs)  # HF's stop_strings


def test_cut_off_row_warns_and_returns_what_it_has(default_model):
    model, tokenizer = default_model
    with pytest.warns(UserWarning, match="max_new_tokens=3"):
        out = structgen.generate(model, tokenizer, _chat(tokenizer, "A uuid?"), regex=REGEXES["uuid"],
                                 max_new_tokens=3)
    assert REGEXES["uuid"] and 0 < len(out) < 36


def test_overlap_gives_the_same_output(default_model):
    model, tokenizer = default_model
    prompt = _chat(tokenizer, f"Reply with a JSON object for this schema:\n{json.dumps(PERSON)}")
    a = structgen.generate(model, tokenizer, prompt, schema=PERSON, max_new_tokens=60)
    b = structgen.generate(model, tokenizer, prompt, schema=PERSON, max_new_tokens=60, overlap=True)
    assert a == b


@pytest.mark.parametrize("jump_forward", [True, False])
def test_stream_chunks_join_to_the_generated_text(default_model, vocab, jump_forward):
    model, tokenizer = default_model
    c = structgen.compile_json_schema(PERSON, vocab, whitespace="compact")
    prompt = _chat(tokenizer, f"Reply with a JSON object for this schema:\n{json.dumps(PERSON)}")
    chunks = list(structgen.stream(model, tokenizer, prompt, constraint=c, max_new_tokens=80,
                                   jump_forward=jump_forward))
    text = structgen.generate(model, tokenizer, prompt, constraint=c, max_new_tokens=80, jump_forward=jump_forward)
    assert "".join(chunks) == text
    assert len(chunks) > 1
    if jump_forward:
        assert any(len(chunk) > 1 and chunk.startswith('"') for chunk in chunks)  # forced key chunks arrive whole


def test_beam_search_falls_back_to_hf_generate(default_model):
    model, tokenizer = default_model
    outs, stats = structgen.generate(model, tokenizer, _chat(tokenizer, "A colour?"), regex=REGEXES["enum"],
                                     num_beams=2, num_return_sequences=2, max_new_tokens=10, return_stats=True)
    assert all(re.fullmatch(REGEXES["enum"], o) for o in outs)
    assert stats.forced_tokens == 0 and stats.forward_passes > 0
