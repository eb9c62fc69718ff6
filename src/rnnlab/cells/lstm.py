"""Long short-term memory, Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al.
2000; PyTorch's torch.nn.LSTM (gate rows i, f, g, o)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import native
from ..activations import sigmoid
from . import lstm_native
from .base import (
    Array,
    Cell,
    HiddenSequenceCache,
    LocalDerivatives,
    Params,
    ParamSpec,
    common_dtype,
)
from .ops import gated_grads, input_projection, split_through_carry
from .registry import register


@dataclass(eq=False, kw_only=True)
class LSTMCache(HiddenSequenceCache):
    """The LSTM's cache, from the NumPy loop or the kernels (either backward takes either).

    batch_major: x, hs and mask are stored (B, T, ·) and (B, T), as the layers hold them (a
    kernel forward in layout "batch"); cs, acts and tanh_cs are time-major always.
    """

    c0: Array  # (B, H)
    cs: Array  # (T, B, H) c_t after every step
    tanh_cs: Array | None  # (T, B, H) tanh c_t, or None (the kernels do not keep it)
    acts: Array  # (T, B, 4H) i, f, g, o after their nonlinearities
    # a kernel forward's packed W_hh and W_ih for its backward, packed (or found in
    # rnnlab.native's cache) with the forward's weights: one check of the weights per training
    # step, not one per pass; None: the backward packs or looks them up itself
    packed: tuple[Array, Array] | None = None


@register
@dataclass(frozen=True)
class LSTMCell(Cell):
    """LSTM cell (torch.nn.LSTM layout, gate rows stacked [i; f; g; o]).

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
        f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate
        o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
        c' = f ⊙ c + i ⊙ g
        h' = o ⊙ tanh(c')

    Shapes: x (B, I), h and c (B, H); weight_ih (4H, I), weight_hh (4H, H), biases (4H). The
    fast path computes the four gates with one fused matmul per step. Backward, with dh, dc the
    gradients arriving at h', c':

        dc  = dc + dh ⊙ o ⊙ (1 - tanh²c')       do = dh ⊙ tanh c'
        di = dc ⊙ g   df = dc ⊙ c   dg = dc ⊙ i   dc_prev = dc ⊙ f
        pre-activation gradients through σ' = s(1-s) and tanh' = 1-g²; dh_prev = δ W_hh

    Local derivatives (online learners), state s = [h; c], τ = tanh c':
        ∂c'/∂(i, f, g, o) pre = (g i(1−i), c f(1−f), i(1−g²), 0)
        ∂h'/∂(i, f, g) pre = o(1−τ²) ∂c'/∂(·),   ∂h'/∂o pre = τ o(1−o)
        direct: ∂c'/∂c = f,  ∂h'/∂c = o(1−τ²) f  (∂·/∂h goes only through q)

    float32 calls with H a multiple of 16 and no recurrent dropout run on the compiled
    kernels (cells/lstm_native.py), which in layout "batch" read and write the layers'
    (B, T, ·) arrays in place.
    """

    name: ClassVar[str] = "lstm"
    layer_name: ClassVar[str] = "LSTM"
    state_names: ClassVar[tuple[str, ...]] = ("h", "c")
    gates: ClassVar[int] = 4

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        H, I = units, input_size
        return {
            "weight_ih": ParamSpec((4 * H, I), "kernel"),
            "weight_hh": ParamSpec((4 * H, H), "recurrent", blocks=4),
            "bias_ih": ParamSpec((4 * H,), "bias"),
            "bias_hh": ParamSpec((4 * H,), "bias"),
        }

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """One step, as the equations read. Returns (h', c')."""
        h, c = states
        H = h.shape[-1]
        w_ih, w_hh = params["weight_ih"], params["weight_hh"]
        b_ih, b_hh = params["bias_ih"], params["bias_hh"]

        def gate(k):
            rows = slice(k * H, (k + 1) * H)
            return x_t @ w_ih[rows].T + b_ih[rows] + h @ w_hh[rows].T + b_hh[rows]

        i = sigmoid(gate(0))
        f = sigmoid(gate(1))
        g = np.tanh(gate(2))
        o = sigmoid(gate(3))
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        return h_new, c_new

    # -- the sequence: the kernels where they serve, else the NumPy loop -------------------------
    def _kernels_serve(self, params: Params, x: Array, recurrent_mask: Array | None) -> bool:
        return native.serves(
            "lstm",
            dtype=common_dtype(params, x),
            units=params["weight_hh"].shape[1],
            recurrent_dropout=recurrent_mask is not None,
        )

    def _on_kernels(self, params, x, states, mask, keep_cache, batch_major):
        x = np.ascontiguousarray(x, dtype=np.float32)
        hs, finals, kept = lstm_native.forward(
            params, x, states, mask, keep_cache=keep_cache, batch_major=batch_major
        )
        if kept is None:
            return hs, finals, None
        cs, acts, packed = kept
        cache = LSTMCache(
            params=params,
            x=x,
            mask=mask,
            recurrent_mask=None,
            h0=states[0],
            c0=states[1],
            hs=hs,
            cs=cs,
            tanh_cs=None,
            acts=acts,
            batch_major=batch_major,
            packed=packed,
        )
        return hs, finals, cache

    def forward(
        self, params, x, states, *, mask=None, recurrent_mask=None, keep_cache=True, layout="time"
    ):
        if layout == "batch" and self._kernels_serve(params, x, recurrent_mask):
            self.check_call(x, states, layout)  # the kernels read (B, T, ·) in place
            hs, finals, cache = self._on_kernels(params, x, states, mask, keep_cache, True)
            if cache is None:
                return hs, finals, None
            cache.layout = "batch"
            return hs.copy(), finals, cache  # the caller's outputs, not the cache's
        return super().forward(
            params,
            x,
            states,
            mask=mask,
            recurrent_mask=recurrent_mask,
            keep_cache=keep_cache,
            layout=layout,
        )

    def backward(self, cache: LSTMCache, d_outputs, d_final):
        if cache is not None and cache.batch_major:  # a kernel forward on the layers' layout
            if self._kernels_serve(cache.params, cache.x, cache.recurrent_mask):
                return lstm_native.backward(cache, d_outputs, d_final)
            cache = cache.time_major()
        return super().backward(cache, d_outputs, d_final)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        if self._kernels_serve(params, x, recurrent_mask):
            return self._on_kernels(params, x, states, mask, keep_cache, False)
        h0, c0 = states
        T, B, _ = x.shape
        H = h0.shape[1]
        w_ih, w_hh_t, bias = _sigmoid_rows_halved(params, H)
        gates_in = input_projection(x, w_ih, bias)  # (T, B, 4H), σ rows halved
        # with a cache every step keeps its gates, c_t and tanh c_t; without, one slot is
        # reused (c in two, so that c_{t-1} is still there while c_t is written)
        steps, c_slots = (T, T) if keep_cache else (1, 2)
        acts = np.empty((steps, B, 4 * H), dtype=x.dtype)  # [i, f, g, o] after σ / tanh
        cs = np.empty((c_slots, B, H), dtype=x.dtype)
        tanh_cs = np.empty((steps, B, H), dtype=x.dtype)
        hs = np.empty((T, B, H), dtype=x.dtype)
        ig = np.empty((B, H), dtype=x.dtype)
        if mask is not None:
            c_buf, h_buf = np.empty((B, H), dtype=x.dtype), np.empty((B, H), dtype=x.dtype)
        h, c = h0, c0
        for t in range(T):
            k, kc = t % steps, t % c_slots
            h_read = h if recurrent_mask is None else h * recurrent_mask
            a = acts[k]
            np.matmul(h_read, w_hh_t, out=a)
            a += gates_in[t]
            np.tanh(a, out=a)  # g = tanh(a_g); i, f, o still need s = ½(t + 1)
            for sig in (a[:, : 2 * H], a[:, 3 * H :]):
                sig *= 0.5
                sig += 0.5
            i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c_new, h_new = (cs[kc], hs[t]) if mask is None else (c_buf, h_buf)
            np.multiply(f, c, out=c_new)  # c' = f ⊙ c + i ⊙ g
            np.multiply(i, g, out=ig)
            c_new += ig
            np.tanh(c_new, out=tanh_cs[k])
            np.multiply(o, tanh_cs[k], out=h_new)  # h' = o ⊙ tanh(c')
            if mask is not None:
                m = mask[t][:, None]
                np.copyto(cs[kc], np.where(m, c_new, c))
                np.copyto(hs[t], np.where(m, h_new, h))
            h, c = hs[t], cs[kc]
        cache = (
            LSTMCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=recurrent_mask,
                h0=h0,
                c0=c0,
                hs=hs,
                cs=cs,
                tanh_cs=tanh_cs,
                acts=acts,
            )
            if keep_cache
            else None
        )
        return hs, (h.copy(), c.copy()), cache

    def states_at(self, cache: LSTMCache, t: int) -> tuple[Array, ...]:
        """(h_t, c_t) after step t."""
        return (cache.hs[:, t] if cache.batch_major else cache.hs[t]), cache.cs[t]

    def backward_steps(self, cache: LSTMCache, d_outputs, d_final):
        if self._kernels_serve(cache.params, cache.x, cache.recurrent_mask):
            return lstm_native.backward(cache, d_outputs, d_final)
        params, hs, acts, mask, recurrent_mask = (
            cache.params,
            cache.hs,
            cache.acts,
            cache.mask,
            cache.recurrent_mask,
        )
        T, B, H = hs.shape
        w_hh = params["weight_hh"]
        # a forward on the kernels does not keep tanh c_t
        tanh_cs = np.tanh(cache.cs) if cache.tanh_cs is None else cache.tanh_cs
        F, K = _gate_factors(acts, cache.cs, cache.c0, tanh_cs)
        d_pre = np.empty_like(acts)  # (T, B, 4H)
        dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
        dc = np.zeros((B, H), dtype=hs.dtype) if d_final[1] is None else d_final[1].copy()
        for t in range(T - 1, -1, -1):
            if d_outputs is not None:
                dh += d_outputs[t]
            m_t = None if mask is None else mask[t]
            dh_cell, dh_carried = split_through_carry(m_t, dh)
            dc_cell, dc_carried = split_through_carry(m_t, dc)
            dc_cell = dc_cell + dh_cell * K[t]  # dc + dh ⊙ o ⊙ (1 − tanh²c')
            d = d_pre[t]
            np.multiply(
                dc_cell[:, None, :], F[t].reshape(B, 4, H)[:, :3], out=d.reshape(B, 4, H)[:, :3]
            )  # δ_i, δ_f, δ_g in one product
            np.multiply(dh_cell, F[t, :, 3 * H :], out=d[:, 3 * H :])  # δ_o
            dc = dc_cell * acts[t, :, H : 2 * H]  # dc_prev = dc ⊙ f
            dh = d @ w_hh
            if recurrent_mask is not None:
                dh *= recurrent_mask
            if dh_carried is not None:
                dh += dh_carried
                dc += dc_carried
        dx, grads = gated_grads(
            d_pre, d_pre, cache.x, cache.h0, hs, recurrent_mask, params["weight_ih"]
        )
        return dx, (dh, dc), grads

    def local_derivatives(self, params, x_t, states) -> LocalDerivatives:
        h, c = states
        H = h.shape[1]
        pre = (
            x_t @ params["weight_ih"].T
            + params["bias_ih"]
            + h @ params["weight_hh"].T
            + params["bias_hh"]
        )  # (B, 4H) rows i, f, g, o
        i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H : 2 * H])
        g, o = np.tanh(pre[:, 2 * H : 3 * H]), sigmoid(pre[:, 3 * H :])
        c_new = f * c + i * g
        tc = np.tanh(c_new)
        h_new = o * tc
        dc = np.stack(
            [g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g), np.zeros_like(o)], axis=-1
        )  # (B, H, 4): ∂c'/∂pre
        through_c = o * (1.0 - tc * tc)  # ∂h'/∂c'
        dh = through_c[..., None] * dc
        dh[..., 3] = tc * o * (1.0 - o)
        e = np.concatenate([dh, dc], axis=1)  # (B, 2H, 4)
        zero = np.zeros_like(f)
        direct = np.concatenate(
            [
                np.stack([zero, through_c * f], axis=-1),  # rows h'_k
                np.stack([zero, f], axis=-1),
            ],
            axis=1,
        )  # rows c'_k: (B, 2H, 2)
        return LocalDerivatives(np.concatenate([h_new, c_new], axis=1), e, e, direct, x_t, h)


def _sigmoid_rows_halved(params: Params, H: int):
    """Copies of the weights and summed bias with the σ-gate rows (i, f, o) scaled by ½.

    σ(a) = ½(1 + tanh(a/2)): with the i, f, o pre-activations halved, ONE tanh over the whole
    contiguous (B, 4H) gate block computes all four nonlinearities, and s = ½(t + 1) finishes
    the σ gates. The returned arrays are fresh, so edits to params always take effect.
    """
    scale = np.full(4 * H, 0.5, dtype=params["weight_ih"].dtype)
    scale[2 * H : 3 * H] = 1.0
    w_ih = params["weight_ih"] * scale[:, None]
    w_hh_t = np.ascontiguousarray((params["weight_hh"] * scale[:, None]).T)  # (H, 4H)
    bias = (params["bias_ih"] + params["bias_hh"]) * scale
    return w_ih, w_hh_t, bias


def _gate_factors(acts: Array, cs: Array, c0: Array, tanh_cs: Array):
    """The local derivatives of the step, for all t at once (no recursion in them):

        F[t] = [g·σ'(i), c_{t−1}·σ'(f), i·tanh'(g), tanh(c_t)·σ'(o)]   (T, B, 4H)
        K[t] = o·(1 − tanh²c_t)                                          (T, B, H)

    so that inside the time loop δ_{i,f,g} = dc·F[:, :3H] (one broadcast product) and
    δ_o = dh·F[:, 3H:].
    """
    H = acts.shape[-1] // 4
    i, f, g, o = (acts[..., k * H : (k + 1) * H] for k in range(4))
    c_prev = np.concatenate([c0[None], cs[:-1]], axis=0)
    F = np.empty_like(acts)
    np.multiply(g, i * (1.0 - i), out=F[..., :H])
    np.multiply(c_prev, f * (1.0 - f), out=F[..., H : 2 * H])
    np.multiply(i, 1.0 - g * g, out=F[..., 2 * H : 3 * H])
    np.multiply(tanh_cs, o * (1.0 - o), out=F[..., 3 * H :])
    K = o * (1.0 - tanh_cs * tanh_cs)
    return F, K
