"""Gated recurrent unit, Cho et al. 2014, in PyTorch's variant (torch.nn.GRU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import native
from ..activations import sigmoid
from . import gru_native
from .base import Array, Cache, Cell, LocalDerivatives, Params, ParamSpec, common_dtype
from .ops import gated_grads, input_projection, split_through_carry
from .registry import register


@dataclass(eq=False, kw_only=True)
class GRUCache(Cache):
    h0: Array  # (B, H)
    hs: Array  # (T, B, H) h_t after every step
    gates: Array  # (T, B, 3H) r, z, n after their nonlinearities
    hn: Array  # (T, B, H) q = W_hn h_{t-1} + b_hn


@register
@dataclass(frozen=True)
class GRUCell(Cell):
    """GRU cell, PyTorch's variant: the reset gate multiplies the recurrent matmul *after* it,
    r ⊙ (W_hn h + b_hn). Gate rows r, z, n.

        r = σ(W_ir x + b_ir + W_hr h + b_hr)           reset gate
        z = σ(W_iz x + b_iz + W_hz h + b_hz)           update gate
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate
        h' = (1 - z) ⊙ n + z ⊙ h

    Shapes: x (B, I), h (B, H); weight_ih (3H, I), weight_hh (3H, H), biases (3H), rows
    [r; z; n]. Backward, with dh the gradient arriving at h' and q = W_hn h + b_hn:

        dn = dh ⊙ (1-z)    dz = dh ⊙ (h - n)    dh_prev = dh ⊙ z + δ_h W_hh
        δ_n = dn ⊙ (1-n²)  dr = δ_n ⊙ q         dq = δ_n ⊙ r
        δ_x = [dr σ', dz σ', δ_n] feeds W_ih, b_ih;  δ_h = [dr σ', dz σ', dq] feeds W_hh, b_hh

    Local derivatives (online learners), δ = (1−z)(1−n²):
        e_in = (δ q r(1−r), (h−n) z(1−z), δ),  e_rec = (δ q r(1−r), (h−n) z(1−z), δ r),
        direct = z

    float32 calls with H a multiple of 16 and no recurrent dropout run their forward and
    backward time loops on the compiled kernels (cells/gru_native.py); otherwise this NumPy
    code, its per-step products on the packed GEMM.
    """

    name: ClassVar[str] = "gru"
    layer_name: ClassVar[str] = "GRU"
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
            x_t @ w_ih[rows[2]].T + b_ih[rows[2]] + r * (h @ w_hh[rows[2]].T + b_hh[rows[2]])
        )
        return ((1.0 - z) * n + z * h,)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        (h0,) = states
        T, B, _ = x.shape
        H = h0.shape[1]
        b_hh = params["bias_hh"]
        x_proj = _input_side(params, x, H)  # (T, B, 3H)
        if native.serves(
            "gru",
            dtype=common_dtype(params, x),
            units=H,
            recurrent_dropout=recurrent_mask is not None,
        ):
            hs, kept = gru_native.forward(params, x_proj, states, mask, keep_cache=keep_cache)
            h_T = hs[-1].copy() if T else h0.copy()
            cache = (
                None
                if kept is None
                else GRUCache(
                    params=params,
                    x=x,
                    mask=mask,
                    recurrent_mask=recurrent_mask,
                    h0=h0,
                    hs=hs,
                    gates=kept[0],
                    hn=kept[1],
                )
            )
            return hs, (h_T,), cache
        recurrent = native.RecurrentProduct("gru.h_whh", params["weight_hh"], transpose=True)
        steps = T if keep_cache else 1  # without a cache one slot of gates and q is reused
        gates = np.empty((steps, B, 3 * H), dtype=x.dtype)  # [r, z, n] after σ / tanh
        hn = np.empty((steps, B, H), dtype=x.dtype)  # q = W_hn h + b_hn
        hs = np.empty((T, B, H), dtype=x.dtype)
        h_proj = np.empty((B, 3 * H), dtype=x.dtype)
        buf = None if mask is None else np.empty((B, H), dtype=x.dtype)
        h = h0
        for t in range(T):
            h_read = h if recurrent_mask is None else h * recurrent_mask
            recurrent(h_read, out=h_proj)  # (B, 3H)
            g = gates[t % steps]
            np.add(x_proj[t, :, : 2 * H], h_proj[:, : 2 * H], out=g[:, : 2 * H])
            sigmoid(g[:, : 2 * H], out=g[:, : 2 * H])
            q = hn[t % steps]
            np.add(h_proj[:, 2 * H :], b_hh[2 * H :], out=q)
            r, z = g[:, :H], g[:, H : 2 * H]
            n = g[:, 2 * H :]
            np.multiply(r, q, out=n)
            n += x_proj[t, :, 2 * H :]
            np.tanh(n, out=n)
            h_new = hs[t] if mask is None else buf
            np.subtract(h, n, out=h_new)
            h_new *= z
            h_new += n  # (1 − z) n + z h
            if mask is not None:
                np.copyto(hs[t], np.where(mask[t][:, None], h_new, h))
            h = hs[t]
        cache = (
            GRUCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=recurrent_mask,
                h0=h0,
                hs=hs,
                gates=gates,
                hn=hn,
            )
            if keep_cache
            else None
        )
        return hs, (h.copy(),), cache

    def states_at(self, cache: GRUCache, t: int) -> tuple[Array, ...]:
        return (cache.hs[t],)

    def backward_steps(self, cache: GRUCache, d_outputs, d_final):
        params, hs, gates, mask, recurrent_mask = (
            cache.params,
            cache.hs,
            cache.gates,
            cache.mask,
            cache.recurrent_mask,
        )
        T, B, H = hs.shape
        if native.serves(
            "gru",
            dtype=common_dtype(params, cache.x),
            units=H,
            recurrent_dropout=recurrent_mask is not None,
        ):  # the backward loop on the compiled kernels
            return gru_native.backward(cache, d_outputs, d_final)
        back = native.RecurrentProduct("gru.d_whh", params["weight_hh"])  # δ W_hh, (3H, H)
        FX, FH = _step_factors(gates, cache.hn, cache.h0, hs)
        d_x = np.empty_like(gates)  # (T, B, 3H): δ for the input side
        d_h = np.empty_like(gates)  # (T, B, 3H): δ for the recurrent side
        dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
        for t in range(T - 1, -1, -1):
            if d_outputs is not None:
                dh += d_outputs[t]
            m_t = None if mask is None else mask[t]
            dh_cell, dh_carried = split_through_carry(m_t, dh)
            np.multiply(dh_cell[:, None, :], FX[t].reshape(B, 3, H), out=d_x[t].reshape(B, 3, H))
            np.multiply(dh_cell[:, None, :], FH[t].reshape(B, 3, H), out=d_h[t].reshape(B, 3, H))
            dh = back(d_h[t])
            if recurrent_mask is not None:
                dh *= recurrent_mask
            dh += dh_cell * gates[t, :, H : 2 * H]  # through z ⊙ h
            if dh_carried is not None:
                dh += dh_carried
        dx, grads = gated_grads(
            d_x, d_h, cache.x, cache.h0, hs, recurrent_mask, params["weight_ih"]
        )
        return dx, (dh,), grads

    def local_derivatives(self, params, x_t, states) -> LocalDerivatives:
        (h,) = states
        H = h.shape[1]
        a = x_t @ params["weight_ih"].T + params["bias_ih"]  # (B, 3H) rows r, z, n
        q = h @ params["weight_hh"].T + params["bias_hh"]  # (B, 3H)
        r = sigmoid(a[:, :H] + q[:, :H])
        z = sigmoid(a[:, H : 2 * H] + q[:, H : 2 * H])
        q_n = q[:, 2 * H :]
        n = np.tanh(a[:, 2 * H :] + r * q_n)
        h_new = (1.0 - z) * n + z * h
        delta = (1.0 - z) * (1.0 - n * n)  # ∂h'/∂(n's pre-activation)
        d_r = delta * q_n * r * (1.0 - r)
        d_z = (h - n) * z * (1.0 - z)
        e_in = np.stack([d_r, d_z, delta], axis=-1)  # (B, H, 3)
        e_rec = np.stack([d_r, d_z, delta * r], axis=-1)
        return LocalDerivatives(h_new, e_in, e_rec, z[:, :, None], x_t, h)


def _input_side(params: Params, x: Array, H: int) -> Array:
    """W_ih x + b_ih for all steps, with b_hr and b_hz folded in; b_hn must stay inside
    r ⊙ (W_hn h + b_hn), so it is left out. (T, B, I) -> (T, B, 3H)."""
    if native.serves("gemm", dtype=common_dtype(params, x)):
        return gru_native.input_side(params, x)
    b_in = params["bias_ih"].copy()
    b_in[: 2 * H] += params["bias_hh"][: 2 * H]
    return input_projection(x, params["weight_ih"], b_in)


def _step_factors(gates: Array, hn: Array, h0: Array, hs: Array):
    """The local derivatives of every step at once (nothing recursive in them):

    A = (1 − z)(1 − n²)   Fr = A·q·r(1 − r)   Fz = (h_{t−1} − n)·z(1 − z)
    FX = [Fr, Fz, A]  (δ on the input side = dh·FX)    FH = [Fr, Fz, A·r]  (recurrent side)
    """
    H = hn.shape[-1]
    r, z, n = gates[..., :H], gates[..., H : 2 * H], gates[..., 2 * H :]
    h_prev = np.concatenate([h0[None], hs[:-1]], axis=0)
    A = (1.0 - z) * (1.0 - n * n)
    FX = np.empty_like(gates)
    FX[..., :H] = A * hn * r * (1.0 - r)
    FX[..., H : 2 * H] = (h_prev - n) * z * (1.0 - z)
    FX[..., 2 * H :] = A
    FH = FX.copy()
    FH[..., 2 * H :] *= r
    return FX, FH
