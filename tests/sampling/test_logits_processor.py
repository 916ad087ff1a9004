"""StructuredLogitsProcessor inside model.generate: greedy, sampling, beams, batches, EOS, widths.

A tiny randomly initialised Llama (a real transformers model, milliseconds per step) with the
SmolLM2 tokenizer: its choices are arbitrary, which is what stresses the mask.
"""

from __future__ import annotations

import re

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, LogitsProcessorList

import structgen
from structgen import StructuredLogitsProcessor, Vocabulary, allocate_bitmask, compile_regex


@pytest.fixture(scope="module")
def tiny_model(smollm2_tokenizer):
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smollm2_tokenizer) + 64,  # logits wider than the tokenizer, as in many models
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, eos_token_id=smollm2_tokenizer.eos_token_id,
        bos_token_id=None, pad_token_id=smollm2_tokenizer.eos_token_id,
    )
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # make the extra ids attractive: the mask must still exclude them
        model.lm_head.weight[len(smollm2_tokenizer) :] *= 50
    return model


PATTERNS = [r"\d{4}-\d{2}-\d{2}", r"(red|green|blue)", r"[a-z]{2,6}@[a-z]{2,5}\.com", r"-?\d{1,4}(\.\d{1,2})?"]


def _run(model, tokenizer, pattern, **kwargs):
    return structgen.generate(model, tokenizer, "Answer: ", regex=pattern, max_new_tokens=40, **kwargs)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_greedy_outputs_match(tiny_model, smollm2_tokenizer, pattern):
    assert re.fullmatch(pattern, _run(tiny_model, smollm2_tokenizer, pattern))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_sampled_outputs_match_with_temperature_top_k_top_p(tiny_model, smollm2_tokenizer, pattern):
    torch.manual_seed(1)
    outs = _run(tiny_model, smollm2_tokenizer, pattern, do_sample=True, temperature=1.3, top_k=200,
                top_p=0.95, num_return_sequences=4)
    assert len(outs) == 4
    assert all(re.fullmatch(pattern, o) for o in outs), outs


@pytest.mark.parametrize("pattern", PATTERNS)
def test_beam_search_outputs_match(tiny_model, smollm2_tokenizer, pattern):
    outs = _run(tiny_model, smollm2_tokenizer, pattern, num_beams=4, num_return_sequences=2)
    assert all(re.fullmatch(pattern, o) for o in outs), outs


def test_batch_rows_follow_their_own_constraints(tiny_model, smollm2_tokenizer):
    prompts = ["A date: ", "A much longer prompt asking for a colour, please: ", "Email: "]
    patterns = [PATTERNS[0], PATTERNS[1], PATTERNS[2]]
    outs = structgen.generate(tiny_model, smollm2_tokenizer, prompts, regex=patterns, max_new_tokens=40)
    assert [bool(re.fullmatch(p, o)) for p, o in zip(patterns, outs)] == [True, True, True], outs


def test_eos_is_forced_once_the_constraint_is_complete(tiny_model, smollm2_tokenizer):
    enc = smollm2_tokenizer("Say ok: ", return_tensors="pt")
    vocab = structgen.integrations._generate.model_vocabulary(tiny_model, smollm2_tokenizer)
    processor = StructuredLogitsProcessor(compile_regex("ok", vocab))
    out = tiny_model.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=10,
                              pad_token_id=vocab.eos_token_ids[0])
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    assert new[-1] == vocab.eos_token_ids[0]
    assert b"".join(vocab.token_bytes[t] for t in new[:-1]) == b"ok"


def test_processor_starts_over_on_a_new_generate_call(tiny_model, smollm2_tokenizer):
    vocab = structgen.integrations._generate.model_vocabulary(tiny_model, smollm2_tokenizer)
    processor = StructuredLogitsProcessor(compile_regex(r"\d{3}", vocab))
    enc = smollm2_tokenizer("n: ", return_tensors="pt")
    results = []
    for _ in range(2):
        out = tiny_model.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=8,
                                  pad_token_id=vocab.eos_token_ids[0])
        results.append(out[0, enc["input_ids"].shape[1] :].tolist())
    assert results[0] == results[1]


def test_one_constraint_per_prompt_must_divide_the_batch(smollm2_vocab):
    processor = StructuredLogitsProcessor([compile_regex("a", smollm2_vocab), compile_regex("b", smollm2_vocab)])
    with pytest.raises(ValueError, match="multiple of the 2 constraints"):
        processor(torch.zeros((3, 2), dtype=torch.long), torch.zeros((3, smollm2_vocab.size)))


def test_apply_token_bitmask_masks_exactly_the_cleared_bits():
    logits = torch.zeros(2, 70)
    mask = allocate_bitmask(2, 70)
    mask[0, 0] = 0b101  # tokens 0 and 2
    mask[1, 2] = 0b10  # token 65
    structgen.apply_token_bitmask_(logits, mask)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [0, 2]
    assert torch.isfinite(logits[1]).nonzero().flatten().tolist() == [65]


def test_apply_token_bitmask_refuses_a_wrong_shape():
    with pytest.raises(ValueError, match="int32 bitmask of shape"):
        structgen.apply_token_bitmask_(torch.zeros(2, 64), allocate_bitmask(3, 64))


def test_vocabulary_width_follows_the_model(tiny_model, smollm2_tokenizer):
    vocab = structgen.integrations._generate.model_vocabulary(tiny_model, smollm2_tokenizer)
    assert vocab.size == len(smollm2_tokenizer) + 64
    assert isinstance(vocab, Vocabulary)
