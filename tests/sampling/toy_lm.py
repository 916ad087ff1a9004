"""A tiny language model with exact, enumerable next-token probabilities, behind the transformers API.

``TableLM`` is a real ``PreTrainedModel`` + ``GenerationMixin``: its logits at each position are the
log of a next-token table keyed by the tokens so far (the leading BOS tokens excluded). It keeps its
prefix in a real ``DynamicCache`` (the token ids stored as one-dimensional "keys"), so cache
reordering, batch repetition and ``generate()`` behave as with any decoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from transformers import DynamicCache, GenerationMixin, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import CausalLMOutputWithPast

import structgen

NextProbs = Callable[[tuple[int, ...]], "list[float]"]


class TableLMConfig(PretrainedConfig):
    model_type = "structgen_table_lm"

    def __init__(self, vocab_size: int = 4, bos_token_id: int = 0, eos_token_id: int = 1, **kwargs) -> None:
        kwargs.setdefault("num_hidden_layers", 1)
        kwargs.setdefault("num_attention_heads", 1)
        kwargs.setdefault("hidden_size", 1)
        super().__init__(bos_token_id=bos_token_id, eos_token_id=eos_token_id, **kwargs)
        self.vocab_size = vocab_size


class TableLM(PreTrainedModel, GenerationMixin):
    """``next_probs(prefix)`` gives the exact next-token distribution after the generated ``prefix``."""

    config_class = TableLMConfig
    _supports_cache_class = True

    def __init__(self, config: TableLMConfig, next_probs: NextProbs | None = None) -> None:
        super().__init__(config)
        self.next_probs = next_probs
        self.anchor = torch.nn.Linear(1, 1)  # a parameter, so the model has a device and a dtype
        self.calls = 0
        self.post_init()

    def get_output_embeddings(self):
        return None

    def _log_table(self, prefix: tuple[int, ...]) -> list[float]:
        probs = self.next_probs(prefix)
        return [math.log(p) if p > 0 else -math.inf for p in probs]

    def forward(self, input_ids=None, past_key_values=None, use_cache=True, attention_mask=None, **kwargs):
        self.calls += 1
        batch, new = input_ids.shape
        if past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        stored = input_ids.to(torch.float64).view(batch, 1, new, 1)
        keys, _ = past_key_values.update(stored, stored, 0)
        full = keys.view(batch, -1).long().tolist()
        bos = self.config.bos_token_id
        logits = torch.empty(batch, new, self.config.vocab_size, dtype=torch.float64)  # exact to 1e-16
        for row, seq in enumerate(full):
            for j in range(new):
                upto = seq[: len(seq) - new + j + 1]
                prefix = tuple(t for t in upto if t != bos)
                logits[row, j] = torch.tensor(self._log_table(prefix), dtype=torch.float64)
        return CausalLMOutputWithPast(logits=logits, past_key_values=past_key_values if use_cache else None)

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, **kwargs):
        if past_key_values is not None and past_key_values.get_seq_length() > 0:
            input_ids = input_ids[:, past_key_values.get_seq_length() :]
        return {"input_ids": input_ids, "past_key_values": past_key_values, "use_cache": True}


def table_lm(vocab_size: int, next_probs: NextProbs, bos: int = 0, eos: int = 1) -> TableLM:
    """A ``TableLM`` over ``vocab_size`` ids (``bos`` starts every prompt, ``eos`` ends)."""
    config = TableLMConfig(vocab_size=vocab_size, bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
    return TableLM(config, next_probs).eval()


def vocabulary(tokens: list[bytes], eos: int = 1, bos: int = 0) -> structgen.Vocabulary:
    """A ``Vocabulary`` from token bytes; ``bos`` and ``eos`` entries are special (no bytes)."""
    return structgen.Vocabulary(tokens, eos_token_ids=[eos], special_token_ids=[bos])


# ---------------------------------------------------------------------------------------------- the toys

# T6 of the algorithms note: ids 0 BOS, 1 EOS, 2 "a", 3 "b"; valid strings {a, ab, ba}.
T6_TOKENS = [b"", b"", b"a", b"b"]
T6_REGEX = "a|ab|ba"
T6_TARGET = {"a": 0.18 / 0.34, "ab": 0.12 / 0.34, "ba": 0.04 / 0.34}
T6_LCD = {"a": 0.36, "ab": 0.24, "ba": 0.40}


def t6_probs(prefix: tuple[int, ...]) -> list[float]:
    """p(a)=.6, p(b)=.4 at the start; after a: (a .5, b .2, EOS .3); after b: (a .1, b .1, EOS .8)."""
    if len(prefix) == 0:
        return [0.0, 0.0, 0.6, 0.4]
    if len(prefix) >= 2 or prefix[-1] == 1:
        return [0.0, 1.0, 0.0, 0.0]
    return [0.0, 0.3, 0.5, 0.2] if prefix[0] == 2 else [0.0, 0.8, 0.1, 0.1]


# The skewed grammar G_sk of the note: {00000} ∪ {1xxxx}; ids 0 BOS, 1 EOS, 2 "0", 3 "1".
GSK_TOKENS = [b"", b"", b"0", b"1"]
GSK_REGEX = "00000|1[01]{4}"


def gsk_probs(prefix: tuple[int, ...]) -> list[float]:
    """P(0) = P(1) = 1/2 for five tokens, then EOS."""
    return [0.0, 0.0, 0.5, 0.5] if len(prefix) < 5 else [0.0, 1.0, 0.0, 0.0]


# Context-free toys: a^n b^n (Lark) and non-empty balanced parentheses (GBNF). Ids 0 BOS, 1 EOS, then
# an opening token, a closing token and one two-byte token that spans both ("ab" / "()"), so tokens
# and grammar symbols do not line up one to one.
ANBN_TOKENS = [b"", b"", b"a", b"b", b"ab"]
ANBN_LARK = 'start: "a" start? "b"\n'
DYCK_TOKENS = [b"", b"", b"(", b")", b"()"]
DYCK_GBNF = 'root ::= ("(" root? ")")+\n'


def cf_probs(prefix: tuple[int, ...]) -> list[float]:
    """A positive LM over (EOS, open, close, open-close) that favours opening and ends more often later.

    Seeded per prefix, so the table does not depend on the order in which prefixes are asked for.
    """
    import random

    rng = random.Random(repr(prefix))
    w = [(0.05 + 0.3 * len(prefix)) * rng.uniform(0.5, 1.5), rng.uniform(0.8, 1.6), rng.uniform(0.2, 0.8),
         rng.uniform(0.1, 0.5)]
    total = sum(w)
    return [0.0] + [x / total for x in w]
