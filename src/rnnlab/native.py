"""The compiled AVX-512 kernels (`rnnlab._kernels`): whether they run, and the packing around them.

The LSTM's float32 forward and backward use them when all of these hold: the extension built,
the CPU has AVX-512F, `RNNLAB_NATIVE` is not "0" (or `set_enabled(False)`), the hidden size is a
multiple of 16 and no recurrent dropout mask is active. Otherwise the NumPy code runs — the same
equations; tests/test_native.py holds the two paths to each other and to torch.

    >>> import rnnlab
    >>> rnnlab.native.available()       # True on an AVX-512 machine where the extension built
    >>> rnnlab.native.set_num_threads(1)

Packed operands: a (K, N) matrix B becomes [ceil(N/64) panels][K][64] float32, zero padded, so
the kernels' 6 × 64 register tiles read it contiguously. For the LSTM the columns of W_hhᵀ and
W_ihᵀ are interleaved by `gate_interleave(H)`: panel p holds i, f, g, o of units 16p … 16p+15.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import numpy as np

try:  # the extension is optional: a machine without a C compiler installs without it
    from . import _kernels
except ImportError:  # pragma: no cover - exercised on machines without the build
    _kernels = None

PANEL = 64
T = TypeVar("T")
_MAX_THREADS = 64
_enabled = os.environ.get("RNNLAB_NATIVE", "1") != "0"
_num_threads: int | None = None


def built() -> bool:
    """True if the compiled extension imported."""
    return _kernels is not None


def available() -> bool:
    """True if the compiled kernels will run here: built, AVX-512F CPU, and enabled."""
    return _enabled and _kernels is not None and _kernels.cpu_supported()


def all_finite(a: np.ndarray) -> bool:
    """True if `a` holds no Inf and no NaN: one pass of the kernels over float32 C-contiguous
    data (2 MiB in ~10 µs), NumPy otherwise (a finite sum proves every element finite; only a
    sum that is not finite takes the exact check)."""
    if a.dtype == np.float32 and a.flags.c_contiguous and available():
        return _kernels.all_finite(a)
    return bool(np.isfinite(a.sum()) or np.isfinite(a).all())


def set_enabled(flag: bool) -> None:
    """Turn the compiled kernels on or off for this process (the NumPy code runs when off)."""
    global _enabled
    if not isinstance(flag, bool):
        raise TypeError(f"rnnlab.native.set_enabled: expected True or False, got {flag!r}")
    _enabled = flag


def num_threads() -> int:
    """Threads the kernels use: set_num_threads(), else $RNNLAB_NUM_THREADS, else the CPUs
    this process may run on (at most 64)."""
    if _num_threads is not None:
        return _num_threads
    env = os.environ.get("RNNLAB_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            msg = f"RNNLAB_NUM_THREADS: expected a positive integer, got {env!r}"
            raise ValueError(msg) from None
        if n < 1:
            raise ValueError(f"RNNLAB_NUM_THREADS: expected a positive integer, got {env!r}")
        return min(n, _MAX_THREADS)
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    return max(1, min(n, _MAX_THREADS))


def set_num_threads(n: int | None) -> None:
    """Fix the kernels' thread count (None: back to the default of `num_threads`)."""
    global _num_threads
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
        raise ValueError(
            f"rnnlab.native.set_num_threads: expected a positive int or None, got {n!r}")
    _num_threads = None if n is None else min(int(n), _MAX_THREADS)


# A call that starts threads pays ~19 µs for it (measured: create + join of one more thread);
# one core does ~4 MFLOP in that time, so a GEMM smaller than this runs on the calling thread.
_SPAWN_FLOPS = 1.6e7


def _threads_for(flops_per_sync: float) -> int:
    """One thread when a step is too small to pay for a cross-core barrier (~1 µs)."""
    return 1 if flops_per_sync < 2.5e5 else num_threads()


def _aligned_view(raw: np.ndarray, n: int, shape: tuple[int, ...]) -> np.ndarray:
    start = (-raw.ctypes.data % 64) // 4
    return raw[start : start + n].reshape(shape)


