"""Online learning: real-time recurrent learning (Williams & Zipser 1989) and its modern
approximations, usable over unbounded streams in constant memory."""

from .fully_recurrent import FullyRecurrentNet, RTRLLearner, RTRLState

__all__ = ["FullyRecurrentNet", "RTRLLearner", "RTRLState"]
