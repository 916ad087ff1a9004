"""``Constraint`` and ``compile_regex``: a constraint compiled against one vocabulary."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal

from structgen._errors import UnsatisfiableConstraintError
from structgen._matcher import Matcher
from structgen.automata import regex_to_dfa
from structgen.index import TokenIndex
from structgen.vocab import Vocabulary

IndexMode = Literal["lazy", "eager"]

_INDEXES: OrderedDict[tuple, TokenIndex] = OrderedDict()
_INDEXES_LOCK = threading.Lock()
_MAX_CACHED_INDEXES = 64


class Constraint:
    """A compiled constraint over one vocabulary; make one ``Matcher`` per generated sequence."""

    def __init__(self, index: TokenIndex, source: str) -> None:
        self.index = index
        self.source = source
        self.schema_issues: list = []  # JSON Schema keywords not enforced exactly (schemas only)
        self.pydantic_model: type | None = None

    @property
    def vocab(self) -> Vocabulary:
        return self.index.vocab

    def matcher(self) -> Matcher:
        """A fresh matcher at the start of the constraint."""
        return Matcher(self.index)

    def matches(self, text: str | bytes) -> bool:
        """Is ``text`` (as a whole) in the constraint's language? String-level, no tokens involved."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        return self.index.dfa.matches(data)

    def __repr__(self) -> str:
        return f"Constraint({self.source}, {self.index.dfa.n_states} states, {self.vocab!r})"


def index_for(dfa, vocab: Vocabulary, mode: IndexMode, container=None) -> TokenIndex:
    """The (cached) token index of ``dfa``; with a ``container`` automaton, its holes' (``PushdownIndex``).

    Cached by the automata themselves, not their content: the DFA cache hands out the same object
    for the same language, and hashing a large table's content cost more than the lookup saved.
    """
    key = (dfa, vocab.fingerprint, container)
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is not None:
            _INDEXES.move_to_end(key)
    if index is None:
        if container is None:
            index = TokenIndex(dfa, vocab, eager=mode == "eager")
        else:
            from structgen.index._pushdown import PushdownIndex

            index = PushdownIndex(dfa, container, vocab, eager=mode == "eager")
        with _INDEXES_LOCK:
            _INDEXES[key] = index
            while len(_INDEXES) > _MAX_CACHED_INDEXES:
                _INDEXES.popitem(last=False)
    elif mode == "eager" and not index.is_complete:
        index.complete()
    return index


def compile_regex(pattern: str, vocab: Vocabulary, *, index: IndexMode = "lazy") -> Constraint:
    """Compile a regular expression (matched in full, Python ``re`` syntax) against ``vocab``.

    ``\\d``, ``\\w`` and ``\\s`` are ASCII classes here (as in ECMA-262), a subset of Python's
    Unicode ones, so every output is still a Python ``re.fullmatch``.

    ``index="lazy"`` computes each state's token mask on first use (fast to first mask);
    ``"eager"`` computes all of them now and stores them in the on-disk cache.

    Raises ``GrammarError`` for invalid syntax (with the position), ``UnsupportedFeatureError``
    for non-regular constructs, ``UnsatisfiableConstraintError`` when no token sequence of
    ``vocab`` spells a string of the language.
    """
    if index not in ("lazy", "eager"):
        raise ValueError(f"Expected index='lazy' or 'eager', but got {index!r}")
    if not isinstance(vocab, Vocabulary):
        raise TypeError(
            f"Expected a structgen.Vocabulary, but got {type(vocab).__name__}; "
            "use Vocabulary.from_tokenizer(tokenizer)"
        )
    dfa = regex_to_dfa(pattern)
    try:
        return Constraint(index_for(dfa, vocab, index), f"regex {pattern!r}")
    except UnsatisfiableConstraintError as exc:
        raise UnsatisfiableConstraintError(f"regex {pattern!r}: {exc}") from None
