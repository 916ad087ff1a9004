"""``GrammarEngine``: one grammar against one vocabulary — parser, lexers and the mask walk.

A parse position is ``(chart, lexer, state)``: the Earley set after the last finished lexeme,
the lexer for the terminals that set allows (plus ``%ignore`` ones) and the lexer state inside
the current lexeme. A token's mask bit depends on the parser only where the token crosses a
lexeme boundary, so the mask is built lexeme by lexeme: the compiled kernel walks the trie
inside one lexeme and reports the nodes where it ends; the parser is consulted once per distinct
ending (not per token), and the walk goes on from there with the next lexer. Each walk's result
is cached by the chain of lexer states and lexers that led to it, which is independent of the
parse: across steps only the parser calls are repeated.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from structgen.automata import DEAD
from structgen.grammar._cfg import Grammar
from structgen.grammar._earley import EarleyParser, EarleySet
from structgen.grammar._kernels import _walk_lexeme
from structgen.grammar._lexer import BLOCKED, LexerUnion
from structgen.index._skipping import vocab_tables
from structgen.index._string_kernels import _states_before_quotes, _string_like
from structgen.index._string_reference import reference_dfa, string_ends, string_reference
from structgen.vocab import Vocabulary

Position = tuple  # (EarleySet, LexerUnion, lexer state)
_ROOT = np.zeros(1, np.int32)
_MAX_WALKS = 32768
_MAX_LEXER_STATES = 50_000  # ~1 KiB per state
_MIN_STRING_BYTES = 24  # live bytes of a lexer state before it may be inside a string
_MAX_STRING_PAIRS = 4096


class _Walk:
    __slots__ = ("word_index", "words", "groups")

    def __init__(self, words: np.ndarray, groups: list[tuple[int, np.ndarray]]) -> None:
        self.word_index = np.flatnonzero(words)  # sparse: most walks past a boundary allow few tokens
        self.words = words[self.word_index]
        self.groups = groups  # (accepting lexer state, trie nodes where the lexeme ended there)


class GrammarEngine:
    def __init__(self, grammar: Grammar, vocab: Vocabulary) -> None:
        self.grammar = grammar
        self.vocab = vocab
        self.parser = EarleyParser(grammar)
        self.ignore = grammar.ignore
        self.shadow = grammar.shadow
        self._unions: dict[frozenset[int], LexerUnion] = {}
        self._walks: OrderedDict[tuple, _Walk] = OrderedDict()
        self._lock = threading.Lock()
        trie = vocab.trie
        tables = vocab_tables(vocab)
        self._trie_args = (
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            trie.token_order, trie.max_depth, tables.below, tables.sub_end, *string_reference(vocab),
        )
        self._n_nodes = trie.n_nodes
        self._depth = int(trie.max_depth)
        self.initial: Position = (self.parser.initial, self.lexer_for(self.parser.initial), 0)
        # every matcher's first mask, computed with the engine as a token index computes its start
        # state's: building it is compile work (its lexers, the first Earley sets), not a decode step
        self.mask_words(self.initial, np.zeros(vocab.n_words, np.uint32))

    # -- parser and lexers ------------------------------------------------------------------

    def lexer_for(self, chart: EarleySet) -> LexerUnion:
        allowed = chart.expected | self.ignore
        lexer = self._unions.get(allowed)
        if lexer is None:
            lexer = self._unions[allowed] = LexerUnion(
                self.grammar.terminals, allowed, _MAX_LEXER_STATES, self.shadow
            )
        return lexer

    def end_lexeme(self, chart: EarleySet, candidates: frozenset[int]) -> EarleySet | None:
        """The chart after a lexeme whose candidate terminals are ``candidates``, or None."""
        real = candidates - self.ignore
        if real:
            nxt = self.parser.scan(chart, real)
            if nxt is not None:
                return nxt
        return chart if candidates & self.ignore else None

    def step_bytes(self, pos: Position, data: bytes) -> Position | None:
        """The position after ``data``, or None where the grammar refuses it."""
        chart, lexer, s = pos
        trans = lexer.transitions
        for b in data:
            t = trans[s, b]
            if t >= 0:
                s = t
                continue
            if t == BLOCKED or not lexer.accepting[s]:
                return None
            chart = self.end_lexeme(chart, lexer.accepts[s])
            if chart is None:
                return None
            lexer = self.lexer_for(chart)
            trans = lexer.transitions
            s = trans[0, b]
            if s < 0:
                return None
        return (chart, lexer, int(s))

    def is_accepting(self, pos: Position) -> bool:
        chart, lexer, s = pos
        if s == 0:
            return chart.accepting
        if not lexer.accepting[s]:
            return False
        end = self.end_lexeme(chart, lexer.accepts[s])
        return end is not None and end.accepting

    def next_bytes(self, pos: Position) -> set[int]:
        """Every byte some continuation of ``pos`` starts with."""
        chart, lexer, s = pos
        row = lexer.transitions[s]
        out = set(np.flatnonzero(row >= 0).tolist())
        if s != 0 and lexer.accepting[s]:
            end = self.end_lexeme(chart, lexer.accepts[s])
            if end is not None:
                after = self.lexer_for(end).transitions[0]
                out.update(np.flatnonzero((after >= 0) & (row == DEAD)).tolist())
        return out

    # -- masks ------------------------------------------------------------------------------

    def mask_words(self, pos: Position, out: np.ndarray) -> None:
        """OR into ``out`` (uint32 words) every usable token that can follow ``pos`` (EOS not included).

        The result is memoised on the (hash-consed) chart, by the lexer state's representative
        among those no token tells apart: inside a long lexeme (a string of ``maxLength: 2000``),
        or wherever the parse comes back to a state it was in, the mask is one lookup.
        """
        chart, lexer, s = pos
        s = lexer.shared_mask_state(s)
        memo_key = ("mask", lexer.id, s)
        hit = chart.memo.get(memo_key)
        if hit is None:
            lexer.note_first_visit(self._depth)
            words = np.zeros_like(out)
            self._fill_words((chart, lexer, s), words)
            index = np.flatnonzero(words)
            hit = chart.memo[memo_key] = (index, words[index])
        out[hit[0]] |= hit[1]

    def _fill_words(self, pos: Position, out: np.ndarray) -> None:
        chart, lexer, s = pos
        key = (lexer.id, s)
        stack = [(chart, key, lexer, self._walk(key, lexer, _ROOT, np.array([s], np.int32)))]
        ends: dict[tuple, tuple | None] = {}  # one parser call per (chart, lexer, ending state)
        while stack:
            chart, key, lexer, walk = stack.pop()
            out[walk.word_index] |= walk.words
            for state, nodes in walk.groups:
                memo = (id(chart), lexer.id, state)
                nxt = ends.get(memo, ())
                if nxt == ():
                    end = self.end_lexeme(chart, lexer.accepts[state])
                    nxt = ends[memo] = None if end is None else (end, self.lexer_for(end))
                if nxt is None:
                    continue
                end, next_lexer = nxt
                key2 = (key, state, next_lexer.id)
                walk2 = self._walk(key2, next_lexer, nodes, np.zeros(nodes.shape[0], np.int32))
                stack.append((end, key2, next_lexer, walk2))

    @staticmethod
    def _inside_string(lexer: LexerUnion, state: int) -> bool:
        """Does the lexer read the inside of a JSON string from ``state`` as the string reference
        does, no lexeme ending before the closing quote? Only permissive states are checked."""
        if np.count_nonzero(lexer.transitions[state] >= 0) < _MIN_STRING_BYTES:
            return False
        ref, r0 = reference_dfa()
        return bool(_string_like(lexer.transitions, ~lexer.accepting, state, ref, r0, int(ref[r0, ord('"')]),
                                 _MAX_STRING_PAIRS, np.zeros(lexer.n_states, np.uint32)))

    def _walk(self, key: tuple, lexer: LexerUnion, roots: np.ndarray, pre: np.ndarray) -> _Walk:
        with self._lock:
            walk = self._walks.get(key)
            if walk is not None:
                self._walks.move_to_end(key)
                return walk
        words = np.zeros(self.vocab.n_words, np.uint32)
        ev_node = np.empty(self._n_nodes, np.int32)
        ev_state = np.empty(self._n_nodes, np.int32)
        if roots is _ROOT and self._inside_string(lexer, int(pre[0])):
            # inside a JSON string (a key of given names or any other): the tokens that stay inside
            # are one precomputed row; only the closing quotes are walked on, each from the state
            # its path leads to (see index._string_reference)
            inside, quote_nodes, parents = string_ends(self.vocab)
            before = np.empty(quote_nodes.shape[0], np.int32)
            trie = self.vocab.trie
            _states_before_quotes(lexer.transitions, int(pre[0]), quote_nodes, parents, trie.node_byte,
                                  trie.node_depth, before)
            live = before >= 0
            words |= inside
            roots, pre = quote_nodes[live], before[live]
        n = _walk_lexeme(
            *self._trie_args, lexer.transitions, lexer.accepting, lexer.loops, lexer.like_ref, lexer.after_quote,
            roots, pre, words, ev_node, ev_state,
        )
        groups: list[tuple[int, np.ndarray]] = []
        if n:
            ev_node, ev_state = ev_node[:n], ev_state[:n]
            for state in np.unique(ev_state).tolist():
                groups.append((state, ev_node[ev_state == state].copy()))
        walk = _Walk(words, groups)
        with self._lock:
            self._walks[key] = walk
            while len(self._walks) > _MAX_WALKS:
                self._walks.popitem(last=False)
        return walk
