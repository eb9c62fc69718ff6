"""Training over long streams: truncated BPTT(k1, k2) with carried state."""

from .streams import Streams, make_streams
from .tbptt import Progress, TBPTTTrainer

__all__ = ["Progress", "Streams", "TBPTTTrainer", "make_streams"]
