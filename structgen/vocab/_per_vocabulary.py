"""``per_vocabulary``: a value derived from a vocabulary, built once and kept while the vocabulary lives."""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import TypeVar

from structgen.vocab._vocabulary import Vocabulary

T = TypeVar("T")


def per_vocabulary(build: Callable[[Vocabulary], T]) -> Callable[[Vocabulary], T]:
    """Decorate ``build(vocab)`` so it runs once per vocabulary (tables of a trie walk, say).

    Thread-safe: two threads may both build the first time; one result is kept and returned to both.
    """
    cache: weakref.WeakKeyDictionary[Vocabulary, T] = weakref.WeakKeyDictionary()
    lock = threading.Lock()

    @functools.wraps(build)
    def get(vocab: Vocabulary) -> T:
        with lock:
            found = cache.get(vocab)
        if found is None:
            built = build(vocab)
            with lock:
                found = cache.setdefault(vocab, built)
        return found

    return get
