"""The vocabulary's trie walked once inside a JSON string body, shared by every walk that meets one.

Object keys and string values are the most permissive positions of a JSON constraint: nearly
every token can continue them. The token index, the pushdown index's container walk and the
grammar engine's lexeme walk read such positions off this one walk (which tokens stay in the
string, and where it ends) instead of walking ~100k tokens again.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from structgen.index._string_kernels import _characters_begun, _reference_walk, _string_body_exit, _trie_parents
from structgen.vocab import Vocabulary
from structgen.vocab._per_vocabulary import per_vocabulary


@per_vocabulary
def string_reference(vocab: Vocabulary) -> tuple:
    """The vocabulary's trie walked once inside a JSON string body (as json.dumps writes strings):
    ``(ref, ref_acc, r0, ref_state, ref_tok_ok, ref_events)``: the reference automaton, the state
    at each node, whether each token (in trie order) stays alive, and the nodes after a closing quote."""
    ref, r0 = reference_dfa()
    accepting = np.zeros(ref.shape[0], np.bool_)
    accepting[ref[r0, ord('"')]] = True  # the state after the closing quote
    trie = vocab.trie
    walk = _reference_walk(
        trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
        trie.token_order.shape[0], ref, accepting, r0,
    )
    return (ref, accepting, np.int32(r0), *walk)


@per_vocabulary
def staying_words(vocab: Vocabulary) -> np.ndarray:
    """Every token that keeps a JSON string body open (uint32 words): with the string ends
    (``ref_events``), the whole of a string body state's mask."""
    tok_ok = string_reference(vocab)[4]
    tokens = vocab.trie.token_order[tok_ok].astype(np.int64)
    words = np.zeros(vocab.n_words, np.uint32)
    np.bitwise_or.at(words, tokens >> 5, np.uint32(1) << (tokens & 31).astype(np.uint32))
    return words


def string_body_exit(transitions: np.ndarray, q0: int) -> int:
    """Where state ``q0`` reads a JSON string body exactly as the reference's body state does (the
    same bytes alive up to the closing quote): its state after that quote; else -1. Its mask is
    then ``staying_words`` plus the string ends (``ref_events``) walked on from there."""
    ref, r0 = reference_dfa()
    image = np.empty(ref.shape[0], np.int32)
    return int(_string_body_exit(transitions, q0, ref, r0, int(ref[r0, ord('"')]), image))


@cache
def reference_dfa() -> tuple[np.ndarray, int]:
    """The reference automaton (a JSON string as json.dumps writes it): transitions, body state."""
    from structgen.automata._regular import to_dfa
    from structgen.schema._json_text import any_string_content, string_of

    dfa = to_dfa(string_of(any_string_content()))
    return dfa.transitions, int(dfa.transitions[dfa.start, ord('"')])


@per_vocabulary
def string_ends(vocab: Vocabulary) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(inside_words, quote_nodes, parents)``: the tokens that stay inside a string without
    closing it (uint32 words), the trie nodes where the reference walk reads a closing quote, and
    every node's parent. A state that reads strings as the reference does up to the quote
    (``_string_like``) has the mask ``inside_words`` plus each quote node walked on from the state
    its path leads to."""
    ref, r0 = reference_dfa()
    ref_state = string_reference(vocab)[3]
    trie = vocab.trie
    quote_nodes = np.flatnonzero(ref_state == ref[r0, ord('"')]).astype(np.int32)
    inside = staying_words(vocab).copy()
    spans = [np.arange(trie.node_tok_start[i], trie.node_tok_end[i]) for i in quote_nodes]
    at_quotes = trie.token_order[np.concatenate(spans)].astype(np.int64) if spans else np.zeros(0, np.int64)
    np.bitwise_and.at(inside, at_quotes >> 5, ~(np.uint32(1) << (at_quotes & 31).astype(np.uint32)))
    return inside, quote_nodes, _trie_parents(trie.node_depth)


@per_vocabulary
def bounded_inside_words(vocab: Vocabulary) -> np.ndarray:
    """``rows[k]`` (uint32 words): the tokens of ``string_ends``' inside row that begin at most
    ``k`` characters, for ``k`` up to the longest token. A state with ``k`` characters left to a
    bounded string (``_bounded_string_room``) has the mask ``rows[k]`` plus its string ends."""
    ref, r0 = reference_dfa()
    trie = vocab.trie
    begun = _characters_begun(trie.node_byte, trie.node_depth, trie.node_end, string_reference(vocab)[3], r0,
                              ord('"'))
    per_place = np.repeat(begun, trie.node_tok_end - trie.node_tok_start)  # tokens in trie order
    inside = string_ends(vocab)[0]
    tokens = trie.token_order.astype(np.int64)
    bits = np.uint32(1) << (tokens & 31).astype(np.uint32)
    keep = (per_place >= 0) & ((inside[tokens >> 5] & bits) != 0)
    rows = np.zeros((trie.max_depth + 1, vocab.n_words), np.uint32)
    for k in range(trie.max_depth + 1):
        these = keep & (per_place == k)
        np.bitwise_or.at(rows[k], tokens[these] >> 5, bits[these])
    np.bitwise_or.accumulate(rows, axis=0, out=rows)
    return rows
