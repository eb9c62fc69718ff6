"""minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): an LSTM whose gates read x_t alone,
normalised so that the forget and input gates sum to one."""

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
class MinLSTMCell(MinimalCell):
    """minLSTM with the paper's normalised gates, log-space version (positive candidate g):

        f_t = σ(W_f x_t + b_f),  i_t = σ(W_i x_t + b_i)      weight_ih rows [f; i; h], (3H, I)
        h̃_t = g(W_h x_t + b_h),  g as in MinGRUCell           positive candidate
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)   normalised gates (f' + i' = 1)
        h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t                     = a_t ⊙ h_{t−1} + b_t

    With d_t = log f_t − log i_t = softplus(−k_i) − softplus(−k_f) (k the pre-activations):
    a_t = f' = σ(d_t), i' = σ(−d_t), and in log space log a_t = −softplus(−d_t),
    log b_t = −softplus(d_t) + log g(v_t). One state h (no cell state c), no W_hh; training
    runs as a scan over T (`mode` as in rnnlab.cells.minimal). Shapes: x_t (B, I), h (B, H);
    weight_ih (3H, I), bias_ih (3H). Backward, from ∂L/∂a_t and ∂L/∂b_t (the reverse scan):

        ∂L/∂d = (∂L/∂a − ∂L/∂b ⊙ h̃) ⊙ a (1 − a)
        ∂L/∂k_f = ∂L/∂d ⊙ σ(−k_f),  ∂L/∂k_i = −∂L/∂d ⊙ σ(−k_i)
        ∂L/∂v = ∂L/∂b ⊙ (1 − a) ⊙ g'(v)
        ∂L/∂W_ih = Σ_t δ_tᵀ x_t,  ∂L/∂b_ih = Σ_t δ_t,  dx_t = δ_t W_ih    δ = [∂L/∂k_f, k_i, v]

    No recurrent dropout, no local derivatives (as MinGRUCell).
    """

    name: ClassVar[str] = "minlstm"
    gates: ClassVar[int] = 3

    @staticmethod
    def _split(pre: Array) -> tuple[Array, Array, Array]:
        H = pre.shape[-1] // 3
        return pre[..., :H], pre[..., H : 2 * H], pre[..., 2 * H :]

    def coefficients(self, pre: Array) -> tuple[Array, Array]:
        k_f, k_i, v = self._split(pre)
        d = softplus(-k_i) - softplus(-k_f)
        with np.errstate(under="ignore"):
            a = 0.5 * (1.0 + np.tanh(0.5 * d))  # f' = σ(d)
            i_norm = 0.5 * (1.0 - np.tanh(0.5 * d))  # i' = σ(−d)
        h_tilde, _ = g_positive(v)
        return a, i_norm * h_tilde

    def log_coefficients(self, pre: Array) -> tuple[Array, Array]:
        k_f, k_i, v = self._split(pre)
        d = softplus(-k_i) - softplus(-k_f)
        return -softplus(-d), -softplus(d) + log_g_positive(v)

    def coefficient_backward(self, pre: Array, da: Array, db: Array) -> Array:
        k_f, k_i, v = self._split(pre)
        H = v.shape[-1]
        d = softplus(-k_i) - softplus(-k_f)
        with np.errstate(under="ignore"):
            a = 0.5 * (1.0 + np.tanh(0.5 * d))
            s_f = 0.5 * (1.0 - np.tanh(0.5 * k_f))  # σ(−k_f)
            s_i = 0.5 * (1.0 - np.tanh(0.5 * k_i))  # σ(−k_i)
        h_tilde, dg = g_positive(v)
        dd = (da - db * h_tilde) * a * (1.0 - a)
        d_pre = np.empty_like(pre)  # (T, B, 3H)
        d_pre[..., :H] = dd * s_f
        d_pre[..., H : 2 * H] = -dd * s_i
        d_pre[..., 2 * H :] = db * (1.0 - a) * dg
        return d_pre
