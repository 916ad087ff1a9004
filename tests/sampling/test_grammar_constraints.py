"""AWRS, SMC and ASAp under context-free constraints: the oracles of the regex tests, on grammar toys.

Two tiny grammars over the exact table LM ``cf_probs``: a^n b^n written in Lark and non-empty
balanced parentheses written in GBNF, each over a vocabulary with an opening, a closing and a
two-byte token. The exact laws (masked, target, expected future grammaticality) are enumerated with
an independent, hand-written membership test, not with structgen's matcher.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from transformers import LogitsProcessorList

import structgen
from structgen.sampling._rejection import allowed_tokens

from .toy_lm import ANBN_LARK, ANBN_TOKENS, DYCK_GBNF, DYCK_TOKENS, cf_probs, table_lm, vocabulary

EOS = 1
PROMPT = [0]
CUT = "<cut>"  # ASAp outcome: max_new_tokens reached before EOS


def _anbn_viable(s: str) -> bool:
    m = re.fullmatch(r"(a*)(b*)", s)
    return m is not None and len(m.group(2)) <= len(m.group(1))


def _anbn_valid(s: str) -> bool:
    m = re.fullmatch(r"(a+)(b+)", s)
    return m is not None and len(m.group(1)) == len(m.group(2))


def _depths(s: str) -> list[int]:
    out, d = [0], 0
    for ch in s:
        d += 1 if ch == "(" else -1
        out.append(d)
    return out


def _dyck_viable(s: str) -> bool:
    return set(s) <= {"(", ")"} and min(_depths(s)) >= 0


def _dyck_valid(s: str) -> bool:
    return s != "" and _dyck_viable(s) and _depths(s)[-1] == 0


@dataclass
class Case:
    name: str
    tokens: list[bytes]
    compile: Callable[[structgen.Vocabulary], structgen.Constraint]
    viable: Callable[[str], bool]  # can the text still be extended to a string of the language?
    valid: Callable[[str], bool]  # is the text a string of the language?

    def text(self, ids) -> str:
        return b"".join(self.tokens[t] for t in ids if t != EOS).decode()

    def constraint(self) -> structgen.Constraint:
        return self.compile(vocabulary(self.tokens))

    def allowed(self, prefix: tuple[int, ...]) -> list[int]:
        """The tokens the constraint allows after ``prefix`` (the oracle's own verdict)."""
        s = self.text(prefix)
        out = [t for t in range(2, len(self.tokens)) if self.viable(s + self.tokens[t].decode())]
        return out + [EOS] if self.valid(s) else out


CASES = [
    Case("anbn-lark", ANBN_TOKENS, lambda v: structgen.compile_grammar(ANBN_LARK, v), _anbn_viable, _anbn_valid),
    Case("dyck-gbnf", DYCK_TOKENS, lambda v: structgen.compile_gbnf(DYCK_GBNF, v), _dyck_viable, _dyck_valid),
]


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request):
    return request.param


def _viable_prefixes(case: Case, depth: int):
    stack = [()]
    while stack:
        prefix = stack.pop()
        yield prefix
        if len(prefix) < depth:
            stack += [prefix + (t,) for t in case.allowed(prefix) if t != EOS]


def _masked_law(case: Case, probs, k: int) -> dict[tuple, float]:
    """Exact law of ``k`` steps of masked sampling: outcome = the tokens drawn, up to and with EOS."""
    law: dict[tuple, float] = {}

    def walk(prefix: tuple, prob: float) -> None:
        if len(prefix) == k:
            law[prefix] = law.get(prefix, 0.0) + prob
            return
        p = probs(prefix)
        w = {t: p[t] for t in case.allowed(prefix) if p[t] > 0}
        z = sum(w.values())
        for t, x in w.items():
            if t == EOS:
                law[prefix + (EOS,)] = law.get(prefix + (EOS,), 0.0) + prob * x / z
            else:
                walk(prefix + (t,), prob * x / z)

    walk((), 1.0)
    return law


def _future_mass(case: Case, probs, prefix: tuple, budget: int) -> dict[str, float]:
    """p(w EOS | prefix) for every string w of the language that ends within ``budget`` draws, by text."""
    out: dict[str, float] = {}

    def walk(u: tuple, prob: float) -> None:
        p = probs(u)
        s = case.text(u)
        if case.valid(s):
            out[s] = out.get(s, 0.0) + prob * p[EOS]
        if len(u) + 1 < budget:  # room for one more token and then EOS
            for t in case.allowed(u):
                if t != EOS and p[t] > 0:
                    walk(u + (t,), prob * p[t])

    walk(tuple(prefix), 1.0)
    return out


