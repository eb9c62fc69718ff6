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
from . import lstm_native
from ._common import gated_grads, input_projection, split_through_carry


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


def _sigmoid_rows_halved(params, H: int):
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


def forward(params, x, states, mask=None, recurrent_mask=None):
    """Run the whole sequence. x (T, B, I), states = (h0, c0) each (B, H).

    Returns hs (T, B, H), final states (h_T, c_T), and the cache. Runs on the compiled
    kernels when lstm_native.usable() says they can take the call.
    """
    if lstm_native.usable(params, x, mask, recurrent_mask):
        return lstm_native.forward(params, x, states, mask)
    h0, c0 = states
    T, B, _ = x.shape
    H = h0.shape[1]
    w_ih, w_hh_t, bias = _sigmoid_rows_halved(params, H)
    gates_in = input_projection(x, w_ih, bias)  # (T, B, 4H), σ rows halved
    acts = np.empty((T, B, 4 * H), dtype=x.dtype)  # [i, f, g, o] after their nonlinearities
    hs = np.empty((T, B, H), dtype=x.dtype)
    cs = np.empty((T, B, H), dtype=x.dtype)
    tanh_cs = np.empty((T, B, H), dtype=x.dtype)
    ig = np.empty((B, H), dtype=x.dtype)
    if mask is not None:
        c_buf, h_buf = np.empty((B, H), dtype=x.dtype), np.empty((B, H), dtype=x.dtype)
    h, c = h0, c0
    for t in range(T):
        h_read = h if recurrent_mask is None else h * recurrent_mask
        a = acts[t]
        np.matmul(h_read, w_hh_t, out=a)
        a += gates_in[t]
        np.tanh(a, out=a)  # g = tanh(a_g); i, f, o still need s = ½(t + 1)
        for sig in (a[:, : 2 * H], a[:, 3 * H :]):
            sig *= 0.5
            sig += 0.5
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        c_new, h_new = (cs[t], hs[t]) if mask is None else (c_buf, h_buf)
        np.multiply(f, c, out=c_new)  # c' = f ⊙ c + i ⊙ g
        np.multiply(i, g, out=ig)
        c_new += ig
        np.tanh(c_new, out=tanh_cs[t])
        np.multiply(o, tanh_cs[t], out=h_new)  # h' = o ⊙ tanh(c')
        if mask is not None:
            m = mask[t][:, None]
            np.copyto(cs[t], np.where(m, c_new, c))
            np.copyto(hs[t], np.where(m, h_new, h))
        h, c = hs[t], cs[t]
    cache = (params, x, h0, c0, hs, cs, tanh_cs, acts, mask, recurrent_mask)
    return hs, (h.copy(), c.copy()), cache


def forward_inference(params, x, states, mask=None):
    """forward() without a cache: one (B, 4H) gate buffer reused at every step.

    Returns hs (T, B, H) and the final states (h_T, c_T); the same numbers as forward().
    """
    if lstm_native.usable(params, x, mask):
        hs, final, _ = lstm_native.forward(params, x, states, mask, keep_cache=False)
        return hs, final
    h0, c0 = states
    T, B, _ = x.shape
    H = h0.shape[1]
    w_ih, w_hh_t, bias = _sigmoid_rows_halved(params, H)
    gates_in = input_projection(x, w_ih, bias)  # (T, B, 4H)
    a = np.empty((B, 4 * H), dtype=x.dtype)
    hs = np.empty((T, B, H), dtype=x.dtype)
    c = c0.copy()
    tc = np.empty((B, H), dtype=x.dtype)
    ig = np.empty((B, H), dtype=x.dtype)
    h = h0
    for t in range(T):
        np.matmul(h, w_hh_t, out=a)
        a += gates_in[t]
        np.tanh(a, out=a)
        for sig in (a[:, : 2 * H], a[:, 3 * H :]):
            sig *= 0.5
            sig += 0.5
        i, f, g, o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        np.multiply(i, g, out=ig)
        if mask is None:
            c *= f
            c += ig
            np.tanh(c, out=tc)
            np.multiply(o, tc, out=hs[t])
        else:
            m = mask[t][:, None]
            c_new = f * c
            c_new += ig
            np.copyto(c, np.where(m, c_new, c))
            np.tanh(c_new, out=tc)
            np.copyto(hs[t], np.where(m, o * tc, h))
        h = hs[t]
    return hs, (h.copy(), c)


