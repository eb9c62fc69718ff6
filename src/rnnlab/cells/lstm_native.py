"""The LSTM's float32 time loops on the compiled AVX-512 kernels (rnnlab.native).

Same equations and the same cache as the NumPy loop of cells/lstm.py (whose docstring states
them), except that tanh c_t is not kept (None in the cache; backward recomputes it). Whether
they serve a call is rnnlab.native's decision (`native.serves("lstm", ...)`), asked by
LSTMCell. Where they run:
    per step, per thread's batch rows, in register tiles of 6 rows × (4 gates × 16 units):
              a = b_ih + b_hh + x_t W_ihᵀ + h W_hhᵀ   one accumulation in the same registers
              i, f, g, o, c', h' in registers   then stored (and the cache, when kept)
              (one thread, i.e. small batches, or where the tuning's lstm_project_bytes says so:
              x W_ihᵀ + b for all steps first, on all threads)
    backward: per step the pointwise δ's, then dh = δ W_hh as one packed GEMM and δ transposed
              into (4H, T·B) (and dx_t = δ_t W_ih, where the tuning's lstm_bwd_dx_bytes says
              so: small layers); after the loop [dW_ih | dW_hh] = δᵀ [x | h_prev] (and
              dx = δ W_ih) as packed GEMMs.
Training packs the forward's and the backward's weights under one check of the weights' bytes
(the backward takes its packs from the cache).
Both loops read and write x, hs, the output gradients, δ and dx either time-major (T, B, ·) or
batch-major (B, T, ·), as the layers hold them (batch_major=True; no transposing copies between
layer and kernel); cs and the gate activations stay time-major.
"""

from __future__ import annotations

import numpy as np

from .. import native, native_tuning
from .base import Array, Cache, Params


def _f32(a: Array) -> Array:
    return np.ascontiguousarray(a, dtype=np.float32)


def _mask_bytes(mask: Array | None) -> Array | None:
    return None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)


def _sources(params: Params) -> tuple[Array, ...]:
    return tuple(params[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))


def _pack_forward(params: Params, H: int):
    """W_ihᵀ and W_hhᵀ packed with gate-interleaved columns, and b_ih + b_hh in that order."""
    columns = native.gate_interleave(H)
    w_ih = native.pack(params["weight_ih"].T, columns)  # (P, I, 64)
    w_hh = native.pack(params["weight_hh"].T, columns)  # (P, H, 64)
    return w_ih, w_hh, (params["bias_ih"] + params["bias_hh"])[columns]


def _pack_backward(params: Params):
    """W_hh (4H, H) and W_ih (4H, I) packed as K × N for dh = δ W_hh and dx = δ W_ih."""
    return native.pack(params["weight_hh"]), native.pack(params["weight_ih"])


def forward(
    params: Params,
    x: Array,
    states: tuple[Array, Array],
    mask: Array | None = None,
    keep_cache: bool = True,
    batch_major: bool = False,
):
    """x (T, B, I), or (B, T, I) with batch_major (mask (T, B) or (B, T) likewise); states
    (h0, c0). Returns hs (laid out as x), (h_T, c_T), and (cs, acts, the backward's packed
    weights) for the cache, or None.
    """
    h0, c0 = (_f32(s) for s in states)
    x = _f32(x)
    if batch_major:
        B, T, I = x.shape
    else:
        T, B, I = x.shape
    H = h0.shape[1]
    if keep_cache:  # training: the backward's packed weights too, under one check
        (w_ih, w_hh, bias), packed = native.cached(
            "lstm.train",
            _sources(params),
            lambda: (_pack_forward(params, H), _pack_backward(params)),
        )
    else:
        w_ih, w_hh, bias = native.cached(
            "lstm.forward", _sources(params), lambda: _pack_forward(params, H)
        )
    threads, tuning = native.threads_for(8.0 * B * H * H), native.tuning().tuning
    # the threads split each step's units (not the rows) where the tuning says the weights a
    # thread would stream per step are too many for its cache
    split_units = native_tuning.lstm_split_units(tuning, H, I, threads)
    # project all steps first, on all threads, where one thread runs the loop or the tuning says
    # the loop's per-step weights are better W_hh alone
    if native_tuning.lstm_project_first(tuning, H, I, threads):
        gates_in = native.gemm(x.reshape(T * B, I), w_ih, 4 * H, bias=bias)  # laid out as x
    else:
        gates_in = None  # x_t W_ihᵀ + b accumulated in the step's register tiles
    hs = native.empty((B, T, H) if batch_major else (T, B, H))
    if keep_cache:
        # tanh c_t is not kept: backward recomputes it (one exp) instead of T·B·H more floats
        # of memory traffic each way
        cs, acts, cs_step = native.empty((T, B, H)), native.empty((T, B, 4 * H)), B * H
    else:
        cs, acts, cs_step = c0.copy(), None, 0
    native.lstm_forward(
        T=T,
        B=B,
        H=H,
        I=I,
        x=x,
        w_ih=w_ih,
        bias=bias,
        gates_in=gates_in,
        w_hh=w_hh,
        h0=h0,
        c0=c0,
        hs=hs,
        cs=cs,
        cs_step=cs_step,
        acts=acts,
        tanh_cs=None,
        mask=_mask_bytes(mask),
        batch_major=batch_major,
        threads=threads,
        split_units=split_units,
    )
    if T == 0:
        h_T, c_T = h0.copy(), c0.copy()
    else:
        h_T = (hs[:, -1] if batch_major else hs[-1]).copy()
        c_T = cs[-1].copy() if keep_cache else cs
    return hs, (h_T, c_T), ((cs, acts, packed) if keep_cache else None)


