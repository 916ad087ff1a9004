"""Reference oracles written independently of the compiled paths: slow, simple, vectorised numpy."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from structgen.automata import ByteDFA
from structgen.vocab import Vocabulary


@lru_cache(maxsize=4)
def _token_matrix(vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(b) for b in vocab.token_bytes], dtype=np.int64)
    width = int(lengths.max())
    matrix = np.zeros((len(vocab.token_bytes), width), dtype=np.uint8)
    for i, b in enumerate(vocab.token_bytes):
        matrix[i, : len(b)] = np.frombuffer(b, dtype=np.uint8)
    return matrix, lengths


def token_targets(dfa: ByteDFA, vocab: Vocabulary, state: int) -> np.ndarray:
    """For every token id: the DFA state after its bytes from ``state`` (-1 dead or unusable)."""
    matrix, lengths = _token_matrix(vocab)
    n = matrix.shape[0]
    states = np.full(n, state, dtype=np.int64)
    alive = vocab.usable.copy()
    for j in range(matrix.shape[1]):
        active = np.flatnonzero(alive & (lengths > j))
        if active.size == 0:
            break
        nxt = dfa.transitions[states[active], matrix[active, j]]
        states[active] = nxt
        alive[active[nxt < 0]] = False
    states[~alive] = -1
    return states


def token_good_states(dfa: ByteDFA, vocab: Vocabulary) -> np.ndarray:
    """States from which some token sequence reaches acceptance (fixpoint on the token graph)."""
    targets = [token_targets(dfa, vocab, s) for s in range(dfa.n_states)]
    good = dfa.accepting.copy()
    changed = True
    while changed:
        changed = False
        for s in range(dfa.n_states):
            if not good[s]:
                t = targets[s]
                if (good[t[t >= 0]]).any():
                    good[s] = changed = True
    return good


def allowed_set(dfa: ByteDFA, vocab: Vocabulary, state: int, good: np.ndarray) -> set[int]:
    """The tokens a correct mask allows from ``state``: those landing in a good state, EOS if accepting."""
    t = token_targets(dfa, vocab, state)
    ok = np.flatnonzero(t >= 0)
    allowed = set(ok[good[t[ok]]].tolist())
    if dfa.accepting[state]:
        allowed |= set(vocab.eos_token_ids)
    return allowed


def sample_string(dfa: ByteDFA, rng, stop: float = 0.3, max_len: int = 200) -> bytes | None:
    """A random string of the DFA's language (a random walk; None if it ran too long)."""
    s, out = dfa.start, bytearray()
    while len(out) < max_len:
        if dfa.accepting[s] and (rng.random() < stop or not (dfa.transitions[s] >= 0).any()):
            return bytes(out)
        live = np.flatnonzero(dfa.transitions[s] >= 0)
        b = int(live[rng.integers(len(live))])
        out.append(b)
        s = int(dfa.transitions[s, b])
    return None
