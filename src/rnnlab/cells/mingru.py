"""minGRU (Feng et al. 2024, "Were RNNs All We Needed?"): a GRU whose gates read x_t alone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Array
from .minimal import MinimalCell
from .registry import register
from .scan import g_positive, log_g_positive, softplus


@register
@dataclass(frozen=True)
class MinGRUCell(MinimalCell):
    """minGRU, the paper's log-space version (its positive candidate g keeps b_t > 0):

        k_t = W_z x_t + b_z,   v_t = W_h x_t + b_h          weight_ih rows [z; h], (2H, I)
        z_t = σ(k_t)                                          update gate
        h̃_t = g(v_t),   g(v) = v + ½ (v ≥ 0), σ(v) (v < 0)    positive candidate
        h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t                 = a_t ⊙ h_{t−1} + b_t

    so a_t = 1 − z_t = σ(−k_t), b_t = z_t ⊙ h̃_t, and in log space (Heinsen 2023)
    log a_t = −softplus(k_t), log b_t = −softplus(−k_t) + log g(v_t). No W_hh: the step costs
    O(H), and training runs as a scan over T (rnnlab.cells.scan; `mode` "auto" | "parallel" |
    "sequential", see rnnlab.cells.minimal). Shapes: x_t (B, I), h (B, H); weight_ih (2H, I),
    bias_ih (2H). Backward, from ∂L/∂a_t and ∂L/∂b_t (the reverse scan, scan.adjoint_scan):

        ∂L/∂z = −∂L/∂a + ∂L/∂b ⊙ h̃,   ∂L/∂k = ∂L/∂z ⊙ z (1 − z)
        ∂L/∂h̃ = ∂L/∂b ⊙ z,            ∂L/∂v = ∂L/∂h̃ ⊙ g'(v)
        ∂L/∂W_ih = Σ_t δ_tᵀ x_t,  ∂L/∂b_ih = Σ_t δ_t,  dx_t = δ_t W_ih    δ = [∂L/∂k, ∂L/∂v]

    No recurrent dropout (nothing recurrent to drop), no local derivatives for the online
    learners (their Jacobian assembly assumes W_hh).
    """

    name: ClassVar[str] = "mingru"
    gates: ClassVar[int] = 2

    def coefficients(self, pre: Array) -> tuple[Array, Array]:
        H = pre.shape[-1] // 2
        k, v = pre[..., :H], pre[..., H:]
        with np.errstate(under="ignore"):
            z = 0.5 * (1.0 + np.tanh(0.5 * k))  # σ(k)
            a = 0.5 * (1.0 - np.tanh(0.5 * k))  # 1 − z = σ(−k), exact near z = 1
        h_tilde, _ = g_positive(v)
        return a, z * h_tilde

    def log_coefficients(self, pre: Array) -> tuple[Array, Array]:
        H = pre.shape[-1] // 2
        k, v = pre[..., :H], pre[..., H:]
        return -softplus(k), -softplus(-k) + log_g_positive(v)

    def coefficient_backward(self, pre: Array, da: Array, db: Array) -> Array:
        H = pre.shape[-1] // 2
        k, v = pre[..., :H], pre[..., H:]
        z = 0.5 * (1.0 + np.tanh(0.5 * k))
        h_tilde, dg = g_positive(v)
        d_pre = np.empty_like(pre)  # (T, B, 2H)
        d_pre[..., :H] = (db * h_tilde - da) * z * (1.0 - z)
        d_pre[..., H:] = db * z * dg
        return d_pre
