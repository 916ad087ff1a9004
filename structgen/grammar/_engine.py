"""``GrammarEngine``: one grammar against one vocabulary — parser, lexers and the mask walk.

A parse position is ``(chart, lexer, state)``: the Earley set after the last finished lexeme,
the lexer for the terminals that set allows (plus ``%ignore`` ones) and the state of the lexer's
space inside the current lexeme (the lexer's ``start`` where the lexeme is empty). A token's mask
bit depends on the parser only where the token crosses a lexeme boundary, so the mask is built
lexeme by lexeme: the compiled kernel walks the trie inside one lexeme and reports the nodes
where it ends; the parser is consulted once per distinct ending (not per token), and the walk
goes on from there with the next lexer. Each walk's result is cached by where it starts (a lexer
state, or the trie nodes where the last lexeme ended and the next lexer's start), which is
independent of the parse: across steps only the parser calls are repeated. The lexers share
their states (``_lexer``), so walks and masks learnt in one parse context serve every other
that reaches the same state.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from structgen.automata import DEAD
from structgen.grammar._cfg import Grammar
from structgen.grammar._earley import EarleyParser, EarleySet
from structgen.grammar._kernels import _walk_lexeme
from structgen.grammar._lexer import BLOCKED, NOT_A_STRING, UNKNOWN_ROOM, Lexer, ProductSpace, TerminalSpace
from structgen.index._skipping import vocab_tables
from structgen.index._string_kernels import _bounded_string_rooms, _states_before_quotes, _string_like
from structgen.index._string_reference import bounded_inside_words, reference_dfa, string_ends, string_reference
from structgen.vocab import Vocabulary

Position = tuple  # (EarleySet, Lexer, state of its space)
_ROOT = np.zeros(1, np.int32)
_MAX_WALKS = 32768
_MAX_LEXER_STATES = 50_000  # new states one lexer may add (~1 KiB each)
_MIN_STRING_BYTES = 24  # live bytes of a lexer state before it may be inside a string
_MAX_STRING_PAIRS = 4096
_MAX_BOUNDED_PAIRS = 65536  # state pairs of a bounded string: ~12 per character (maxLength 2048 clamps)


class _Walk:
    __slots__ = ("word_index", "words", "groups", "string_row")

    def __init__(self, words: np.ndarray, groups: list[tuple[int, np.ndarray]], string_row: np.ndarray | None) -> None:
        self.word_index = np.flatnonzero(words)  # sparse: most walks past a boundary allow few tokens
        self.words = words[self.word_index]
        self.groups = groups  # (accepting lexer state, trie nodes where the lexeme ended there)
        self.string_row = string_row  # and the tokens that stay inside a JSON string (a shared row)


class GrammarEngine:
    def __init__(self, grammar: Grammar, vocab: Vocabulary) -> None:
        self.grammar = grammar
        self.vocab = vocab
        self.parser = EarleyParser(grammar)
        self.ignore = grammar.ignore
        self.shadow = grammar.shadow
        self._lexers: dict[frozenset[int], Lexer] = {}
        self._space = ProductSpace(grammar.terminals, self.shadow, _MAX_LEXER_STATES)
        self._singles: dict[int, TerminalSpace] = {}
        self._walks: OrderedDict[tuple, _Walk] = OrderedDict()
        self._lock = threading.Lock()
        trie = vocab.trie
        tables = vocab_tables(vocab)
        self._trie_args = (
            trie.node_byte, trie.node_depth, trie.node_end, trie.node_tok_start, trie.node_tok_end,
            trie.token_order, trie.max_depth, tables.below, tables.sub_end, *string_reference(vocab),
        )
        self._n_nodes = trie.n_nodes
        self._string_inside = string_ends(vocab)[0]
        self._depth = int(trie.max_depth)
        lexer = self.lexer_for(self.parser.initial)
        self.initial: Position = (self.parser.initial, lexer, lexer.start)
        # every matcher's first mask, computed with the engine as a token index computes its start
        # state's: building it is compile work (its lexers, the first Earley sets), not a decode step
        self.mask_words(self.initial, np.zeros(vocab.n_words, np.uint32))

    # -- parser and lexers ------------------------------------------------------------------

    def lexer_for(self, chart: EarleySet) -> Lexer:
        allowed = chart.expected | self.ignore
        lexer = self._lexers.get(allowed)
        if lexer is None:
            lexer = self._lexers[allowed] = self._new_lexer(allowed)
        return lexer

    def _new_lexer(self, allowed: frozenset[int]) -> Lexer:
        if len(allowed) == 1 and not self.shadow - allowed:
            (t,) = allowed
            space = self._singles.get(t)
            if space is None:
                space = self._singles[t] = TerminalSpace(self.grammar.terminals[t].dfa, t)
            return Lexer(space, self.grammar.terminals[t].dfa.start, allowed)
        return Lexer(self._space, self._space.start(allowed), allowed)

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
        space = lexer.space
        trans = space.transitions
        for b in data:
            t = trans[s, b]
            if t >= 0:
                s = t
                continue
            if t == BLOCKED or not space.accepting[s]:
                return None
            chart = self.end_lexeme(chart, space.accepts(s))
            if chart is None:
                return None
            lexer = self.lexer_for(chart)
            space = lexer.space
            trans = space.transitions
            s = trans[lexer.start, b]
            if s < 0:
                return None
        return (chart, lexer, int(s))

    def is_accepting(self, pos: Position) -> bool:
        chart, lexer, s = pos
        if s == lexer.start:
            return chart.accepting
        space = lexer.space
        if not space.accepting[s]:
            return False
        end = self.end_lexeme(chart, space.accepts(s))
        return end is not None and end.accepting

    def next_bytes(self, pos: Position) -> set[int]:
        """Every byte some continuation of ``pos`` starts with."""
        chart, lexer, s = pos
        space = lexer.space
        row = space.transitions[s]
        out = set(np.flatnonzero(row >= 0).tolist())
        if s != lexer.start and space.accepting[s]:
            end = self.end_lexeme(chart, space.accepts(s))
            if end is not None:
                nxt = self.lexer_for(end)
                after = nxt.space.transitions[nxt.start]
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
        space = lexer.space
        s = space.shared_mask_state(s)
        memo_key = ("mask", space.id, s)
        hit = chart.memo.get(memo_key)
        if hit is None:
            space.note_first_visit(s, self._depth)
            words = np.zeros_like(out)
            self._fill_words(chart, space, s, words)
            index = np.flatnonzero(words)
            hit = chart.memo[memo_key] = (index, words[index])
        out[hit[0]] |= hit[1]

    def _fill_words(self, chart: EarleySet, space, s: int, out: np.ndarray) -> None:
        key = (space.id, s)
        stack = [(chart, space, self._walk(key, space, _ROOT, np.array([s], np.int32)))]
        ends: dict[tuple, tuple | None] = {}  # one parser call per (chart, space, ending state)
        while stack:
            chart, space, walk = stack.pop()
            if walk.string_row is not None:
                out |= walk.string_row
            out[walk.word_index] |= walk.words
            for state, nodes in walk.groups:
                memo = (id(chart), space.id, state)
                nxt = ends.get(memo, ())
                if nxt == ():
                    end = self.end_lexeme(chart, space.accepts(state))
                    nxt = ends[memo] = None if end is None else (end, self.lexer_for(end))
                if nxt is None:
                    continue
                end, lexer = nxt
                # keyed by the nodes themselves: the lexemes of many states end at the same nodes
                # (the closing quotes of a key's names, read from each prefix of a name)
                key2 = (nodes.tobytes(), lexer.space.id, lexer.start)
                walk2 = self._walk(key2, lexer.space, nodes, np.full(nodes.shape[0], lexer.start, np.int32))
                stack.append((end, lexer.space, walk2))

    def _string_row(self, space, state: int) -> np.ndarray | None:
        """Where the lexer reads the inside of a JSON string from ``state`` as the string reference
        does (or a bounded one: ``maxLength``), no lexeme ending before the closing quote: the
        tokens that stay inside, one precomputed row. Only permissive states are checked."""
        rooms = space.string_rooms
        room = int(rooms[state])
        if room == NOT_A_STRING or np.count_nonzero(space.transitions[state] >= 0) < _MIN_STRING_BYTES:
            return None
        if room == UNKNOWN_ROOM:
            ref, r0 = reference_dfa()
            n, quote = space.transitions.shape[0], int(ref[r0, ord('"')])
            good = ~space.accepting
            if _string_like(space.transitions, good, state, ref, r0, quote, _MAX_STRING_PAIRS, np.zeros(n, np.uint32)):
                return self._string_inside
            # a bounded string is checked to its end once: every state on the way learns its room
            if not _bounded_string_rooms(space.transitions, good, state, ref, r0, quote, _MAX_BOUNDED_PAIRS, rooms,
                                         np.full(n, -1, np.int32), np.zeros(n, np.uint32)):
                rooms[state] = NOT_A_STRING
                return None
            room = int(rooms[state])
        return bounded_inside_words(self.vocab)[min(room, self._depth)]

    def _walk(self, key: tuple, space, roots: np.ndarray, pre: np.ndarray) -> _Walk:
        with self._lock:
            walk = self._walks.get(key)
            if walk is not None:
                self._walks.move_to_end(key)
                return walk
        words = np.zeros(self.vocab.n_words, np.uint32)
        ev_node = np.empty(self._n_nodes, np.int32)
        ev_state = np.empty(self._n_nodes, np.int32)
        string_row = self._string_row(space, int(pre[0])) if roots is _ROOT else None
        if string_row is not None:
            # inside a JSON string (a key of given names or any other, a value of at most so many
            # characters): the tokens that stay inside are one precomputed row; only the closing
            # quotes are walked on, each from the state its path leads to (see index._string_reference)
            _, quote_nodes, parents = string_ends(self.vocab)
            before = np.empty(quote_nodes.shape[0], np.int32)
            trie = self.vocab.trie
            _states_before_quotes(space.transitions, int(pre[0]), quote_nodes, parents, trie.node_byte,
                                  trie.node_depth, before)
            live = before >= 0
            roots, pre = quote_nodes[live], before[live]
        n = _walk_lexeme(
            *self._trie_args, space.transitions, space.accepting, space.loops, space.like_ref, space.after_quote,
            roots, pre, words, ev_node, ev_state,
        )
        groups: list[tuple[int, np.ndarray]] = []
        if n:
            ev_node, ev_state = ev_node[:n], ev_state[:n]
            for state in np.unique(ev_state).tolist():
                groups.append((state, ev_node[ev_state == state].copy()))
        walk = _Walk(words, groups, string_row)
        with self._lock:
            self._walks[key] = walk
            while len(self._walks) > _MAX_WALKS:
                self._walks.popitem(last=False)
        return walk
