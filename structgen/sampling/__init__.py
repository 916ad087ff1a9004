"""The logits layer: token masking and adaptive rejection sampling inside ``generate()``, SMC, ASAp."""

from structgen.sampling._bitmask_torch import apply_token_bitmask_
from structgen.sampling._logits_processor import StructuredLogitsProcessor
from structgen.sampling._rejection import Draw, SamplingError, awrs

__all__ = ["Draw", "SamplingError", "StructuredLogitsProcessor", "apply_token_bitmask_", "awrs"]
