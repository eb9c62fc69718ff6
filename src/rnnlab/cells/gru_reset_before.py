"""Gated recurrent unit as Cho et al. 2014 wrote it: the reset gate acts BEFORE the recurrent
matmul, W_hn (r ⊙ h) (Keras' GRU(reset_after=False); PyTorch has only the other variant)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import native
from ..activations import sigmoid
from .base import Array, Cache, Cell, Params, ParamSpec
from .ops import input_projection, previous_states, split_through_carry, weight_grad
from .registry import register


@dataclass(eq=False, kw_only=True)
class ResetBeforeGRUCache(Cache):
    h0: Array  # (B, H)
    hs: Array  # (T, B, H) h_t after every step
    gates: Array  # (T, B, 3H) r, z, n after their nonlinearities


@register
@dataclass(frozen=True)
class ResetBeforeGRUCell(Cell):
    """GRU cell of Cho et al. 2014: the reset gate multiplies h before the recurrent matmul,
    W_hn (r ⊙ h). Gate rows r, z, n as in GRUCell (PyTorch's layout).

        r = σ(W_ir x + b_ir + W_hr h + b_hr)              reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)              update gate
        n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)     candidate
        h' = (1 - z) ⊙ n + z ⊙ h

    Every bias is outside a product, so b_ih and b_hh only ever appear summed (a layer with
    Keras' bias convention keeps one vector). Shapes: x (B, I), h (B, H); weight_ih (3H, I),
    weight_hh (3H, H), biases (3H). With recurrent dropout the recurrent side reads h ⊙ m
    (both matmuls, as Keras does); z ⊙ h keeps the undropped h.
    Backward, with dh the gradient arriving at h' and h̃ = h ⊙ m the state the matmuls read:

        δ_n = dh ⊙ (1-z) ⊙ (1-n²)         d(r⊙h̃) = δ_n W_hn
        δ_r = d(r⊙h̃) ⊙ h̃ ⊙ r(1-r)         δ_z = dh ⊙ (h-n) ⊙ z(1-z)
        dh_prev = dh ⊙ z + ([δ_r, δ_z] W_hr,hz + d(r⊙h̃) ⊙ r) ⊙ m
        ∂W_ih = Σ [δ_r, δ_z, δ_n]ᵀ x,  ∂W_hr,hz = Σ [δ_r, δ_z]ᵀ h̃,  ∂W_hn = Σ δ_nᵀ (r ⊙ h̃),
        ∂b_ih = ∂b_hh = Σ [δ_r, δ_z, δ_n]

    NumPy only (no compiled kernel); no local derivatives for the online learners (n's
    recurrent term is not a function of W_hh h alone).
    """

    name: ClassVar[str] = "gru_reset_before"
    gates: ClassVar[int] = 3

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        H, I = units, input_size
        return {
            "weight_ih": ParamSpec((3 * H, I), "kernel"),
            "weight_hh": ParamSpec((3 * H, H), "recurrent", blocks=3),
            "bias_ih": ParamSpec((3 * H,), "bias"),
            "bias_hh": ParamSpec((3 * H,), "bias"),
        }

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """One step, as the equations read. Returns (h',)."""
        (h,) = states
        H = h.shape[-1]
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        b_ih, b_hh = params["bias_ih"], params["bias_hh"]
        rows = [slice(k * H, (k + 1) * H) for k in range(3)]
        r = sigmoid(x_t @ w_ih[rows[0]].T + b_ih[rows[0]] + h @ w_hh[rows[0]].T + b_hh[rows[0]])
        z = sigmoid(x_t @ w_ih[rows[1]].T + b_ih[rows[1]] + h @ w_hh[rows[1]].T + b_hh[rows[1]])
        n = np.tanh(
            x_t @ w_ih[rows[2]].T + b_ih[rows[2]] + (r * h) @ w_hh[rows[2]].T + b_hh[rows[2]]
        )
        return ((1.0 - z) * n + z * h,)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        (h0,) = states
        T, B, _ = x.shape
        H = h0.shape[1]
        w_rz = params["weight_hh"][: 2 * H].T  # (H, 2H)
        w_n = params["weight_hh"][2 * H :].T  # (H, H)
        x_proj = input_projection(x, params["weight_ih"], params["bias_ih"] + params["bias_hh"])
        steps = T if keep_cache else 1  # without a cache one slot of gates is reused
        gates = np.empty((steps, B, 3 * H), dtype=x.dtype)  # [r, z, n] after σ / tanh
        hs = np.empty((T, B, H), dtype=x.dtype)
        h = h0
        for t in range(T):
            h_read = h if recurrent_mask is None else h * recurrent_mask
            g = gates[t % steps]
            np.add(x_proj[t, :, : 2 * H], native.matmul(h_read, w_rz), out=g[:, : 2 * H])
            sigmoid(g[:, : 2 * H], out=g[:, : 2 * H])
            r, z, n = g[:, :H], g[:, H : 2 * H], g[:, 2 * H :]
            np.add(x_proj[t, :, 2 * H :], native.matmul(r * h_read, w_n), out=n)
            np.tanh(n, out=n)
            h_new = n + z * (h - n)  # (1 − z) n + z h
            hs[t] = h_new if mask is None else np.where(mask[t][:, None], h_new, h)
            h = hs[t]
        cache = (
            ResetBeforeGRUCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=recurrent_mask,
                h0=h0,
                hs=hs,
                gates=gates,
            )
            if keep_cache
            else None
        )
        return hs, (h.copy(),), cache

    def states_at(self, cache: ResetBeforeGRUCache, t: int) -> tuple[Array, ...]:
        return (cache.hs[t],)

    def backward_steps(self, cache: ResetBeforeGRUCache, d_outputs, d_final):
        params, hs, gates, mask, m = (
            cache.params,
            cache.hs,
            cache.gates,
            cache.mask,
            cache.recurrent_mask,
        )
        T, B, H = hs.shape
        w_rz, w_n = params["weight_hh"][: 2 * H], params["weight_hh"][2 * H :]
        h_prev = previous_states(cache.h0, hs)  # (T, B, H)
        h_read = h_prev if m is None else h_prev * m  # what the recurrent matmuls read
        delta = np.empty_like(gates)  # (T, B, 3H): δ at the pre-activations of r, z, n
        dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
        for t in range(T - 1, -1, -1):
            if d_outputs is not None:
                dh += d_outputs[t]
            m_t = None if mask is None else mask[t]
            dh_cell, dh_carried = split_through_carry(m_t, dh)
            r, z, n = gates[t, :, :H], gates[t, :, H : 2 * H], gates[t, :, 2 * H :]
            d_n = delta[t, :, 2 * H :]
            np.multiply(dh_cell * (1.0 - z), 1.0 - n * n, out=d_n)
            d_rh = native.matmul(d_n, w_n)  # (B, H): ∂L/∂(r ⊙ h̃)
            delta[t, :, :H] = d_rh * h_read[t] * r * (1.0 - r)
            delta[t, :, H : 2 * H] = dh_cell * (h_prev[t] - n) * z * (1.0 - z)
            d_read = native.matmul(delta[t, :, : 2 * H], w_rz) + d_rh * r
            if m is not None:
                d_read *= m
            dh = dh_cell * z + d_read
            if dh_carried is not None:
                dh += dh_carried
        bias = delta.sum(axis=(0, 1))
        rh = gates[:, :, :H] * h_read  # (T, B, H): r ⊙ h̃
        grads = {
            "weight_ih": weight_grad(delta, cache.x),
            "weight_hh": np.concatenate(
                [weight_grad(delta[:, :, : 2 * H], h_read), weight_grad(delta[:, :, 2 * H :], rh)]
            ),
            "bias_ih": bias,
            "bias_hh": bias.copy(),
        }
        return native.matmul(delta, params["weight_ih"]), (dh,), grads
