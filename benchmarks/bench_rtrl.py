"""The cost of one exact RTRL step next to the matrix product at its heart, in the same run.

    python benchmarks/bench_rtrl.py [--units 8 16 32 64 128] [--inputs 8] [--repeats 31]
        [--dtype float32]

RTRL's influence update M_t = D_t M_{t-1} + I_t is, per batch row, an (S×S)·(S×P) product
(SimpleRNN: S = n, P = n(I + n + 2)), so a step costs O(n⁴) time and M takes O(n³) memory. For
each n this times a whole `RTRL.step` (Jacobians, influence update, readout, loss, gradient;
SimpleRNN tanh, B = 1, no optimizer) against a bare `np.matmul` of the same shapes into a
preallocated output. Runs are interleaved (step, matmul, step, ...) and medians are reported,
because the machines are shared and noisy. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import rnnlab
from rnnlab.online.jacobians import param_count
from rnnlab.online.learners import RTRL


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(n: int, inputs: int, repeats: int, dtype: str) -> dict:
    """Median seconds of one RTRL step and of the bare (n×n)·(n×P) matmul."""
    rng = np.random.default_rng(0)
    layer = rnnlab.SimpleRNN(n, dtype=dtype, seed=0)
    layer.build((None, inputs))
    readout = rnnlab.Dense(1, dtype=dtype, seed=1)
    learner = RTRL(layer, readout, "mse")
    learner.reset(1)
    xs = rng.standard_normal((repeats + 3, 1, inputs)).astype(dtype)
    ys = rng.standard_normal((repeats + 3, 1, 1)).astype(dtype)
    P = param_count(1, n, inputs)
    D = rng.standard_normal((1, n, n)).astype(dtype)
    M = rng.standard_normal((1, n, P)).astype(dtype)
    out = np.empty_like(M)

    def matmul():
        np.matmul(D, M, out=out)

    for k in range(3):  # warm-up: allocations, BLAS threads, and a non-zero influence matrix
        learner.step(xs[k], ys[k])
        matmul()
    steps, products = [], []
    for k in range(3, repeats + 3):
        steps.append(_time(lambda k=k: learner.step(xs[k], ys[k])))
        products.append(_time(matmul))
    step, product = statistics.median(steps), statistics.median(products)
    return {
        "n": n,
        "P": P,
        "step_ms": 1e3 * step,
        "matmul_ms": 1e3 * product,
        "ratio": step / product,
        "M_MB": learner.influence.nbytes / 2**20,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument("--inputs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args(argv)
    print(
        f"RTRL step vs the (n×n)·(n×P) matmul: SimpleRNN tanh, B = 1, I = {args.inputs}, "
        f"{args.dtype}, median of {args.repeats} interleaved repeats"
    )
    print(
        f"numpy {np.__version__}, python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    print("| n | P | RTRL step ms | matmul ms | ratio | M (MB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.units:
        r = bench(n, args.inputs, args.repeats, args.dtype)
        print(
            f"| {r['n']} | {r['P']} | {r['step_ms']:.3f} | {r['matmul_ms']:.3f} | "
            f"{r['ratio']:.2f} | {r['M_MB']:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
