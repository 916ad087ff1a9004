"""The official JSON-Schema-Test-Suite, every draft, token by token: a ratchet and zero false accepts."""

from __future__ import annotations

import json

import pytest

from tests.schema.suite_runner import BASELINE, DRAFTS, run_suite


@pytest.fixture(scope="module")
def suite_results(smollm2_vocab, smollm2_tokenizer):
    return run_suite(smollm2_vocab, lambda text: smollm2_tokenizer.encode(text, add_special_tokens=False))


def test_no_invalid_instance_is_ever_accepted(suite_results):
    accepted = {f"{d}/{f}": c["false_positive"] for d, files in suite_results.items()
                for f, c in files.items() if c.get("false_positive")}
    assert accepted == {}


def test_nothing_crashes(suite_results):
    crashed = {f"{d}/{f}": c["crash"] for d, files in suite_results.items() for f, c in files.items() if c.get("crash")}
    assert crashed == {}


@pytest.mark.parametrize("draft", DRAFTS)
def test_pass_counts_never_fall_below_the_baseline(suite_results, draft):
    baseline = json.loads(BASELINE.read_text())[draft]
    fallen = {
        name: (counts.get("pass", 0), suite_results[draft].get(name, {}).get("pass", 0))
        for name, counts in baseline.items()
        if suite_results[draft].get(name, {}).get("pass", 0) < counts.get("pass", 0)
    }
    assert fallen == {}, f"pass counts fell (baseline, now): {fallen}"