def _aligned_empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float32 array whose data starts on a 64-byte boundary."""
    n = int(np.prod(shape))
    return _aligned_view(np.empty(n + 16, dtype=np.float32), n, shape)


# Large blocks are recycled: a fresh multi-megabyte array costs a page fault per 4 KiB on first
# touch (measured: the LSTM forward at (32, 64, 64, 128) took 1.36 ms with fresh cache arrays
# against 0.69 ms with reused ones). A pooled block is handed out again only when nothing but the
# pool refers to it — no array, view or buffer made from it is alive — so reuse is invisible.
_POOL_MIN = 1 << 16  # elements (256 KiB)
_POOL_LIMIT = 1 << 29  # bytes kept at most (512 MiB)
_pool: dict[int, list[np.ndarray]] = {}
_pool_bytes = 0
_pool_lock = threading.Lock()


def _free_refs() -> int:
    """The reference count of a pooled block nothing else holds, seen from inside a loop over
    its bucket (the list entry, the loop variable, getrefcount's argument), measured here
    because interpreters differ."""
    bucket = [np.empty(1)]
    for raw in bucket:
        return sys.getrefcount(raw)
    raise AssertionError  # pragma: no cover


_FREE_REFS = _free_refs()


def empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised, 64-byte aligned float32 array; large ones come from the block pool."""
    global _pool_bytes
    n = int(np.prod(shape))
    if n < _POOL_MIN:
        return _aligned_empty(shape)
    with _pool_lock:
        bucket = _pool.setdefault(n, [])
        for raw in bucket:
            if sys.getrefcount(raw) == _FREE_REFS:
                return _aligned_view(raw, n, shape)
        raw = np.empty(n + 16, dtype=np.float32)
        if _pool_bytes + raw.nbytes <= _POOL_LIMIT:
            bucket.append(raw)
            _pool_bytes += raw.nbytes
        return _aligned_view(raw, n, shape)


def empty_cache() -> int:
    """Drop the pooled blocks that nothing uses and the packed-weight cache; returns the bytes
    still held by the pool."""
    global _pool_bytes
    with _pool_lock:
        _pack_cache.clear()
        for n, bucket in list(_pool.items()):
            kept = []
            for raw in bucket:
                if sys.getrefcount(raw) > _FREE_REFS:
                    kept.append(raw)
            _pool[n] = kept
        _pool_bytes = sum(raw.nbytes for bucket in _pool.values() for raw in bucket)
        return _pool_bytes


# Packed operands are cached by the identity of their source arrays and reused only while the
# sources hold exactly the bytes they held when packed (memcmp against a kept copy, ~30 GB/s):
# in-place edits of weights always take effect, and inference or token-by-token generation
# with fixed weights packs once (the LSTM's packing cost 0.13–0.85 ms per call).
_PACK_CACHE_SIZE = 16
_pack_cache: OrderedDict[tuple, tuple[tuple[np.ndarray, ...], object]] = OrderedDict()


def cached(tag: str, sources: tuple[np.ndarray, ...], build: Callable[[], T]) -> T:
    """build(), or its result from an earlier call whose sources held the same bytes."""
    key = (tag, *(id(a) for a in sources))
    with _pool_lock:
        hit = _pack_cache.get(key)
        if hit is not None:
            copies, result = hit
            if all(a.shape == c.shape and a.dtype == c.dtype and a.flags.c_contiguous
                   and _kernels.same(a, c) for a, c in zip(sources, copies, strict=True)):
                _pack_cache.move_to_end(key)
                return result
    result = build()
    with _pool_lock:
        _pack_cache[key] = (tuple(np.array(a, copy=True) for a in sources), result)
        while len(_pack_cache) > _PACK_CACHE_SIZE:
            _pack_cache.popitem(last=False)
    return result


def gate_interleave(H: int) -> np.ndarray:
    """Column order of the packed LSTM weights: panel p, gate g, lane u ↦ column g·H + 16p + u."""
    panels = np.arange(H // 16)[:, None, None] * 16
    gates = np.arange(4)[None, :, None] * H
    lanes = np.arange(16)[None, None, :]
    return (gates + panels + lanes).reshape(-1)


def pack(b: np.ndarray, columns: np.ndarray | None = None, *, out: np.ndarray | None = None,
         row0: int = 0, steps: int | None = None) -> np.ndarray:
    """Pack B (K, N) into [ceil(N'/64)][K][64] float32, N' = len(columns) or N.

    `columns` (optional) picks and orders the columns of B; the last panel is zero padded.
    With `out` (P, K_out, 64), B fills rows row0 … row0+K−1 of it instead (no columns then).
    A batch-major b (B, T, N) is packed in time-major row order (row t·B + b), as the time loops'
    weight-gradient GEMMs take it, without a transposed copy first; `steps` packs only its
    first steps (t < steps).
    """
    if b.ndim == 3 and columns is None:
        B, T, N = b.shape
        steps = T if steps is None else steps
        b = np.ascontiguousarray(b, dtype=np.float32)
        if out is None:
            out = empty((-(-N // PANEL), steps * B, PANEL))
        _kernels.pack(b, steps * B, N, N, out, out.shape[1], row0, max(B, 1), T)
        return out
    K, N = b.shape
    if columns is None and out is None and b.dtype == np.float32 and not b.flags.c_contiguous \
            and b.T.flags.c_contiguous and available():
        columns = np.arange(N)  # Bᵀ is row-major: one transposing pass (pack_t below)
    if columns is None:
        b = np.ascontiguousarray(b, dtype=np.float32)
        if out is None:
            out = empty((-(-N // PANEL), K, PANEL))
        _kernels.pack(b, K, N, N, out, out.shape[1], row0)
        return out
    n = len(columns)
    P = -(-n // PANEL)
    out = empty((P, K, PANEL))
    w = b.T  # B = Wᵀ of a row-major W (R, K), as the LSTM's weights: one transposing pass
    if w.dtype == np.float32 and w.flags.c_contiguous and available():
        _kernels.pack_t(w, N, K, np.ascontiguousarray(columns, dtype=np.int64), out)
        return out
    full = n // PANEL
    if full:
        src = b[:, columns[: full * PANEL]].reshape(K, full, PANEL)
        np.copyto(out[:full], src.transpose(1, 0, 2))
    if full < P:
        out[full] = 0.0
        out[full, :, : n - full * PANEL] = b[:, columns[full * PANEL :]]
    return out


def gemm(a: np.ndarray, b: np.ndarray, n: int, *, trans_a: bool = False,
         bias: np.ndarray | None = None, out: np.ndarray | None = None,
         accumulate: bool = False) -> np.ndarray:
    """C = op(A) B (+ bias), or C += op(A) B with accumulate=True.

    a: (M, K) float32 C-contiguous, or (K, M) with trans_a. b: packed (P, K, 64) from `pack`, or
    a plain (K, N) float32 C-contiguous matrix (read in place). bias: (≥ n,) in B's column
    order; out: (M, n) float32 C-contiguous. Returns out.
    """
    if trans_a:
        K, M = a.shape
        a_rs, a_cs = 1, M
    else:
        M, K = a.shape
        a_rs, a_cs = K, 1
    if b.ndim == 3:  # packed panels
        if b.shape[1] != K:
            raise ValueError(f"gemm: A has depth {K} but the packed B has {b.shape[1]}")
        b_ps, b_rs = K * PANEL, PANEL
    else:
        if b.shape[0] != K or b.shape[1] < n:
            raise ValueError(f"gemm: A has depth {K}, B is {b.shape}, n = {n}")
        b_ps, b_rs = PANEL, b.shape[1]
    if out is None:
        out = empty((M, n))
    threads = 1 if 2.0 * M * n * K < _SPAWN_FLOPS else num_threads()
    _kernels.gemm(M, n, K, a, a_rs, a_cs, b, b_ps, b_rs, bias, out, n, int(accumulate), threads)
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b over the last axis of `a` (..., K) and a 2-D `b` (K, N), on the kernels when both
    are float32 and they are available, else NumPy's matmul. Keeps NumPy's BLAS threads idle in
    float32 models: an OpenBLAS call leaves its threads spinning for a while, and a kernel call
    right after it was measured at half speed."""
    if (not available() or a.dtype != np.float32 or b.dtype != np.float32 or b.ndim != 2
            or a.ndim < 1 or a.size == 0 or b.size == 0):
        return a @ b
    lead, K = a.shape[:-1], a.shape[-1]
    if K != b.shape[0]:
        return a @ b  # NumPy raises its usual shape error
    flat = a.reshape(-1, K)
    trans = not flat.flags.c_contiguous and flat.T.flags.c_contiguous  # read Aᵀ in place
    operand = flat.T if trans else np.ascontiguousarray(flat)
    out = gemm(operand, pack(b), b.shape[1], trans_a=trans,
               out=np.empty((flat.shape[0], b.shape[1]), np.float32))
    return out.reshape(*lead, b.shape[1])
