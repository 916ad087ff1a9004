"""Tokenizer → ``Vocabulary``: exact token bytes, EOS and special ids, the byte trie."""

from structgen.vocab._vocabulary import Vocabulary

__all__ = ["Vocabulary"]
