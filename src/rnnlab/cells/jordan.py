"""Jordan network, Jordan 1986: the previous *output* is fed back as context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import activations
from .._validation import check_positive_int
from .base import Array, Cache, Cell, Params, ParamSpec
from .ops import carry, input_projection, previous_states, split_through_carry, weight_grad
from .registry import register

HIDDEN_ACTIVATIONS = ("tanh", "relu", "sigmoid")
OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", "linear", "relu", "softmax")


@dataclass(eq=False, kw_only=True)
class JordanCache(Cache):
    y0: Array  # (B, O)
    hs: Array  # (T, B, H) hidden layer after every step
    ys: Array  # (T, B, O) y_t after every step (the carried state)


@register
@dataclass(frozen=True)
class JordanCell(Cell):
    """Jordan network: the state carried through time is the output y (B, O), not h.

        h_t = act(W_ih x_t + W_ch y_{t-1} + b_h)       hidden layer
        y_t = out(W_ho h_t + b_o)                       output layer, fed back at t+1

    Options: output_units O, activation act ∈ {tanh, relu, sigmoid}, output_activation
    out ∈ {tanh, sigmoid, linear, relu, softmax}. Shapes: x_t (B, I), h (B, H), y (B, O);
    weight_ih (H, I), weight_ch (H, O), bias_h (H), weight_ho (O, H), bias_o (O). PyTorch has
    no Jordan layer; gradients are checked by finite differences. Backward, with dy the
    gradient arriving at y_t:

        δo_t = out'(dy)   ∂L/∂h_t = δo_t W_ho   δh_t = act'(∂L/∂h_t)   ∂L/∂y_{t-1} += δh_t W_ch
        ∂L/∂W_ih = Σ δh_tᵀ x_t   ∂L/∂W_ch = Σ δh_tᵀ y_{t-1}   ∂L/∂W_ho = Σ δo_tᵀ h_t

    No local derivatives: the online learners take the gated families only.
    """

    output_units: int
    activation: str = "tanh"
    output_activation: str = "tanh"

    name: ClassVar[str] = "jordan"
    layer_name: ClassVar[str] = "Jordan"
    state_names: ClassVar[tuple[str, ...]] = ("y",)

    def __post_init__(self):
        who = type(self).__name__
        check_positive_int(self.output_units, who, "output_units")
        activations.get(self.activation, who, HIDDEN_ACTIVATIONS)
        activations.get(self.output_activation, who, OUTPUT_ACTIVATIONS)

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        H, O, I = units, self.output_units, input_size
        return {
            "weight_ih": ParamSpec((H, I), "kernel"),
            "weight_ch": ParamSpec((H, O), "recurrent"),
            "bias_h": ParamSpec((H,), "bias"),
            "weight_ho": ParamSpec((O, H), "kernel"),
            "bias_o": ParamSpec((O,), "bias"),
        }

    def state_size(self, units: int) -> int:
        return self.output_units

    def _hidden(self, params: Params, x_t: Array, y: Array) -> Array:
        act, _ = activations.ACTIVATIONS[self.activation]
        return act(x_t @ params["weight_ih"].T + y @ params["weight_ch"].T + params["bias_h"])

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """h = act(W_ih x + W_ch y + b_h), y' = out(W_ho h + b_o)."""
        out, _ = activations.ACTIVATIONS[self.output_activation]
        h = self._hidden(params, x_t, states[0])
        return (out(h @ params["weight_ho"].T + params["bias_o"]),)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        act, _ = activations.ACTIVATIONS[self.activation]
        out, _ = activations.ACTIVATIONS[self.output_activation]
        (y0,) = states
        T, B, _ = x.shape
        H = params["weight_ih"].shape[0]
        w_ch_t, w_ho_t, b_o = params["weight_ch"].T, params["weight_ho"].T, params["bias_o"]
        h_in = input_projection(x, params["weight_ih"], params["bias_h"])  # (T, B, H)
        hs = np.empty((T, B, H), dtype=x.dtype)
        ys = np.empty((T, B, y0.shape[1]), dtype=x.dtype)
        y = y0
        for t in range(T):
            y_read = y if recurrent_mask is None else y * recurrent_mask
            hs[t] = act(h_in[t] + y_read @ w_ch_t)
            y_new = out(hs[t] @ w_ho_t + b_o)
            y = carry(None if mask is None else mask[t], y_new, y)
            ys[t] = y
        cache = (
            JordanCache(
                params=params, x=x, mask=mask, recurrent_mask=recurrent_mask, y0=y0, hs=hs, ys=ys
            )
            if keep_cache
            else None
        )
        return ys, (y,), cache

    def states_at(self, cache: JordanCache, t: int) -> tuple[Array, ...]:
        return (cache.ys[t],)

    def backward_steps(self, cache: JordanCache, d_outputs, d_final):
        _, act_backward = activations.ACTIVATIONS[self.activation]
        _, out_backward = activations.ACTIVATIONS[self.output_activation]
        params, hs, ys, mask, recurrent_mask = (
            cache.params,
            cache.hs,
            cache.ys,
            cache.mask,
            cache.recurrent_mask,
        )
        T, B, O = ys.shape
        w_ch, w_ho = params["weight_ch"], params["weight_ho"]
        d_out = np.empty_like(ys)  # (T, B, O): δ at the output pre-activation
        d_hid = np.empty_like(hs)  # (T, B, H): δ at the hidden pre-activation
        dy = np.zeros((B, O), dtype=ys.dtype) if d_final[0] is None else d_final[0].copy()
        for t in range(T - 1, -1, -1):
            if d_outputs is not None:
                dy += d_outputs[t]
            m_t = None if mask is None else mask[t]
            dy_cell, dy_carried = split_through_carry(m_t, dy)
            d_out[t] = out_backward(ys[t], dy_cell)
            d_hid[t] = act_backward(hs[t], d_out[t] @ w_ho)
            dy = d_hid[t] @ w_ch
            if recurrent_mask is not None:
                dy *= recurrent_mask
            if dy_carried is not None:
                dy += dy_carried
        y_prev = previous_states(cache.y0, ys)
        if recurrent_mask is not None:
            y_prev = y_prev * recurrent_mask
        grads = {
            "weight_ih": weight_grad(d_hid, cache.x),
            "weight_ch": weight_grad(d_hid, y_prev),
            "bias_h": d_hid.sum(axis=(0, 1)),
            "weight_ho": weight_grad(d_out, hs),
            "bias_o": d_out.sum(axis=(0, 1)),
        }
        dx = d_hid @ params["weight_ih"]
        return dx, (dy,), grads
