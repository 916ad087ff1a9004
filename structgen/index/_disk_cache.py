"""On-disk cache of complete token indexes, keyed by (automaton, vocabulary) fingerprints."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

_FORMAT_VERSION = "1"


def cache_dir() -> Path | None:
    """``$STRUCTGEN_CACHE_DIR``, else ``~/.cache/structgen``; ``None`` when set to an empty string."""
    environ = os.environ
    return _cache_dir(environ.get("STRUCTGEN_CACHE_DIR"), environ.get("XDG_CACHE_HOME"), environ.get("HOME"))


@lru_cache(maxsize=8)
def _cache_dir(env: str | None, xdg: str | None, home: str | None) -> Path | None:
    # by the variables it reads: every compile looks here, and resolving the home directory
    # cost 0.15 ms of a 7 ms compile
    if env == "":
        return None
    base = Path(env) if env else Path(xdg or Path.home() / ".cache") / "structgen"
    return base / "index"


def in_use() -> bool:
    """Whether the cache folder exists (else no lookup can hit, and no key need be computed)."""
    folder = cache_dir()
    return folder is not None and folder.is_dir()


def _path(key: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"v{_FORMAT_VERSION}-{key}.npz"


def load(key: str) -> dict[str, np.ndarray] | None:
    path = _path(key)
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError):
        return None  # a truncated or foreign file is a cache miss, never an error


def save(key: str, arrays: dict[str, np.ndarray]) -> None:
    path = _path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full disk only costs the cache