def _target(case: Case, probs, budget: int) -> tuple[dict[str, float], float]:
    """The model conditioned on the constraint and on ending within ``budget`` draws; its normaliser."""
    mass = _future_mass(case, probs, (), budget)
    z = sum(mass.values())
    return {s: x / z for s, x in mass.items()}, z


def _tv(p: dict, q: dict) -> float:
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def _chi2_p_value(counts: dict, law: dict, n: int) -> float:
    """Pearson's test of ``counts`` against ``law``; outcomes expected fewer than 5 times are pooled."""
    assert set(counts) <= set(law), set(counts) - set(law)
    observed, expected, rest_o, rest_e = [], [], 0.0, 0.0
    for key, prob in law.items():
        if n * prob >= 5:
            observed.append(counts.get(key, 0))
            expected.append(n * prob)
        else:
            rest_o += counts.get(key, 0)
            rest_e += n * prob
    if rest_e > 0:
        observed.append(rest_o)
        expected.append(rest_e)
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    df = len(observed) - 1
    return float(torch.special.gammaincc(torch.tensor(df / 2), torch.tensor(chi2 / 2)))


# ------------------------------------------------------------------------------------ the matcher contract


def test_check_agrees_with_the_mask_and_the_oracle_on_every_viable_prefix(case):
    """The rejection sampler checks single tokens and falls back to the mask: both must say the same."""
    constraint = case.constraint()
    size = len(case.tokens)
    n = 0
    for prefix in _viable_prefixes(case, 6):
        matcher = constraint.matcher()
        assert all(matcher.advance(t) for t in prefix)
        mask = allowed_tokens(matcher, size).tolist()
        checks = [matcher.check(t) for t in range(size)]
        oracle = [t in case.allowed(prefix) for t in range(size)]
        assert checks == mask == oracle, (case.text(prefix), checks, mask, oracle)
        assert matcher.is_accepting() == case.valid(case.text(prefix))
        twin = matcher.fork()  # SMC resampling forks; the copy must not share the history
        if twin.advance(2):
            assert matcher.check(EOS) == case.valid(case.text(prefix))
            twin.rollback(1)
            assert [twin.check(t) for t in range(size)] == checks
        n += 1
    assert n > 25


# ------------------------------------------------------------------------ AWRS in the logits processor


def _outcomes(rows: list[list[int]]) -> dict[tuple, int]:
    counts: dict[tuple, int] = {}
    for row in rows:
        key = tuple(row[: row.index(EOS) + 1]) if EOS in row else tuple(row)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _generate(model, processor, n: int, k: int, **kwargs) -> list[list[int]]:
    with torch.no_grad():
        out = model.generate(torch.tensor([PROMPT]), logits_processor=LogitsProcessorList([processor]),
                             max_new_tokens=k, num_return_sequences=n, pad_token_id=EOS, eos_token_id=EOS,
                             **kwargs)
    return out[:, len(PROMPT) :].tolist()


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_rejection_reproduces_the_masked_law_over_whole_outputs(case, temperature):
    """Four steps of generate(): the law of whole outputs equals masking's, by chi-square, at T = 1 and 0.6."""
    k, n = 4, 3000

    def probs(prefix):  # the warped model: temperature applies to the scores before the constraint
        p = [x ** (1 / temperature) for x in cf_probs(prefix)]
        return [x / sum(p) for x in p]

    law = _masked_law(case, probs, k)
    model = table_lm(len(case.tokens), cf_probs)
    constraint = case.constraint()
    processor = structgen.StructuredLogitsProcessor(
        constraint, sampling="rejection", do_sample=True, temperature=temperature, seed=0
    )
    rows = _generate(model, processor, n, k, do_sample=True)
    counts = _outcomes(rows)
    assert all(case.viable(case.text(key)) for key in counts)
    assert all(case.valid(case.text(key)) for key in counts if key[-1] == EOS)
    assert _chi2_p_value(counts, law, n) > 1e-3, (counts, law)
    assert processor.stats.fallbacks == 0
    # control: masking itself (generate's sampler on the masked scores) passes the same test
    torch.manual_seed(0)
    masked = _generate(model, structgen.StructuredLogitsProcessor(constraint), n, k, do_sample=True,
                       temperature=temperature, top_k=0, top_p=1.0)
    assert _chi2_p_value(_outcomes(masked), law, n) > 1e-3
    # and the test has power: the law of the unconstrained model (same support here) is rejected
    free = _masked_law(Case(case.name, case.tokens, case.compile, lambda s: True, lambda s: True), probs, k)
    assert _chi2_p_value(counts, free, n) < 1e-6


