"""``GrammarAlignedSampler`` (ASAp) against the oracles of §2.3: G_sk closed form, invariants, KL falling."""

from __future__ import annotations

import itertools
import math
import random
import warnings

import pytest

import structgen
from structgen import compile_regex
from structgen.sampling import SamplingError

from .toy_lm import GSK_REGEX, GSK_TOKENS, gsk_probs, table_lm, vocabulary

EOS = 1
PROMPT = [0]


def _proposal_law(sampler, probs, n_symbols: int) -> dict[tuple, float]:
    """The exact law of the sampler's next output given its trie now, by enumeration of every path."""
    law: dict[tuple, float] = {}

    def walk(prefix: tuple, prob: float) -> None:
        matcher = sampler.constraint.matcher()
        for t in prefix:
            matcher.advance(t)
        p = probs(prefix)
        weights = {}
        for t in range(n_symbols):
            if p[t] > 0 and matcher.check(t):
                weights[t] = p[t] * (1.0 if t == EOS else sampler.theta(PROMPT, prefix + (t,)))
        total = sum(weights.values())
        for t, w in weights.items():
            if w == 0:
                continue
            if t == EOS:
                law[prefix] = law.get(prefix, 0.0) + prob * w / total
            else:
                walk(prefix + (t,), prob * w / total)

    walk((), 1.0)
    return law


def _target(probs, language: set[tuple]) -> dict[tuple, float]:
    def p_of(w):
        out = 1.0
        for i, t in enumerate(w + (EOS,)):
            out *= probs(w[:i])[t]
        return out

    weights = {w: p_of(w) for w in language}
    z = sum(weights.values())
    return {w: x / z for w, x in weights.items() if x > 0}


def _kl(q: dict, target: dict) -> float:
    return sum(x * math.log(x / target[w]) for w, x in q.items() if x > 0)


GSK_LANGUAGE = {(2,) * 5} | {(3, *bits) for bits in itertools.product((2, 3), repeat=4)}


@pytest.fixture
def gsk():
    model = table_lm(4, gsk_probs)
    return structgen.GrammarAlignedSampler(model, None, compile_regex(GSK_REGEX, vocabulary(GSK_TOKENS)))


def test_gsk_exact_dynamics(gsk):
    target = _target(gsk_probs, GSK_LANGUAGE)
    assert target[(2,) * 5] == pytest.approx(1 / 17)
    law = _proposal_law(gsk, gsk_probs, 4)
    assert law[(2,) * 5] == pytest.approx(0.5)  # the first sample is GCD's
    assert _kl(law, target) == pytest.approx(0.7538, abs=1e-4)
    seed = 0
    while True:  # sample until 00000 appears: nothing changes before, everything is exact after
        (text,) = gsk.sample(PROMPT, 1, seed=seed)
        seed += 1
        law = _proposal_law(gsk, gsk_probs, 4)
        if text != "00000":
            assert law[(2,) * 5] == pytest.approx(0.5)
            continue
        break
    assert gsk.theta(PROMPT) == pytest.approx(17 / 32)
    assert gsk.theta(PROMPT, [2]) == pytest.approx(1 / 16)
    assert gsk.theta(PROMPT, [2, 2, 2, 2]) == pytest.approx(0.5)
    assert law == pytest.approx(target)
    assert _kl(law, target) == pytest.approx(0.0, abs=1e-12)


def test_gsk_kth_sample_probability_follows_the_closed_form():
    """P(k-th sample = 00000) = 2^-k + (1 - 2^-(k-1)) / 17, over independent samplers."""
    model = table_lm(4, gsk_probs)
    constraint = compile_regex(GSK_REGEX, vocabulary(GSK_TOKENS))
    runs, k_max = 400, 4
    hits = [0] * k_max
    for run in range(runs):
        sampler = structgen.GrammarAlignedSampler(model, None, constraint)
        for k, text in enumerate(sampler.sample(PROMPT, k_max, seed=run)):
            hits[k] += text == "00000"
    for k in range(1, k_max + 1):
        expected = 2.0**-k + (1 - 2.0 ** -(k - 1)) / 17
        sd = math.sqrt(expected * (1 - expected) / runs)
        assert abs(hits[k - 1] / runs - expected) < 4 * sd, (k, hits)


AB_TOKENS = [b"", b"", b"a", b"b"]


