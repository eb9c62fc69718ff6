"""Forward and forward+backward time of rnnlab layers next to torch.nn, in the same run.

    python benchmarks/bench_layers.py [--cells lstm gru rnn] [--repeats 7]
        [--shape B T I H] [--dtype float32]

Runs are interleaved (rnnlab, torch, rnnlab, torch, ...) and medians are reported, because the
machines are shared and noisy. Both sides use float32 by default, batch-first input, and a
random upstream gradient of the full output sequence. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

import rnnlab

LAYERS = {"lstm": rnnlab.LSTM, "gru": rnnlab.GRU, "rnn": rnnlab.SimpleRNN}


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(cell: str, B: int, T: int, I: int, H: int, repeats: int, dtype: str) -> dict:
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    ours = LAYERS[cell](H, return_sequences=True, dtype=dtype, seed=0)
    ours.build((T, I))
    theirs = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        I, H, batch_first=True
    ).to(getattr(torch, dtype))
    tx = torch.from_numpy(x).requires_grad_(True)
    tdy = torch.from_numpy(dy)

    def ours_fwd():
        ours.forward(x)

    def ours_fb():
        ours.forward(x, training=True)
        ours.backward(dy)

    def torch_fwd():
        with torch.no_grad():
            theirs(tx)

    def torch_fb():
        out, _ = theirs(tx)
        out.backward(tdy)

    for fn in (ours_fwd, ours_fb, torch_fwd, torch_fb):  # warm-up
        fn()
    times: dict[str, list[float]] = {
        k: [] for k in ("ours_fwd", "torch_fwd", "ours_fb", "torch_fb")
    }
    for _ in range(repeats):
        times["ours_fwd"].append(_time(ours_fwd))
        times["torch_fwd"].append(_time(torch_fwd))
        times["ours_fb"].append(_time(ours_fb))
        times["torch_fb"].append(_time(torch_fb))
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=LAYERS)
    parser.add_argument(
        "--shape", nargs=4, type=int, default=[32, 64, 128, 256], metavar=("B", "T", "I", "H")
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    args = parser.parse_args()
    import torch

    B, T, I, H = args.shape
    print(
        f"# numpy {np.__version__}, torch {torch.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} cores, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
        f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}"
    )
    print(f"# (B, T, I, H) = {tuple(args.shape)}, {args.dtype}, median of {args.repeats}")
    print(
        "| layer | rnnlab fwd ms | torch fwd ms | fwd speed ratio | rnnlab fwd+bwd ms | "
        "torch fwd+bwd ms | fwd+bwd speed ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for cell in args.cells:
        r = bench(cell, B, T, I, H, args.repeats, args.dtype)
        print(
            f"| {cell} | {1e3 * r['ours_fwd']:.1f} | {1e3 * r['torch_fwd']:.1f} | "
            f"{r['torch_fwd'] / r['ours_fwd']:.2f} | {1e3 * r['ours_fb']:.1f} | "
            f"{1e3 * r['torch_fb']:.1f} | {r['torch_fb'] / r['ours_fb']:.2f} |"
        )
    print("# speed ratio = torch time / rnnlab time (> 1: rnnlab is faster)")


if __name__ == "__main__":
    main()
