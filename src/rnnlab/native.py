"""The compiled kernels (`rnnlab._kernels_<path>`): which one serves a call and why not, and the
packing, threads and memory around them.

This module alone decides whether a compiled kernel serves a call (`serves`; else the caller
runs its NumPy code, the same equations, held to it by tests/test_native.py). It serves when:

- a kernel path runs: the one chosen at import (rnnlab.native_paths: the best of avx512, avx2,
  generic that built and that the CPU runs; `RNNLAB_ISA=avx512|avx2|generic|off` or
  `use_isa()` choose), and the kernels are enabled (`RNNLAB_NATIVE=0`, `set_enabled(False)`);
- the data are float32 (float64 always runs NumPy: the gradient checks run there);
- for the fused time loops (LSTM, GRU, SimpleRNN, minGRU/minLSTM; both ways): the hidden size is
  a multiple of 16 and no recurrent dropout mask is active.

    >>> import rnnlab
    >>> rnnlab.native.serves("lstm", dtype="float32", units=100)
    False
    >>> rnnlab.native.why_not("lstm", dtype="float32", units=100)
    'hidden size 100 is not a multiple of 16'

Packed operands (the same on every path): a (K, N) matrix B becomes [ceil(N/64) panels][K][64]
float32, zero padded; the LSTM's W_hhᵀ and W_ihᵀ columns are interleaved by `gate_interleave(H)`:
panel p holds i, f, g, o of units 16p … 16p+15. Kernels take keyword arguments (_kernels.c).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import numpy as np

from . import native_memory, native_paths, native_tuning
from .native_memory import empty, pooled_blocks  # noqa: F401 - rnnlab.native's API

_choice = native_paths.default()  # the path in use; the modules are optional (no C compiler)
_kernels = _choice.module
_tuning_asked: str | None = None  # use_tuning()'s name, kept across use_isa()

PANEL = 64
T = TypeVar("T")
_MAX_THREADS = 64
_disabled_by = "RNNLAB_NATIVE=0" if os.environ.get("RNNLAB_NATIVE", "1") == "0" else None
_num_threads: int | None = None

# -- which kernel serves a call ------------------------------------------------------------------
#: every kernel entry: name -> what it computes
KERNELS: dict[str, str] = {
    "gemm": "packed GEMM (Dense layers, input projections, weight gradients)",
    "recurrent_products": "per-step recurrent products of SimpleRNN and GRU (W_hh packed once)",
    "lstm": "LSTM forward and backward time loops",
    "gru": "GRU forward and backward time loops",
    "rnn": "SimpleRNN forward and backward time loops",
    "minimal": "minGRU and minLSTM scans, forward and backward (cells/minimal.py)",
    "pack": "weight packing by one transposing pass",
    "all_finite": "finite check of layer inputs and gradients",
    "adam": "Adam / AdamW step",
    "sum_squares": "sum of squares behind gradient clipping",
    "sparse_xent": "softmax cross-entropy from float32 logits",
}
#: the fused time loops: their register tiles hold 16 units per gate
FUSED = ("lstm", "gru", "rnn", "minimal")


def built() -> bool:
    """True if any kernel path was built (native_paths.built tells which)."""
    return any(native_paths.built(isa) for isa in native_paths.ISAS)


def available() -> bool:
    """True if the compiled kernels run here at all: a path in use, and enabled."""
    return _kernels is not None and _disabled_by is None


def isa() -> str | None:
    """The instruction-set path in use ("avx512", "avx2", "generic"), or None."""
    return _choice.isa


def use_isa(name: str | None) -> None:
    """Switch to the path `name` ("avx512", "avx2", "generic", or "off"; None: the default
    choice, $RNNLAB_ISA or the best path). A path this CPU cannot run raises RuntimeError with
    the reason, and the path in use stays."""
    global _choice, _kernels
    _choice = native_paths.choose(name, strict=True)
    _kernels = _choice.module
    use_tuning(_tuning_asked)


def tuning() -> native_tuning.Chosen:
    """The tuning in use (rnnlab.native_tuning: blocking and threading per CPU) and why."""
    return _tuning


def use_tuning(name: str | None) -> None:
    """Switch to the tuning `name` (a key of native_tuning.TUNINGS; ValueError otherwise), or
    with None to $RNNLAB_TUNING's, else the table's for this CPU and path. Changes no result."""
    global _tuning, _tuning_asked
    cpu = native_paths.cpu_id()
    if name is None:
        chosen = native_tuning.from_environment(cpu, _choice.isa)
    else:
        chosen = native_tuning.choose(cpu, _choice.isa, name)
    if _kernels is not None:
        _kernels.set_tuning(**chosen.tuning.kernel_parameters(_kernels.KB_LSTM))
    _tuning, _tuning_asked = chosen, name


def describe() -> str:
    """One line: the path in use and why, the paths and whether they run here, the CPU, and
    the tuning."""
    t = _tuning
    return f"{native_paths.describe(_choice)}; tuning {t.tuning.name} ({t.source})"


def why_not(
    kernel: str, *, dtype=np.float32, units: int | None = None, recurrent_dropout: bool = False
) -> str | None:
    """None if `kernel` (a key of KERNELS) serves a call on `dtype` data, else the reason.

    For the fused time loops ("lstm", "gru") also give the hidden size `units` and whether a
    recurrent dropout mask is active.
    """
    if kernel not in KERNELS:
        raise ValueError(f"rnnlab.native: expected a kernel in {list(KERNELS)}, got {kernel!r}")
    if _kernels is None:
        return _choice.reason
    if _disabled_by is not None:
        return f"disabled by {_disabled_by}"
    if dtype is not np.float32 and np.dtype(dtype) != np.float32:
        return f"{np.dtype(dtype).name} (the kernels are float32)"
    if kernel in FUSED:
        if units is None:
            raise ValueError(f"rnnlab.native: the {kernel} kernel needs units (the hidden size)")
        if units % 16:
            return f"hidden size {units} is not a multiple of 16"
        if recurrent_dropout:
            return "recurrent dropout is active"
    return None


def serves(
    kernel: str, *, dtype=np.float32, units: int | None = None, recurrent_dropout: bool = False
) -> bool:
    """True if `kernel` serves this call (see why_not)."""
    return why_not(kernel, dtype=dtype, units=units, recurrent_dropout=recurrent_dropout) is None


def report() -> list[tuple[str, str]]:
    """Every kernel entry and whether it serves here: [(what it computes, status), ...]."""
    rows = []
    for kernel, what in KERNELS.items():
        reason = why_not(kernel, units=16 if kernel in FUSED else None)
        if reason is not None:
            rows.append((what, f"off: {reason}"))
        elif kernel in FUSED:
            rows.append(
                (what, "serves float32, hidden size a multiple of 16, no recurrent dropout")
            )
        else:
            rows.append((what, "serves float32"))
    return rows


def set_enabled(flag: bool) -> None:
    """Turn the compiled kernels on or off for this process (the NumPy code runs when off)."""
    global _disabled_by
    if not isinstance(flag, bool):
        raise TypeError(f"rnnlab.native.set_enabled: expected True or False, got {flag!r}")
    _disabled_by = None if flag else "rnnlab.native.set_enabled(False)"


# -- threads -------------------------------------------------------------------------------------
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
            f"rnnlab.native.set_num_threads: expected a positive int or None, got {n!r}"
        )
    _num_threads = None if n is None else min(int(n), _MAX_THREADS)


# A call that starts threads pays ~19 µs for it (measured: create + join of one more thread);
# one core does ~4 MFLOP in that time, so a GEMM smaller than this runs on the calling thread.
_SPAWN_FLOPS = 1.6e7


def threads_for(flops_per_sync: float) -> int:
    """Threads for a time loop whose threads meet every `flops_per_sync` FLOP: one when a step
    is too small to pay for a cross-core barrier (~1 µs), else num_threads()."""
    return 1 if flops_per_sync < 2.5e5 else num_threads()


# -- memory (rnnlab.native_memory) ---------------------------------------------------------------
def empty_cache() -> int:
    """Drop the pooled blocks that nothing uses and the packed-weight cache; returns the bytes
    still held by the pool."""
    with _cache_lock:
        _pack_cache.clear()
    return native_memory.release_free()


# Packed operands are cached by the identity of their source arrays and reused only while the
# sources hold exactly the bytes they held when packed (memcmp against a kept copy, ~30 GB/s):
# in-place edits of weights always take effect, and inference or token-by-token generation
# with fixed weights packs once (the LSTM's packing cost 0.13–0.85 ms per call).
_PACK_CACHE_SIZE = 16
_pack_cache: OrderedDict[tuple, tuple[tuple[np.ndarray, ...], object]] = OrderedDict()
_cache_lock = threading.Lock()


def cached(tag: str, sources: tuple[np.ndarray, ...], build: Callable[[], T]) -> T:
    """build(), or its result from an earlier call whose sources held the same bytes."""
    key = (tag, *(id(a) for a in sources))
    with _cache_lock:
        hit = _pack_cache.get(key)
        if hit is not None:
            copies, result = hit
            if all(
                a.shape == c.shape
                and a.dtype == c.dtype
                and a.flags.c_contiguous
                and _kernels.same(a, c)
                for a, c in zip(sources, copies, strict=True)
            ):
                _pack_cache.move_to_end(key)
                return result
    result = build()
    with _cache_lock:
        _pack_cache[key] = (tuple(np.array(a, copy=True) for a in sources), result)
        while len(_pack_cache) > _PACK_CACHE_SIZE:
            _pack_cache.popitem(last=False)
    return result


# -- packing and products ------------------------------------------------------------------------
def gate_interleave(H: int) -> np.ndarray:
    """Column order of the packed LSTM weights: panel p, gate g, lane u ↦ column g·H + 16p + u."""
    panels = np.arange(H // 16)[:, None, None] * 16
    gates = np.arange(4)[None, :, None] * H
    lanes = np.arange(16)[None, None, :]
    return (gates + panels + lanes).reshape(-1)


def _pack_threads(elements: int) -> int:
    """Threads for a row-major pack: all from 2^18 floats (1 MiB; a thread's start costs
    ~30 µs, the copy ~0.1 ms a MiB)."""
    return num_threads() if elements >= 1 << 18 else 1


def pack(
    b: np.ndarray,
    columns: np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
    row0: int = 0,
    steps: int | None = None,
) -> np.ndarray:
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
        _kernels.pack(
            b=b,
            K=steps * B,
            N=N,
            ldb=N,
            out=out,
            K_out=out.shape[1],
            row0=row0,
            group=max(B, 1),
            group_stride=T,
            threads=_pack_threads(steps * B * N),
        )
        return out
    K, N = b.shape
    transposing = serves("pack", dtype=b.dtype)
    if (
        columns is None
        and out is None
        and transposing
        and not b.flags.c_contiguous
        and b.T.flags.c_contiguous
    ):
        columns = np.arange(N)  # Bᵀ is row-major: one transposing pass (pack_t below)
    if columns is None:
        b = np.ascontiguousarray(b, dtype=np.float32)
        if out is None:
            out = empty((-(-N // PANEL), K, PANEL))
        _kernels.pack(
            b=b,
            K=K,
            N=N,
            ldb=N,
            out=out,
            K_out=out.shape[1],
            row0=row0,
            threads=_pack_threads(K * N),
        )
        return out
    n = len(columns)
    P = -(-n // PANEL)
    out = empty((P, K, PANEL))
    w = b.T  # B = Wᵀ of a row-major W (R, K), as the LSTM's weights: one transposing pass
    if transposing and w.flags.c_contiguous:
        _kernels.pack_t(
            w=w, R=N, K=K, columns=np.ascontiguousarray(columns, dtype=np.int64), out=out
        )
        return out
    full = n // PANEL
    if full:
        src = b[:, columns[: full * PANEL]].reshape(K, full, PANEL)
        np.copyto(out[:full], src.transpose(1, 0, 2))
    if full < P:
        out[full] = 0.0
        out[full, :, : n - full * PANEL] = b[:, columns[full * PANEL :]]
    return out


def gemm(
    a: np.ndarray,
    b: np.ndarray,
    n: int,
    *,
    trans_a: bool = False,
    bias: np.ndarray | None = None,
    out: np.ndarray | None = None,
    accumulate: bool = False,
    depth: int | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """C = op(A) B (+ bias), or C += op(A) B with accumulate=True.

    a: (M, K) float32 C-contiguous, or (K, M) with trans_a. b: packed (P, K, 64) from `pack`, or
    a plain (K, N) float32 C-contiguous matrix (read in place). bias: (≥ n,) in B's column
    order; out: (M, n) float32 C-contiguous. depth: K when a's rows are padded past it
    (a (M, ≥ K), not with trans_a). threads: one below 16 MFLOP, else num_threads(), unless
    given. Returns out.
    """
    if trans_a:
        K, M = a.shape
        a_rs, a_cs = 1, M
    else:
        M, a_rs = a.shape
        K, a_cs = (a_rs if depth is None else depth), 1
        if K > a_rs:
            raise ValueError(f"gemm: depth {K} exceeds A's rows of {a_rs}")
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
    if threads is None:
        threads = 1 if 2.0 * M * n * K < _SPAWN_FLOPS else num_threads()
    _kernels.gemm(
        M=M,
        N=n,
        K=K,
        a=a,
        a_rs=a_rs,
        a_cs=a_cs,
        b=b,
        b_ps=b_ps,
        b_rs=b_rs,
        bias=bias,
        c=out,
        ldc=n,
        accumulate=accumulate,
        threads=threads,
    )
    return out


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b over the last axis of `a` (..., K) and a 2-D `b` (K, N), on the kernels when both
    are float32 and they serve, else NumPy's matmul. Keeps NumPy's BLAS threads idle in
    float32 models: an OpenBLAS call leaves its threads spinning for a while, and a kernel call
    right after it was measured at half speed."""
    if (
        a.dtype != np.float32
        or b.dtype != np.float32
        or not available()
        or b.ndim != 2
        or a.ndim < 1
        or a.size == 0
        or b.size == 0
    ):
        return a @ b
    lead, K = a.shape[:-1], a.shape[-1]
    if K != b.shape[0]:
        return a @ b  # NumPy raises its usual shape error
    flat = a.reshape(-1, K)
    trans = not flat.flags.c_contiguous and flat.T.flags.c_contiguous  # read Aᵀ in place
    operand = flat.T if trans else np.ascontiguousarray(flat)
    out = gemm(
        operand,
        pack(b),
        b.shape[1],
        trans_a=trans,
        out=np.empty((flat.shape[0], b.shape[1]), np.float32),
    )
    return out.reshape(*lead, b.shape[1])


