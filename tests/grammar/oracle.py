"""Reference recognizers for grammar tests, written independently of the compiled mask path."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np

from structgen import Vocabulary


def small_vocab(alphabet: str = "ab ", max_len: int = 3) -> Vocabulary:
    """Every string over ``alphabet`` up to ``max_len`` characters as a token, plus EOS (the last id)."""
    tokens = [
        "".join(chars).encode()
        for n in range(1, max_len + 1)
        for chars in itertools.product(alphabet, repeat=n)
    ]
    return Vocabulary([*tokens, b""], eos_token_ids=[len(tokens)])


def brute_force_mask(constraint, matcher_history_pos) -> set[int]:
    """Every token whose bytes the engine's byte-by-byte recognizer takes from ``pos`` (EOS by acceptance)."""
    engine = constraint.engine
    vocab = constraint.vocab
    out = {
        t
        for t, data in enumerate(vocab.token_bytes)
        if vocab.usable[t] and data and engine.step_bytes(matcher_history_pos, data) is not None
    }
    if engine.is_accepting(matcher_history_pos):
        out.update(vocab.eos_token_ids)
    return out


def mask_set(matcher, vocab) -> set[int]:
    from structgen import allocate_bitmask
    from structgen._bitmask import allowed_tokens

    row = allocate_bitmask(1, vocab.size)[0]
    matcher.fill_mask(row)
    return set(allowed_tokens(row, vocab.size).tolist())


def cfg_membership(rules: dict[str, list[list[str]]], start: str):
    """A naive recognizer for a character-level CFG: ``rules[name]`` lists alternatives of symbols,
    a symbol being a rule name or a one-character literal. Memoised over (symbol, i, j) spans."""

    def accepts(text: str) -> bool:
        @cache
        def derives(sym: str, i: int, j: int, depth: int) -> bool:
            if sym not in rules:
                return j == i + 1 and text[i] == sym
            if depth > 2 * len(text) + 4:  # every cycle through an empty span repeats a state
                return False
            return any(seq_derives(tuple(alt), i, j, depth + 1) for alt in rules[sym])

        @cache
        def seq_derives(seq: tuple, i: int, j: int, depth: int) -> bool:
            if not seq:
                return i == j
            head, rest = seq[0], seq[1:]
            return any(derives(head, i, k, depth) and seq_derives(rest, k, j, depth) for k in range(i, j + 1))

        return derives(start, 0, len(text), 0)

    return accepts


def bits(row: np.ndarray) -> int:
    return int(np.unpackbits(row.view(np.uint8)).sum())


def ir_to_lark(grammar) -> str:
    """A compiled grammar's IR as Lark text (one-character terminals stay regexes), for lark's Earley
    parser to check GBNF outputs independently of structgen's parser and lexer."""
    lines = []
    names = {-1 - n: f"n{n}" for n in range(len(grammar.nonterminals))}
    for t, term in enumerate(grammar.terminals):
        pattern = term.pattern.replace("/", "\\/")
        lines.append(f"T{t}: /{pattern}/")
    by_lhs: dict[int, list[str]] = {}
    for lhs, rhs in grammar.rules:
        if grammar.nonterminals[lhs] == "<accept>":
            continue
        by_lhs.setdefault(lhs, []).append(" ".join(f"T{s}" if s >= 0 else names[s] for s in rhs))
    for lhs, alts in by_lhs.items():
        lines.append(f"n{lhs}: " + " | ".join(alts))
    lines.append(f"start: n{grammar.start}")
    return "\n".join(lines)
