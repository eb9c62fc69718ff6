"""Jordan network, Jordan 1986: the previous *output* is fed back as context.

    h_t = act(W_ih x_t + W_ch y_{t-1} + b_h)       hidden layer
    y_t = out(W_ho h_t + b_o)                       output layer, fed back at t+1

Unlike the Elman network, the state carried through time is the output y (B, O), not h.
Shapes: x_t (B, I), h (B, H), y (B, O); weight_ih (H, I), weight_ch (H, O), bias_h (H),
weight_ho (O, H), bias_o (O). act ∈ {tanh, relu, sigmoid}; out ∈ {tanh, sigmoid, linear,
relu, softmax}. PyTorch has no Jordan layer; gradients are checked by finite differences.
Backward, with dy the gradient arriving at y_t:
    δo_t = out'(dy)   ∂L/∂h_t = δo_t W_ho   δh_t = act'(∂L/∂h_t)   ∂L/∂y_{t-1} += δh_t W_ch
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ._common import carry, input_projection, previous_states, split_through_carry, weight_grad

HIDDEN_ACTIVATIONS = ("tanh", "relu", "sigmoid")
OUTPUT_ACTIVATIONS = ("tanh", "sigmoid", "linear", "relu", "softmax")


def jordan_step(x_t, y, params, activation="tanh", output_activation="tanh"):
    """One step, as the equations read. Returns (y', h')."""
    act, _ = activations.get(activation, "jordan_step", HIDDEN_ACTIVATIONS)
    out, _ = activations.get(output_activation, "jordan_step", OUTPUT_ACTIVATIONS)
    h = act(x_t @ params["weight_ih"].T + y @ params["weight_ch"].T + params["bias_h"])
    return out(h @ params["weight_ho"].T + params["bias_o"]), h


def forward(params, x, states, mask=None, recurrent_mask=None, activation="tanh",
            output_activation="tanh"):
    """Run the whole sequence. x (T, B, I), states = (y0,) with y0 (B, O).

    Returns ys (T, B, O), final states (y_T,), and the cache.
    """
    act, _ = activations.get(activation, "Jordan", HIDDEN_ACTIVATIONS)
    out, _ = activations.get(output_activation, "Jordan", OUTPUT_ACTIVATIONS)
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
    cache = (params, x, y0, hs, ys, mask, recurrent_mask, activation, output_activation)
    return ys, (y,), cache


def states_at(cache, t: int) -> tuple:
    """The states after step t of the last forward: (y_t,)."""
    return (cache[4][t],)


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence. d_outputs (T, B, O) or None; d_final = (dy_T or None,)."""
    params, x, y0, hs, ys, mask, recurrent_mask, activation, output_activation = cache
    _, act_backward = activations.get(activation, "Jordan", HIDDEN_ACTIVATIONS)
    _, out_backward = activations.get(output_activation, "Jordan", OUTPUT_ACTIVATIONS)
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
    y_prev = previous_states(y0, ys)
    if recurrent_mask is not None:
        y_prev = y_prev * recurrent_mask
    grads = {
        "weight_ih": weight_grad(d_hid, x),
        "weight_ch": weight_grad(d_hid, y_prev),
        "bias_h": d_hid.sum(axis=(0, 1)),
        "weight_ho": weight_grad(d_out, hs),
        "bias_o": d_out.sum(axis=(0, 1)),
    }
    dx = d_hid @ params["weight_ih"]
    return dx, (dy,), grads
