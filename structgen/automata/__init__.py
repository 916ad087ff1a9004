"""Byte-level automata: regex → minimised byte DFA."""

from structgen.automata._dfa import DEAD, ByteDFA
from structgen.automata._regex import regex_to_dfa

__all__ = ["DEAD", "ByteDFA", "regex_to_dfa"]
