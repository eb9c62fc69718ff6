"""The GRU's float32 forward time loop on the compiled AVX-512 kernels (rnnlab.native).

Same equations, outputs and cache as the NumPy loop of cells/gru.py (whose docstring states
them); whether it serves a call is rnnlab.native's decision (`native.serves("gru", ...)`),
asked by GRUCell:
    before the loop: xp = x W_ihᵀ + b_ih (b_hr, b_hz folded in), all steps in one packed GEMM
    per step, per thread's batch rows, in register tiles of 6 rows × (3 gates × 16 units):
        [a_r, a_z, q'] = h W_hhᵀ          (W_hhᵀ packed with the gate columns interleaved)
        r, z, q = q' + b_hn, n, h'        in registers, then stored (and the cache, when kept)
The backward loop (`backward`): per step the δ's in registers, then dh = dh ⊙ z + δ_h W_hh as
one packed GEMM of the thread's rows; the weight gradients as single GEMMs after the loop.
"""

from __future__ import annotations

import numpy as np

from .. import native
from . import simple_native
from .base import Array, Params

_TILE = 48  # three gates × 16 units per packed panel


def _pack(w_hh: Array) -> Array:
    """W_hhᵀ (H, 3H) as [H/16][H][48]: panel p holds columns 16p … 16p+15 of r, z and n."""
    H = w_hh.shape[1]
    P = H // 16
    gates = w_hh.reshape(3, P, 16, H)  # (gate, panel, unit, k)
    # 64-byte aligned (NumPy's 16-byte alignment split the tile's loads across cache lines:
    # the loop ran 1.6x slower on the Intel core of issue 23 whenever it happened)
    out = native.empty((P, H, _TILE))
    np.copyto(out.reshape(P, H, 3, 16), gates.transpose(1, 3, 0, 2))
    return out


def _pack_input(params) -> tuple[np.ndarray, np.ndarray]:
    """W_ihᵀ packed, and b_ih with b_hr, b_hz folded in."""
    H = params["weight_hh"].shape[1]
    bias = params["bias_ih"].copy()
    bias[: 2 * H] += params["bias_hh"][: 2 * H]
    return native.pack(params["weight_ih"].T), bias


def input_side(params, x) -> np.ndarray:
    """cells/gru.py's input side on the packed GEMM, W_ihᵀ packed once while unchanged and the
    bias added inside the GEMM: x W_ihᵀ + b_ih (b_hr, b_hz folded in), (T, B, I) -> (T, B, 3H)."""
    T, B, I = x.shape
    G = params["weight_ih"].shape[0]
    sources = tuple(params[k] for k in ("weight_ih", "bias_ih", "bias_hh"))
    w_ih_t, bias = native.cached("gru.input", sources, lambda: _pack_input(params))
    x = simple_native._f32(x).reshape(T * B, I)
    return native.gemm(x, w_ih_t, G, bias=bias, out=native.empty((T * B, G))).reshape(T, B, G)


def forward(
    params: Params,
    x_proj: Array,
    states: tuple[Array],
    mask: Array | None = None,
    keep_cache: bool = True,
):
    """x_proj (T, B, 3H) = x W_ihᵀ + b_ih with b_hr, b_hz folded in; states (h0,).

    Returns hs (T, B, H), and (gates (T, B, 3H), hn (T, B, H)) for the cache, or None.
    """
    (h0,) = states
    h0 = np.ascontiguousarray(h0, dtype=np.float32)
    x_proj = np.ascontiguousarray(x_proj, dtype=np.float32)
    T, B, G = x_proj.shape
    H = G // 3
    packed = native.cached(
        "gru.forward", (params["weight_hh"],), lambda: _pack(params["weight_hh"])
    )
    b_hn = np.ascontiguousarray(params["bias_hh"][2 * H :])
    hs = native.empty((T, B, H))
    gates = native.empty((T, B, G)) if keep_cache else None
    hn = native.empty((T, B, H)) if keep_cache else None
    m = None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)
    native.gru_forward(
        T=T,
        B=B,
        H=H,
        x_proj=x_proj,
        w_hh=packed,
        b_hn=b_hn,
        h0=h0,
        hs=hs,
        gates=gates,
        hn=hn,
        mask=m,
        threads=native.threads_for(6.0 * B * H * H),
    )
    return hs, None if gates is None else (gates, hn)


