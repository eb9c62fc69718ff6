"""The continually running, fully recurrent network of Williams & Zipser (1989).

n units, m input lines and a bias line. Every unit sees every input and every unit's previous
output:

    z(t) = [x(t); 1; ŷ(t−1)]          (m + 1 + n,)   ŷ(−1) = 0
    s(t) = W z(t)                      (n,)           W: (n, m + 1 + n), columns in that order
    y(t) = f(s(t))                     f = logistic (the paper), tanh or linear

A time-varying subset of units has targets: d(t) (n,) where target_mask(t) is True (the paper's
T(t)); the error is e_k(t) = d_k(t) − y_k(t) there and 0 elsewhere, and

    J = ½ Σ_t Σ_k e_k(t)².

Teacher forcing feeds back ŷ(t) = d(t) on the units that have a target, y(t) elsewhere.

Real-time recurrent learning carries the sensitivities p^k_ij(t) = ∂y_k(t)/∂w_ij — a tensor
P(t) of shape (n, n, m + 1 + n) — forward in time (the paper's eq. 12, in matrix form):

    P(t) = f'(s(t)) ⊙_k [ W_U · P̂(t−1) + δ_ik z_j(t) ],      P(−1) = 0
    ∂J/∂w_ij = −Σ_t Σ_k e_k(t) p^k_ij(t)

with W_U = W[:, m+1:] (n, n) and P̂(t−1) = P(t−1) with the rows of teacher-forced units set to 0
(eq. 19: a forced ŷ does not depend on the weights). One (n × n)·(n × n(m+1+n)) matrix product
per step: O(n³ + mn²) memory and O(n⁴) time per step, independent of the sequence length.
Backpropagation through time computes the same gradient backwards, and is the reference.
Inputs may be unbatched, (T, m), or batched, (B, T, m); J then sums over the batch too.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import activations
from .._validation import as_float_array, check_positive_int, describe

ACTIVATIONS = {"logistic": "sigmoid", "tanh": "tanh", "linear": "linear"}


class FullyRecurrentNet:
    """The Williams–Zipser network. `W` (n, m+1+n) is a plain array: edit it in place freely.

    Arguments: n_inputs m, n_units n, activation ("logistic" | "tanh" | "linear"), seed,
    dtype, weight_scale (initial weights uniform in ±weight_scale).
    """

    def __init__(self, n_inputs: int, n_units: int, activation: str = "logistic",
                 seed: int | None = 0, dtype="float64", weight_scale: float = 0.5):
        who = "FullyRecurrentNet"
        self.n_inputs = check_positive_int(n_inputs, who, "n_inputs")
        self.n_units = check_positive_int(n_units, who, "n_units")
        if activation not in ACTIVATIONS:
            raise ValueError(f"{who}: expected activation in {list(ACTIVATIONS)}, "
                             f"got {activation!r}")
        self.activation = activation
        self._f, self._f_backward = activations.get(ACTIVATIONS[activation], who)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"{who}: expected dtype float32 or float64, got {self.dtype}")
        if isinstance(weight_scale, bool) or not isinstance(weight_scale, numbers.Real) \
                or not weight_scale >= 0:
            raise ValueError(f"{who}: expected weight_scale ≥ 0, got {weight_scale!r}")
        rng = np.random.default_rng(seed)
        cols = self.n_inputs + 1 + self.n_units
        self.W = rng.uniform(-weight_scale, weight_scale, (self.n_units, cols)).astype(self.dtype)

    @property
    def who(self) -> str:
        return f"FullyRecurrentNet(m={self.n_inputs}, n={self.n_units})"

    @property
    def n_columns(self) -> int:
        return self.n_inputs + 1 + self.n_units

    def recurrent_weights(self) -> np.ndarray:
        """W_U = W[:, m+1:], (n, n): the weights on the fed-back outputs."""
        return self.W[:, self.n_inputs + 1 :]

    # -- validation -----------------------------------------------------------------------------
    def check_inputs(self, x, d=None, target_mask=None):
        """Return batched (B, T, ·) arrays and whether the input was batched."""
        x = as_float_array(x, self.who, self.dtype, "x")
        batched = x.ndim == 3
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_inputs or x.shape[-2] == 0:
            raise ValueError(f"{self.who}: expected x of shape (T, {self.n_inputs}) or "
                             f"(B, T, {self.n_inputs}) with T ≥ 1, got {x.shape}")
        xb = x if batched else x[None]
        if d is None:
            return xb, None, None, batched
        shape = (*x.shape[:-1], self.n_units)
        d = as_float_array(d, self.who, self.dtype, "d")
        if d.shape != shape:
            raise ValueError(f"{self.who}: expected targets d of shape {shape}, got {d.shape}")
        if not isinstance(target_mask, np.ndarray) or target_mask.dtype != np.bool_:
            raise TypeError(f"{self.who}: expected target_mask as a bool array of shape "
                            f"{shape}, got {describe(target_mask)}")
        if target_mask.shape != shape:
            raise ValueError(f"{self.who}: expected target_mask of shape {shape}, "
                             f"got {target_mask.shape}")
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
        B, T, m = x.shape
        n = self.n_units
        z = np.empty((B, T, self.n_columns), dtype=self.dtype)
        z[:, :, :m] = x
        z[:, :, m] = 1.0
        y = np.empty((B, T, n), dtype=self.dtype)
        fed_back = np.zeros((B, n), dtype=self.dtype)  # ŷ(−1) = 0
        for t in range(T):
            z[:, t, m + 1 :] = fed_back
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
    def gradient(self, x, d, target_mask, method: str = "rtrl",
                 teacher_forcing: bool = False) -> np.ndarray:
        """∂J/∂W, shape (n, m+1+n), by "rtrl" (forward, the paper) or "bptt" (backward)."""
        if method not in ("rtrl", "bptt"):
            raise ValueError(f"{self.who}: expected method 'rtrl' or 'bptt', got {method!r}")
        xb, d, mask, _ = self.check_inputs(x, d, target_mask)
        if method == "bptt":
            return self._bptt(xb, d, mask, teacher_forcing)
        state = RTRLState(self, xb.shape[0])
        grad = np.zeros_like(self.W)
        for t in range(xb.shape[1]):
            _, g = state.step(xb[:, t], d[:, t], mask[:, t], teacher_forcing)
            grad += g
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


class RTRLState:
    """The running state of exact RTRL on a FullyRecurrentNet: ŷ(t−1) and P(t−1), per row.

    `step(x_t, d_t, mask_t)` advances one time step and returns y(t) and the gradient of this
    step's error ½ Σ_k e_k(t)² with respect to W (summed over the batch). Memory: B·n·n·(m+1+n)
    numbers, whatever the length of the stream.
    """

    def __init__(self, net: FullyRecurrentNet, batch_size: int = 1):
        self.net = net
        B = check_positive_int(batch_size, "RTRLState", "batch_size")
        n, c = net.n_units, net.n_columns
        self.fed_back = np.zeros((B, n), dtype=net.dtype)
        self.P = np.zeros((B, n, n, c), dtype=net.dtype)  # p^k_ij for y(t−1): [b, k, i, j]

    def step(self, x_t, d_t=None, mask_t=None, teacher_forcing: bool = False):
        """One step of RTRL. x_t (B, m); d_t (B, n) and mask_t (B, n) bool, or None."""
        net = self.net
        B, n, c = self.P.shape[0], net.n_units, net.n_columns
        m = net.n_inputs
        z = np.empty((B, c), dtype=net.dtype)
        z[:, :m] = x_t
        z[:, m] = 1.0
        z[:, m + 1 :] = self.fed_back
        y = net._f(z @ net.W.T)  # (B, n)
        fprime = net._f_backward(y, np.ones_like(y))  # f'(s(t)) from y(t)
        # W_U · P̂(t−1): one matrix product (n × n)·(n × n·c) per row
        P = np.matmul(net.recurrent_weights(), self.P.reshape(B, n, n * c)).reshape(B, n, n, c)
        P[:, np.arange(n), np.arange(n), :] += z[:, None, :]  # + δ_ik z_j(t)
        P *= fprime[:, :, None, None]
        grad = np.zeros_like(net.W)
        if d_t is not None:
            e = np.where(mask_t, d_t - y, 0.0)  # (B, n)
            grad = -np.einsum("bk,bkij->ij", e, P)
        self.fed_back = y
        if teacher_forcing and d_t is not None:
            self.fed_back = np.where(mask_t, d_t, y)
            P = np.where(mask_t[:, :, None, None], 0.0, P)  # eq. 19: forced units
        self.P = P
        return y, grad


class RTRLLearner:
    """Online learning by exact RTRL, as in the paper.

    mode="real-time": W ← W − α ∂J(t)/∂W after every step (the paper's real-time learning);
    mode="epochwise": the step gradients accumulate and `end_epoch()` applies α Σ_t ∂J(t)/∂W
    and resets the network state (ŷ = 0, P = 0).
    """

    def __init__(self, net: FullyRecurrentNet, learning_rate: float, mode: str = "real-time",
                 teacher_forcing: bool = False, batch_size: int = 1):
        if not isinstance(net, FullyRecurrentNet):
            raise TypeError(f"RTRLLearner: expected a FullyRecurrentNet, got {describe(net)}")
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) \
                or not learning_rate > 0:
            raise ValueError(f"RTRLLearner: expected learning_rate > 0, got {learning_rate!r}")
        if mode not in ("real-time", "epochwise"):
            raise ValueError(f"RTRLLearner: expected mode 'real-time' or 'epochwise', "
                             f"got {mode!r}")
        self.net, self.learning_rate, self.mode = net, float(learning_rate), mode
        self.teacher_forcing = bool(teacher_forcing)
        self.batch_size = batch_size
        self.reset()

    def reset(self) -> None:
        """Start the network afresh: ŷ = 0, P = 0, nothing accumulated."""
        self.state = RTRLState(self.net, self.batch_size)
        self.accumulated = np.zeros_like(self.net.W)

    def step(self, x_t, d_t=None, mask_t=None) -> tuple[np.ndarray, float]:
        """Advance one step; returns (y(t), this step's error ½ Σ e²)."""
        x_t = np.asarray(x_t, dtype=self.net.dtype).reshape(self.batch_size, self.net.n_inputs)
        if d_t is not None:
            d_t = np.asarray(d_t, dtype=self.net.dtype).reshape(self.batch_size, -1)
            mask_t = np.asarray(mask_t).reshape(self.batch_size, -1)
            if mask_t.dtype != np.bool_:
                raise TypeError(f"RTRLLearner: expected a bool target mask, got {mask_t.dtype}")
        y, grad = self.state.step(x_t, d_t, mask_t, self.teacher_forcing)
        err = 0.0 if d_t is None else float(0.5 * np.sum(np.where(mask_t, d_t - y, 0.0) ** 2))
        if self.mode == "real-time":
            self.net.W -= self.learning_rate * grad
        else:
            self.accumulated += grad
        return y, err

    def end_epoch(self) -> None:
        """Epochwise learning: apply the accumulated gradient and restart the network."""
        if self.mode == "epochwise":
            self.net.W -= self.learning_rate * self.accumulated
        self.reset()
