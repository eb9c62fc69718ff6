"""The online learners, one interface (rnnlab.online._base), for any OnlineModel:

    learner = RTRL(layer, readout, loss, optimizer=None, update_every=1)   # a layer + readout
    learner = RTRL(net, loss=HalfSquaredError(), optimizer=SGD(1.0),      # FullyRecurrentNet
                   teacher_forcing=True)
    learner.reset(batch_size)
    out = learner.step(x_t, target_t, mask_t=None, target_mask=None)
    # {"loss", "grads", "output", "updated"};  learner.update() applies pending gradients

| learner                 | ∂L_t/∂θ estimate                    | time / step / row | memory     |
|-------------------------|-------------------------------------|-------------------|------------|
| RTRL                    | exact                               | O(S²P)            | O(SP)      |
| SnAp1                   | exact iff units don't interact      | O(U²P)            | O(UP)      |
| UORO(seed=...)          | unbiased, rank one                  | O(P + GH²)        | O(S + P)   |
| TruncatedBPTT(h, h')    | exact up to the cut h steps back    | O(h/h' · P)       | O(h(I+S))  |

S = state size (H, or 2H for the LSTM), P = number of recurrent params, U = S/H.
TruncatedBPTT runs the layer's cell backwards, so it takes a layer and a readout only.
"""

from ._base import OnlineLearner
from .rtrl import RTRL
from .snap import SnAp1
from .truncated import TruncatedBPTT
from .uoro import UORO

__all__ = ["RTRL", "UORO", "OnlineLearner", "SnAp1", "TruncatedBPTT"]
