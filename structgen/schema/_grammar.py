"""A recursive schema's IR (nodes with ``Ref`` s to named rules) → the grammar IR of structgen.grammar.

Lexemes (strings, numbers, keys, literals) and ready automata become terminals; everything
else is split at its structure (``{``, ``,``, whitespace and ``}`` are terminals of their own),
so terminal boundaries fall on JSON token boundaries. JSON's tokens never run into each other
(a complete token followed by the next byte of a valid text is never the prefix of a longer
token), so the grammar engine's longest-match lexing finds the same boundaries. An accepted
text is always a derivation of the grammar: the language is never wider than the schema's.
"""

from __future__ import annotations

from structgen.automata._ir import EMPTY, Alt, Automaton, Chars, CommaList, Lexeme, Node, Ref, Repeat, Seq, node_key
from structgen.automata._regular import difference_dfas, to_dfa
from structgen.grammar._cfg import Grammar, Terminal, nonterminal

Symbols = tuple[int, ...]


class _Builder:
    def __init__(self, rules: dict[str, Node], deadline: float | None, replace: dict[int, Node]) -> None:
        self.deadline = deadline
        self._replace = replace  # id(node) -> the node emitted in its place
        self.replaced: set[int] = set()
        self.terminals: list[Terminal] = []
        self.nonterminals: list[str] = []
        self.productions: list[tuple[int, Symbols]] = []
        self._named: dict[str, int] = {}
        self._terminal_of: dict[int, Symbols] = {}  # structural key -> symbols of a leaf
        self._emitted: dict[int, Symbols] = {}  # id(node) -> symbols (nodes are shared in the tree)
        self._keep: list[Node] = []  # keeps nodes in _emitted alive, so their ids stay theirs
        self._refs_in: dict[int, bool] = {}
        self._definitions = rules
        self._empty_dfa = to_dfa(EMPTY)

    def new_nonterminal(self, name: str) -> int:
        self.nonterminals.append(name)
        return len(self.nonterminals) - 1

    def named(self, name: str) -> int:
        n = self._named.get(name)
        if n is None:
            n = self._named[name] = self.new_nonterminal(name)
            self.productions.append((n, self.emit(self._definitions[name])))
        return n

    def has_ref(self, node: Node) -> bool:
        hit = self._refs_in.get(id(node))
        if hit is None:
            if isinstance(node, Ref):
                hit = True
            elif isinstance(node, (Seq, Alt)):
                hit = any(self.has_ref(x) for x in node.items)
            elif isinstance(node, (Repeat, Lexeme)):
                hit = self.has_ref(node.item)
            elif isinstance(node, CommaList):
                hit = any(self.has_ref(x) for x, _ in node.items) or (
                    node.extra is not None and self.has_ref(node.extra)) or self.has_ref(node.sep)
            else:
                hit = False
            self._refs_in[id(node)] = hit
            self._keep.append(node)
        return hit

    def emit(self, node: Node) -> Symbols:
        """The symbols whose language is ``node`` 's."""
        hit = self._emitted.get(id(node))
        if hit is not None:
            return hit
        if id(node) in self._replace:
            self.replaced.add(id(node))
            return self.emit(self._replace[id(node)])
        if isinstance(node, Ref):
            out: Symbols = (nonterminal(self.named(node.name)),)
        elif isinstance(node, (Chars, Automaton)) or (isinstance(node, Lexeme) and not self.has_ref(node)):
            out = self.leaf(node)
        elif isinstance(node, Lexeme):
            out = self.emit(node.item)
        elif isinstance(node, Seq):
            out = tuple(sym for item in node.items for sym in self.emit(item))
        elif isinstance(node, Alt):
            n = self.new_nonterminal("alt")
            for item in node.items:
                self.productions.append((n, self.emit(item)))
            out = (nonterminal(n),)
        elif isinstance(node, Repeat):
            out = self.repeat(self.emit(node.item), node.lo, node.hi)
        elif isinstance(node, CommaList):
            out = self.comma_list(node)
        else:
            raise TypeError(f"Expected a regular IR node, but got {type(node).__name__}")
        self._emitted[id(node)] = out
        self._keep.append(node)
        return out

    def leaf(self, node: Node) -> Symbols:
        """One terminal for ``node`` (nullable: a rule, ε or the terminal without the empty string)."""
        key = node_key(node)
        hit = self._terminal_of.get(key)
        if hit is not None:
            return hit
        dfa = to_dfa(node, deadline=self.deadline)
        nullable = dfa.n_states > 0 and bool(dfa.accepting[dfa.start])
        if nullable:
            dfa = difference_dfas(dfa, self._empty_dfa)
        if dfa.n_states == 0 and nullable:
            out: Symbols = ()
        else:
            self.terminals.append(Terminal(f"t{len(self.terminals)}", dfa, "JSON schema lexeme"))
            out = (len(self.terminals) - 1,)
            if nullable:
                n = self.new_nonterminal("opt")
                self.productions += [(n, ()), (n, out)]
                out = (nonterminal(n),)
        self._terminal_of[key] = out
        return out

    def repeat(self, item: Symbols, lo: int, hi: int | None) -> Symbols:
        out = item * lo
        if hi is None:
            n = self.new_nonterminal("star")
            self.productions += [(n, ()), (n, (nonterminal(n), *item))]
            return (*out, nonterminal(n))
        tail: Symbols = ()
        for _ in range(hi - lo):  # at most hi - lo more: ε | item tail
            n = self.new_nonterminal("opt")
            self.productions += [(n, ()), (n, (*item, *tail))]
            tail = (nonterminal(n),)
        return (*out, *tail)

    def comma_list(self, node: CommaList) -> Symbols:
        """Items in order (each required or optional), then extras; ``sep`` between; counts bounded.

        One nonterminal per (position, elements written so far); with no upper bound the count
        only matters up to the lower bound (and whether a separator is due), so it is capped there.
        """
        sep = self.emit(node.sep)
        items = [(self.emit(x), required) for x, required in node.items]
        extra = self.emit(node.extra) if node.extra is not None else None
        lo, hi = node.min_count, node.max_count
        cap = max(lo, 1) if hi is None else hi
        memo: dict[tuple[int, int], int] = {}
        todo: list[tuple[int, int, int]] = []  # a worklist, not recursion: counts go up to 1,024

        def rest(i: int, count: int) -> int:
            n = memo.get((i, count))
            if n is None:
                n = memo[(i, count)] = self.new_nonterminal("members")
                todo.append((n, i, count))
            return n

        start = rest(0, 0)
        while todo:
            n, i, count = todo.pop()
            lead = sep if count else ()
            more = min(count + 1, cap)
            room = hi is None or count < hi
            if i < len(items):
                symbols, required = items[i]
                if not required:
                    self.productions.append((n, (nonterminal(rest(i + 1, count)),)))
                if room:
                    self.productions.append((n, (*lead, *symbols, nonterminal(rest(i + 1, more)))))
            else:
                if count >= lo:
                    self.productions.append((n, ()))
                if extra is not None and room:
                    self.productions.append((n, (*lead, *extra, nonterminal(rest(i, more)))))
        return (nonterminal(start),)


def schema_grammar(
    root: Node, rules: dict[str, Node], deadline: float | None = None, replace: dict[int, Node] | None = None
) -> tuple[Grammar, set[int]]:
    """The grammar of ``root``, whose ``Ref`` s name the languages in ``rules``.

    ``replace`` maps ``id(node)`` of nodes in the tree to the node to emit in their place (the
    unbounded open value for a bounded one); returns the grammar and the ids it replaced.
    """
    builder = _Builder(rules, deadline, replace or {})
    start = builder.new_nonterminal("start")
    builder.productions.append((start, builder.emit(root)))
    return Grammar(builder.terminals, builder.nonterminals, builder.productions, start), builder.replaced
