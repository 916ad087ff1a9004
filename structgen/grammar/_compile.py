"""``compile_grammar`` and ``compile_gbnf``: context-free constraints over one vocabulary."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from importlib import resources

from structgen._clock import deadline_after, now
from structgen._constraint import Constraint
from structgen._errors import CompileTimeoutError, GrammarError
from structgen._gc import gc_paused
from structgen.grammar._cfg import Grammar, prepare
from structgen.grammar._engine import GrammarEngine
from structgen.grammar._matcher import GrammarMatcher
from structgen.vocab import Vocabulary

_ENGINES: OrderedDict[tuple, GrammarEngine] = OrderedDict()  # compiled grammars, least recently used first
_ENGINES_LOCK = threading.Lock()
_MAX_ENGINES = 16


class GrammarConstraint(Constraint):
    """A context-free constraint; ``matcher()`` gives a ``GrammarMatcher``."""

    def __init__(self, engine: GrammarEngine, source: str) -> None:
        self.engine = engine
        self.source = source
        self.schema_issues: list = []
        self.pydantic_model = None

    @property
    def vocab(self) -> Vocabulary:
        return self.engine.vocab

    @property
    def grammar(self) -> Grammar:
        return self.engine.grammar

    def matcher(self) -> GrammarMatcher:  # type: ignore[override]
        """A fresh matcher at the start of the grammar."""
        return GrammarMatcher(self.engine)

    def matches(self, text: str | bytes) -> bool:
        """Is ``text`` (as a whole) in the grammar's language? String-level, no tokens involved."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        pos = self.engine.step_bytes(self.engine.initial, data)
        return pos is not None and self.engine.is_accepting(pos)

    def __repr__(self) -> str:
        g = self.engine.grammar
        return f"GrammarConstraint({self.source}, {len(g.terminals)} terminals, {len(g.rules)} rules, {self.vocab!r})"


def shipped_grammar_names() -> list[str]:
    """Names of the grammars that ship with structgen (``compile_grammar(name, vocab)``)."""
    folder = resources.files("structgen.grammars")
    return sorted(p.name[: -len(".lark")] for p in folder.iterdir() if p.name.endswith(".lark"))


def shipped_grammar(name: str) -> str:
    """The Lark text of a shipped grammar."""
    path = resources.files("structgen.grammars") / f"{name}.lark"
    if not path.is_file():
        raise GrammarError(f"no shipped grammar named {name!r}; shipped: {', '.join(shipped_grammar_names())}")
    return path.read_text(encoding="utf-8")


def _check_vocab(vocab: Vocabulary) -> None:
    if not isinstance(vocab, Vocabulary):
        raise TypeError(
            f"Expected a structgen.Vocabulary, but got {type(vocab).__name__}; "
            "use Vocabulary.from_tokenizer(tokenizer)"
        )


def _build(grammar_fn, key: tuple, vocab: Vocabulary, source: str, time_limit: float) -> GrammarConstraint:
    cache_key = (*key, vocab.fingerprint)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(cache_key)
        if engine is not None:
            _ENGINES.move_to_end(cache_key)
    if engine is None:
        deadline = deadline_after(time_limit)
        grammar = prepare(grammar_fn(), source)
        engine = GrammarEngine(grammar, vocab)
        if now() > deadline:
            elapsed = now() - deadline + time_limit
            raise CompileTimeoutError(f"{source}: compiling took {elapsed:.1f} s, over time_limit={time_limit} s")
        with _ENGINES_LOCK:
            _ENGINES[cache_key] = engine
            while len(_ENGINES) > _MAX_ENGINES:
                _ENGINES.popitem(last=False)
    return GrammarConstraint(engine, source)


@gc_paused
def compile_grammar(
    grammar: str,
    vocab: Vocabulary,
    *,
    start: str = "start",
    import_paths: Sequence[str] = (),
    identifier_terminals: Sequence[str] = (),
    time_limit: float = 10.0,
) -> GrammarConstraint:
    """Compile a Lark grammar (or the name of a shipped one, e.g. ``"json"``) against ``vocab``.

    The language is the one lark's Earley parser accepts, lexed greedily: each lexeme is the
    longest match among the terminals the parse allows at that point (lark's contextual lexing).
    Raises ``GrammarError`` for malformed grammars (with the line and column), an undefined rule
    or start rule; ``UnsupportedFeatureError`` for lookarounds in terminals and ``%declare``-d
    (post-lexer) terminals; ``UnsatisfiableConstraintError`` for an empty language.

    ``identifier_terminals`` (or a ``// structgen: identifier_terminals NAME`` line in the grammar)
    names terminals that always take part in the longest match, as in a conventional lexer: where
    only the keyword ``in`` may follow, ``increases`` is then one refused word, not ``in`` +
    ``creases``. The language shrinks to what a language's own tokenizer reads the same way.
    """
    _check_vocab(vocab)
    from structgen.grammar._lark import grammar_from_lark

    if "\n" not in grammar and ":" not in grammar and grammar.strip().isidentifier():
        name = grammar.strip()
        text, source = shipped_grammar(name), f"grammar {name!r}"
    else:
        text, source = grammar, "grammar"
    return _build(
        lambda: grammar_from_lark(text, start, source, import_paths, identifier_terminals),
        ("lark", text, start, tuple(import_paths), tuple(identifier_terminals)),
        vocab,
        source,
        time_limit,
    )


def compile_gbnf(
    grammar: str, vocab: Vocabulary, *, start: str = "root", time_limit: float = 10.0
) -> GrammarConstraint:
    """Compile a llama.cpp GBNF grammar (rule ``root`` by default) against ``vocab``."""
    _check_vocab(vocab)
    from structgen.grammar._gbnf import grammar_from_gbnf

    key = ("gbnf", grammar, start)
    return _build(lambda: grammar_from_gbnf(grammar, start), key, vocab, "GBNF grammar", time_limit)