def test_rejection_with_one_try_falls_back_to_the_mask_exactly(case):
    """max_tries=1: most steps finish on the mask; the law is still the masked one."""
    k, n = 4, 3000
    law = _masked_law(case, cf_probs, k)
    model = table_lm(len(case.tokens), cf_probs)
    processor = structgen.StructuredLogitsProcessor(case.constraint(), sampling="rejection", do_sample=True,
                                                    max_tries=1, seed=1)
    counts = _outcomes(_generate(model, processor, n, k, do_sample=True))
    assert processor.stats.fallbacks > 0
    assert _chi2_p_value(counts, law, n) > 1e-3, (counts, law)


def test_greedy_rejection_gives_the_tokens_of_greedy_masking_on_the_toy(case):
    model = table_lm(len(case.tokens), cf_probs)
    constraint = case.constraint()
    masked = _generate(model, structgen.StructuredLogitsProcessor(constraint), 1, 6, do_sample=False)
    processor = structgen.StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=False)
    assert _generate(model, processor, 1, 6, do_sample=False) == masked


@pytest.mark.parametrize("name", ["json", "arithmetic"])
def test_greedy_and_sampled_rejection_on_shipped_grammars_with_a_real_vocabulary(tiny_llama, smollm2_tokenizer,
                                                                               name):
    """A random 1-layer Llama over SmolLM2's vocabulary: greedy parity, and every output a viable prefix."""
    import lark

    vocab = structgen.integrations._generate.model_vocabulary(tiny_llama, smollm2_tokenizer)
    constraint = structgen.compile_grammar(name, vocab)
    parser = lark.Lark(structgen.grammar.shipped_grammar(name))
    enc = smollm2_tokenizer("Answer: ", return_tensors="pt")

    def run(processor, **kwargs):
        with torch.no_grad():
            out = tiny_llama.generate(**enc, logits_processor=LogitsProcessorList([processor]), max_new_tokens=20,
                                      pad_token_id=smollm2_tokenizer.eos_token_id, **kwargs)
        return out[:, enc["input_ids"].shape[1] :].tolist()

    masked = run(structgen.StructuredLogitsProcessor(constraint))
    assert run(structgen.StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=False)) == masked
    processor = structgen.StructuredLogitsProcessor(constraint, sampling="rejection", do_sample=True, seed=2)
    rows = run(processor, do_sample=True, num_return_sequences=4)
    eos = vocab.eos_token_ids[0]
    for row in masked + rows:
        matcher = constraint.matcher()
        body = row[: row.index(eos)] if eos in row else row
        assert matcher.advance_many(body) == len(body)  # every token was allowed
        if eos in row:
            text = b"".join(vocab.token_bytes[t] for t in body).decode()
            parser.parse(text)  # lark agrees that the completed output is in the language
            if name == "json":
                json.loads(text)
    assert processor.stats.steps > 0


# ----------------------------------------------------------------------------------------------- SMC


def test_smc_normaliser_is_unbiased_and_the_posterior_is_the_target(case):
    """Budget of five draws: runs pooled by their normaliser estimates converge to the exact target.

    A run whose particles all die (no string ends within the budget) has estimate 0 and an empty
    posterior; pooling the runs' posteriors weighted by their (unbiased) estimates is consistent.
    """
    budget = 5  # at most four tokens, then EOS
    target, z_exact = _target(case, cf_probs, budget)
    lcd = _masked_law(case, cf_probs, budget)
    lcd_done: dict[str, float] = {}
    for key, prob in lcd.items():
        if key[-1] == EOS:
            lcd_done[case.text(key)] = lcd_done.get(case.text(key), 0.0) + prob
    lcd_done = {s: x / sum(lcd_done.values()) for s, x in lcd_done.items()}
    assert _tv(lcd_done, target) > 0.09  # exact: masking, even keeping only finished outputs, is off target

    model = table_lm(len(case.tokens), cf_probs)
    constraint = case.constraint()
    runs = 400
    z, pooled = [], {}
    for seed in range(runs):
        result = structgen.smc(model, None, PROMPT, constraint, n_particles=16, max_new_tokens=budget, seed=seed)
        assert all(case.valid(t) for t, w in zip(result.texts, result.weights, strict=True) if w > 0)
        z.append(math.exp(result.log_normalizer))
        for text, weight in result.posterior().items():
            pooled[text] = pooled.get(text, 0.0) + z[-1] * weight
    mean = sum(z) / runs
    se = (sum((x - mean) ** 2 for x in z) / (runs - 1) / runs) ** 0.5
    assert abs(mean - z_exact) < 4 * se + 1e-3, (mean, se, z_exact)
    posterior = {s: x / sum(pooled.values()) for s, x in pooled.items()}
    assert _tv(posterior, target) < 0.045, (posterior, target)
    assert sum(x == 0 for x in z) < runs // 10


