"""Real-time recurrent learning (Williams & Zipser 1989), exact, for any OnlineModel: a
SimpleRNN, LSTM or GRU layer with a readout, or the paper's own FullyRecurrentNet.

RTRL carries the influence matrix M_t = ∂s_t/∂θ forward in time, one per batch row:

    M_0 = 0,    M_t = D_t M_{t-1} + I_t                 (B, S, P)
    g_t = Σ_b (∂L_t/∂s_t)[b] M_t[b]                       (P,) = ∂L_t/∂θ, exactly

with D_t = ∂s_t/∂s_{t-1} (B, S, S) and I_t = ∂s_t/∂θ (B, S, P) from the model's step
(models.StepSummary.propagate; for the layers rnnlab.online.jacobians). Summed over a
sequence, the g_t equal the BPTT gradient of Σ_t L_t. Cost per step and row: O(S²P) time (the
product D_t M_{t-1}, ≈ S³·G(I+H) flops) and O(SP) memory — independent of the stream length.
Only I_t's non-zero part is formed; it is scattered into the product. Where mask_t is False
the row keeps its M (D = I, I_t = 0); with teacher forcing the forced rows of M are zeroed.
"""

from __future__ import annotations

import numpy as np

from ._base import ForwardModeLearner
from .models import StepSummary

Array = np.ndarray


class RTRL(ForwardModeLearner):
    """Exact real-time recurrent learning.

    RTRL(layer, readout, loss, *, optimizer=None, update_every=1), or
    RTRL(model, loss=..., *, optimizer=None, update_every=1, teacher_forcing=False) for an
    OnlineModel such as FullyRecurrentNet (arguments: rnnlab.online.OnlineLearner).
    Carries: the state (B, S) and the influence matrix `influence` M_t (B, S, P).
    """

    def _allocate(self, batch_size: int) -> None:
        P = self.model.param_count
        self._M = np.zeros((batch_size, self.state_size, P), dtype=self.dtype)
        self._buffer = np.empty_like(self._M)  # the next M is written here, then swapped

    @property
    def influence(self) -> Array:
        """A copy of M_t = ∂s_t/∂θ, (B, S, P), θ flat in the model's order (for a layer:
        jacobians.PARAM_KEYS; for FullyRecurrentNet: W.ravel())."""
        return self._M.copy()

    def _update_influence(self, jac: StepSummary, mask: Array | None) -> None:
        new = jac.propagate(self._M, self._buffer)  # D_t M_{t-1} + I_t: the O(S²P) part
        if mask is not None and not mask.all():
            new[~mask] = self._M[~mask]
        self._buffer, self._M = self._M, new

    def _forget(self, forced: Array) -> None:
        self._M[forced] = 0.0

    def _flat_gradient(self, ds: Array) -> Array:
        B, S, P = self._M.shape
        return ds.reshape(B * S) @ self._M.reshape(B * S, P)  # Σ_b Σ_s ds[b, s] M[b, s, :]

    def _carried(self) -> list[Array]:
        return [getattr(self, "_M", None), getattr(self, "_buffer", None)]
