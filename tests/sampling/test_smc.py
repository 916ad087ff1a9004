"""``structgen.smc`` on the T6 toy of the research note (§1.4): unbiased normaliser, target posterior."""

from __future__ import annotations

import math
import re

import pytest
import torch

import structgen
from structgen import compile_regex
from structgen.sampling import SamplingError

from .toy_lm import T6_LCD, T6_REGEX, T6_TARGET, T6_TOKENS, t6_probs, table_lm, vocabulary


@pytest.fixture(scope="module")
def t6():
    return table_lm(4, t6_probs), compile_regex(T6_REGEX, vocabulary(T6_TOKENS))


def _tv(p: dict[str, float], q: dict[str, float]) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def test_t6_normaliser_is_unbiased_and_the_posterior_is_the_target(t6):
    model, constraint = t6
    runs = 400
    z, posterior = [], {}
    for seed in range(runs):
        result = structgen.smc(model, None, [0], constraint, n_particles=8, ess_threshold=0.5, seed=seed)
        assert all(t in T6_TARGET for t, w in zip(result.texts, result.weights, strict=True) if w > 0)
        z.append(math.exp(result.log_normalizer))
        for text, weight in result.posterior().items():
            posterior[text] = posterior.get(text, 0.0) + weight / runs
    mean = sum(z) / runs
    se = (sum((x - mean) ** 2 for x in z) / (runs - 1) / runs) ** 0.5
    assert abs(mean - 0.34) < 4 * se + 1e-3, (mean, se)
    assert _tv(posterior, T6_TARGET) < 0.03, posterior  # N = 8: a small self-normalisation bias remains
    assert _tv(posterior, T6_LCD) > 0.2  # far from what step-by-step masking gives


def test_t6_masking_alone_is_distorted(t6):
    """The oracle's control: one unweighted particle per run is the masked (LCD) law, not the target."""
    model, constraint = t6
    counts: dict[str, int] = {}
    runs = 400
    for seed in range(runs):
        result = structgen.smc(model, None, [0], constraint, n_particles=1, ess_threshold=0.0, seed=seed)
        counts[result.texts[0]] = counts.get(result.texts[0], 0) + 1
    lcd = {k: v / runs for k, v in counts.items()}
    assert _tv(lcd, T6_LCD) < 0.07 and _tv(lcd, T6_TARGET) > 0.2, lcd


def _copy_probs(prefix):
    """First token a/b/c (.4/.4/.2), then that token again until three tokens, then EOS."""
    if not prefix:
        return [0.0, 0.0, 0.4, 0.4, 0.2]
    if len(prefix) >= 3:
        return [0.0, 1.0, 0.0, 0.0, 0.0]
    out = [0.0] * 5
    out[prefix[0]] = 1.0
    return out


def test_resampling_reorders_the_kv_cache_with_the_particles():
    """Each particle's model state must follow its own history, else 'aab'-style dead ends appear."""
    model = table_lm(5, _copy_probs)
    constraint = compile_regex("aaa|bbb", vocabulary([b"", b"", b"a", b"b", b"c"]))
    resamples = 0
    for seed in range(10):
        result = structgen.smc(model, None, [0], constraint, n_particles=6, ess_threshold=1.0, seed=seed)
        resamples += result.n_resamples
        assert all(result.complete) and set(result.texts) <= {"aaa", "bbb"}, result.texts
        assert math.isfinite(result.log_normalizer)
    assert resamples > 0


def test_dead_particles_and_truncation_get_zero_weight(t6):
    model, constraint = t6
    result = structgen.smc(model, None, [0], constraint, n_particles=4, max_new_tokens=1, seed=0)
    assert result.weights == [0.0] * 4 and not any(result.complete)  # one token: no EOS yet
    assert result.log_normalizer == -math.inf
    never = compile_regex("bbb", vocabulary(T6_TOKENS))  # EOS is forced after two tokens
    result = structgen.smc(model, None, [0], never, n_particles=4, seed=0)
    assert result.log_normalizer == -math.inf and result.weights == [0.0] * 4


def test_bad_arguments(t6):
    model, constraint = t6
    with pytest.raises(SamplingError, match="ess_threshold"):
        structgen.smc(model, None, [0], constraint, ess_threshold=2.0)
    with pytest.raises(SamplingError, match="tokenizer"):
        structgen.smc(model, None, "text", constraint)
    wide = compile_regex("a", vocabulary(T6_TOKENS + [b"c"]))
    with pytest.raises(SamplingError, match="wide"):
        structgen.smc(model, None, [0], wide)


@pytest.mark.model
def test_smollm2_smc_outputs_are_valid(default_model):
    model, tokenizer = default_model
    vocab = structgen.integrations._generate.model_vocabulary(model, tokenizer)
    pattern = r"(yes|no|maybe)"
    torch.manual_seed(0)
    prompt = "Is the sky blue? Answer yes, no or maybe: "
    constraint = compile_regex(pattern, vocab)
    result = structgen.smc(model, tokenizer, prompt, constraint, n_particles=4, max_new_tokens=8, seed=0)
    assert math.isfinite(result.log_normalizer)
    assert sum(result.weights) == pytest.approx(1.0)
    assert all(re.fullmatch(pattern, t) for t, w in zip(result.texts, result.weights, strict=True) if w > 0)