def backward(cache: Cache, d_outputs: Array | None, d_final: tuple[Array | None, ...]):
    """Gradients of the sequence from an LSTMCache (the kernels' forward's or the NumPy loop's).

    With cache.batch_major, d_outputs is (B, T, H) and dx comes back (B, T, I); otherwise
    both are time-major."""
    params, x, batch_major = cache.params, cache.x, cache.batch_major
    T, B, H = cache.cs.shape
    I = x.shape[2]
    dh = np.zeros((B, H), np.float32) if d_final[0] is None else _f32(d_final[0]).copy()
    dc = np.zeros((B, H), np.float32) if d_final[1] is None else _f32(d_final[1]).copy()
    d_out = None if d_outputs is None else _f32(d_outputs)
    d_pre = native.empty((B, T, 4 * H) if batch_major else (T, B, 4 * H))  # laid out as x
    w_hh, w_ih = cache.packed or native.cached(
        "lstm.backward", _sources(params)[:2], lambda: _pack_backward(params)
    )
    # δ also transposed, (4H, T·B) with rows padded by 16 floats (2^k strides alias in L1)
    ld_pre_t = T * B + 16
    d_pre_t = native.empty((4 * H, ld_pre_t))
    threads, tuning = native.threads_for(8.0 * B * H * H), native.tuning().tuning
    split_units = native_tuning.lstm_split_units(tuning, H, 0, threads, True)
    tanh_cs = None if cache.tanh_cs is None else _f32(cache.tanh_cs)
    d_bias = np.zeros((B, 4 * H), np.float32)  # per batch row Σ_t δ, summed in the loop
    dx = native.empty((*d_pre.shape[:2], I))  # laid out as x
    dx_in_loop = native_tuning.lstm_dx_in_loop(tuning, H, I)
    native.lstm_backward(
        T=T,
        B=B,
        H=H,
        acts=_f32(cache.acts),
        cs=_f32(cache.cs),
        c0=_f32(cache.c0),
        tanh_cs=tanh_cs,
        d_out=d_out,
        w_hh=w_hh,
        mask=_mask_bytes(cache.mask),
        dh=dh,
        dc=dc,
        d_pre=d_pre,
        d_pre_t=d_pre_t,
        ld_pre_t=ld_pre_t,
        d_bias=d_bias,
        batch_major=batch_major,
        threads=threads,
        split_units=split_units,
        w_ih=w_ih if dx_in_loop else None,
        dx=dx if dx_in_loop else None,
        I=I,
    )
    # [dW_ih | dW_hh] = δᵀ [x | h_prev] as ONE GEMM with contiguous rows of δᵀ. B operands are
    # packed (plain rows 2^k floats apart alias in the L1 cache).
    P_x, P_h = -(-I // native.PANEL), -(-H // native.PANEL)
    both = native.empty((P_x + P_h, T * B, native.PANEL))  # [x | h0; h_0 … h_{T−2}]
    if batch_major:  # packed in time-major row order straight from (B, T, ·)
        native.pack(x, out=both[:P_x])
        native.pack(cache.hs, out=both[P_x:], row0=B, steps=T - 1)
    else:
        native.pack(x.reshape(T * B, I), out=both[:P_x])
        native.pack(cache.hs[:-1].reshape(-1, H), out=both[P_x:], row0=B)
    native.pack(cache.h0, out=both[P_x:])
    n = P_x * native.PANEL + H
    d_w = np.empty((4 * H, n), np.float32)
    native.gemm(
        d_pre_t, both, n, out=d_w, depth=T * B, threads=native.threads_for(8.0 * H * n * T * B)
    )
    grads = {
        "weight_ih": d_w[:, :I],
        "weight_hh": d_w[:, P_x * native.PANEL :],
        "bias_ih": d_bias.sum(axis=0),
    }
    grads["bias_hh"] = grads["bias_ih"].copy()
    if not dx_in_loop:
        native.gemm(d_pre.reshape(T * B, 4 * H), w_ih, I, out=dx.reshape(T * B, I))
    return dx, (dh, dc), grads
