"""SnAp-1: the sparse n-step approximation of RTRL with n = 1 (Menick et al., ICLR 2021), for
any OnlineModel (a SimpleRNN, LSTM or GRU layer with a readout, or FullyRecurrentNet).

SnAp-n keeps only the entries of the influence matrix M = ∂s/∂θ that can be non-zero n steps
after a parameter acts. For n = 1 that is the pattern of the immediate Jacobian I_t: the state
entries of unit k (h_k, and c_k for the LSTM) keep the Q = G·(I + H + 2) parameters of unit k's
own rows (jacobians.unit_columns) — row k of every gate block of W_ih and W_hh and of both
biases. Every parameter belongs to exactly one unit, so M̃ stores P entries per state block:

    M̃_t[k] = B_t[k] M̃_{t-1}[k] + Ĩ_t[k]            M̃ (B, H, U, Q),  B_t[k] (B, U, U)
    g_t[cols[k]] = Σ_b Σ_u (∂L_t/∂s_t)[b, u·H + k] M̃_t[b, k, u]

where B_t[k] is the block of D_t coupling unit k's own state entries: the diagonal of D_t for
SimpleRNN and GRU (U = 1), and the 2×2 block of (h_k, c_k) for the LSTM, which we keep whole (the
entries ∂c_k/∂(o-gate row k) then stay in the pattern as well; they are needed for exactness
below). This is mask(D_t M̃_{t-1}) + I_t restricted to the pattern, at O(U²P) cost per step and
row instead of RTRL's O(S²P), and O(UP) memory instead of O(SP).

When units do not interact — D_t block-diagonal per unit, e.g. a diagonal weight_hh, or LSTM/GRU
with every H×H gate block of weight_hh diagonal — SnAp-1 is exact: it equals RTRL. Otherwise it
is biased (it ignores how a parameter reaches other units through the recurrence).
"""

from __future__ import annotations

import numpy as np

from ._base import ForwardModeLearner
from .models import StepSummary

Array = np.ndarray


class SnAp1(ForwardModeLearner):
    """SnAp-1 (same arguments as RTRL). Carries the state and M̃ `influence` (B, H, U, Q)."""

    def _allocate(self, batch_size: int) -> None:
        self._cols = self.model.unit_columns()  # (H, Q), a permutation of range(P) raveled
        self._P = self._cols.size
        self._M = np.zeros(
            (batch_size, self.units, self.blocks, self._cols.shape[1]), dtype=self.dtype
        )

    @property
    def influence(self) -> Array:
        """A copy of M̃_t (B, H, U, Q): M̃[b, k, u, q] ≈ ∂s_t[b, u·H + k]/∂θ[cols[k, q]]."""
        return self._M.copy()

    def dense_influence(self) -> Array:
        """M̃_t scattered into RTRL's layout (B, S, P), zeros outside the pattern."""
        B, H, U, _ = self._M.shape
        out = np.zeros((B, U, H, self._P), dtype=self.dtype)
        out[:, :, np.arange(H)[:, None], self._cols] = self._M.swapaxes(1, 2)
        return out.reshape(B, U * H, self._P)

    def _update_influence(self, jac: StepSummary, mask: Array | None) -> None:
        blocks = jac.unit_blocks()  # (B, H, U, U)
        new = blocks @ self._M  # (B, H, U, Q)
        new += jac.immediate_by_unit()
        if mask is not None and not mask.all():
            new[~mask] = self._M[~mask]
        self._M = new

    def _forget(self, forced: Array) -> None:
        B, H, U, _ = self._M.shape
        self._M[forced.reshape(B, U, H).swapaxes(1, 2)] = 0.0  # entry u·H + k is [k, u]

    def _flat_gradient(self, ds: Array) -> Array:
        B, H, U, _ = self._M.shape
        ds_units = ds.reshape(B, U, H)  # [b, u, k]
        values = np.einsum("buk,bkuq->kq", ds_units, self._M)  # (H, Q)
        flat = np.empty(self._P, dtype=self.dtype)
        flat[self._cols] = values
        return flat

    def _carried(self) -> list[Array]:
        return [getattr(self, "_M", None)]
