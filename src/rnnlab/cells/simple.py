"""Elman network ("SimpleRNN"), Elman 1990; PyTorch's torch.nn.RNN.

    h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),   act = tanh or relu

Shapes: x_t (B, I), h (B, H); weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
Backward through time, with a_t the pre-activation and δ_t = ∂L/∂a_t:
    δ_t = (∂L/∂h_t) ⊙ act'(a_t),   ∂L/∂h_{t-1} += δ_t W_hh,   ∂L/∂x_t = δ_t W_ih
    ∂L/∂W_ih = Σ_t δ_tᵀ x_t,  ∂L/∂W_hh = Σ_t δ_tᵀ h_{t-1},  ∂L/∂b_ih = ∂L/∂b_hh = Σ_t δ_t
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ._common import StepMatmul, gated_grads, input_projection, split_through_carry

ACTIVATIONS = ("tanh", "relu")


def simple_rnn_step(x_t, h, params, activation: str = "tanh"):
    """One step, as the equation reads: h' = act(W_ih x + b_ih + W_hh h + b_hh)."""
    act, _ = activations.get(activation, "simple_rnn_step", ACTIVATIONS)
    return act(x_t @ params["weight_ih"].T + params["bias_ih"]
               + h @ params["weight_hh"].T + params["bias_hh"])


_IN_PLACE = {"tanh": lambda a: np.tanh(a, out=a), "relu": lambda a: np.maximum(a, 0.0, out=a)}


def forward(params, x, states, mask=None, recurrent_mask=None, activation: str = "tanh"):
    """Run the whole sequence. x (T, B, I), states = (h0,) with h0 (B, H).

    Returns outputs hs (T, B, H) (the state after each step), final states (h_T,), and the cache.
    """
    activations.get(activation, "SimpleRNN", ACTIVATIONS)
    act_in_place = _IN_PLACE[activation]
    (h0,) = states
    recurrent = StepMatmul("simple.h_whh", params["weight_hh"], transpose=True)
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
    cache = (params, x, h0, hs, mask, recurrent_mask, activation)
    return hs, (h.copy(),), cache


def states_at(cache, t: int) -> tuple:
    """The states after step t of the last forward: (h_t,)."""
    return (cache[3][t],)


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence. d_outputs (T, B, H) or None, d_final = (dh_T or None,)."""
    params, x, h0, hs, mask, recurrent_mask, activation = cache
    _, act_backward = activations.get(activation, "SimpleRNN", ACTIVATIONS)
    back = StepMatmul("simple.d_whh", params["weight_hh"])  # δ W_hh
    T, B, H = hs.shape
    d_pre = np.empty_like(hs)  # (T, B, H): δ_t
    slope = act_backward(hs, np.ones_like(hs))  # act'(a_t) for all t at once, from h_t
    dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
    for t in range(T - 1, -1, -1):
        if d_outputs is not None:
            dh += d_outputs[t]
        m_t = None if mask is None else mask[t]
        dh_cell, dh_carried = split_through_carry(m_t, dh)
        delta = np.multiply(dh_cell, slope[t], out=d_pre[t])  # 0 on masked rows, as dh_cell is
        dh = back(delta)
        if recurrent_mask is not None:
            dh *= recurrent_mask
        if dh_carried is not None:
            dh += dh_carried
    dx, grads = gated_grads(d_pre, d_pre, x, h0, hs, recurrent_mask, params["weight_ih"])
    return dx, (dh,), grads