# ---------------------------------------------------------------------------------------------- ASAp


def _asap_law(sampler, case: Case, probs, budget: int) -> dict[str, float]:
    """The exact law of the sampler's next output (text, or CUT) given its trie now."""
    law: dict[str, float] = {}

    def walk(prefix: tuple, prob: float) -> None:
        if len(prefix) == budget:
            law[CUT] = law.get(CUT, 0.0) + prob
            return
        p = probs(prefix)
        w = {t: p[t] * (1.0 if t == EOS else sampler.theta(PROMPT, prefix + (t,))) for t in case.allowed(prefix)}
        total = sum(w.values())
        for t, x in w.items():
            if x == 0:
                continue
            if t == EOS:
                s = case.text(prefix)
                law[s] = law.get(s, 0.0) + prob * x / total
            else:
                walk(prefix + (t,), prob * x / total)

    walk((), 1.0)
    return law


def _kl(p: dict, q: dict) -> float:
    return sum(x * math.log(x / q[k]) for k, x in p.items() if x > 0)


def test_asap_converges_to_the_target_and_its_estimates_stay_sound(case):
    """60 samples with a four-draw budget: the exact law of the next sample approaches the target.

    The distance is TV and KL(target || law): the law's cut-off mass makes KL(law || target) infinite
    until every over-long branch has been closed. a^n b^n reaches the target exactly within 60 samples
    (then the root estimate is the exact normaliser); the parentheses fall to about a quarter.
    """
    budget = 4  # at most three tokens, then EOS; longer samples are cut off and their branch closed
    target, z_exact = _target(case, cf_probs, budget)
    model = table_lm(len(case.tokens), cf_probs)
    sampler = structgen.GrammarAlignedSampler(model, None, case.constraint())
    first = _asap_law(sampler, case, cf_probs, budget)
    assert first.get(CUT, 0.0) > 0.05 and _tv(first, target) > 0.1  # the first sample is masking's
    tvs, kls, previous = [_tv(first, target)], [_kl(target, first)], {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cut-off samples warn
        for i in range(60):
            (ids,) = sampler.sample_tokens(PROMPT, 1, max_new_tokens=budget, seed=i)
            text = case.text(ids)
            assert case.valid(text) or len(ids) == budget and case.viable(text)
            trie = sampler._tries[tuple(PROMPT)]
            for node in range(len(trie.parent)):
                path, u = [], node
                while u > 0:
                    path.append(trie.token[u])
                    u = trie.parent[u]
                prefix = tuple(reversed(path))
                exact = sum(_future_mass(case, cf_probs, prefix, budget).values()) if len(prefix) < budget else 0.0
                theta = trie.theta[node]
                assert theta >= exact - 1e-12  # soundness: never below the expected future grammaticality
                assert theta <= previous.get(prefix, 1.0) + 1e-12  # and never increasing
                previous[prefix] = theta
            law = _asap_law(sampler, case, cf_probs, budget)
            tvs.append(_tv(law, target))
            kls.append(_kl(target, law))
    assert tvs[-1] < 0.35 * tvs[0] and kls[-1] < 0.35 * kls[0], (tvs, kls)
    assert max(tvs[40:]) < tvs[0]
    if tvs[-1] < 1e-9:  # every branch explored: the root estimate is the exact normaliser
        assert sampler.theta(PROMPT) == pytest.approx(z_exact)


def test_asap_outputs_are_in_the_language_or_cut_off(case):
    model = table_lm(len(case.tokens), cf_probs)
    sampler = structgen.GrammarAlignedSampler(model, None, case.constraint())
    budget = 12
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = sampler.sample_tokens(PROMPT, 20, max_new_tokens=budget, seed=0)
    cut = [ids for ids in outputs if len(ids) == budget]
    assert len(caught) == len(cut) < len(outputs)
    assert all(case.valid(case.text(ids)) for ids in outputs if len(ids) < budget)
    assert all(case.viable(case.text(ids)) for ids in cut)


def test_forced_tokens_on_the_grammar_toy():
    constraint = CASES[0].constraint()
    matcher = constraint.matcher()
    assert matcher.advance(2) and matcher.advance(2) and matcher.advance(3)  # "aab": "b" is forced
    assert matcher.forced_tokens() == [3, EOS]
    np.testing.assert_array_equal(allowed_tokens(matcher, 5).numpy(), [False, False, False, True, False])