def _random_case(seed: int):
    """A random LM over {a, b} (ids 2, 3) + EOS, at most 3 tokens, and a random finite language."""
    rng = random.Random(seed)
    table: dict[tuple, list[float]] = {}

    def probs(prefix):
        if len(prefix) >= 3:
            return [0.0, 1.0, 0.0, 0.0]
        if prefix not in table:
            w = [rng.random() + 0.05 for _ in range(3)]
            table[prefix] = [0.0, w[0] / sum(w), w[1] / sum(w), w[2] / sum(w)]
        return table[prefix]

    strings = [tuple(s) for n in range(1, 4) for s in itertools.product((2, 3), repeat=n)]
    language = set(rng.sample(strings, rng.randint(1, 5)))
    regex = "|".join("".join("ab"[t - 2] for t in w) for w in sorted(language))
    return probs, language, regex


def _efg(probs, language, prefix) -> float:
    total, stack = 0.0, [(prefix, 1.0)]
    while stack:
        u, prob = stack.pop()
        p = probs(u)
        if u in language:
            total += prob * p[EOS]
        for t in (2, 3):
            if p[t] > 0 and any(w[: len(u) + 1] == u + (t,) for w in language):
                stack.append((u + (t,), prob * p[t]))
    return total


@pytest.mark.parametrize("seed", range(6))
def test_invariants_on_random_models_and_languages(seed):
    probs, language, regex = _random_case(seed)
    model = table_lm(4, probs)
    sampler = structgen.GrammarAlignedSampler(model, None, compile_regex(regex, vocabulary(AB_TOKENS)))
    target = _target(probs, language)
    previous: dict[tuple, float] = {}
    tvs = []
    for i in range(40):
        (ids,) = sampler.sample_tokens(PROMPT, 1, seed=1000 * seed + i)
        assert tuple(ids) in language  # (c) every output is in L
        trie = sampler._tries[tuple(PROMPT)]
        for node in range(len(trie.parent)):
            path, u = [], node
            while u > 0:
                path.append(trie.token[u])
                u = trie.parent[u]
            prefix = tuple(reversed(path))
            theta = trie.theta[node]
            assert theta >= _efg(probs, language, prefix) - 1e-12  # (i) soundness
            assert theta <= previous.get(prefix, 1.0) + 1e-12  # (ii) never increases
            previous[prefix] = theta
        law = _proposal_law(sampler, probs, 4)
        tvs.append(0.5 * sum(abs(law.get(w, 0.0) - target.get(w, 0.0)) for w in set(law) | set(target)))
    assert tvs[-1] == pytest.approx(0.0, abs=1e-9)  # (iii) every branch explored: exact
    assert sampler.theta(PROMPT) == pytest.approx(sum(_target_mass(probs, w) for w in language))


def _target_mass(probs, w) -> float:
    out = 1.0
    for i, t in enumerate(w + (EOS,)):
        out *= probs(w[:i])[t]
    return out


def test_save_and_load_round_trip(gsk, tmp_path):
    gsk.sample(PROMPT, 30, seed=0)
    path = tmp_path / "trie.json"
    gsk.save(path)
    again = structgen.GrammarAlignedSampler(gsk.model, None, gsk.constraint)
    again.load(path)
    for prefix in ([], [2], [2, 2, 2, 2], [3, 2]):
        assert again.theta(PROMPT, prefix) == gsk.theta(PROMPT, prefix)
    other = structgen.GrammarAlignedSampler(gsk.model, None, compile_regex("0|1", vocabulary(GSK_TOKENS)))
    with pytest.raises(SamplingError, match="saved for"):
        other.load(path)


def test_truncated_samples_warn_and_close_their_branch():
    model = table_lm(4, gsk_probs)
    sampler = structgen.GrammarAlignedSampler(model, None, compile_regex(GSK_REGEX, vocabulary(GSK_TOKENS)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        (ids,) = sampler.sample_tokens(PROMPT, 1, max_new_tokens=2, seed=0)
    assert len(ids) == 2 and caught
    assert sampler.theta(PROMPT, ids) == 0.0


@pytest.mark.model
def test_smollm2_grammar_aligned_outputs_are_valid(default_model):
    import re

    model, tokenizer = default_model
    vocab = structgen.integrations._generate.model_vocabulary(model, tokenizer)
    pattern = r"(cat|dog|bird)s?"
    sampler = structgen.GrammarAlignedSampler(model, tokenizer, compile_regex(pattern, vocab))
    texts = sampler.sample("Name a pet: ", 3, max_new_tokens=6, seed=0)
    assert all(re.fullmatch(pattern, t) for t in texts), texts
    assert sampler.theta("Name a pet: ") <= 1.0
