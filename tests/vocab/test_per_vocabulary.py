"""``per_vocabulary``: one build per vocabulary, kept while the vocabulary lives."""

from __future__ import annotations

import gc
import threading
import weakref

from structgen import Vocabulary
from structgen.vocab._per_vocabulary import per_vocabulary


def test_a_value_is_built_once_per_vocabulary_and_dropped_with_it():
    builds = []

    @per_vocabulary
    def size(vocab: Vocabulary) -> list[int]:
        builds.append(vocab)
        return [len(vocab)]

    a, b = Vocabulary([b"a", b"b", b""], eos_token_ids=[2]), Vocabulary([b"a", b""], eos_token_ids=[1])
    assert size(a) is size(a) and size(b) == [2]
    assert len(builds) == 2
    builds.clear()
    gone = weakref.ref(a)
    del a
    gc.collect()
    assert gone() is None  # the cache does not keep a vocabulary alive
    assert size(b) == [2] and builds == []  # b's value is still kept


def test_threads_asking_at_once_all_get_the_one_kept_value():
    @per_vocabulary
    def fresh(vocab: Vocabulary) -> object:
        return object()

    vocab = Vocabulary([b"a", b""], eos_token_ids=[1])
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(fresh(vocab))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(x) for x in seen}) == 1 and seen[0] is fresh(vocab)
