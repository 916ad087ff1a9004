"""Hugging Face integration: ``generate``, ``stream`` and the embedded default model."""

from structgen.integrations._default_model import load_default_model
from structgen.integrations._generate import generate
from structgen.integrations._stream import stream

__all__ = ["generate", "load_default_model", "stream"]
