"""The logits layer: token masking inside Hugging Face ``generate()``."""

from structgen.sampling._bitmask_torch import apply_token_bitmask_
from structgen.sampling._logits_processor import StructuredLogitsProcessor

__all__ = ["StructuredLogitsProcessor", "apply_token_bitmask_"]
