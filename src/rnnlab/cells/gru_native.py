"""The GRU's float32 forward time loop on the compiled AVX-512 kernels (rnnlab.native).

Same equations, outputs and cache as the NumPy loop of cells/gru.py (whose docstring states
them); whether it serves a call is rnnlab.native's decision (`native.serves("gru", ...)`),
asked by GRUCell:
    before the loop: xp = x W_ihᵀ + b_ih (b_hr, b_hz folded in), all steps in one packed GEMM
    per step, per thread's batch rows, in register tiles of 6 rows × (3 gates × 16 units):
        [a_r, a_z, q'] = h W_hhᵀ          (W_hhᵀ packed with the gate columns interleaved)
        r, z, q = q' + b_hn, n, h'        in registers, then stored (and the cache, when kept)
The backward is cells/gru.py's NumPy code (its per-step products on the packed GEMM too).
"""

from __future__ import annotations

import numpy as np

from .. import native
from .base import Array, Params

_TILE = 48  # three gates × 16 units per packed panel


def _pack(w_hh: Array) -> Array:
    """W_hhᵀ (H, 3H) as [H/16][H][48]: panel p holds columns 16p … 16p+15 of r, z and n."""
    H = w_hh.shape[1]
    P = H // 16
    gates = w_hh.reshape(3, P, 16, H)  # (gate, panel, unit, k)
    return np.ascontiguousarray(gates.transpose(1, 3, 0, 2)).reshape(P, H, _TILE)


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
