"""Context-free constraints: Lark and GBNF grammars compiled to an Earley parser plus lexer DFAs."""

from structgen.grammar._compile import (
    GrammarConstraint,
    compile_gbnf,
    compile_grammar,
    shipped_grammar,
    shipped_grammar_names,
)
from structgen.grammar._matcher import GrammarMatcher

__all__ = [
    "GrammarConstraint",
    "GrammarMatcher",
    "compile_gbnf",
    "compile_grammar",
    "shipped_grammar",
    "shipped_grammar_names",
]
