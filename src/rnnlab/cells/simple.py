"""Elman network ("SimpleRNN"), Elman 1990; PyTorch's torch.nn.RNN."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import activations, native
from . import simple_native
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

ACTIVATIONS = ("tanh", "relu")
_IN_PLACE = {"tanh": lambda a: np.tanh(a, out=a), "relu": lambda a: np.maximum(a, 0.0, out=a)}


@dataclass(eq=False, kw_only=True)
class SimpleRNNCache(HiddenSequenceCache):
    """The Elman network's cache, from the NumPy loop or the kernels (either backward takes
    either): h0 and the states hs, nothing more (the backward recomputes act' from hs)."""


@register
@dataclass(frozen=True)
class SimpleRNNCell(Cell):
    """Elman network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Shapes: x_t (B, I), h (B, H); weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
    Backward through time, with a_t the pre-activation and δ_t = ∂L/∂a_t:

        δ_t = (∂L/∂h_t) ⊙ act'(a_t),   ∂L/∂h_{t-1} += δ_t W_hh,   ∂L/∂x_t = δ_t W_ih
        ∂L/∂W_ih = Σ_t δ_tᵀ x_t,  ∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1},  ∂L/∂b_ih = ∂L/∂b_hh = Σ_t δ_t

    Local derivatives (online learners): e_in = e_rec = act'(a_t), direct = 0.

    float32 calls with H a multiple of 16 and no recurrent dropout run both time loops on the
    compiled kernels (cells/simple_native.py); otherwise this NumPy code.
    """

    activation: str = "tanh"

    name: ClassVar[str] = "rnn"
    layer_name: ClassVar[str] = "SimpleRNN"
    gates: ClassVar[int] = 1

    def __post_init__(self):
        activations.get(self.activation, type(self).__name__, ACTIVATIONS)

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        H, I = units, input_size
        return {
            "weight_ih": ParamSpec((H, I), "kernel"),
            "weight_hh": ParamSpec((H, H), "recurrent"),
            "bias_ih": ParamSpec((H,), "bias"),
            "bias_hh": ParamSpec((H,), "bias"),
        }

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """h' = act(W_ih x + b_ih + W_hh h + b_hh)."""
        act, _ = activations.ACTIVATIONS[self.activation]
        (h,) = states
        return (
            act(
                x_t @ params["weight_ih"].T
                + params["bias_ih"]
                + h @ params["weight_hh"].T
                + params["bias_hh"]
            ),
        )

    def forward(
        self, params, x, states, *, mask=None, recurrent_mask=None, keep_cache=True, layout="time"
    ):
        if layout == "batch" and self._on_kernels(params, x, recurrent_mask):
            self.check_call(x, states, layout)  # the kernels read and write (B, T, ·) in place
            (h0,) = states
            hs = simple_native.forward(params, x, h0, mask, self.activation, True)
            finals = (hs[:, -1].copy() if hs.shape[1] else h0.copy(),)
            if not keep_cache:
                return hs, finals, None
            cache = SimpleRNNCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=recurrent_mask,
                h0=h0,
                hs=hs,
                batch_major=True,
                layout="batch",
            )
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

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        act_in_place = _IN_PLACE[self.activation]
        (h0,) = states
        if self._on_kernels(params, x, recurrent_mask):  # cells/simple_native.py
            hs = simple_native.forward(params, x, h0, mask, self.activation)
            cache = (
                SimpleRNNCache(
                    params=params, x=x, mask=mask, recurrent_mask=recurrent_mask, h0=h0, hs=hs
                )
                if keep_cache
                else None
            )
            return hs, (hs[-1].copy() if len(hs) else h0.copy(),), cache
        recurrent = native.RecurrentProduct("simple.h_whh", params["weight_hh"], transpose=True)
        a_in = input_projection(x, params["weight_ih"], params["bias_ih"] + params["bias_hh"])
        T, B, H = a_in.shape
        hs = np.empty((T, B, H), dtype=x.dtype)
        buf = None if mask is None else np.empty((B, H), dtype=x.dtype)
        h = h0
        for t in range(T):
            h_read = h if recurrent_mask is None else h * recurrent_mask
            h_new = hs[t] if mask is None else buf
            recurrent(h_read, out=h_new)
            h_new += a_in[t]
            act_in_place(h_new)  # (B, H)
            if mask is not None:
                np.copyto(hs[t], np.where(mask[t][:, None], h_new, h))
            h = hs[t]
        cache = (
            SimpleRNNCache(
                params=params, x=x, mask=mask, recurrent_mask=recurrent_mask, h0=h0, hs=hs
            )
            if keep_cache
            else None
        )
        return hs, (h.copy(),), cache

    def backward(self, cache: SimpleRNNCache, d_outputs, d_final):
        if cache is not None and cache.batch_major:  # a kernel forward on the layers' layout
            if self._on_kernels(cache.params, cache.x, cache.recurrent_mask):
                return simple_native.backward(cache, d_outputs, d_final, self.activation)
            cache = cache.time_major()
        return super().backward(cache, d_outputs, d_final)

    def states_at(self, cache: SimpleRNNCache, t: int) -> tuple[Array, ...]:
        return (cache.hs[:, t] if cache.batch_major else cache.hs[t],)

    def _on_kernels(self, params, x, recurrent_mask) -> bool:
        return native.serves(
            "rnn",
            dtype=common_dtype(params, x),
            units=params["weight_hh"].shape[1],
            recurrent_dropout=recurrent_mask is not None,
        )

    def backward_steps(self, cache: SimpleRNNCache, d_outputs, d_final):
        params, hs, mask, recurrent_mask = cache.params, cache.hs, cache.mask, cache.recurrent_mask
        if self._on_kernels(params, cache.x, recurrent_mask):
            return simple_native.backward(cache, d_outputs, d_final, self.activation)
        _, act_backward = activations.ACTIVATIONS[self.activation]
        back = native.RecurrentProduct("simple.d_whh", params["weight_hh"])  # δ W_hh
        T, B, H = hs.shape
        d_pre = np.empty_like(hs)  # (T, B, H): δ_t
        slope = act_backward(hs, np.ones_like(hs))  # act'(a_t) for all t at once, from h_t
        dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
        for t in range(T - 1, -1, -1):
            if d_outputs is not None:
                dh += d_outputs[t]
            m_t = None if mask is None else mask[t]
            dh_cell, dh_carried = split_through_carry(m_t, dh)
            delta = np.multiply(dh_cell, slope[t], out=d_pre[t])  # 0 on masked rows
            dh = back(delta)
            if recurrent_mask is not None:
                dh *= recurrent_mask
            if dh_carried is not None:
                dh += dh_carried
        dx, grads = gated_grads(
            d_pre, d_pre, cache.x, cache.h0, hs, recurrent_mask, params["weight_ih"]
        )
        return dx, (dh,), grads

    def local_derivatives(self, params, x_t, states) -> LocalDerivatives:
        (h,) = states
        pre = (
            x_t @ params["weight_ih"].T
            + params["bias_ih"]
            + h @ params["weight_hh"].T
            + params["bias_hh"]
        )  # (B, H)
        if self.activation == "tanh":
            h_new = np.tanh(pre)
            d = 1.0 - h_new * h_new
        else:  # relu
            h_new = np.maximum(pre, 0.0)
            d = (h_new > 0).astype(pre.dtype)  # relu'(0) = 0, as in rnnlab.activations
        e = d[:, :, None]  # (B, H, 1)
        return LocalDerivatives(h_new, e, e, np.zeros_like(e), x_t, h)