def backward(cache, d_outputs, d_final):
    """Gradients of the sequence from a GRUCache (the kernels' forward or NumPy's), time-major.

    Per step, per thread's batch rows, on the kernels: the δ's of both sides (cells/gru.py's
    equations; the bias sums added while they are in registers, and the input-side δ and δn ⊙ r
    also transposed), then dh = dh ⊙ z + δ_h W_hh as one packed GEMM. After the loop, with
    [x | h_prev] packed once:
        [dW_ih | dW_hh] rows r, z = δ_xᵀ [x | h_prev]    (their two sides have the same δ)
        dW_ih rows n = δ_nᵀ x      dW_hh rows n = (δ_n ⊙ r)ᵀ h_prev      dx = δ_x W_ih
    d_outputs (T, B, H) or None; d_final = (dh_T or None,). Returns dx, (dh_0,), grads.
    """
    params, mask, gates, hn = cache.params, cache.mask, cache.gates, cache.hn
    f32 = simple_native._f32
    x, h0, hs = f32(cache.x), f32(cache.h0), f32(cache.hs)
    T, B, H = hs.shape
    I = x.shape[2]
    w_hh = params["weight_hh"]
    packed = native.cached("gru.d_whh", (w_hh,), lambda: native.pack(w_hh))  # W_hh (3H, H)
    dh = np.zeros((B, H), np.float32) if d_final[0] is None else f32(d_final[0]).copy()
    d_x = native.empty((T, B, 3 * H))  # δ at the input side
    ldt = T * B + 16  # transposed δ's, rows padded (2^k strides alias in L1)
    d_x_t = native.empty((3 * H, ldt))
    d_hn_t = native.empty((H, ldt))
    db_x = np.zeros((B, 3 * H), np.float32)  # per batch row Σ_t d_x
    db_hn = np.zeros((B, H), np.float32)  # per batch row Σ_t δn ⊙ r
    native.gru_backward(
        T=T,
        B=B,
        H=H,
        gates=f32(gates),
        hn=f32(hn),
        hs=hs,
        h0=h0,
        d_out=None if d_outputs is None else f32(d_outputs),
        w_hh=packed,
        mask=simple_native._mask_bytes(mask),
        dh=dh,
        d_x=d_x,
        d_h=np.empty((B, 3 * H), np.float32),
        dbias_x=db_x,
        dbias_h=db_hn,
        d_x_t=d_x_t,
        d_hn_t=d_hn_t,
        ldt=ldt,
        threads=native.threads_for(6.0 * B * H * H),
    )
    both = simple_native.stacked_inputs(x, h0, hs)  # (P_x + P_h, T·B, 64)
    P_x = -(-I // native.PANEL)
    rz = simple_native.transposed_gemm(d_x_t[: 2 * H], ldt, both)
    n_x = simple_native.transposed_gemm(d_x_t[2 * H :], ldt, both[:P_x])
    n_h = simple_native.transposed_gemm(d_hn_t, ldt, both[P_x:])
    b_ih = db_x.sum(axis=0)
    b_hh = b_ih.copy()
    b_hh[2 * H :] = db_hn.sum(axis=0)
    h_cols = slice(P_x * native.PANEL, P_x * native.PANEL + H)
    grads = {
        "weight_ih": np.concatenate([rz[:, :I], n_x[:, :I]]),
        "weight_hh": np.concatenate([rz[:, h_cols], n_h[:, :H]]),
        "bias_ih": b_ih,
        "bias_hh": b_hh,
    }
    dx = simple_native.input_gradient(d_x, params["weight_ih"], "gru.w_ih")
    return dx, (dh,), grads
