"""Token index: which tokens each automaton state allows, deduplicated, cached on disk."""

from structgen.index._token_index import TokenIndex

__all__ = ["TokenIndex"]
