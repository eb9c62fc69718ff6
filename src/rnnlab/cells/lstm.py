"""Long short-term memory, Hochreiter & Schmidhuber 1997 with the forget gate of Gers et al.
2000; PyTorch's torch.nn.LSTM (gate rows i, f, g, o).

    i = σ(W_ii x + b_ii + W_hi h + b_hi)        input gate
    f = σ(W_if x + b_if + W_hf h + b_hf)        forget gate
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)     candidate
    o = σ(W_io x + b_io + W_ho h + b_ho)        output gate
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

Shapes: x (B, I), h and c (B, H); weight_ih (4H, I), weight_hh (4H, H), biases (4H), rows
stacked [i; f; g; o]. The fast path computes the four gates with one fused matmul per step.
Backward, with dh, dc the gradients arriving at h', c':
    dc  = dc + dh ⊙ o ⊙ (1 - tanh²c')       do = dh ⊙ tanh c'
    di = dc ⊙ g   df = dc ⊙ c   dg = dc ⊙ i   dc_prev = dc ⊙ f
    pre-activation gradients through σ' = s(1-s) and tanh' = 1-g²; dh_prev = δ W_hh
"""

from __future__ import annotations

import numpy as np

from ..activations import sigmoid
from ._common import carry, gated_grads, input_projection, split_through_carry


def lstm_step(x_t, h, c, params):
    """One step, as the equations read. Returns (h', c')."""
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


def forward(params, x, states, mask=None, recurrent_mask=None):
    """Run the whole sequence. x (T, B, I), states = (h0, c0) each (B, H).

    Returns hs (T, B, H), final states (h_T, c_T), and the cache.
    """
    h0, c0 = states
    T, B, _ = x.shape
    H = h0.shape[1]
    w_hh_t = params["weight_hh"].T  # (H, 4H)
    gates_in = input_projection(x, params["weight_ih"], params["bias_ih"] + params["bias_hh"])
    acts = np.empty((T, B, 4 * H), dtype=x.dtype)  # [i, f, g, o] after their nonlinearities
    hs = np.empty((T, B, H), dtype=x.dtype)
    cs = np.empty((T, B, H), dtype=x.dtype)
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        h_read = h if recurrent_mask is None else h * recurrent_mask
        a = acts[t]
        np.matmul(h_read, w_hh_t, out=a)
        a += gates_in[t]  # (B, 4H) pre-activations
        sigmoid(a[:, : 2 * H], out=a[:, : 2 * H])
        np.tanh(a[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
        sigmoid(a[:, 3 * H :], out=a[:, 3 * H :])
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c_new = f * c
        c_new += i * g
        tc = np.tanh(c_new)
        h_new = o * tc
        m_t = None if mask is None else mask[t]
        c = carry(m_t, c_new, c)
        h = carry(m_t, h_new, h)
        hs[t], cs[t], tanh_cs[t] = h, c, tc
    cache = (params, x, h0, c0, hs, cs, tanh_cs, acts, mask, recurrent_mask)
    return hs, (h, c), cache


def states_at(cache, t: int) -> tuple:
    """The states after step t of the last forward: (h_t, c_t)."""
    return (cache[4][t], cache[5][t])


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence. d_outputs (T, B, H) or None; d_final = (dh_T, dc_T) or Nones."""
    params, x, h0, c0, hs, cs, tanh_cs, acts, mask, recurrent_mask = cache
    T, B, H = hs.shape
    w_hh = params["weight_hh"]
    d_pre = np.empty_like(acts)  # (T, B, 4H)
    dh = np.zeros((B, H), dtype=hs.dtype) if d_final[0] is None else d_final[0].copy()
    dc = np.zeros((B, H), dtype=hs.dtype) if d_final[1] is None else d_final[1].copy()
    for t in range(T - 1, -1, -1):
        if d_outputs is not None:
            dh += d_outputs[t]
        m_t = None if mask is None else mask[t]
        dh_cell, dh_carried = split_through_carry(m_t, dh)
        dc_cell, dc_carried = split_through_carry(m_t, dc)
        a = acts[t]
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        tc = tanh_cs[t]
        c_prev = cs[t - 1] if t > 0 else c0
        dc_cell = dc_cell + dh_cell * o * (1.0 - tc * tc)
        d = d_pre[t]
        d[:, :H] = dc_cell * g * i * (1.0 - i)
        d[:, H : 2 * H] = dc_cell * c_prev * f * (1.0 - f)
        d[:, 2 * H : 3 * H] = dc_cell * i * (1.0 - g * g)
        d[:, 3 * H :] = dh_cell * tc * o * (1.0 - o)
        dc = dc_cell * f
        dh = d @ w_hh
        if recurrent_mask is not None:
            dh *= recurrent_mask
        if dh_carried is not None:
            dh += dh_carried
            dc += dc_carried
    dx, grads = gated_grads(d_pre, d_pre, x, h0, hs, recurrent_mask, params["weight_ih"])
    return dx, (dh, dc), grads
