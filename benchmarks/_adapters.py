"""The four libraries behind one small interface, for the benchmarks that compare them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np
from _common import token_bytes_table


def bit_is_set(bitmask: np.ndarray, token: int) -> bool:
    return bool((int(bitmask[0, token >> 5]) >> (token & 31)) & 1)


class Adapter(ABC):
    """One library behind the same small interface; ``bitmask`` is a (1, ceil(V/32)) int32 array."""

    name = ""
    package = ""

    @abstractmethod
    def setup(self, tokenizer: Any) -> None:
        """Once per tokenizer: whatever the library builds from the vocabulary."""

    def reset_caches(self) -> None:  # noqa: B027 - optional hook: most libraries keep no cache
        """Forget compiled constraints, so that the next ``compile`` is cold."""

    @abstractmethod
    def compile(self, pattern: str) -> Any:
        ...

    @abstractmethod
    def new_matcher(self, compiled: Any) -> Any:
        ...

    @abstractmethod
    def fill(self, matcher: Any, bitmask: np.ndarray) -> None:
        ...

    @abstractmethod
    def advance(self, matcher: Any, token: int) -> bool:
        ...

    def allowed(self, bitmask: np.ndarray, token: int) -> bool:
        return bit_is_set(bitmask, token)


class StructgenAdapter(Adapter):
    """structgen, lazy index (the default): states' masks are computed on first reach."""

    name = package = "structgen"

    def setup(self, tokenizer: Any) -> None:
        import structgen

        self._structgen = structgen
        self.vocab = structgen.Vocabulary.from_tokenizer(tokenizer)
        self.vocab.trie  # noqa: B018 - built once per vocabulary

    def reset_caches(self) -> None:
        from structgen import _constraint
        from structgen.automata import _regex

        _constraint._INDEXES.clear()
        _regex.regex_to_dfa.cache_clear()

    def compile(self, pattern: str) -> Any:
        return self._structgen.compile_regex(pattern, self.vocab)

    def new_matcher(self, compiled: Any) -> Any:
        return compiled.matcher()

    def fill(self, matcher: Any, bitmask: np.ndarray) -> None:
        matcher.fill_mask(bitmask[0])

    def advance(self, matcher: Any, token: int) -> bool:
        return matcher.advance(token)


class XGrammarAdapter(Adapter):
    """XGrammar, compiler cache disabled (every compile is cold), default thread count."""

    name = package = "xgrammar"

    def setup(self, tokenizer: Any) -> None:
        import xgrammar

        self._xgr = xgrammar
        info = xgrammar.TokenizerInfo.from_huggingface(tokenizer, vocab_size=len(tokenizer))
        self._compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)

    def compile(self, pattern: str) -> Any:
        return self._compiler.compile_regex(pattern)

    def new_matcher(self, compiled: Any) -> Any:
        return self._xgr.GrammarMatcher(compiled)

    def fill(self, matcher: Any, bitmask: np.ndarray) -> None:
        matcher.fill_next_token_bitmask(bitmask)

    def advance(self, matcher: Any, token: int) -> bool:
        return matcher.accept_token(token)


class LLGuidanceAdapter(Adapter):
    """llguidance: "compile" builds an ``LLMatcher``; new matchers are ``deep_copy()`` of it."""

    name = package = "llguidance"

    def setup(self, tokenizer: Any) -> None:
        import llguidance
        import llguidance.hf
        import llguidance.numpy

        self._llg = llguidance
        self._fill = llguidance.numpy.fill_next_token_bitmask
        self._tokenizer = llguidance.hf.from_tokenizer(tokenizer)

    def compile(self, pattern: str) -> Any:
        matcher_cls = self._llg.LLMatcher
        matcher = matcher_cls(self._tokenizer, matcher_cls.grammar_from_regex(pattern))
        if matcher.is_error():
            raise ValueError(matcher.get_error())
        return matcher

    def new_matcher(self, compiled: Any) -> Any:
        return compiled.deep_copy()

    def fill(self, matcher: Any, bitmask: np.ndarray) -> None:
        self._fill(matcher, bitmask, 0)

    def advance(self, matcher: Any, token: int) -> bool:
        return matcher.consume_token(token)


class OutlinesCoreAdapter(Adapter):
    """outlines-core: ``Index`` (whole index, eager) from a ``Vocabulary`` of decoded token bytes.

    ``Vocabulary.from_pretrained`` would fetch the tokenizer from a hub, so the vocabulary is
    built here from the local tokenizer: keys are the bytes each token spells (not the byte-level
    BPE strings, which the regex would see as different characters), EOS excluded.
    """

    name = package = "outlines-core"

    def setup(self, tokenizer: Any) -> None:
        import outlines_core

        self._oc = outlines_core
        eos = tokenizer.eos_token_id
        ids_of: dict[bytes, list[int]] = {}
        for token_id, data in enumerate(token_bytes_table(tokenizer)):
            if data and token_id != eos:
                ids_of.setdefault(data, []).append(token_id)
        self._vocabulary = outlines_core.Vocabulary(eos, ids_of)

    def compile(self, pattern: str) -> Any:
        return self._oc.Index(pattern, self._vocabulary)

    def new_matcher(self, compiled: Any) -> Any:
        return self._oc.Guide(compiled)

    def fill(self, matcher: Any, bitmask: np.ndarray) -> None:
        matcher.write_mask_into(bitmask.ctypes.data, bitmask.size, bitmask.itemsize)

    def advance(self, matcher: Any, token: int) -> bool:
        try:
            matcher.advance(token, return_tokens=False)
        except ValueError:
            return False
        return True


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a for a in (StructgenAdapter, XGrammarAdapter, LLGuidanceAdapter, OutlinesCoreAdapter)
}
BASELINE = StructgenAdapter.name
