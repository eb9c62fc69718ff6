"""The LSTM's float32 time loops on the compiled AVX-512 kernels (rnnlab.native).

Same equations and the same cache as cells/lstm.py (whose docstring states them), except that
tanh c_t is not kept (None in the cache; backward recomputes it). Where they run:
    per step, per thread's batch rows, in register tiles of 6 rows × (4 gates × 16 units):
              a = b_ih + b_hh + x_t W_ihᵀ + h W_hhᵀ   one accumulation in the same registers
              i, f, g, o, c', h' in registers   then stored (and the cache, when kept)
              (one thread, i.e. small batches: x W_ihᵀ + b for all steps first, on all threads)
    backward: per step the pointwise δ's, then dh = δ W_hh as one packed GEMM and δ transposed
              into (4H, T·B); after the loop [dW_ih | dW_hh] = δᵀ [x | h_prev] and dx = δ W_ih
              as packed GEMMs.
Both loops read and write x, hs, the output gradients, δ and dx either time-major (T, B, ·), as
cells take them, or batch-major (B, T, ·), as the layers hold them (batch_major=True; no
transposing copies between layer and kernel); cs and the gate activations stay time-major.
"""

from __future__ import annotations

import numpy as np

from .. import native


def usable(params, x, mask=None, recurrent_mask=None) -> bool:
    """True when the compiled loop can run this call (see rnnlab.native for the conditions)."""
    if recurrent_mask is not None or not native.available() or x.dtype != np.float32:
        return False
    H = params["weight_hh"].shape[1]
    return H % 16 == 0 and all(p.dtype == np.float32 for p in params.values())


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _mask_bytes(mask: np.ndarray | None) -> np.ndarray | None:
    return None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)


