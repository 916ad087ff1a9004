"""The logits layer: token masking and adaptive rejection sampling inside ``generate()``, SMC, ASAp."""

from structgen.sampling._asap import GrammarAlignedSampler
from structgen.sampling._bitmask_torch import apply_token_bitmask_
from structgen.sampling._logits_processor import StructuredLogitsProcessor
from structgen.sampling._rejection import Draw, SamplingError, awrs
from structgen.sampling._smc import SMCResult, smc

__all__ = [
    "Draw",
    "GrammarAlignedSampler",
    "SMCResult",
    "SamplingError",
    "StructuredLogitsProcessor",
    "apply_token_bitmask_",
    "awrs",
    "smc",
]
