"""Unbiased online recurrent optimization, UORO (Tallec & Ollivier, ICLR 2018, Algorithm 1).

UORO keeps, per batch row, a rank-one stand-in for the influence matrix, M_t ≈ s̃_t θ̃_tᵀ with
s̃ (B, S) and θ̃ (B, P), so memory and time per step are O(S + P) (plus the cell's own step).
With ν a vector of independent random signs (B, S), at every step

    ρ0 = √((‖θ̃_{t-1}‖ + ε) / (‖D_t s̃_{t-1}‖ + ε)),    ρ1 = √((‖νᵀ I_t‖ + ε) / (‖ν‖ + ε))
    s̃_t = ρ0 · D_t s̃_{t-1} + ρ1 · ν                                    (B, S)
    θ̃_t = θ̃_{t-1} / ρ0 + νᵀ I_t / ρ1                                   (B, P)
    g_t = Σ_b ((∂L_t/∂s_t)[b] · s̃_t[b]) θ̃_t[b]                          ≈ ∂L_t/∂θ

(norms per row; D_t s̃ is a Jacobian-vector product and νᵀ I_t a vector-Jacobian product of the
step, neither matrix is formed). s̃_0 = 0, θ̃_0 = 0.

Unbiased: if E[s̃_{t-1} θ̃_{t-1}ᵀ] = M_{t-1}, then
    s̃_t θ̃_tᵀ = D s̃ θ̃ᵀ + ν νᵀ I + (ρ0/ρ1) D s̃ (νᵀ I) + (ρ1/ρ0) ν θ̃ᵀ,
and E over ν gives D M_{t-1} + I_t = M_t: E[ν νᵀ] = Id, and the cross terms vanish because ν and
−ν are equally likely while ρ0, ρ1 are even in ν (ν enters only through ‖νᵀ I‖ and ‖ν‖). So
E[g_t] = ∂L_t/∂θ. The ρ's only minimise the variance (ρ0 = ρ1 = 1 is unbiased too, noisier);
constant signs (ν = 1), or rescaling s̃ by ρ0 without dividing θ̃ by it, biases the estimate.
The readout's gradient is exact. Rows where mask_t is False keep s̃ and θ̃.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers.core import Dense
from ..losses import Loss
from ..optimizers import Optimizer
from ._base import ForwardModeLearner
from .models import OnlineModel, StepSummary

Array = np.ndarray

#: the ε of the ρ normalisation
EPSILON = 1e-7


class UORO(ForwardModeLearner):
    """UORO, per batch row (same arguments as RTRL, plus `seed` for the random signs).

    Carries the state (B, S), s̃ `state_tangent` (B, S) and θ̃ `param_tangent` (B, P).
    """

    def __init__(
        self,
        model: OnlineModel | Any,
        readout: Dense | None = None,
        loss: Loss | str | None = None,
        *,
        optimizer: Optimizer | str | None = None,
        update_every: int | None = 1,
        teacher_forcing: bool = False,
        seed: int | None = None,
    ):
        super().__init__(
            model,
            readout,
            loss,
            optimizer=optimizer,
            update_every=update_every,
            teacher_forcing=teacher_forcing,
        )
        valid = seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool))
        if not valid:
            raise TypeError(f"{self.who}: expected seed as an int or None, got {seed!r}")
        self.rng = np.random.default_rng(seed)

    def _allocate(self, batch_size: int) -> None:
        P = self.model.param_count
        self._s_tilde = np.zeros((batch_size, self.state_size), dtype=self.dtype)
        self._theta_tilde = np.zeros((batch_size, P), dtype=self.dtype)

    @property
    def state_tangent(self) -> Array:
        """s̃_t, (B, S)."""
        return self._s_tilde.copy()

    @property
    def param_tangent(self) -> Array:
        """θ̃_t, (B, P), θ ordered as jacobians.PARAM_KEYS."""
        return self._theta_tilde.copy()

    def _draw_signs(self, shape: tuple[int, int]) -> Array:
        """ν: independent ±1 with probability ½ each."""
        return self.rng.choice(np.array([-1.0, 1.0], dtype=self.dtype), size=shape)

    def _rank_one_update(
        self, s_tilde: Array, theta_tilde: Array, d_s: Array, nu: Array, nu_i: Array
    ) -> tuple[Array, Array]:
        """(s̃_t, θ̃_t) from s̃_{t-1}, θ̃_{t-1}, D_t s̃_{t-1}, ν and νᵀ I_t (all per row)."""
        norm = np.linalg.norm
        rho0 = np.sqrt((norm(theta_tilde, axis=1) + EPSILON) / (norm(d_s, axis=1) + EPSILON))
        rho1 = np.sqrt((norm(nu_i, axis=1) + EPSILON) / (norm(nu, axis=1) + EPSILON))
        rho0, rho1 = rho0[:, None], rho1[:, None]
        return rho0 * d_s + rho1 * nu, theta_tilde / rho0 + nu_i / rho1

    def _update_influence(self, jac: StepSummary, mask: Array | None) -> None:
        d_s = jac.jvp_state(self._s_tilde)  # D_t s̃ (B, S)
        nu = self._draw_signs(self._s_tilde.shape)
        nu_i = jac.vjp_params(nu)  # νᵀ I_t (B, P)
        s_new, theta_new = self._rank_one_update(self._s_tilde, self._theta_tilde, d_s, nu, nu_i)
        if mask is not None and not mask.all():
            s_new[~mask] = self._s_tilde[~mask]
            theta_new[~mask] = self._theta_tilde[~mask]
        self._s_tilde, self._theta_tilde = s_new, theta_new

    def _forget(self, forced: Array) -> None:
        self._s_tilde[forced] = 0.0  # zero rows of M ≈ s̃ θ̃ᵀ

    def _flat_gradient(self, ds: Array) -> Array:
        weights = np.einsum("bs,bs->b", ds, self._s_tilde)  # (B,)
        return weights @ self._theta_tilde  # (P,)

    def _carried(self) -> list[Array]:
        return [getattr(self, "_s_tilde", None), getattr(self, "_theta_tilde", None)]
