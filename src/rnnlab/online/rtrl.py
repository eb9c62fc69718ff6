"""Real-time recurrent learning (Williams & Zipser 1989) for SimpleRNN, LSTM and GRU layers.

RTRL carries the influence matrix M_t = ∂s_t/∂θ forward in time, one per batch row:

    M_0 = 0,    M_t = D_t M_{t-1} + I_t                 (B, S, P)
    g_t = Σ_b (∂L_t/∂s_t)[b] M_t[b]                       (P,) = ∂L_t/∂θ, exactly

with D_t = ∂s_t/∂s_{t-1} (B, S, S) and I_t = ∂s_t/∂θ (B, S, P) from rnnlab.online.jacobians.
Summed over a sequence, the g_t equal the BPTT gradient of Σ_t L_t. Cost per step and row:
O(S²P) time (the product D_t M_{t-1}, ≈ S³·G(I+H) flops) and O(SP) memory — independent of
the stream length. Only I_t's non-zero part is formed (unit_columns); it is scattered into
the product. Where mask_t is False the row keeps its M (D = I, I_t = 0).
"""

from __future__ import annotations

import numpy as np

from ._base import ForwardModeLearner
from .jacobians import StepJacobians, param_count, unit_columns

Array = np.ndarray


class RTRL(ForwardModeLearner):
    """Exact real-time recurrent learning.

    Arguments:
        layer: rnnlab SimpleRNN (tanh | relu), LSTM or GRU; its params are used in place.
        readout: rnnlab Dense on h_t.   loss: a rnnlab Loss or its name.
        optimizer: optional rnnlab Optimizer (or name): step() then also updates the params.
        update_every: apply the optimizer every k steps, with the summed gradients.
    Carries: the state (B, S) and the influence matrix `influence` M_t (B, S, P).
    """

    def _allocate(self, batch_size: int) -> None:
        H, G = self.units, self.gates
        I = self.layer.params["weight_ih"].shape[1]
        P = param_count(G, H, I)
        self._M = np.zeros((batch_size, self.state_size, P), dtype=self.dtype)
        self._buffer = np.empty_like(self._M)  # the next M is written here, then swapped
        self._cols = unit_columns(G, H, I)  # (H, Q)
        self._rows = np.arange(H)[:, None]

    @property
    def influence(self) -> Array:
        """A copy of M_t = ∂s_t/∂θ, (B, S, P), θ ordered as jacobians.PARAM_KEYS."""
        return self._M.copy()

    def _update_influence(self, jac: StepJacobians, mask: Array | None) -> None:
        B, _, P = self._M.shape
        D = jac.recurrent(self.layer.params["weight_hh"])  # (B, S, S)
        new = np.matmul(D, self._M, out=self._buffer)  # D_t M_{t-1}: the O(S²P) part
        by_unit = new.reshape(B, self.blocks, self.units, P)  # a view: [b, u, k, p]
        by_unit[:, :, self._rows, self._cols] += jac.immediate_by_unit().swapaxes(1, 2)
        if mask is not None and not mask.all():
            new[~mask] = self._M[~mask]
        self._buffer, self._M = self._M, new

    def _flat_gradient(self, ds: Array) -> Array:
        return np.tensordot(ds, self._M, axes=([0, 1], [0, 1]))  # Σ_b Σ_s ds[b, s] M[b, s, :]

    def _carried(self) -> list[Array]:
        return [getattr(self, "_M", None), getattr(self, "_buffer", None)]
