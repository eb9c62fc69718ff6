"""minGRU and minLSTM on the compiled scan (`min_scan` in _kernels.c, "minimal" in
rnnlab.native.KERNELS): one pass over the sequence each way, in the caller's layout (no
transposing copies), for float32 with H a multiple of 16 (rnnlab.native.why_not says when not).

The same equations as MinimalCell's NumPy loop (cells/minimal.py; tests/test_parallel_cells.py
holds the two together): the kernel computes a_t, b_t from the pre-activations and runs
h_t = a_t h_{t−1} + b_t in registers, and its backward recomputes them on the way down instead
of reading a stored a_t, so the cache holds only the pre-activations and the states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import native
from .base import Array, Cache, Params
from .ops import input_projection, weight_grad


@dataclass(eq=False, kw_only=True)
class MinimalNativeCache(Cache):
    h0: Array  # (B, H)
    pre: Array  # (T, B, G·H) or (B, T, G·H): the layout of the call
    hs: Array  # (T, B, H) or (B, T, H)


def serves(params: Params, x: Array, units: int, recurrent_mask: Array | None) -> bool:
    """Whether the kernel runs this call (float32 throughout, see rnnlab.native.why_not)."""
    return (
        x.dtype == np.float32
        and all(p.dtype == np.float32 for p in params.values())
        and native.serves(
            "minimal", dtype=x.dtype, units=units, recurrent_dropout=recurrent_mask is not None
        )
    )


def _strides(layout: str, T: int, B: int) -> tuple[int, int]:
    """(sb, st): element (b, t) is row b·sb + t·st of the call's arrays."""
    return (1, B) if layout == "time" else (T, 1)


def _threads(T: int, B: int, H: int) -> int:
    """One thread for short calls (a streaming step): starting a second costs more than it
    saves below ~2^17 elements."""
    return native.num_threads() if T * B * H >= 1 << 17 else 1


def _mask_bytes(mask: Array | None) -> Array | None:
    return None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)


def forward(
    gates: int,
    params: Params,
    x: Array,
    h0: Array,
    mask: Array | None,
    keep_cache: bool,
    layout: str,
) -> tuple[Array, tuple[Array, ...], MinimalNativeCache | None]:
    """The scan forward: x (T, B, I) or (B, T, I) by layout. Returns outputs in that layout,
    (h_T,), and the cache."""
    d0, d1, _ = x.shape
    T, B = (d0, d1) if layout == "time" else (d1, d0)
    H = h0.shape[1]
    sb, st = _strides(layout, T, B)
    pre = input_projection(x, params["weight_ih"], params["bias_ih"])  # (d0, d1, G·H)
    h0 = np.ascontiguousarray(h0, dtype=np.float32)
    hs = native.empty((d0, d1, H))
    native.min_scan(
        T=T, B=B, H=H, lstm=gates == 3, pre=pre, h0=h0, hs=hs, mask=_mask_bytes(mask),
        sb=sb, st=st, threads=_threads(T, B, H),
    )  # fmt: skip
    final = (hs[-1] if layout == "time" else hs[:, -1]).copy()
    cache = None
    if keep_cache:
        cache = MinimalNativeCache(
            params=params, x=x, mask=mask, recurrent_mask=None, layout=layout, h0=h0, pre=pre,
            hs=hs,
        )  # fmt: skip
    return hs, (final,), cache


def backward(
    gates: int, cache: MinimalNativeCache, d_outputs: Array | None, d_final: Array | None
) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
    """The reverse scan and the weight gradients; d_outputs and dx in the forward's layout."""
    d0, d1, H = cache.hs.shape
    T, B = (d0, d1) if cache.layout == "time" else (d1, d0)
    sb, st = _strides(cache.layout, T, B)
    dh = np.zeros((B, H), np.float32) if d_final is None else np.array(d_final, np.float32)
    d_out = None if d_outputs is None else np.ascontiguousarray(d_outputs, dtype=np.float32)
    d_pre = native.empty(cache.pre.shape)
    native.min_scan(
        T=T, B=B, H=H, lstm=gates == 3, pre=cache.pre, h0=cache.h0, hs=cache.hs,
        mask=_mask_bytes(cache.mask), sb=sb, st=st, threads=_threads(T, B, H), backward=True,
        d_out=d_out, dh=dh, d_pre=d_pre,
    )  # fmt: skip
    grads = {
        "weight_ih": weight_grad(d_pre, cache.x),
        "bias_ih": d_pre.sum(axis=(0, 1)),
    }
    return native.matmul(d_pre, cache.params["weight_ih"]), (dh,), grads
