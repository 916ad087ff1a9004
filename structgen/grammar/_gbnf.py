"""llama.cpp GBNF text → grammar IR.

GBNF is scannerless: its literals and character classes are characters, so each becomes a
one-character terminal and the parser does all the work (a one-character lexeme always ends at
the next byte, so the greedy lexer never changes a GBNF grammar's language). Repetitions and
groups become helper rules.
"""

from __future__ import annotations

import re

from structgen._errors import GrammarError, UnsupportedFeatureError, caret_snippet
from structgen.grammar._cfg import Grammar, Terminal, nonterminal
from structgen.grammar._terminals import terminal_dfa

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_SPACE = re.compile(r"(?:[ \t\r\n]|#[^\n]*)*")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-", "^": "^"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.terminals: list[Terminal] = []
        self._term_ids: dict[str, int] = {}
        self.names: list[str] = []
        self._nt: dict[str, int] = {}
        self.defined: dict[str, int] = {}  # rule name -> position of its definition
        self.used: dict[str, int] = {}  # rule name -> first position it is referenced
        self.rules: list[tuple[int, tuple[int, ...]]] = []

    # -- errors and lexing --------------------------------------------------------------------

    def error(self, message: str, pos: int | None = None) -> GrammarError:
        pos = self.pos if pos is None else pos
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return GrammarError(f"GBNF grammar, line {line}, column {col}: {message}\n{caret_snippet(self.text, pos)}")

    def skip(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def name_ahead(self) -> tuple[str, int] | None:
        m = _NAME.match(self.text, self.pos)
        return (m.group(), m.end()) if m else None

    def rule_starts_here(self) -> bool:
        ahead = self.name_ahead()
        return ahead is not None and _SPACE.match(self.text, ahead[1]).end() == self.text.find("::=", ahead[1])

    # -- symbols ----------------------------------------------------------------------------

    def nt(self, name: str) -> int:
        n = self._nt.get(name)
        if n is None:
            n = self._nt[name] = len(self.names)
            self.names.append(name)
        return n

    def helper(self, kind: str) -> int:
        return self.nt(f"<{kind}#{len(self.names)}>")

    def char_terminal(self, regex: str, label: str) -> int:
        t = self._term_ids.get(regex)
        if t is None:
            dfa = terminal_dfa(regex, label, "GBNF")
            t = self._term_ids[regex] = len(self.terminals)
            self.terminals.append(Terminal(label, dfa, regex))
        return t

    def escape(self) -> str:
        start = self.pos
        self.pos += 1  # the backslash
        c = self.peek()
        if c in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[c]
            digits = self.text[self.pos + 1 : self.pos + 1 + width]
            if len(digits) != width or not all(ch in "0123456789abcdefABCDEF" for ch in digits):
                raise self.error(f"\\{c} needs {width} hex digits", start)
            self.pos += 1 + width
            return chr(int(digits, 16))
        if c in _SIMPLE_ESCAPES:
            self.pos += 1
            return _SIMPLE_ESCAPES[c]
        raise self.error(f"unknown escape \\{c}", start)

    def char(self, closing: str) -> str:
        c = self.peek()
        if not c:
            raise self.error(f"unterminated {'string' if closing == chr(34) else 'character class'}")
        if c == "\\":
            return self.escape()
        self.pos += 1
        return c

    # -- grammar ----------------------------------------------------------------------------

    def parse(self) -> None:
        self.skip()
        if self.pos >= len(self.text):
            raise self.error("the grammar has no rules")
        while self.pos < len(self.text):
            ahead = self.name_ahead()
            if ahead is None:
                raise self.error("expected a rule name")
            name, end = ahead
            if name in self.defined:
                raise self.error(f"rule {name!r} is defined twice")
            self.defined[name] = self.pos
            self.pos = _SPACE.match(self.text, end).end()
            if not self.text.startswith("::=", self.pos):
                raise self.error(f"expected '::=' after rule name {name!r}")
            self.pos += 3
            self.alternatives(self.nt(name), nested=False)
            self.skip()

    def alternatives(self, lhs: int, nested: bool) -> None:
        while True:
            self.rules.append((lhs, tuple(self.sequence(nested))))
            self.skip()
            if self.peek() != "|":
                return
            self.pos += 1

    def sequence(self, nested: bool) -> list[int]:
        out: list[int] = []
        while True:
            self.skip()
            c = self.peek()
            if not c or c in "|)" or (not nested and self.rule_starts_here()):
                return out
            start = self.pos
            if c == '"':
                self.pos += 1
                item = []
                while self.peek() != '"':
                    ch = self.char('"')
                    item.append(self.char_terminal(_literal_char(ch), repr(ch)))
                self.pos += 1
            elif c == "[":
                item = [self.char_class()]
            elif c == ".":
                self.pos += 1
                item = [self.char_terminal("(?s:.)", "any character")]
            elif c == "(":
                self.pos += 1
                group = self.helper("group")
                self.alternatives(group, nested=True)
                self.skip()
                if self.peek() != ")":
                    raise self.error("expected ')'", start)
                self.pos += 1
                item = [nonterminal(group)]
            elif c in "<!":
                raise UnsupportedFeatureError(str(self.error("token-level GBNF syntax (<...>, !) is not supported")))
            else:
                ahead = self.name_ahead()
                if ahead is None:
                    raise self.error(f"unexpected character {c!r}")
                name, self.pos = ahead
                self.used.setdefault(name, start)
                item = [nonterminal(self.nt(name))]
            out.extend(self.postfix(item, start))

    def char_class(self) -> int:
        start = self.pos
        self.pos += 1
        negated = self.peek() == "^"
        if negated:
            self.pos += 1
        parts = []
        while self.peek() != "]":
            lo = self.char("]")
            if self.peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                hi = self.char("]")
                if ord(hi) < ord(lo):
                    raise self.error(f"empty character range {lo!r}-{hi!r}", start)
                parts.append(f"{_class_char(lo)}-{_class_char(hi)}")
            else:
                parts.append(_class_char(lo))
        self.pos += 1
        if not parts and not negated:
            raise self.error("empty character class", start)
        body = "".join(parts)
        regex = f"(?s:[^{body}])" if negated else f"[{body}]"
        return self.char_terminal(regex, self.text[start : self.pos])

    def postfix(self, item: list[int], start: int) -> list[int]:
        c = self.peek()
        if c in ("*", "+", "?"):
            self.pos += 1
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
        elif c == "{":
            m = re.compile(r"\{\s*(\d+)\s*(?:(,)\s*(\d*)\s*)?\}").match(self.text, self.pos)
            if m is None:
                raise self.error("expected {m}, {m,} or {m,n}")
            self.pos = m.end()
            lo = int(m.group(1))
            hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
            if hi is not None and hi < lo:
                raise self.error(f"repetition {{{lo},{hi}}} has max < min", start)
        else:
            return item
        return self.repeat(item, lo, hi)

    def repeat(self, item: list[int], lo: int, hi: int | None) -> list[int]:
        out = item * lo
        if hi is None:
            star = self.helper("star")  # star -> star item | ε  (left recursive: flat for Earley)
            self.rules.append((star, ()))
            self.rules.append((star, (nonterminal(star), *item)))
            return [*out, nonterminal(star)]
        tail: int | None = None  # optional chain: opt_k -> item opt_{k-1} | ε
        for _ in range(hi - lo):
            opt = self.helper("opt")
            self.rules.append((opt, ()))
            self.rules.append((opt, (*item, *([] if tail is None else [nonterminal(tail)]))))
            tail = opt
        return out if tail is None else [*out, nonterminal(tail)]


def _literal_char(ch: str) -> str:
    """A regex for one character, printable: control characters as escapes, not raw bytes."""
    return re.escape(ch) if ch.isprintable() else _class_char(ch)


def _class_char(ch: str) -> str:
    return re.escape(ch) if ch.isprintable() and ch not in "\\]^-[" else f"\\U{ord(ch):08x}" if ord(ch) > 0xFFFF else (
        f"\\u{ord(ch):04x}" if ord(ch) > 0xFF else f"\\x{ord(ch):02x}"
    )


def grammar_from_gbnf(text: str, start: str = "root") -> Grammar:
    parser = _Parser(text)
    parser.parse()
    for name, pos in parser.used.items():
        if name not in parser.defined:
            raise parser.error(f"rule {name!r} is used but never defined", pos)
    if start not in parser.defined:
        raise GrammarError(f"GBNF grammar: the start rule {start!r} is not defined")
    return Grammar(parser.terminals, parser.names, parser.rules, start=parser.nt(start))
