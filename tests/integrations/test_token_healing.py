"""Jump-forward text is spelled as the tokenizer spells it (SmolLM2's real tokenizer; no model needed)."""

from __future__ import annotations

import json

import pytest

import structgen
from structgen.integrations._canonical import Canonicalizer
from tests.conftest import SHARED_DATA


@pytest.fixture(scope="module")
def canonicalizer(smollm2_tokenizer, smollm2_vocab):
    return Canonicalizer(lambda text: smollm2_tokenizer(text, add_special_tokens=False)["input_ids"], smollm2_vocab)


def _spell(vocab, tokens):
    return [vocab.token_bytes[t] for t in tokens]


def test_forcing_stops_where_the_model_could_merge_the_forced_bytes(smollm2_tokenizer, smollm2_vocab, canonicalizer):
    # `{"order` is forced, but "orderId" / "orderName" may be tokens or merges the model prefers: only `{"` is forced
    c = structgen.compile_regex(r'\{"(orderId|orderName)": 1\}', smollm2_vocab)
    m = c.matcher()
    assert m.forced_bytes() == b'{"order'
    forced = m.forced_tokens()
    assert _spell(smollm2_vocab, forced) == [b'{"']
    assert canonicalizer.canonical(forced) == forced
    for text in ('{"orderId": 1}', '{"orderName": 1}'):
        assert smollm2_tokenizer(text, add_special_tokens=False)["input_ids"][: len(forced)] == forced
    assert m.advance_many(forced) == len(forced)
    assert m.forced_tokens() == []  # `order...`: the model's choice (order|Id, order|Name, ...)


def test_longest_match_is_not_the_tokenizers_split_and_is_respelled(smollm2_tokenizer, smollm2_vocab, canonicalizer):
    c = structgen.compile_regex(r'\{"diastolic":[0-9]\}', smollm2_vocab)
    m = c.matcher()
    forced = m.forced_tokens()
    canonical = smollm2_tokenizer('{"diastolic":', add_special_tokens=False)["input_ids"]
    assert _spell(smollm2_vocab, canonical) == [b'{"', b"di", b"ast", b"olic", b'":']
    # longest match: dia|st|olic, stopping before `":` (`":"`, `":[` ... could run past the forced bytes)
    assert _spell(smollm2_vocab, forced) == [b'{"', b"dia", b"st", b"olic"]
    respelled = canonicalizer.canonical(forced, m.forced_bytes())
    assert respelled == canonical[:4]  # the tokenizer's split, backed off before `":` as well
    assert m.advance_many(respelled) == len(respelled)


def _bench_cases(n_schemas: int):
    out = []
    with open(SHARED_DATA / "jsonschemabench" / "Glaiveai2K.jsonl") as f:
        for line in f:
            rec = json.loads(line)
            valid = [t["data"] for t in rec.get("tests", []) if t["valid"]]
            if valid:
                out.append((rec["schema"], valid))
            if len(out) == n_schemas:
                break
    return out


def test_forced_spans_of_jsonschemabench_instances_are_canonical(smollm2_tokenizer, smollm2_vocab, canonicalizer):
    """At every token boundary of a valid instance tokenized by the tokenizer, the (re-spelled) forced
    tokens are exactly the tokenizer's next tokens; the raw longest-match split is not always."""
    eos = set(smollm2_vocab.eos_token_ids)
    agree = disagree = raw_disagree = instances = 0
    for schema, instances_data in _bench_cases(20):
        try:
            c = structgen.compile_json_schema(schema, smollm2_vocab, whitespace="compact", time_limit=5)
        except structgen.StructgenError:
            continue
        for data in instances_data:
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            if not c.matches(text):  # key order / formats this compact compilation does not produce
                continue
            instances += 1
            ids = smollm2_tokenizer(text, add_special_tokens=False)["input_ids"]
            m = c.matcher()
            for i, token in enumerate(ids):
                raw = m.forced_tokens()
                if raw:
                    canon = canonicalizer.canonical(raw, m.forced_bytes())
                    forced = [t for t in (raw if canon is None else canon) if t not in eos]
                    if forced:
                        agree += ids[i : i + len(forced)] == forced
                        disagree += ids[i : i + len(forced)] != forced
                    raw_body = [t for t in raw if t not in eos]
                    raw_disagree += ids[i : i + len(raw_body)] != raw_body
                assert m.advance(token), (text, i)
    assert instances >= 10
    assert agree >= 100
    assert disagree == 0
    assert raw_disagree > 0  # why the re-spelling exists (diastolic, guests, redirectUris, ...)
