"""``StructuredLogitsProcessor(sampling="rejection")``: the masked law, greedy parity, counted checks."""

from __future__ import annotations

import math
import re

import pytest
import torch
from transformers import LogitsProcessorList

import structgen
from structgen import StructuredLogitsProcessor, compile_regex
from structgen.sampling import SamplingError

from .toy_lm import vocabulary

TOKENS = [b"", b"", b"a", b"b", b"c", b"ab", b"ca", b"x", b"y", b"bb"]
SCORES = torch.tensor([-1.0, 0.5, 2.0, 0.3, 1.0, 1.5, -0.5, 2.5, 1.8, 0.0])


def _chi2_p_value(counts: torch.Tensor, probs: torch.Tensor) -> float:
    support = probs > 0
    n = counts.sum()
    expected = n * probs[support]
    chi2 = float(((counts[support] - expected) ** 2 / expected).sum())
    df = int(support.sum()) - 1
    return float(torch.special.gammaincc(torch.tensor(df / 2), torch.tensor(chi2 / 2)))


@pytest.mark.parametrize("max_tries", [64, 1])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_one_step_law_is_the_masked_softmax(max_tries, temperature):
    vocab = vocabulary(TOKENS)
    constraint = compile_regex("(a|b)c*|ab", vocab)  # first token: a, b or ab
    processor = StructuredLogitsProcessor(
        constraint, sampling="rejection", do_sample=True, temperature=temperature, max_tries=max_tries, seed=0
    )
    n = 3000
    out = processor(torch.zeros((n, 1), dtype=torch.long), SCORES.repeat(n, 1))
    assert (torch.isfinite(out).sum(dim=1) == 1).all()
    counts = torch.bincount(out.argmax(dim=1), minlength=len(TOKENS)).double()
    allowed = torch.zeros(len(TOKENS), dtype=torch.bool)
    allowed[[2, 3, 5]] = True
    target = torch.softmax(torch.where(allowed, SCORES / temperature, -math.inf), 0).double()
    assert counts[~allowed].sum() == 0
    assert _chi2_p_value(counts, target) > 1e-3, counts
    stats = processor.stats
    assert stats.steps == n
    if max_tries == 1:  # one check per row; a fallback unless the noise put an allowed token first
        assert stats.checks == n and 0 < stats.fallbacks < n
    else:
        assert stats.fallbacks == 0 and stats.checks < 3 * n


def test_later_steps_follow_the_matcher_and_eos_only_where_complete():
    vocab = vocabulary(TOKENS)
    processor = StructuredLogitsProcessor(compile_regex("ab", vocab), sampling="rejection", do_sample=False)
    first = processor(torch.zeros((1, 1), dtype=torch.long), SCORES[None].clone())
    assert first.argmax().item() == 2  # "x" and "y" score higher but are not allowed; "a" beats "ab"
    second = processor(torch.tensor([[0, 2]]), SCORES[None].clone())
    assert second.argmax().item() == 3  # only "b" may follow "a"
    third = processor(torch.tensor([[0, 2, 3]]), SCORES[None].clone())
    assert third.argmax().item() == 1 and torch.isfinite(third).sum() == 1  # complete: EOS only
    assert processor.stats.steps == 3 and processor.stats.checks >= 3


def test_rejection_needs_do_sample_and_valid_parameters():
    vocab = vocabulary(TOKENS)
    c = compile_regex("a", vocab)
    with pytest.raises(SamplingError, match="do_sample"):
        StructuredLogitsProcessor(c, sampling="rejection")
    with pytest.raises(SamplingError, match="sampling="):
        StructuredLogitsProcessor(c, sampling="beam")
    with pytest.raises(SamplingError, match="temperature"):
        StructuredLogitsProcessor(c, sampling="rejection", do_sample=True, temperature=0)
    assert issubclass(SamplingError, structgen.StructgenError)


PATTERNS = [
    r"\d{4}-\d{2}-\d{2}",
    r"(red|green|blue)",
    r"[a-z]{2,6}@[a-z]{2,5}\.com",
    r"-?\d{1,4}(\.\d{1,2})?",
]


def _generate(model, tokenizer, processor, **kwargs):
    enc = tokenizer("Answer: ", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=24,
                             pad_token_id=tokenizer.eos_token_id, **kwargs)
    return out[:, enc["input_ids"].shape[1] :].tolist()


@pytest.mark.parametrize("pattern", PATTERNS)
def test_greedy_rejection_gives_the_tokens_of_greedy_masking(tiny_llama, smollm2_tokenizer, pattern):
    vocab = structgen.integrations._generate.model_vocabulary(tiny_llama, smollm2_tokenizer)
    constraint = compile_regex(pattern, vocab)
    masked = _generate(tiny_llama, smollm2_tokenizer, StructuredLogitsProcessor(constraint))
    processor = StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=False)
    rejected = _generate(tiny_llama, smollm2_tokenizer, processor)
    assert rejected == masked
    assert processor.stats.steps == len(masked[0])


@pytest.mark.parametrize("pattern", PATTERNS[:2])
def test_sampled_rejection_outputs_match(tiny_llama, smollm2_tokenizer, pattern):
    vocab = structgen.integrations._generate.model_vocabulary(tiny_llama, smollm2_tokenizer)
    processor = StructuredLogitsProcessor(compile_regex(pattern, vocab), sampling="rejection", do_sample=True,
                                          temperature=1.3, seed=1)
    rows = _generate(tiny_llama, smollm2_tokenizer, processor, do_sample=True, num_return_sequences=3)
    for row in rows:
        end = row.index(vocab.eos_token_ids[0])
        assert re.fullmatch(pattern, b"".join(vocab.token_bytes[t] for t in row[:end]).decode())


@pytest.mark.model
def test_smollm2_rejection_sampling_saves_checks(default_model):
    model, tokenizer = default_model
    vocab = structgen.integrations._generate.model_vocabulary(model, tokenizer)
    pattern = r"\d{4}-\d{2}-\d{2}"
    processor = StructuredLogitsProcessor(compile_regex(pattern, vocab), sampling="rejection", do_sample=True,
                                          seed=0)
    enc = tokenizer("The date of the moon landing, as YYYY-MM-DD: ", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=16,
                             do_sample=True, pad_token_id=tokenizer.eos_token_id)
    new = out[0, enc["input_ids"].shape[1] :].tolist()
    text = b"".join(vocab.token_bytes[t] for t in new if t not in vocab.eos_token_ids).decode()
    assert re.fullmatch(pattern, text), text
    assert processor.stats.checks_per_step < 64
