"""AWRS (§1.2 of the research note) against exact enumeration and statistical oracles T1-T5.

The exact oracles drive ``awrs_with_noise`` with Gumbel noise that realises each ordering of the
vocabulary, weighted by its exact (Plackett-Luce, rational) probability: an expectation over every
(trace 0, trace 1) path of the real implementation, not of a re-implementation.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch

from structgen.sampling import awrs
from structgen.sampling._rejection import SamplingError, awrs_with_noise


def _orders(p: list[Fraction]):
    """Every ordering of the tokens with mass, with its probability under sampling without replacement."""
    support = [i for i, x in enumerate(p) if x > 0]
    for perm in itertools.permutations(support):
        prob, left = Fraction(1), sum(p[i] for i in support)
        for i in perm:
            prob *= p[i] / left
            left -= p[i]
        yield perm, prob


def _noise(p: list[Fraction], order) -> torch.Tensor:
    logp = torch.tensor([math.log(x) if x > 0 else -math.inf for x in p], dtype=torch.float64)
    keys = torch.full_like(logp, -math.inf)
    for rank, token in enumerate(order):
        keys[token] = -float(rank)
    return torch.where(torch.isfinite(logp), keys - logp, torch.zeros_like(logp))


def _enumerate(p, valid, estimator=None, max_tries=None, use_mask=False, n_traces=2):
    """Exact path expectations: per-token E[Z_hat 1{x=a}], per-token P(x=a), E[checks], by trace-0 prefix."""
    logw = torch.tensor([math.log(x) if x > 0 else -math.inf for x in p], dtype=torch.float64)
    mask = (lambda: torch.tensor(valid)) if use_mask else None
    weighted = [0.0] * len(p)
    law = [Fraction(0)] * len(p)
    checks = 0.0
    by_trace0: dict[tuple, list] = {}
    orders = list(_orders(p))
    for paths in itertools.product(orders, repeat=n_traces):
        traces = [order for order, _ in paths]
        prob = math.prod((q for _, q in paths), start=Fraction(1))
        if estimator is None:
            noise = torch.stack([_noise(p, order) for order in traces])
            draw = awrs_with_noise(logw, lambda t: valid[t], noise, max_tries=max_tries, mask=mask)
            z_hat, token, n_checks = math.exp(draw.log_weight), draw.token, draw.n_checks
        else:
            z_hat, token, n_checks = estimator(traces, valid, p)
        weighted[token] += float(prob) * z_hat
        law[token] += prob
        checks += float(prob) * n_checks
        prefix = tuple(traces[0][: traces[0].index(token) + 1])
        entry = by_trace0.setdefault(prefix, [Fraction(0), 0.0])
        entry[0] += prob
        entry[1] += float(prob) * z_hat
    return weighted, law, checks, by_trace0


WORKED_P = [Fraction(5, 10), Fraction(3, 10), Fraction(2, 10)]  # a valid, b and c invalid
WORKED_VALID = [True, False, False]


def test_t2_worked_table_totals_and_conditional_expectations():
    weighted, law, checks, by_trace0 = _enumerate(WORKED_P, WORKED_VALID)
    assert weighted[0] == pytest.approx(0.5, abs=1e-12)
    assert law[0] == 1
    expected = {(0,): 0.7232, (1, 0): 0.3167, (1, 2, 0): 0.1667, (2, 0): 0.35, (2, 1, 0): 0.1667}
    probs = {(0,): 0.5, (1, 0): 0.2143, (1, 2, 0): 0.0857, (2, 0): 0.125, (2, 1, 0): 0.075}
    assert set(by_trace0) == set(expected)
    for prefix, (prob, mass) in by_trace0.items():
        assert float(prob) == pytest.approx(probs[prefix], abs=5e-5)
        assert mass / float(prob) == pytest.approx(expected[prefix], abs=5e-5), prefix


def test_t2_two_valid_tokens_per_token_expectations():
    p = [Fraction(4, 10), Fraction(1, 10), Fraction(3, 10), Fraction(2, 10)]
    weighted, law, _, _ = _enumerate(p, [True, True, False, False])
    assert weighted[:2] == pytest.approx([0.4, 0.1], abs=1e-12)
    assert law[0] == Fraction(4, 5) and law[1] == Fraction(1, 5)  # T1: the law is the masked one


@pytest.mark.parametrize("seed", range(12))
def test_t1_t2_t4_random_cases_are_exact(seed):
    rng = torch.Generator().manual_seed(seed)
    n = 3 + seed % 2  # up to 4! ** 2 = 576 exact paths
    raw = (torch.rand(n, generator=rng) * 9).long() + 1
    p = [Fraction(int(x), int(raw.sum())) for x in raw]
    valid = (torch.rand(n, generator=rng) < 0.5).tolist()
    valid[seed % n] = True
    weighted, law, checks, _ = _enumerate(p, valid)
    z = sum(x for x, ok in zip(p, valid, strict=True) if ok)
    for token in range(n):
        assert weighted[token] == pytest.approx(float(p[token]) if valid[token] else 0.0, abs=1e-12)
        assert law[token] == (p[token] / z if valid[token] else 0)
    assert checks <= 2 * n  # each token is checked at most once across both traces


def test_t4_cost_bound_on_the_worked_example():
    p, valid = WORKED_P, WORKED_VALID
    # E[N_ARS]: trace 0 alone (the estimate is not requested)
    logw = torch.tensor([math.log(x) for x in p], dtype=torch.float64)
    expected_checks = 0.0
    for order, prob in _orders(p):
        draw = awrs_with_noise(logw, lambda t: valid[t], _noise(p, order)[None])
        expected_checks += float(prob) * draw.n_checks
    assert expected_checks == pytest.approx(1.661, abs=5e-4)
    assert expected_checks * 0.5 <= 1  # E[N_ARS] * Z_acc <= 1; masking would need 3 checks


def test_fallback_to_the_mask_keeps_law_and_weights_exact():
    p = [Fraction(4, 10), Fraction(1, 10), Fraction(3, 10), Fraction(2, 10)]
    valid = [False, True, False, True]
    for max_tries in (1, 2):
        weighted, law, _, _ = _enumerate(p, valid, max_tries=max_tries, use_mask=True)
        assert weighted == pytest.approx([0.0, 0.1, 0.0, 0.2], abs=1e-12)
        assert law[1] == Fraction(1, 3) and law[3] == Fraction(2, 3)


def _naive_l2(traces, valid, p):
    """The biased 'generalisation': L = 2 continuation traces sharing the growing rejection set."""
    rejected: list[int] = []
    token, psi0 = None, 0.0
    for trace, order in enumerate(traces):
        for y in order:
            if y in rejected:
                continue
            if valid[y]:
                token = y if token is None else token
                break
            rejected.append(y)
        if trace == 0:
            psi0 = float(sum(p[r] for r in rejected))
    return (1 - psi0) * 2 / (len(rejected) + 2), token, 0


def test_t3_definition_2_is_unbiased_and_the_harness_rejects_the_naive_variant():
    p, valid = [Fraction(1, 2), Fraction(1, 2)], [True, False]
    weighted, _, _, _ = _enumerate(p, valid)
    assert sum(weighted) == pytest.approx(0.5, abs=1e-12)
    naive, _, _, _ = _enumerate(p, valid, estimator=_naive_l2, n_traces=3)
    assert sum(naive) == pytest.approx(13 / 24, abs=1e-12)
    assert abs(sum(naive) - 0.5) > 1e-3  # the oracle detects the bias


def test_t1_chi_square_monte_carlo():
    p = torch.tensor([0.35, 0.05, 0.3, 0.2, 0.1], dtype=torch.float64)
    valid = [True, True, False, True, False]
    gen = torch.Generator().manual_seed(0)
    n = 4000
    counts = torch.zeros(5)
    z_sum = 0.0
    for _ in range(n):
        draw = awrs(p.log(), lambda t: valid[t], generator=gen)
        counts[draw.token] += 1
        z_sum += math.exp(draw.log_weight)
    target = p * torch.tensor(valid, dtype=torch.float64)
    target /= target.sum()
    chi2 = float(((counts[target > 0] - n * target[target > 0]) ** 2 / (n * target[target > 0])).sum())
    p_value = float(torch.special.gammaincc(torch.tensor(1.0), torch.tensor(chi2 / 2)))  # df = 2
    assert p_value > 1e-3, (counts, chi2)
    assert counts[[2, 4]].sum() == 0
    assert z_sum / n == pytest.approx(0.6, rel=0.03)


def test_t5_no_valid_token_gives_minus_inf_and_an_invalid_token():
    eos = 2
    logw = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    draw = awrs(logw, lambda t: False, generator=torch.Generator().manual_seed(1))
    assert draw.log_weight == -math.inf
    assert draw.token in (0, 1, 2)
    draw = awrs(logw, lambda t: t == eos, generator=torch.Generator().manual_seed(1))
    assert draw.token == eos and draw.log_weight > -math.inf


def test_t5_unnormalised_weights_estimate_the_unnormalised_mass():
    p, valid = WORKED_P, WORKED_VALID
    logw = torch.tensor([math.log(x) for x in p], dtype=torch.float64) + math.log(7.0)
    total = 0.0
    for order0, prob0 in _orders(p):
        for order1, prob1 in _orders(p):
            noise = torch.stack([_noise(p, order0), _noise(p, order1)])
            draw = awrs_with_noise(logw, lambda t: valid[t], noise)
            total += float(prob0 * prob1) * math.exp(draw.log_weight)
    assert total == pytest.approx(3.5, abs=1e-10)


def test_t5_underflow_tiny_accepted_probability():
    logw = torch.zeros(182, dtype=torch.float64)
    logw[0] = math.log(2.4e-4 * 181 / (1 - 2.4e-4))  # p(token 0) = 2.4e-4 exactly after normalising
    gen = torch.Generator().manual_seed(3)
    weights = []
    for _ in range(300):
        draw = awrs(logw, lambda t: t == 0, generator=gen)
        assert draw.token == 0 and math.isfinite(draw.log_weight)
        weights.append(math.exp(draw.log_weight - torch.logsumexp(logw, 0).item()))
    assert sum(weights) / len(weights) == pytest.approx(2.4e-4, rel=0.2)


def test_t5_underflow_rejected_mass_rounds_to_one():
    p = torch.tensor([0.999999999999999] + [1e-16] * 10, dtype=torch.float64)
    gen = torch.Generator().manual_seed(4)
    for _ in range(50):
        draw = awrs(p.log(), lambda t: t > 0, generator=gen)
        assert draw.token > 0
        # the typical path rejects the big token once: (1 - psi0) / 2, computed from the kept mass
        assert draw.log_weight == pytest.approx(math.log(1e-15 / 2), rel=1e-9)


def test_bad_arguments_raise_a_structgen_error():
    with pytest.raises(SamplingError, match="1-D"):
        awrs(torch.zeros(2, 2), lambda t: True)
    with pytest.raises(SamplingError, match="max_tries"):
        awrs(torch.zeros(3), lambda t: True, max_tries=0, mask=lambda: torch.ones(3, dtype=torch.bool))
