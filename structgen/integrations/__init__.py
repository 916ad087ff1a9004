"""Hugging Face integration: ``generate`` and the embedded default model."""

from structgen.integrations._default_model import load_default_model
from structgen.integrations._generate import generate

__all__ = ["generate", "load_default_model"]
