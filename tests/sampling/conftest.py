"""Fixtures shared by the sampling tests."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM


@pytest.fixture(scope="session")
def tiny_llama(smollm2_tokenizer):
    """A random one-layer Llama over SmolLM2's vocabulary: real token ids, fast, no weights to load."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(smollm2_tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, eos_token_id=smollm2_tokenizer.eos_token_id,
        bos_token_id=None, pad_token_id=smollm2_tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()
