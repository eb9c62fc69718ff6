"""The kernel paths side by side (issue 20): whole layer calls on each path, and optionally on an
earlier build of the kernels (an AVX-512 `_kernels*.so` from before the paths: "are the AVX-512
figures unchanged?").

    PYTHONPATH=src .venv/bin/python benchmarks/isa_paths.py [--paths avx512,avx2,generic]
        [--old PATH/_kernels.cpython-311-x86_64-linux-gnu.so] [--configs C1,C2,C3,C4]
        [--repeats 7] [--threads 1]

Each row times train (forward + backward) and inference (forward under no_grad) of rnnlab's
SimpleRNN / LSTM / GRU at the bench's configurations, the paths interleaved call by call
(path A, path B, ..., A, B, ...), each call after a 30 ms warm-up of the same path. With one
thread the time is the calling thread's CPU time (time.thread_time: what others' work on a
shared machine does not add to); with more, wall time. Medians in ms; markdown on stdout.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time

import numpy as np

from rnnlab import native
from rnnlab.bench import CELLS, CONFIGS
from rnnlab.config import no_grad
from rnnlab.layers import GRU, LSTM, SimpleRNN


def load_old(path: str):
    """An earlier single-path build (module rnnlab._kernels) loaded from its file."""
    spec = importlib.util.spec_from_file_location("rnnlab._kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def layer_call(cell: str, shape, mode: str):
    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[cell](H, return_sequences=True, seed=0)
    layer.build((T, I))
    if mode == "train":
        return lambda: (layer.forward(x, training=True), layer.backward(dy))

    def infer():
        with no_grad():
            layer.forward(x)

    return infer


def timed(fn, clock) -> float:
    end = time.perf_counter() + 0.03
    fn()
    while time.perf_counter() < end:
        fn()
    t0 = clock()
    fn()
    return clock() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", default=",".join(native.native_paths.runnable()))
    parser.add_argument("--old", default=None, help="an earlier _kernels .so to time beside")
    parser.add_argument("--configs", default="C1,C2,C3,C4")
    parser.add_argument("--cells", default=",".join(CELLS))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    native.set_num_threads(args.threads)
    clock = time.thread_time if args.threads == 1 else time.perf_counter
    modules = {isa: native.native_paths.load(isa) for isa in args.paths.split(",")}
    if args.old:
        modules["old"] = load_old(args.old)
    names = list(modules)
    print(f"threads {args.threads} ({'CPU' if args.threads == 1 else 'wall'} time), median ms")
    print("| cell | config | mode | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for config in args.configs.split(","):
        for cell in args.cells.split(","):
            for mode in ("train", "inference"):
                call = layer_call(cell, CONFIGS[config], mode)
                samples: dict[str, list[float]] = {n: [] for n in names}
                for _ in range(args.repeats):
                    for name in names:
                        native._kernels = modules[name]  # the path of this call
                        samples[name].append(timed(call, clock))
                row = " | ".join(f"{1e3 * statistics.median(samples[n]):.2f}" for n in names)
                print(f"| {cell} | {config} | {mode} | {row} |", flush=True)
    native.use_isa(None)


if __name__ == "__main__":
    main()
