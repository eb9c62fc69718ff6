"""The GRU's float32 forward time loop on the compiled AVX-512 kernels (rnnlab.native).

Same equations, outputs and cache as cells/gru.py's forward (whose docstring states them):
    before the loop: xp = x W_ihᵀ + b_ih (b_hr, b_hz folded in), all steps in one packed GEMM
    per step, per thread's batch rows, in register tiles of 6 rows × (3 gates × 16 units):
        [a_r, a_z, q'] = h W_hhᵀ          (W_hhᵀ packed with the gate columns interleaved)
        r, z, q = q' + b_hn, n, h'        in registers, then stored (and the cache, when kept)
The backward is cells/gru.py's NumPy code (its per-step products on the packed GEMM too).
"""

from __future__ import annotations

import numpy as np

from .. import native

_TILE = 48  # three gates × 16 units per packed panel


def usable(params, x, recurrent_mask=None) -> bool:
    """True when the compiled loop can run this call: float32, H % 16 == 0, no recurrent
    dropout, kernels available."""
    if recurrent_mask is not None or not native.available() or x.dtype != np.float32:
        return False
    H = params["weight_hh"].shape[1]
    return H % 16 == 0 and all(p.dtype == np.float32 for p in params.values())


def _pack(w_hh: np.ndarray) -> np.ndarray:
    """W_hhᵀ (H, 3H) as [H/16][H][48]: panel p holds columns 16p … 16p+15 of r, z and n."""
    H = w_hh.shape[1]
    P = H // 16
    gates = w_hh.reshape(3, P, 16, H)  # (gate, panel, unit, k)
    return np.ascontiguousarray(gates.transpose(1, 3, 0, 2)).reshape(P, H, _TILE)


def forward(params, x_proj, states, mask=None, keep_cache: bool = True):
    """x_proj (T, B, 3H) = x W_ihᵀ + b_ih with b_hr, b_hz folded in; states (h0,).

    Returns hs (T, B, H), and (gates (T, B, 3H), hn (T, B, H)) for the cache, or None.
    """
    (h0,) = states
    h0 = np.ascontiguousarray(h0, dtype=np.float32)
    x_proj = np.ascontiguousarray(x_proj, dtype=np.float32)
    T, B, G = x_proj.shape
    H = G // 3
    packed = native.cached("gru.forward", (params["weight_hh"],),
                           lambda: _pack(params["weight_hh"]))
    b_hn = np.ascontiguousarray(params["bias_hh"][2 * H :])
    hs = native.empty((T, B, H))
    gates = native.empty((T, B, G)) if keep_cache else None
    hn = native.empty((T, B, H)) if keep_cache else None
    m = None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)
    native._kernels.gru_forward(T, B, H, x_proj, packed, b_hn, h0, hs, gates, hn, m,
                                native._threads_for(6.0 * B * H * H))
    return hs, None if gates is None else (gates, hn)