def _sources(params) -> tuple[np.ndarray, ...]:
    return tuple(params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _pack_forward(params, H: int):
    """W_ihᵀ and W_hhᵀ packed with gate-interleaved columns, and b_ih + b_hh in that order."""
    columns = native.gate_interleave(H)
    w_ih = native.pack(params["weight_ih"].T, columns)  # (P, I, 64)
    w_hh = native.pack(params["weight_hh"].T, columns)  # (P, H, 64)
    return w_ih, w_hh, (params["bias_ih"] + params["bias_hh"])[columns]


def _pack_backward(params):
    """W_hh (4H, H) and W_ih (4H, I) packed as K × N for dh = δ W_hh and dx = δ W_ih."""
    return native.pack(params["weight_hh"]), native.pack(params["weight_ih"])


class BatchMajorCache(tuple):
    """A forward cache whose x, hs and mask are batch-major, (B, T, ·) and (B, T), as the layers
    hold them; cs and the gate activations are time-major as in every cache. Same fields as the
    time-major tuple; `time_major()` gives that tuple (three transposing copies)."""

    __slots__ = ()

    def time_major(self) -> tuple:
        params, x, h0, c0, hs, cs, tanh_cs, acts, mask, rec = self
        return (params, np.ascontiguousarray(x.transpose(1, 0, 2)), h0, c0,
                np.ascontiguousarray(hs.transpose(1, 0, 2)), cs, tanh_cs, acts,
                None if mask is None else np.ascontiguousarray(mask.T), rec)


def forward(params, x, states, mask=None, keep_cache: bool = True, batch_major: bool = False):
    """x (T, B, I), states (h0, c0). Returns hs, (h_T, c_T), cache (None when not kept).

    batch_major: x (B, T, I) and mask (B, T) in, hs (B, T, H) out, read and written in place
    by the kernel (no transposing copies); the cache is then a BatchMajorCache.
    """
    h0, c0 = (_f32(s) for s in states)
    x = _f32(x)
    if batch_major:
        B, T, I = x.shape
    else:
        T, B, I = x.shape
    H = h0.shape[1]
    w_ih, w_hh, bias = native.cached("lstm.forward", _sources(params),
                                     lambda: _pack_forward(params, H))
    threads = native._threads_for(8.0 * B * H * H)
    gin_all = threads == 1  # one thread for the loop: project all steps first, on all threads
    if gin_all:
        gates_in = native.gemm(x.reshape(T * B, I), w_ih, 4 * H, bias=bias)  # laid out as x
    else:
        gates_in = None  # x_t W_ihᵀ + b accumulated in the step's register tiles
    hs = native.empty((B, T, H) if batch_major else (T, B, H))
    if keep_cache:
        # tanh c_t is not kept: backward recomputes it (one exp) instead of T·B·H more floats
        # of memory traffic each way
        cs, tanh_cs = native.empty((T, B, H)), None
        acts = native.empty((T, B, 4 * H))
        cs_t = B * H
    else:
        cs, acts, tanh_cs, cs_t = c0.copy(), None, None, 0
    native._kernels.lstm_forward(T, B, H, I, x, w_ih, bias, gates_in, gin_all, w_hh, h0, c0, hs,
                                 cs, cs_t, acts, tanh_cs, _mask_bytes(mask), batch_major, threads)
    if T == 0:
        h_T, c_T = h0.copy(), c0.copy()
    else:
        h_T = (hs[:, -1] if batch_major else hs[-1]).copy()
        c_T = cs[-1].copy() if keep_cache else cs
    if not keep_cache:
        return hs, (h_T, c_T), None
    cache = (params, x, h0, c0, hs, cs, tanh_cs, acts, mask, None)
    return hs, (h_T, c_T), BatchMajorCache(cache) if batch_major else cache


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence from a forward cache (this module's or cells/lstm.py's).

    With a BatchMajorCache, d_outputs is (B, T, H) and dx comes back (B, T, I); otherwise
    both are time-major."""
    params, x, h0, c0, hs, cs, tanh_cs, acts, mask, _ = cache
    batch_major = isinstance(cache, BatchMajorCache)
    T, B, H = cs.shape
    I = x.shape[2]
    dh = np.zeros((B, H), np.float32) if d_final[0] is None else _f32(d_final[0]).copy()
    dc = np.zeros((B, H), np.float32) if d_final[1] is None else _f32(d_final[1]).copy()
    d_out = None if d_outputs is None else _f32(d_outputs)
    d_pre = native.empty((B, T, 4 * H) if batch_major else (T, B, 4 * H))  # laid out as x
    w_hh, w_ih = native.cached("lstm.backward", _sources(params)[:2],
                               lambda: _pack_backward(params))
    # δ also transposed, (4H, T·B) with rows padded by 16 floats (2^k strides alias in L1)
    ldt = T * B + 16
    d_pre_t = native.empty((4 * H, ldt))
    threads = native._threads_for(8.0 * B * H * H)
    tanh_cs = None if tanh_cs is None else _f32(tanh_cs)
    d_bias = np.zeros((B, 4 * H), np.float32)  # per batch row Σ_t δ, summed in the loop
    native._kernels.lstm_backward(T, B, H, _f32(acts), _f32(cs), c0, tanh_cs, d_out, w_hh,
                                  _mask_bytes(mask), dh, dc, d_pre, d_pre_t, ldt, d_bias,
                                  batch_major, threads)
    # [dW_ih | dW_hh] = δᵀ [x | h_prev] as ONE GEMM with contiguous rows of δᵀ. B operands are
    # packed (plain rows 2^k floats apart alias in the L1 cache).
    P_x, P_h = -(-I // native.PANEL), -(-H // native.PANEL)
    both = native.empty((P_x + P_h, T * B, native.PANEL))  # [x | h0; h_0 … h_{T−2}]
    if batch_major:  # packed in time-major row order straight from (B, T, ·)
        native.pack(x, out=both[:P_x])
        native.pack(hs, out=both[P_x:], row0=B, steps=T - 1)
    else:
        native.pack(x.reshape(T * B, I), out=both[:P_x])
        native.pack(hs[:-1].reshape(-1, H), out=both[P_x:], row0=B)
    native.pack(h0, out=both[P_x:])
    n = P_x * native.PANEL + H
    d_w = np.empty((4 * H, n), np.float32)
    native._kernels.gemm(4 * H, n, T * B, d_pre_t, ldt, 1, both, T * B * native.PANEL,
                         native.PANEL, None, d_w, n, 0, native._threads_for(8.0 * H * n * T * B))
    grads = {
        "weight_ih": d_w[:, :I],
        "weight_hh": d_w[:, P_x * native.PANEL :],
        "bias_ih": d_bias.sum(axis=0),
    }
    grads["bias_hh"] = grads["bias_ih"].copy()
    dx = native.gemm(d_pre.reshape(T * B, 4 * H), w_ih, I, out=np.empty((T * B, I), np.float32))
    return dx.reshape((*d_pre.shape[:2], I)), (dh, dc), grads
