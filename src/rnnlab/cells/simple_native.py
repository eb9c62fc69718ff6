"""The SimpleRNN's float32 time loops on the compiled AVX-512 kernels (rnnlab.native).

Same equations, outputs and cache as the NumPy loops of cells/simple.py (whose docstring states
them); whether they serve a call is rnnlab.native's decision (`native.serves("rnn", ...)`),
asked by SimpleRNNCell:
    before the loop: a_in = x W_ihᵀ + b_ih + b_hh for all steps, one packed GEMM
    forward, per step, per thread's batch rows, in register tiles of 6 rows × 64 units:
        a = a_in[t] + h_{t−1} W_hhᵀ      (W_hhᵀ packed once, kept while its bytes are unchanged)
        h_t = tanh(a) or max(a, 0)       in registers, then stored; masked rows carry h_{t−1}
    backward, per step, per thread's batch rows:
        δ_t = dh ⊙ act'(a_t)             act' from h_t: 1 − h_t² or [h_t > 0]
        dh = δ_t W_hh                    one packed GEMM of the thread's rows
        Σ_t δ_t                          the bias gradient, summed while δ is in registers
        δ_t also transposed into δᵀ (H, T·B) while it is in cache
    after the loop: [dW_ih | dW_hh] = δᵀ [x | h_prev] as ONE packed GEMM with contiguous rows
    of δᵀ, and dx = δ W_ih (the helpers are shared with cells/gru_native.py's backward).
"""

from __future__ import annotations

import numpy as np

from .. import native


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _mask_bytes(mask: np.ndarray | None) -> np.ndarray | None:
    return None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)


def _pack_input(params):
    """W_ihᵀ packed (for the input projection) and b_ih + b_hh."""
    return native.pack(params["weight_ih"].T), params["bias_ih"] + params["bias_hh"]


def forward(
    params, x, h0, mask=None, activation: str = "tanh", batch_major: bool = False
) -> np.ndarray:
    """x (T, B, I); h0 (B, H); mask (T, B) or None.

    Returns hs (T, B, H), the state after each step (masked steps carry the state).
    batch_major: x (B, T, I) and mask (B, T) in, hs (B, T, H) out, read and written in place by
    the kernel (no transposing copies; the layers' layout).
    """
    x, h0 = _f32(x), _f32(h0)
    if batch_major:
        B, T, I = x.shape
    else:
        T, B, I = x.shape
    H = h0.shape[1]
    w_ih, w_hh = params["weight_ih"], params["weight_hh"]
    sources = (w_ih, params["bias_ih"], params["bias_hh"])
    w_ih_t, bias = native.cached("simple.input", sources, lambda: _pack_input(params))
    a_in = native.gemm(x.reshape(T * B, I), w_ih_t, H, bias=bias, out=native.empty((T * B, H)))
    packed = native.cached("simple.h_whh", (w_hh,), lambda: native.pack(w_hh.T))  # W_hhᵀ
    hs = native.empty((B, T, H) if batch_major else (T, B, H))
    native.rnn_forward(
        T=T,
        B=B,
        H=H,
        a_in=a_in,
        w_hh=packed,
        h0=h0,
        hs=hs,
        mask=_mask_bytes(mask),
        relu=activation == "relu",
        threads=native.threads_for(2.0 * B * H * H),
        batch_major=batch_major,
    )
    return hs


