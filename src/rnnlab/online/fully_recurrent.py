"""The continually running, fully recurrent network of Williams & Zipser (1989).

n units, m input lines and a bias line. Every unit sees every input and every unit's previous
output:

    z(t) = [x(t); 1; ŷ(t−1)]          (m + 1 + n,)   ŷ(−1) = 0
    s(t) = W z(t)                      (n,)           W: (n, m + 1 + n), columns in that order
    y(t) = f(s(t))                     f = logistic (the paper), tanh or linear

A time-varying subset of units has targets: d(t) (n,) where target_mask(t) is True (the paper's
T(t)); the error is e_k(t) = d_k(t) − y_k(t) there and 0 elsewhere, and

    J = Σ_t J(t),   J(t) = ½ Σ_k e_k(t)²            (HalfSquaredError)

Teacher forcing feeds back ŷ(t) = d(t) on the units that have a target, y(t) elsewhere.

The network is an `OnlineModel` whose outputs are its state (s_t = y(t) here), so the online
learners train it like any other model: `RTRL(net, loss=HalfSquaredError(), optimizer=SGD(α),
teacher_forcing=...)` is the paper's real-time recurrent learning. Its step's Jacobians, with
θ = W flattened row by row (unit k owns row k, c = m + 1 + n entries):

    D_t[k, j] = f'(s_k) W_U[k, j]          W_U = W[:, m+1:] (n, n)
    I_t[k, (i, j)] = δ_ik f'(s_k) z_j(t)

so RTRL's M_t = D_t M_{t−1} + I_t is the paper's eq. 12 in matrix form, for the sensitivities
p^k_ij(t) = ∂y_k(t)/∂w_ij (M reshaped (n, n, m + 1 + n)):

    P(t) = f'(s(t)) ⊙_k [ W_U · P̂(t−1) + δ_ik z_j(t) ],      P(−1) = 0

where P̂(t−1) has the rows of teacher-forced units set to 0 (eq. 19: a forced ŷ does not depend
on the weights). One (n × n)·(n × n(m+1+n)) product per step: O(n³ + mn²) memory and O(n⁴)
time per step, independent of the sequence length. Backpropagation through time computes the
same gradient backwards, and is the reference (`gradient(..., method="bptt")`).
Inputs may be unbatched, (T, m), or batched, (B, T, m); J then sums over the batch too.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .. import activations
from .._validation import as_float_array, check_positive_int, describe
from ..losses import Loss
from .models import Grads, OnlineModel
from .rtrl import RTRL

Array = np.ndarray
ACTIVATIONS = {"logistic": "sigmoid", "tanh": "tanh", "linear": "linear"}


class HalfSquaredError(Loss):
    """L = ½ Σ_n Σ_o m_n (y_pred − y_true)²: summed over the valid positions, not averaged.

    Williams & Zipser's J(t) = ½ Σ_k e_k(t)² over the units that have a target (pass the
    learner a target_mask: each output is then a position). dL/dy_pred = m (y_pred − y_true).
    """

    name = "half_squared_error"

    def _per_position(self, y_true: Array, y_pred: Array) -> tuple[Array, Array]:
        e = y_pred - y_true
        return 0.5 * np.sum(e * e, axis=-1), e

    def value_and_grad(self, y_true, y_pred, mask: Array | None = None) -> tuple[float, Array]:
        """(L, dL/dy_pred): the sum, where the other losses take the mean (rnnlab.losses)."""
        y_pred = self._check_pred(y_pred)  # (..., O)
        mask = self._check_mask(mask, y_pred.shape[:-1])
        y_true = self._check_true(y_true, y_pred, mask)
        e = y_pred - y_true  # (..., O) = dL/dy_pred
        if mask is not None:
            e = np.where(mask[..., None], e, 0.0)
        flat = e.reshape(-1)
        with np.errstate(under="ignore"):  # squares of tiny errors: below the sum's resolution
            return 0.5 * float(flat @ flat), e


@dataclass(frozen=True)
class FullyRecurrentStep:
    """One step of the net with its Jacobians (models.StepSummary; the module docstring)."""

    state: Array  # (B, n) y(t)
    fprime: Array  # (B, n) f'(s(t))
    z: Array  # (B, c) [x(t); 1; ŷ(t−1)]
    weight_u: Array  # (n, n) W_U

    def recurrent(self) -> Array:
        return self.fprime[:, :, None] * self.weight_u  # (B, n, n)

    def immediate_by_unit(self) -> Array:
        return (self.fprime[:, :, None] * self.z[:, None, :])[:, :, None, :]  # (B, n, 1, c)

    def immediate(self) -> Array:
        B, n = self.state.shape
        c = self.z.shape[1]
        out = np.zeros((B, n, n, c), dtype=self.state.dtype)
        k = np.arange(n)
        out[:, k, k, :] = self.immediate_by_unit()[:, :, 0, :]
        return out.reshape(B, n, n * c)

    def propagate(self, influence: Array, out: Array) -> Array:
        """f' ⊙ (W_U M + δ_ik z_j): the paper's eq. 12, into `out` (B, n, P)."""
        B, n, P = influence.shape
        new = np.matmul(self.weight_u, influence, out=out)  # W_U · P̂(t−1)
        k = np.arange(n)
        new.reshape(B, n, n, P // n)[:, k, k, :] += self.z[:, None, :]  # + δ_ik z_j(t)
        new *= self.fprime[:, :, None]
        return new

    def unit_blocks(self) -> Array:
        return (self.fprime * np.diagonal(self.weight_u))[:, :, None, None]  # (B, n, 1, 1)

    def jvp_state(self, v: Array) -> Array:
        return self.fprime * (v @ self.weight_u.T)

    def vjp_params(self, w: Array) -> Array:
        B = w.shape[0]
        return ((w * self.fprime)[:, :, None] * self.z[:, None, :]).reshape(B, -1)


class FullyRecurrentNet(OnlineModel):
    """The Williams–Zipser network. `W` (n, m+1+n) is a plain array: edit it in place freely.

    Arguments: n_inputs m, n_units n, activation ("logistic" | "tanh" | "linear"), seed,
    dtype, weight_scale (initial weights uniform in ±weight_scale).
    An OnlineModel whose outputs are its state: train it online with RTRL, SnAp1 or UORO
    (`RTRL(net, loss=HalfSquaredError(), optimizer=SGD(α), teacher_forcing=True)`).
    """

    state_is_output = True

    def __init__(
        self,
        n_inputs: int,
        n_units: int,
        activation: str = "logistic",
        seed: int | None = 0,
        dtype="float64",
        weight_scale: float = 0.5,
    ):
        who = "FullyRecurrentNet"
        self.n_inputs = check_positive_int(n_inputs, who, "n_inputs")
        self.n_units = check_positive_int(n_units, who, "n_units")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"{who}: expected activation in {list(ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        self._f, self._f_backward = activations.get(ACTIVATIONS[activation], who)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{who}: expected dtype float32 or float64, got {self.dtype}")
        if (
            isinstance(weight_scale, bool)
            or not isinstance(weight_scale, numbers.Real)
            or not weight_scale >= 0
        ):
            raise ValueError(f"{who}: expected weight_scale ≥ 0, got {weight_scale!r}")
        rng = np.random.default_rng(seed)
        cols = self.n_inputs + 1 + self.n_units
        self.W = rng.uniform(-weight_scale, weight_scale, (self.n_units, cols)).astype(self.dtype)
        self.units = self.outputs = self.n_units
        self.blocks = 1

    @property
    def who(self) -> str:
        return f"FullyRecurrentNet(m={self.n_inputs}, n={self.n_units})"

    @property
    def n_columns(self) -> int:
        return self.n_inputs + 1 + self.n_units

    def recurrent_weights(self) -> Array:
        """W_U = W[:, m+1:], (n, n): the weights on the fed-back outputs."""
        return self.W[:, self.n_inputs + 1 :]

    def _inputs(self, x: Array, fed_back: Array) -> Array:
        """z = [x; 1; ŷ] (B, c) from x (B, m) and ŷ (B, n)."""
        m = self.n_inputs
        z = np.empty((x.shape[0], self.n_columns), dtype=self.dtype)
        z[:, :m] = x
        z[:, m] = 1.0
        z[:, m + 1 :] = fed_back
        return z

    # -- the OnlineModel interface (rnnlab.online.models) ------------------------------------
    @property
    def input_size(self) -> int:
        return self.n_inputs

    def build(self, input_size: int) -> None:
        """Nothing to build: W exists from the start (its m is fixed)."""

    @property
    def params(self) -> dict[str, Array]:
        return {"net.W": self.W}

    def unit_columns(self) -> Array:
        return np.arange(self.W.size).reshape(self.W.shape)  # unit k owns row k of W

    def jacobians(self, x: Array, state: Array) -> FullyRecurrentStep:
        z = self._inputs(x, state)
        y = self._f(z @ self.W.T)  # (B, n)
        fprime = self._f_backward(y, np.ones_like(y))  # f'(s(t)) from y(t)
        return FullyRecurrentStep(y, fprime, z, self.recurrent_weights())

    def read(self, state: Array) -> Array:
        return state.copy()  # y(t): the caller's own (the state may be forced after it)

    def read_backward(self, dy: Array) -> tuple[Array, Grads]:
        return dy, {}

    def split_gradient(self, flat: Array) -> Grads:
        return {"net": {"W": flat.reshape(self.W.shape)}}

    # -- validation -----------------------------------------------------------------------------
    def check_inputs(self, x, d=None, target_mask=None):
        """Return batched (B, T, ·) arrays and whether the input was batched."""
        x = as_float_array(x, self.who, self.dtype, "x")
        batched = x.ndim == 3
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_inputs or x.shape[-2] == 0:
            raise ValueError(
                f"{self.who}: expected x of shape (T, {self.n_inputs}) or "
                f"(B, T, {self.n_inputs}) with T ≥ 1, got {x.shape}"
            )
        xb = x if batched else x[None]
        if d is None:
            return xb, None, None, batched
        shape = (*x.shape[:-1], self.n_units)
        d = as_float_array(d, self.who, self.dtype, "d")
        if d.shape != shape:
            raise ValueError(f"{self.who}: expected targets d of shape {shape}, got {d.shape}")
        if not isinstance(target_mask, np.ndarray) or target_mask.dtype != np.bool_:
            raise TypeError(
                f"{self.who}: expected target_mask as a bool array of shape "
                f"{shape}, got {describe(target_mask)}"
            )
        if target_mask.shape != shape:
            raise ValueError(
                f"{self.who}: expected target_mask of shape {shape}, got {target_mask.shape}"
            )
        if not batched:
            d, target_mask = d[None], target_mask[None]
        return xb, d, target_mask, batched

    # -- forward, loss --------------------------------------------------------------------------
    def run(self, x, d=None, target_mask=None, teacher_forcing: bool = False):
        """Outputs y (like x: (T, n) or (B, T, n)), with teacher forcing if asked."""
        xb, d, mask, batched = self.check_inputs(x, d, target_mask)
        if teacher_forcing and d is None:
            raise ValueError(f"{self.who}: teacher forcing needs targets d and target_mask")
        y, _ = self._forward(xb, d, mask, teacher_forcing)
        return y if batched else y[0]

    def _forward(self, x, d, mask, teacher_forcing):
        """y (B, T, n) and the inputs z (B, T, m+1+n) every step saw."""
        B, T, _ = x.shape
        z = np.empty((B, T, self.n_columns), dtype=self.dtype)
        y = np.empty((B, T, self.n_units), dtype=self.dtype)
        fed_back = np.zeros((B, self.n_units), dtype=self.dtype)  # ŷ(−1) = 0
        for t in range(T):
            z[:, t] = self._inputs(x[:, t], fed_back)
            y[:, t] = self._f(z[:, t] @ self.W.T)
            fed_back = y[:, t]
            if teacher_forcing:
                fed_back = np.where(mask[:, t], d[:, t], y[:, t])
        return y, z

    def loss(self, x, d, target_mask, teacher_forcing: bool = False) -> float:
        """J = ½ Σ_t Σ_k mask·(d − y)² (summed over the batch too)."""
        xb, d, mask, _ = self.check_inputs(x, d, target_mask)
        y, _ = self._forward(xb, d, mask, teacher_forcing)
        e = np.where(mask, d - y, 0.0)
        return float(0.5 * np.sum(e * e))

    # -- gradients ------------------------------------------------------------------------------
    def gradient(
        self, x, d, target_mask, method: str = "rtrl", teacher_forcing: bool = False
    ) -> Array:
        """∂J/∂W, shape (n, m+1+n), by "rtrl" (forward: rnnlab.online.RTRL, the paper) or
        "bptt" (backward)."""
        if method not in ("rtrl", "bptt"):
            raise ValueError(f"{self.who}: expected method 'rtrl' or 'bptt', got {method!r}")
        xb, d, mask, _ = self.check_inputs(x, d, target_mask)
        if method == "bptt":
            return self._bptt(xb, d, mask, teacher_forcing)
        learner = RTRL(self, loss=HalfSquaredError(), teacher_forcing=teacher_forcing)
        learner.reset(xb.shape[0])
        grad = np.zeros_like(self.W)
        for t in range(xb.shape[1]):
            grad += learner.step(xb[:, t], d[:, t], target_mask=mask[:, t])["grads"]["net"]["W"]
        return grad

    def _bptt(self, x, d, mask, teacher_forcing):
        y, z = self._forward(x, d, mask, teacher_forcing)
        B, T, n = y.shape
        w_u = self.recurrent_weights()
        e = np.where(mask, d - y, 0.0)
        delta = np.empty_like(y)  # (B, T, n): ∂J/∂s(t)
        from_future = np.zeros((B, n), dtype=self.dtype)  # ∂J/∂ŷ(t) through s(t+1)
        for t in range(T - 1, -1, -1):
            dy = -e[:, t] + from_future
            delta[:, t] = self._f_backward(y[:, t], dy)
            back = delta[:, t] @ w_u  # ∂J/∂ŷ(t−1)
            if teacher_forcing and t > 0:
                back = np.where(mask[:, t - 1], 0.0, back)  # forced ŷ(t−1) = d(t−1)
            from_future = back
        return np.einsum("btk,btj->kj", delta, z)


__all__ = ["ACTIVATIONS", "FullyRecurrentNet", "FullyRecurrentStep", "HalfSquaredError"]
