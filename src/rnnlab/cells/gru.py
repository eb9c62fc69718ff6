"""Gated recurrent unit, Cho et al. 2014, in PyTorch's variant (torch.nn.GRU): the reset gate
multiplies the recurrent matmul *after* it, r ⊙ (W_hn h + b_hn). Gate rows r, z, n.

    r = σ(W_ir x + b_ir + W_hr h + b_hr)           reset gate
    z = σ(W_iz x + b_iz + W_hz h + b_hz)           update gate
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))  candidate
    h' = (1 - z) ⊙ n + z ⊙ h

Shapes: x (B, I), h (B, H); weight_ih (3H, I), weight_hh (3H, H), biases (3H), rows [r; z; n].
Backward, with dh the gradient arriving at h' and q = W_hn h + b_hn:
    dn = dh ⊙ (1-z)    dz = dh ⊙ (h - n)    dh_prev = dh ⊙ z + δ_h W_hh
    δ_n = dn ⊙ (1-n²)  dr = δ_n ⊙ q         dq = δ_n ⊙ r
    δ_x = [dr σ', dz σ', δ_n] feeds W_ih, b_ih;  δ_h = [dr σ', dz σ', dq] feeds W_hh, b_hh
"""

from __future__ import annotations

import numpy as np

from ..activations import sigmoid
from . import gru_native
from ._common import StepMatmul, gated_grads, input_projection, split_through_carry


def gru_step(x_t, h, params):
    """One step, as the equations read. Returns h'."""
    H = h.shape[-1]
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    b_ih, b_hh = params["bias_ih"], params["bias_hh"]
    rows = [slice(k * H, (k + 1) * H) for k in range(3)]
    r = sigmoid(x_t @ w_ih[rows[0]].T + b_ih[rows[0]] + h @ w_hh[rows[0]].T + b_hh[rows[0]])
    z = sigmoid(x_t @ w_ih[rows[1]].T + b_ih[rows[1]] + h @ w_hh[rows[1]].T + b_hh[rows[1]])
    n = np.tanh(x_t @ w_ih[rows[2]].T + b_ih[rows[2]] + r * (h @ w_hh[rows[2]].T + b_hh[rows[2]]))
    return (1.0 - z) * n + z * h


def _input_side(params, x, H: int):
    """W_ih x + b_ih for all steps, with b_hr and b_hz folded in; b_hn must stay inside
    r ⊙ (W_hn h + b_hn), so it is left out. (T, B, I) -> (T, B, 3H)."""
    b_in = params["bias_ih"].copy()
    b_in[: 2 * H] += params["bias_hh"][: 2 * H]
    return input_projection(x, params["weight_ih"], b_in)


def forward(params, x, states, mask=None, recurrent_mask=None):
    """Run the whole sequence. x (T, B, I), states = (h0,) with h0 (B, H).

    Returns hs (T, B, H), final states (h_T,), and the cache.
    """
    (h0,) = states
    T, B, _ = x.shape
    H = h0.shape[1]
    b_hh = params["bias_hh"]
    x_proj = _input_side(params, x, H)  # (T, B, 3H)
    if gru_native.usable(params, x, recurrent_mask):  # the loop on the compiled kernels
        hs, (gates, hn) = gru_native.forward(params, x_proj, states, mask)
        h_T = hs[-1].copy() if T else h0.copy()
        return hs, (h_T,), (params, x, h0, hs, gates, hn, mask, recurrent_mask)
    recurrent = StepMatmul("gru.h_whh", params["weight_hh"], transpose=True)  # h W_hhᵀ
    gates = np.empty((T, B, 3 * H), dtype=x.dtype)  # [r, z, n] after their nonlinearities
    hn = np.empty((T, B, H), dtype=x.dtype)  # q = W_hn h + b_hn
    hs = np.empty((T, B, H), dtype=x.dtype)
    h_proj = np.empty((B, 3 * H), dtype=x.dtype)
    buf = None if mask is None else np.empty((B, H), dtype=x.dtype)
    h = h0
    for t in range(T):
        h_read = h if recurrent_mask is None else h * recurrent_mask
        recurrent(h_read, out=h_proj)  # (B, 3H)
        g = gates[t]
        np.add(x_proj[t, :, : 2 * H], h_proj[:, : 2 * H], out=g[:, : 2 * H])
        sigmoid(g[:, : 2 * H], out=g[:, : 2 * H])
        q = hn[t]
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
    cache = (params, x, h0, hs, gates, hn, mask, recurrent_mask)
    return hs, (h.copy(),), cache


def forward_inference(params, x, states, mask=None):
    """forward() without a cache: the gate buffers are reused at every step.

    Returns hs (T, B, H) and the final states (h_T,); the same numbers as forward().
    """
    (h0,) = states
    T, B, _ = x.shape
    H = h0.shape[1]
    b_hh = params["bias_hh"]
    x_proj = _input_side(params, x, H)  # (T, B, 3H)
    if gru_native.usable(params, x):
        hs, _ = gru_native.forward(params, x_proj, states, mask, keep_cache=False)
        return hs, (hs[-1].copy() if T else h0.copy(),)
    recurrent = StepMatmul("gru.h_whh", params["weight_hh"], transpose=True)
    h_proj = np.empty((B, 3 * H), dtype=x.dtype)
    g = np.empty((B, 3 * H), dtype=x.dtype)
    hs = np.empty((T, B, H), dtype=x.dtype)
    buf = np.empty((B, H), dtype=x.dtype)
    h = h0
    for t in range(T):
        recurrent(h, out=h_proj)
        np.add(x_proj[t, :, : 2 * H], h_proj[:, : 2 * H], out=g[:, : 2 * H])
        sigmoid(g[:, : 2 * H], out=g[:, : 2 * H])
        r, z, n = g[:, :H], g[:, H : 2 * H], g[:, 2 * H :]
        np.add(h_proj[:, 2 * H :], b_hh[2 * H :], out=n)
        n *= r
        n += x_proj[t, :, 2 * H :]
        np.tanh(n, out=n)
        h_new = hs[t] if mask is None else buf
        np.subtract(h, n, out=h_new)
        h_new *= z
        h_new += n
        if mask is not None:
            np.copyto(hs[t], np.where(mask[t][:, None], h_new, h))
        h = hs[t]
    return hs, (h.copy(),)


def states_at(cache, t: int) -> tuple:
    """The states after step t of the last forward: (h_t,)."""
    return (cache[3][t],)


def _step_factors(gates, hn, h0, hs):
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


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence. d_outputs (T, B, H) or None; d_final = (dh_T or None,)."""
    params, x, h0, hs, gates, hn, mask, recurrent_mask = cache
    T, B, H = hs.shape
    back = StepMatmul("gru.d_whh", params["weight_hh"])  # δ W_hh, (3H, H)
    FX, FH = _step_factors(gates, hn, h0, hs)
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
    dx, grads = gated_grads(d_x, d_h, x, h0, hs, recurrent_mask, params["weight_ih"])
    return dx, (dh,), grads