# -- the fused time loops (rnnlab.cells calls them where serves() said so) ----------------------
def _time_loop(name: str, cell_module: str) -> Callable[..., None]:
    def loop(**arguments) -> None:
        getattr(_kernels, name)(**arguments)  # the path in use, looked up at each call

    loop.__name__ = loop.__qualname__ = name
    loop.__doc__ = (
        f"The {name} time loop ({cell_module}), its arguments by keyword as named in _kernels.c."
    )
    return loop


lstm_forward = _time_loop("lstm_forward", "cells/lstm_native.py")
lstm_backward = _time_loop("lstm_backward", "cells/lstm_native.py")
gru_forward = _time_loop("gru_forward", "cells/gru_native.py")
gru_backward = _time_loop("gru_backward", "cells/gru_native.py")
rnn_forward = _time_loop("rnn_forward", "cells/simple_native.py")
rnn_backward = _time_loop("rnn_backward", "cells/simple_native.py")
min_scan = _time_loop("min_scan", "cells/minimal_native.py")  # minGRU/minLSTM, both ways


class RecurrentProduct:
    """a @ w for the per-step recurrent products (B, K) @ (K, N) of a time loop, w = weight or
    weightᵀ.

    Where the "recurrent_products" kernel serves (float32): w packed once and kept while the
    weight's bytes are unchanged (`cached`, so token-by-token generation does not repack every
    call), each step one call of the packed GEMM (on one thread unless the step is big enough
    to pay for starting a second); otherwise NumPy's matmul. Both give the same products up to
    float32 rounding.
    """

    def __init__(self, tag: str, weight: np.ndarray, transpose: bool = False):
        self.w = weight.T if transpose else weight  # (K, N)
        self.packed = None
        if serves("recurrent_products", dtype=weight.dtype) and weight.flags.c_contiguous:
            self.packed = cached(tag, (weight,), lambda: pack(self.w))

    def __call__(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if (
            self.packed is None
            or a.dtype != np.float32
            or not a.flags.c_contiguous
            or (out is not None and not out.flags.c_contiguous)
        ):
            return np.matmul(a, self.w, out=out)
        if out is None:
            out = np.empty((a.shape[0], self.w.shape[1]), np.float32)
        return gemm(a, self.packed, self.w.shape[1], out=out)


# -- single passes of the training step ----------------------------------------------------------
def _plain_f32(*arrays: np.ndarray | None) -> bool:
    return all(a is None or (a.dtype == np.float32 and a.flags.c_contiguous) for a in arrays)


def all_finite(a: np.ndarray) -> bool:
    """True if `a` holds no Inf and no NaN: one pass of the kernels over float32 C-contiguous
    data (2 MiB in ~10 µs), NumPy otherwise (a finite sum proves every element finite; only a
    sum that is not finite takes the exact check)."""
    if a.dtype == np.float32 and a.flags.c_contiguous and available():
        return _kernels.all_finite(a)
    return bool(np.isfinite(a.sum()) or np.isfinite(a).all())


def sum_squares(a: np.ndarray) -> float | None:
    """Σ a² accumulated in float64 in one pass of the kernels over float32 C-contiguous data
    (no float64 copy); None where the kernel does not serve (the caller's NumPy code runs)."""
    if not (serves("sum_squares", dtype=a.dtype) and a.flags.c_contiguous):
        return None
    return _kernels.sum_squares(a)


def adam_step(
    p: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    vhat: np.ndarray | None,
    *,
    b1: float,
    b2: float,
    bias_correction2: float,
    eps: float,
    step: float,
) -> bool:
    """One Adam step in place, in one pass, where the kernel serves these arrays (float32,
    C-contiguous): NumPy's float32 operations in NumPy's order, so the same bits. Returns
    False, changing nothing, where it does not serve.

        m = b1 m + (1 − b1) g    v = b2 v + (1 − b2) g²    [vhat = max(vhat, v), used as v]
        p = p − step · m / (√v / bias_correction2 + eps)
    """
    if not (serves("adam", dtype=p.dtype) and _plain_f32(p, g, m, v, vhat)):
        return False
    _kernels.adam(
        p=p,
        g=g,
        m=m,
        v=v,
        vhat=vhat,
        b1=b1,
        one_minus_b1=1.0 - b1,
        b2=b2,
        one_minus_b2=1.0 - b2,
        bias_correction2=bias_correction2,
        eps=eps,
        step=step,
    )
    return True


def sparse_xent(
    logits: np.ndarray, ids: np.ndarray, mask: np.ndarray | None, count: int, grad: np.ndarray
) -> float:
    """Σ over the counted rows of −log softmax(logits)[id], with grad (N, C) written as
    (softmax − onehot) / count (0 on masked rows): one pass per row. logits (N, C) float32
    C-contiguous, ids (N,) int64, mask (N,) bool or None, count ≥ 1. Call it only where
    serves("sparse_xent", dtype=logits.dtype)."""
    m = None if mask is None else np.ascontiguousarray(mask, dtype=np.bool_).view(np.uint8)
    return _kernels.sparse_xent(
        N=logits.shape[0],
        C=logits.shape[1],
        x=logits,
        k=np.ascontiguousarray(ids, dtype=np.int64),
        mask=m,
        count=float(count),
        grad=grad,
    )


use_tuning(None)  # the tuning for this CPU and path, at import
