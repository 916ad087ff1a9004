"""``GrammarAlignedSampler``: grammar-aligned decoding by ASAp (Park et al. 2024, §2 of the research note).

Masking samples each token from the allowed part of the model's distribution, which over whole
strings is not the model conditioned on the constraint. ASAp reweights each allowed token by an
over-approximation θ̃ of its expected future grammaticality, learned from earlier samples for the
same prompt and tightened as they accumulate: repeated sampling converges to the conditional.

The trie is the memory-lean form of §2.2: per visited prefix u, the allowed mass M(u) and the
visited children only; θ̃(u) = M(u) − Σ_visited c p_c (1 − θ̃(c)), θ̃ = 1 for unvisited prefixes.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from structgen._constraint import Constraint
from structgen.sampling._rejection import SamplingError, allowed_tokens
from structgen.sampling._smc import _prompt_ids, decode, first_logits

_FORMAT = "structgen-asap-trie/1"


class _Trie:
    """Visited prefixes of one prompt: parallel lists indexed by node id (0 = the empty prefix)."""

    def __init__(self) -> None:
        self.parent: list[int] = [-1]
        self.token: list[int] = [-1]
        self.p: list[float] = [1.0]  # P(token | parent prefix), from the unmasked softmax
        self.mass: list[float] = [math.nan]  # M(u) once expanded, nan before
        self.theta: list[float] = [1.0]
        self.children: list[dict[int, int]] = [{}]

    def child(self, node: int, token: int, p: float) -> int:
        """The node of ``prefix(node) + [token]``, created (θ̃ = 1) on first visit."""
        nxt = self.children[node].get(token)
        if nxt is None:
            nxt = len(self.parent)
            self.parent.append(node)
            self.token.append(token)
            self.p.append(p)
            self.mass.append(math.nan)
            self.theta.append(1.0)
            self.children.append({})
            self.children[node][token] = nxt
        return nxt

    def expand(self, node: int, mass: float) -> None:
        """First visit of ``node`` with its allowed mass: set θ̃ and tighten every ancestor."""
        self.mass[node] = mass
        while node >= 0:
            kids = self.children[node]
            value = self.mass[node] - sum(self.p[c] * (1.0 - self.theta[c]) for c in kids.values())
            self.theta[node] = min(1.0, max(0.0, value))  # clamp float noise: 0 <= θ̃ <= 1
            node = self.parent[node]

    def to_json(self) -> dict:
        return {"parent": self.parent, "token": self.token, "p": self.p,
                "mass": [None if math.isnan(m) else m for m in self.mass], "theta": self.theta}

    @classmethod
    def from_json(cls, data: dict) -> _Trie:
        trie = cls()
        trie.parent, trie.token, trie.p = list(data["parent"]), list(data["token"]), list(data["p"])
        trie.mass = [math.nan if m is None else float(m) for m in data["mass"]]
        trie.theta = [float(t) for t in data["theta"]]
        trie.children = [{} for _ in trie.parent]
        for node, (parent, token) in enumerate(zip(trie.parent, trie.token, strict=True)):
            if parent >= 0:
                trie.children[parent][token] = node
        return trie


class GrammarAlignedSampler:
    """Samples ``model``'s continuations conditioned on ``constraint``, converging over repeated calls.

    Keeps one trie per prompt (its token ids) across ``sample`` calls; ``save`` / ``load`` keep it
    across processes. Sampling is at temperature 1 with no truncation (the conditional is of the
    model itself). Each step costs one model call and one mask, as masking does.
    """

    def __init__(self, model: Any, tokenizer: Any, constraint: Constraint) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.constraint = constraint
        self._tries: dict[tuple[int, ...], _Trie] = {}

    def sample(
        self, prompt: str | Sequence[int], n: int = 1, *, max_new_tokens: int = 256, seed: int | None = None
    ) -> list[str]:
        """``n`` texts, one after another, each refining the estimates the next one uses."""
        ids = self.sample_tokens(prompt, n, max_new_tokens=max_new_tokens, seed=seed)
        return [decode(self.constraint, t) for t in ids]

    @torch.no_grad()
    def sample_tokens(
        self, prompt: str | Sequence[int], n: int = 1, *, max_new_tokens: int = 256, seed: int | None = None
    ) -> list[list[int]]:
        """Like ``sample``, returning the generated token ids (EOS excluded)."""
        if n < 0 or max_new_tokens < 1:
            raise SamplingError(f"Expected n >= 0 and max_new_tokens >= 1, but got {n}, {max_new_tokens}")
        ids = _prompt_ids(self.tokenizer, prompt)
        trie = self._tries.setdefault(tuple(ids), _Trie())
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        logits, cache = first_logits(self.model, ids, self.constraint)
        return [self._one(trie, logits, copy.deepcopy(cache), max_new_tokens, gen) for _ in range(n)]

    def _one(self, trie: _Trie, logits: torch.Tensor, cache: Any, max_new_tokens: int, gen) -> list[int]:
        matcher = self.constraint.matcher()
        size = self.constraint.vocab.size
        eos = set(self.constraint.vocab.eos_token_ids)
        node, out = 0, []
        for _ in range(max_new_tokens):
            logp = logits[0].to("cpu", torch.float64)
            logp = logp - logp.logsumexp(dim=0)  # float64 log_softmax is very slow with -inf on CPU
            allowed = allowed_tokens(matcher, size)
            if math.isnan(trie.mass[node]):
                trie.expand(node, float(logp[allowed].exp().sum()))
            scores = torch.where(allowed, logp, torch.full_like(logp, -math.inf))
            kids = trie.children[node]
            if kids:  # reweight the visited children by θ̃ (unvisited keep θ̃ = 1)
                index = torch.tensor(list(kids))
                theta = torch.tensor([trie.theta[c] for c in kids.values()], dtype=torch.float64)
                scores[index] = scores[index] + theta.log()
            if not torch.isfinite(scores).any():
                raise SamplingError("every allowed continuation has probability 0 under the model")
            probs = torch.softmax(scores, 0)
            token = int(torch.multinomial(probs, 1, generator=gen))
            matcher.advance(token)
            if token in eos:
                return out
            node = trie.child(node, token, float(logp[token].exp()))
            out.append(token)
            feed = torch.tensor([[token]], device=self.model.device)
            step = self.model(input_ids=feed, past_key_values=cache, use_cache=True)
            cache, logits = step.past_key_values, step.logits[:, -1, :]
        # Cut off: no string of the language ends within the budget through here (under that budget).
        trie.expand(node, 0.0)
        warnings.warn(f"a sample reached max_new_tokens={max_new_tokens} before its constraint could end",
                      stacklevel=3)
        return out

    def theta(self, prompt: str | Sequence[int], prefix: Sequence[int] = ()) -> float:
        """The current estimate θ̃ of the probability that ``prompt + prefix`` ends in the language."""
        trie = self._tries.get(tuple(_prompt_ids(self.tokenizer, prompt)))
        node = 0
        for token in prefix:
            if trie is None or token not in trie.children[node]:
                return 1.0
            node = trie.children[node][token]
        return 1.0 if trie is None else trie.theta[node]

    def save(self, path: str | Path) -> None:
        """Write every prompt's trie to a JSON file."""
        data = {"format": _FORMAT, "constraint": self.constraint.source,
                "vocabulary": self.constraint.vocab.fingerprint,
                "tries": [{"prompt": list(k), **t.to_json()} for k, t in self._tries.items()]}
        Path(path).write_text(json.dumps(data))

    def load(self, path: str | Path) -> None:
        """Read tries written by ``save`` for this constraint and vocabulary (replacing those prompts')."""
        data = json.loads(Path(path).read_text())
        if data.get("format") != _FORMAT:
            raise SamplingError(f"{path} is not a structgen ASAp trie file (format {data.get('format')!r})")
        vocab = self.constraint.vocab.fingerprint
        if data["constraint"] != self.constraint.source or data["vocabulary"] != vocab:
            raise SamplingError(
                f"{path} was saved for {data['constraint']} over another vocabulary or constraint, "
                f"not {self.constraint.source}"
            )
        for entry in data["tries"]:
            self._tries[tuple(entry["prompt"])] = _Trie.from_json(entry)