# -- the layers' layout: x (B, T, I), mask (B, T), outputs (B, T, H) ---------------------------
# The kernels read and write it in place; the NumPy code runs time-major between transposes.
def _swap(a: np.ndarray | None) -> np.ndarray | None:
    """(B, T, ·) ↔ (T, B, ·), or (B, T) ↔ (T, B): always a new C-contiguous array (with B = 1
    or T = 1 the swapped view is contiguous already, and a view of a cache handed out as the
    layer's output would let in-place edits of the output reach the cache)."""
    return None if a is None else np.array(a.swapaxes(0, 1), order="C", copy=True)


def forward_batch_major(params, x, states, mask=None, recurrent_mask=None):
    """forward() on batch-major data: x (B, T, I), mask (B, T). Returns hs (B, T, H), the final
    states, and a cache for backward_batch_major (an lstm_native.BatchMajorCache when the
    kernels ran)."""
    if lstm_native.usable(params, x, mask, recurrent_mask):
        return lstm_native.forward(params, x, states, mask, batch_major=True)
    hs, final, cache = forward(params, _swap(x), states, _swap(mask), recurrent_mask)
    return _swap(hs), final, cache


def backward_batch_major(cache, d_outputs, d_final):
    """backward() for forward_batch_major's cache: d_outputs (B, T, H) or None; dx (B, T, I)."""
    params, x, *_, mask, recurrent_mask = cache
    if isinstance(cache, lstm_native.BatchMajorCache) \
            and lstm_native.usable(params, x, mask, recurrent_mask):
        return lstm_native.backward(cache, d_outputs, d_final)
    dx, d_states, grads = backward(cache, _swap(d_outputs), d_final)
    return _swap(dx), d_states, grads


def forward_inference_batch_major(params, x, states, mask=None):
    """forward_inference() on batch-major data: x (B, T, I), mask (B, T); returns hs (B, T, H)
    and (h_T, c_T)."""
    if lstm_native.usable(params, x, mask):
        hs, final, _ = lstm_native.forward(params, x, states, mask, keep_cache=False,
                                           batch_major=True)
        return hs, final
    hs, final = forward_inference(params, _swap(x), states, _swap(mask))
    return _swap(hs), final


def states_at(cache, t: int) -> tuple:
    """The states after step t of the last forward: (h_t, c_t)."""
    if isinstance(cache, lstm_native.BatchMajorCache):
        return (cache[4][:, t], cache[5][t])
    return (cache[4][t], cache[5][t])


def _gate_factors(acts, cs, c0, tanh_cs):
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


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence. d_outputs (T, B, H) or None; d_final = (dh_T, dc_T) or Nones."""
    if isinstance(cache, lstm_native.BatchMajorCache):  # kernels' cache, NumPy backward
        cache = cache.time_major()
    params, x, h0, c0, hs, cs, tanh_cs, acts, mask, recurrent_mask = cache
    if lstm_native.usable(params, x, mask, recurrent_mask):
        return lstm_native.backward(cache, d_outputs, d_final)
    T, B, H = hs.shape
    w_hh = params["weight_hh"]
    if tanh_cs is None:  # a forward on the compiled kernels does not keep it
        tanh_cs = np.tanh(cs)
    F, K = _gate_factors(acts, cs, c0, tanh_cs)
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
        np.multiply(dc_cell[:, None, :], F[t].reshape(B, 4, H)[:, :3],
                    out=d.reshape(B, 4, H)[:, :3])  # δ_i, δ_f, δ_g in one product
        np.multiply(dh_cell, F[t, :, 3 * H :], out=d[:, 3 * H :])  # δ_o
        dc = dc_cell * acts[t, :, H : 2 * H]  # dc_prev = dc ⊙ f
        dh = d @ w_hh
        if recurrent_mask is not None:
            dh *= recurrent_mask
        if dh_carried is not None:
            dh += dh_carried
            dc += dc_carried
    dx, grads = gated_grads(d_pre, d_pre, x, h0, hs, recurrent_mask, params["weight_ih"])
    return dx, (dh, dc), grads
