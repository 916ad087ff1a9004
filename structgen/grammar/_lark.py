"""Lark grammar text → grammar IR, using lark's own grammar loader.

lark does the front end exactly as lark users know it (``%import``, templates, ``?rule``,
EBNF repetition, ``~ n..m``, ``%override``); structgen takes the resulting BNF rules and
terminal patterns. Priorities only order lark's parse trees, not its language, so they are
ignored. Terminals a post-lexer must supply (``%declare``, e.g. an Indenter's ``_INDENT`` and
``_DEDENT``) cannot be produced from text and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from structgen._errors import GrammarError, UnsupportedFeatureError
from structgen.grammar._cfg import Grammar, Terminal, nonterminal
from structgen.grammar._terminals import terminal_dfa

_AT = re.compile(r"at line (\d+),? column (\d+)")
_PRAGMA = re.compile(r"^\s*//\s*structgen:\s*identifier_terminals\s+(.*)$", re.M)


def _where(text: str, name: str) -> str:
    m = re.search(rf"^[ \t]*{re.escape(name)}(\.-?\d+)?[ \t]*:", text, re.M)
    if m:
        return f"line {text.count(chr(10), 0, m.start()) + 1}"
    return "an anonymous literal" if name.startswith("__ANON") or name.isupper() else "imported"


def identifier_terminals_of(text: str) -> list[str]:
    """Names given by ``// structgen: identifier_terminals NAME ...`` lines of a grammar."""
    return [name for m in _PRAGMA.finditer(text) for name in m.group(1).split()]


def grammar_from_lark(
    text: str, start: str, source: str, import_paths: Sequence[str] = (), identifier_terminals: Sequence[str] = ()
) -> Grammar:
    from lark.exceptions import GrammarError as LarkGrammarError
    from lark.exceptions import LarkError
    from lark.load_grammar import load_grammar

    try:
        loaded, _ = load_grammar(text, source, list(import_paths), False)
        terminal_defs, rules, ignore = loaded.compile([start], set())
    except (LarkGrammarError, LarkError) as exc:
        message = str(exc).strip()
        m = _AT.search(message)
        where = f" (line {m.group(1)}, column {m.group(2)})" if m else ""
        raise GrammarError(f"{source}{where}: {message}") from None
    if not any(rule.origin.name == start for rule in rules):
        defined = sorted({str(d[0]) for d in loaded.rule_defs})
        raise GrammarError(
            f"{source}: start rule {start!r} is not defined"
            + (f" (rules: {', '.join(defined[:12])}{'...' if len(defined) > 12 else ''})" if defined else "")
        )
    patterns = {td.name for td in terminal_defs}
    for rule in rules:
        for sym in rule.expansion:
            if sym.is_term and sym.name not in patterns:
                raise UnsupportedFeatureError(
                    f"{source}: terminal {sym.name} has no pattern (declared with %declare, so a post-lexer "
                    "such as lark's Indenter must produce it); structgen matches text, not token streams, "
                    "and cannot enforce such grammars"
                )
    term_index: dict[str, int] = {}
    terminals: list[Terminal] = []
    for td in terminal_defs:
        regex = td.pattern.to_regexp()
        dfa = terminal_dfa(regex, td.name, _where(text, td.name))
        term_index[td.name] = len(terminals)
        terminals.append(Terminal(td.name, dfa, regex))
    nt_index: dict[str, int] = {}
    names: list[str] = []

    def nt(name: str) -> int:
        n = nt_index.get(name)
        if n is None:
            n = nt_index[name] = len(names)
            names.append(name)
        return n

    nt(start)
    out_rules: list[tuple[int, tuple[int, ...]]] = []
    for rule in rules:
        rhs = []
        for sym in rule.expansion:
            if sym.is_term:
                rhs.append(term_index[sym.name])
            else:
                rhs.append(nonterminal(nt(sym.name)))
        out_rules.append((nt(rule.origin.name), tuple(rhs)))
    ignored = frozenset(term_index[name] for name in ignore if name in term_index)
    shadow = set()
    for name in [*identifier_terminals, *identifier_terminals_of(text)]:
        if name not in term_index:
            raise GrammarError(f"{source}: identifier terminal {name!r} is not a terminal of the grammar")
        shadow.add(term_index[name])
    return Grammar(terminals, names, out_rules, start=nt_index[start], ignore=ignored, shadow=frozenset(shadow))
