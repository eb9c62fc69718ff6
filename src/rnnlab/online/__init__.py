"""Online learning: real-time recurrent learning (Williams & Zipser 1989) and its modern
approximations, usable over unbounded streams in constant memory. One interface
(OnlineLearner): reset(batch), step(x_t, target_t, mask_t, target_mask=...), update().

- RTRL, UORO, SnAp1, TruncatedBPTT: the learners. Each drives an OnlineModel: a recurrent
  layer with a Dense readout (`RTRL(layer, readout, loss)`), or a model whose outputs are its
  state (`RTRL(net, loss=..., teacher_forcing=True)`).
- FullyRecurrentNet, HalfSquaredError: the paper's network and its error J(t) = ½ Σ_k e_k².
- OnlineModel, LayerModel: what a learner drives (rnnlab.online.models).
- step_with_jacobians, flatten_params, unflatten: the per-step Jacobians of the layers' cells.
"""

from .fully_recurrent import FullyRecurrentNet, HalfSquaredError
from .jacobians import flatten_params, step_with_jacobians, unflatten
from .learners import RTRL, UORO, OnlineLearner, SnAp1, TruncatedBPTT
from .models import LayerModel, OnlineModel

__all__ = [
    "RTRL",
    "UORO",
    "FullyRecurrentNet",
    "HalfSquaredError",
    "LayerModel",
    "OnlineLearner",
    "OnlineModel",
    "SnAp1",
    "TruncatedBPTT",
    "flatten_params",
    "step_with_jacobians",
    "unflatten",
]
