"""Terminal regexes → byte DFAs with the matching semantics of lark's lexer.

Lark matches a terminal with Python's ``re.match``: greedy patterns take the longest match (the
lexer's maximal munch gives that), lazy ones (``.*?``) the shortest — their DFA is cut to be
prefix-free, so a lexeme ends at its first possible end. Lookarounds are not regular; two
idioms are rewritten to their exact regular equivalents — an escaped string
(``.*?(?<!\\\\)(\\\\\\\\)*?"``, lark's ``ESCAPED_STRING``) and a keyword exclusion at the start
(``(?!(?:if|else)\\b)[a-z]+``, a DFA difference) — and any other lookaround is refused.
"""

from __future__ import annotations

import re
from functools import lru_cache

from structgen._errors import GrammarError, UnsupportedFeatureError
from structgen.automata import DEAD, ByteDFA, regex_to_dfa
from structgen.automata._dfa import trim_and_minimise
from structgen.automata._regular import difference_dfas

try:  # Python 3.11+
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

# content of a string closed by an unescaped delimiter: (lark's _STRING_ESC_INNER + the quote)
_ESCAPED_IDIOMS = {
    r'.*?(?<!\\)(\\\\)*?"': r'(?:[^"\\\n]|\\[^\n])*"',
    r".*?(?<!\\)(\\\\)*?'": r"(?:[^'\\\n]|\\[^\n])*'",
}
_ESCAPED_IDIOMS_DOTALL = {
    r'.*?(?<!\\)(\\\\)*?"': r'(?:[^"\\]|\\.)*"',
    r".*?(?<!\\)(\\\\)*?'": r"(?:[^'\\]|\\.)*'",
}


_KEYWORD_EXCLUSION = re.compile(r"^\(\?!\(\?:([A-Za-z_][A-Za-z0-9_|]*)\)\\b\)(.*)$", re.S)


def _rewrite_idioms(regex: str) -> str:
    idioms = _ESCAPED_IDIOMS_DOTALL if regex.startswith("(?s") else _ESCAPED_IDIOMS
    for old, new in idioms.items():
        regex = regex.replace(old, new)
    return regex


def _is_lazy(regex: str) -> bool:
    def walk(parsed) -> bool:
        for op, arg in parsed:
            if op is sre_constants.MIN_REPEAT:
                return True
            if op in (sre_constants.MAX_REPEAT,):
                if walk(arg[2]):
                    return True
            elif op is sre_constants.SUBPATTERN:
                if walk(arg[-1]):
                    return True
            elif op is sre_constants.BRANCH:
                if any(walk(p) for p in arg[1]):
                    return True
        return False

    try:
        return walk(sre_parse.parse(regex))
    except re.error:
        return False


def _prefix_free(dfa: ByteDFA) -> ByteDFA:
    """The shortest-match language: no transitions out of accepting states."""
    trans = dfa.transitions.copy()
    trans[dfa.accepting] = DEAD
    return trim_and_minimise(trans, dfa.accepting.copy(), dfa.start)


@lru_cache(maxsize=4096)
def terminal_dfa(regex: str, name: str, where: str) -> ByteDFA:
    """The byte DFA of one terminal; errors name the terminal and ``where`` it is defined."""
    rewritten = _rewrite_idioms(regex)
    folded = rewritten.startswith("(?i:") and rewritten.endswith(")")
    excluded = _KEYWORD_EXCLUSION.match(rewritten[4:-1] if folded else rewritten)
    try:
        if excluded:  # (?!(?:kw1|kw2)\b)REST: identifiers that are not keywords
            rest, words = excluded.group(2), f"(?:{excluded.group(1)})"
            if folded:
                rest, words = f"(?i:{rest})", f"(?i:{words})"
            rewritten = rest
            dfa = difference_dfas(regex_to_dfa(rest), regex_to_dfa(words))
        else:
            dfa = regex_to_dfa(rewritten)
    except UnsupportedFeatureError as exc:
        raise UnsupportedFeatureError(f"terminal {name} ({where}): {exc}") from None
    except GrammarError as exc:
        raise GrammarError(f"terminal {name} ({where}): {exc}") from None
    if dfa.n_states and dfa.accepting[dfa.start]:
        raise GrammarError(f"terminal {name} ({where}) matches the empty string; lark refuses such terminals too")
    if _is_lazy(rewritten):
        dfa = _prefix_free(dfa)
    return dfa


def literal_regex(text: str, case_insensitive: bool = False) -> str:
    body = re.escape(text)
    return f"(?i:{body})" if case_insensitive else body