def stacked_inputs(x, h0, hs, batch_major: bool = False) -> np.ndarray:
    """[x | h_prev] packed as the B operand of the weight-gradient GEMMs: (P_x + P_h, T·B, 64),
    row t·B + b; panels 0 … P_x−1 hold x, the rest h_prev = [h0, h_0, …, h_{T−2}].
    batch_major: x (B, T, I) and hs (B, T, H), packed in that time-major row order."""
    if batch_major:
        B, T, I = x.shape
    else:
        T, B, I = x.shape
    H = hs.shape[2]
    P_x, P_h = -(-I // native.PANEL), -(-H // native.PANEL)
    both = native.empty((P_x + P_h, T * B, native.PANEL))
    if batch_major:
        native.pack(x, out=both[:P_x])
        native.pack(hs, out=both[P_x:], row0=B, steps=T - 1)
    else:
        native.pack(x.reshape(T * B, I), out=both[:P_x])
        native.pack(hs[:-1].reshape(-1, H), out=both[P_x:], row0=B)
    native.pack(h0, out=both[P_x:])
    return both


def transposed_gemm(d_t: np.ndarray, ldt: int, b: np.ndarray) -> np.ndarray:
    """d_t (M, ldt) holding δᵀ in its first T·B columns, b packed (P, T·B, 64):
    returns δᵀ b (M, 64P) in one packed GEMM."""
    M, (P, K, _) = d_t.shape[0], b.shape
    n = P * native.PANEL
    return native.gemm(
        d_t, b, n, out=native.empty((M, n)), depth=K, threads=native.threads_for(2.0 * M * n * K)
    )


def input_gradient(d_in: np.ndarray, weight_ih: np.ndarray, tag: str) -> np.ndarray:
    """dx = δ W_ih: d_in (T, B, G) -> (T, B, I), W_ih packed once while unchanged."""
    T, B, G = d_in.shape
    I = weight_ih.shape[1]
    packed = native.cached(tag, (weight_ih,), lambda: native.pack(weight_ih))
    dx = native.gemm(d_in.reshape(T * B, G), packed, I, out=native.empty((T * B, I)))
    return dx.reshape(T, B, I)


def backward(cache, d_outputs, d_final, activation: str = "tanh"):
    """Gradients of the sequence from a SimpleRNNCache (the kernels' forward or NumPy's).
    d_outputs (T, B, H) or None; d_final = (dh_T or None,). Returns dx (T, B, I), (dh_0,),
    grads. With cache.batch_major (a kernel forward in the layers' layout) d_outputs and dx are
    (B, T, ·), read and written in place."""
    params, mask, batch_major = cache.params, cache.mask, cache.batch_major
    x, h0, hs = _f32(cache.x), _f32(cache.h0), _f32(cache.hs)
    if batch_major:
        B, T, H = hs.shape
    else:
        T, B, H = hs.shape
    I = x.shape[2]
    w_hh = params["weight_hh"]
    packed = native.cached("simple.d_whh", (w_hh,), lambda: native.pack(w_hh))  # W_hh
    dh = np.zeros((B, H), np.float32) if d_final[0] is None else _f32(d_final[0]).copy()
    d_pre = native.empty(hs.shape)  # δ_t, laid out as hs
    ldt = T * B + 16  # δ transposed, rows padded (2^k strides alias in L1)
    d_pre_t = native.empty((H, ldt))
    d_bias = np.zeros((B, H), np.float32)  # per batch row Σ_t δ
    native.rnn_backward(
        T=T,
        B=B,
        H=H,
        hs=hs,
        d_out=None if d_outputs is None else _f32(d_outputs),
        w_hh=packed,
        mask=_mask_bytes(mask),
        dh=dh,
        d_pre=d_pre,
        dbias=d_bias,
        d_pre_t=d_pre_t,
        ldt=ldt,
        relu=activation == "relu",
        threads=native.threads_for(2.0 * B * H * H),
        batch_major=batch_major,
    )
    # [dW_ih | dW_hh] = δᵀ [x | h_prev] as ONE GEMM with contiguous rows of δᵀ
    d_w = transposed_gemm(d_pre_t, ldt, stacked_inputs(x, h0, hs, batch_major))
    P_x = -(-I // native.PANEL)
    db = d_bias.sum(axis=0)
    grads = {
        "weight_ih": d_w[:, :I],
        "weight_hh": d_w[:, P_x * native.PANEL : P_x * native.PANEL + H],
        "bias_ih": db,
        "bias_hh": db.copy(),
    }
    return input_gradient(d_pre, params["weight_ih"], "simple.w_ih"), (dh,), grads
