"""Online learning: real-time recurrent learning (Williams & Zipser 1989) and its modern
approximations, usable over unbounded streams in constant memory.

- FullyRecurrentNet, RTRLState, RTRLLearner: the paper's network and exact RTRL.
- RTRL, UORO, SnAp1, TruncatedBPTT: online learners for SimpleRNN/LSTM/GRU layers with a Dense
  readout, sharing one interface (OnlineLearner): reset(batch), step(x_t, target_t, mask_t).
- step_with_jacobians, flatten_params, unflatten: the per-step Jacobians the learners use.
"""

from .fully_recurrent import FullyRecurrentNet, RTRLLearner, RTRLState
from .jacobians import flatten_params, step_with_jacobians, unflatten
from .learners import RTRL, UORO, OnlineLearner, SnAp1, TruncatedBPTT

__all__ = ["RTRL", "UORO", "FullyRecurrentNet", "OnlineLearner", "RTRLLearner", "RTRLState",
           "SnAp1", "TruncatedBPTT", "flatten_params", "step_with_jacobians", "unflatten"]
