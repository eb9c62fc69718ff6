"""Which GEMM the SimpleRNN and GRU bulk products should run on here (issue 23 item 3): rnnlab's
packed kernel or NumPy's BLAS, measured, not assumed.

    PYTHONPATH=src .venv/bin/python benchmarks/rnn_gru_gemm_choice.py [--configs C2,C3]
        [--isolated-repeats 7] [--in-context-repeats 7]

Two tables (markdown on stdout):

1. Isolated: every bulk GEMM of a training step as cells/simple_native.py and gru_native.py
   call it (input projection; the weight gradients δᵀ [x | h_prev] with δᵀ's rows padded;
   dx = δ W_ih), packed kernel vs np.matmul, GFLOP/s, best of the interleaved samples —
   1 thread in CPU time (robust on a shared machine), 2 threads in wall time.
2. In context: whole layer calls (train = forward + backward, inference = forward under
   no_grad) with those GEMMs on the packed kernel (as shipped) or on np.matmul (NumPy's BLAS
   with its own threads), the time loops on the kernels either way; medians of interleaved
   calls. This is the figure that decides: OpenBLAS's worker threads keep spinning after each
   call and take the core from the kernels' second thread (docs/native.md, "Mixing with
   NumPy's BLAS").
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from rnnlab import bench, native
from rnnlab.cells import gru_native, simple_native
from rnnlab.config import no_grad
from rnnlab.layers import GRU, SimpleRNN

PANEL = native.PANEL


def bulk_gemms(cell: str, B: int, T: int, I: int, H: int) -> list[tuple[str, int, int, int]]:
    """(name, M, N, K) of the bulk GEMMs one training step runs: C (M, N) = A (M, K) B (K, N)."""
    G = (1 if cell == "rnn" else 3) * H
    TB, I_pad = T * B, -(-I // PANEL) * PANEL
    if cell == "rnn":
        grads = [("[dW_ih, dW_hh] = δᵀ [x, h]", H, I_pad + H, TB)]
    else:
        grads = [
            ("rows r, z: δᵀ [x, h]", 2 * H, I_pad + H, TB),
            ("rows n: δ_nᵀ x", H, I_pad, TB),
            ("rows n: (δ_n ⊙ r)ᵀ h", H, H, TB),
        ]
    return [("input x W_ihᵀ", TB, G, I), *grads, ("dx = δ W_ih", TB, I, G)]


def isolated(name, M, N, K, repeats) -> dict[int, tuple[float, float]]:
    """{threads: (kernel GFLOP/s, BLAS GFLOP/s)}"""
    rng = np.random.default_rng(0)
    ld = K + 16 if "δ" in name and "dx" not in name else K  # δᵀ rows padded as the cells do
    a = np.zeros((M, ld), np.float32)
    a[:, :K] = rng.standard_normal((M, K))
    b = rng.standard_normal((K, N)).astype(np.float32)
    packed, out = native.pack(b), np.empty((M, N), np.float32)
    flops = 2.0 * M * N * K
    n = max(1, int(1e8 / flops))
    result = {}
    for threads in (1, 2):
        clock = time.process_time if threads == 1 else time.perf_counter

        def kernel(threads=threads):
            for _ in range(n):
                native._kernels.gemm(
                    M, N, K, a, ld, 1, packed, K * PANEL, PANEL, None, out, N, 0, threads
                )

        def blas():
            for _ in range(n):
                np.matmul(a[:, :K], b, out=out)

        times: tuple[list[float], list[float]] = ([], [])
        with threadpool_limits(threads, user_api="blas"):
            for _ in range(repeats):
                for fn, samples in zip((kernel, blas), times, strict=True):
                    fn()
                    t0 = clock()
                    fn()
                    samples.append(clock() - t0)
        result[threads] = tuple(flops * n / min(s) / 1e9 for s in times)
    return result


# -- the same GEMMs on NumPy's BLAS, for the in-context comparison -------------------------------
def _blas_forward(params, x, h0, mask=None, activation="tanh", batch_major=False):
    x, h0 = simple_native._f32(x), simple_native._f32(h0)
    B, T, I = x.shape if batch_major else (x.shape[1], x.shape[0], x.shape[2])
    H = h0.shape[1]
    a_in = x.reshape(T * B, I) @ params["weight_ih"].T  # rows in x's order, as shipped
    a_in += params["bias_ih"] + params["bias_hh"]
    w_hh = params["weight_hh"]
    packed = native.cached("simple.h_whh", (w_hh,), lambda: native.pack(w_hh.T))
    hs = native.empty((B, T, H) if batch_major else (T, B, H))
    native.rnn_forward(
        T=T,
        B=B,
        H=H,
        a_in=a_in,
        w_hh=packed,
        h0=h0,
        hs=hs,
        mask=simple_native._mask_bytes(mask),
        relu=activation == "relu",
        threads=native.threads_for(2.0 * B * H * H),
        batch_major=batch_major,
    )
    return hs


class _Stacked(tuple):
    """(unpacked [x | h_prev] (T·B, I_pad + H), I_pad); [:P_x] and [P_x:] slice its columns."""

    def __getitem__(self, s):
        if not isinstance(s, slice):
            return tuple.__getitem__(self, s)
        both, i_pad = tuple.__getitem__(self, 0), tuple.__getitem__(self, 1)
        return _Stacked((both[:, :i_pad] if s.stop is not None else both[:, i_pad:], i_pad))


def _blas_stacked(x, h0, hs, batch_major=False):
    if batch_major:  # rows in time-major order t·B + b, as shipped
        x, hs = x.swapaxes(0, 1), hs.swapaxes(0, 1)
    T, B, I = x.shape
    H = hs.shape[2]
    i_pad = -(-I // PANEL) * PANEL
    both = np.zeros((T * B, i_pad + H), np.float32)
    both[:, :I] = x.reshape(T * B, I)
    both[:B, i_pad:] = h0
    both[B:, i_pad:] = hs[:-1].reshape(-1, H)
    return _Stacked((both, i_pad))


def _blas_input_side(params, x):
    T, B, I = x.shape
    H = params["weight_hh"].shape[1]
    bias = params["bias_ih"].copy()
    bias[: 2 * H] += params["bias_hh"][: 2 * H]
    out = x.reshape(T * B, I) @ params["weight_ih"].T
    out += bias
    return out.reshape(T, B, -1)


_SHIPPED = {
    "forward": simple_native.forward,
    "stacked_inputs": simple_native.stacked_inputs,
    "transposed_gemm": simple_native.transposed_gemm,
    "input_gradient": simple_native.input_gradient,
}
_BLAS = {
    "forward": _blas_forward,
    "stacked_inputs": _blas_stacked,
    "transposed_gemm": lambda d_t, ldt, b: d_t[:, : b[0].shape[0]] @ b[0],
    "input_gradient": lambda d, w, tag: (d.reshape(-1, d.shape[2]) @ w).reshape(*d.shape[:2], -1),
}


_SHIPPED_INPUT_SIDE = gru_native.input_side


def _use(blas: bool) -> None:
    for name, fn in (_BLAS if blas else _SHIPPED).items():
        setattr(simple_native, name, fn)
    gru_native.input_side = _blas_input_side if blas else _SHIPPED_INPUT_SIDE


def in_context(cell, shape, mode, repeats) -> tuple[float, float]:
    """Median ms of a layer call (kernel GEMMs, BLAS GEMMs), interleaved."""
    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = {"rnn": SimpleRNN, "gru": GRU}[cell](H, return_sequences=True, seed=0)
    layer.build((T, I))

    def call():
        if mode == "train":
            layer.forward(x, training=True)
            layer.backward(dy)
        else:
            with no_grad():
                layer.forward(x)

    grads = []
    for blas in (True, False):  # both variants give the same gradients (float32 rounding)
        _use(blas)
        call()
        grads.append({k: v.copy() for k, v in layer.grads.items()})
    for k in grads[0]:
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-3)
    samples: dict[bool, list[float]] = {False: [], True: []}
    for r in range(repeats):
        for blas in (False, True) if r % 2 == 0 else (True, False):
            _use(blas)
            samples[blas].append(bench.time_warm(call))
    _use(False)
    return 1e3 * statistics.median(samples[False]), 1e3 * statistics.median(samples[True])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", default="C2,C3")
    parser.add_argument("--isolated-repeats", type=int, default=7)
    parser.add_argument("--in-context-repeats", type=int, default=7)
    args = parser.parse_args()
    configs = args.configs.split(",")
    print("| cell | cfg | GEMM | M×K·K×N | kernel 1T | BLAS 1T | kernel 2T | BLAS 2T |")
    print("|---|---|---|---|---|---|---|---|")
    for cfg in configs:
        for cell in ("rnn", "gru"):
            for name, M, N, K in bulk_gemms(cell, *bench.CONFIGS[cfg]):
                r = isolated(name, M, N, K, args.isolated_repeats)
                print(
                    f"| {cell} | {cfg} | {name} | {M}×{K}·{K}×{N} | {r[1][0]:.0f} | "
                    f"{r[1][1]:.0f} | {r[2][0]:.0f} | {r[2][1]:.0f} |",
                    flush=True,
                )
    print("\n| cell | cfg | mode | kernel GEMMs ms | BLAS GEMMs ms | BLAS / kernel |")
    print("|---|---|---|---|---|---|")
    for cfg in configs:
        for cell in ("rnn", "gru"):
            for mode in ("train", "inference"):
                k, b = in_context(cell, bench.CONFIGS[cfg], mode, args.in_context_repeats)
                print(f"| {cell} | {cfg} | {mode} | {k:.1f} | {b:.1f} | {b / k:.2f} |", flush=True)


if __name__ == "__main__":
    main()
