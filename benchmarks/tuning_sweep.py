"""Measure kernel tunings against each other on this CPU (issue 23 item 2: how the table of
rnnlab.native_tuning is chosen).

    .venv/bin/python benchmarks/tuning_sweep.py [--tunings default,intel-sapphire-rapids]
        [--try kc=256,rb=96 --try lstm_units_bytes=1] [--configs C1,C2,C3] [--rounds 7]
        [--layout time|batch] [--cases loop] [--json benchmarks/results/] [--markdown FILE]

For each configuration of `rnnlab bench` it times, on two threads, every bulk GEMM an LSTM
training step runs — the input projection x W_ihᵀ, the weight gradients δᵀ [x | h] and the input
gradient δ W_ih, each at its shape — and the LSTM's forward time loop (training and inference)
and backward loop, under each tuning: the table's (`--tunings`) and variants of the first one
(`--try name=value,...`, any Tuning field). The tunings alternate call by call, in an order
rotated every round, so that a burst of load elsewhere on a shared machine hits all of them; each
cell of the table is the median over rounds of the best of 3 calls, with NumPy's BLAS at the same
GEMM shapes beside. The results also check that every tuning gives the same bits. --layout
batch runs the loops on batch-major (B, T, ·) data, as the layers hold it (default: time-major);
--cases keeps the cases whose name contains one of the given words.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np

from rnnlab import bench, native, native_tuning
from rnnlab.cells import LSTMCell


def _variant(base: native_tuning.Tuning, spec: str) -> native_tuning.Tuning:
    changes = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        fields = {f.name for f in dataclasses.fields(native_tuning.Tuning)} - {"name", "measured"}
        if not sep or key not in fields:
            raise SystemExit(
                f"--try: expected name=value with a name in {sorted(fields)}, got {item!r}"
            )
        changes[key] = int(value)
    return dataclasses.replace(base, name=f"{base.name}+{spec}", **changes)


def _best_of(fn, calls: int = 3) -> float:
    fn()
    best = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cases(config: str, rng: np.random.Generator, layout: str = "time") -> dict[str, tuple]:
    """name -> (flops, rnnlab callable, NumPy callable or None, result getter)"""
    B, T, I, H = bench.CONFIGS[config]
    G, TB = 4 * H, T * B
    cell = LSTMCell()
    params = {
        "weight_ih": (rng.standard_normal((G, I)) * 0.1).astype(np.float32),
        "weight_hh": (rng.standard_normal((G, H)) * 0.1).astype(np.float32),
        "bias_ih": np.zeros(G, np.float32),
        "bias_hh": np.zeros(G, np.float32),
    }
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    states = (np.zeros((B, H), np.float32), np.zeros((B, H), np.float32))
    d_out = rng.standard_normal((T, B, H)).astype(np.float32)
    cases = {}
    for name, (M, K, N) in {
        "input GEMM": (TB, I, G),
        "dW GEMM": (G, TB, I + H),
        "dx GEMM": (TB, G, I),
    }.items():
        a = rng.standard_normal((M, K)).astype(np.float32)
        b = rng.standard_normal((K, N)).astype(np.float32)
        packed, out, out_np = (
            native.pack(b),
            np.empty((M, N), np.float32),
            np.empty((M, N), np.float32),
        )
        cases[name] = (
            2.0 * M * N * K,
            lambda a=a, packed=packed, N=N, out=out: native.gemm(a, packed, N, out=out, threads=2),
            lambda a=a, b=b, out_np=out_np: np.matmul(a, b, out=out_np),
            lambda out=out: out,
        )
    kept = {}
    if layout == "batch":
        x, d_out = (np.ascontiguousarray(v.swapaxes(0, 1)) for v in (x, d_out))

    def forward(keep: bool):
        kept["fwd"] = cell.forward(params, x, states, keep_cache=keep, layout=layout)

    def backward():
        kept["bwd"] = cell.backward(kept["train"][2], d_out, (None, None))

    kept["train"] = cell.forward(params, x, states, layout=layout)
    step = 2.0 * TB * G * (I + H)
    cases["forward loop (inference)"] = (step, lambda: forward(False), None, lambda: kept["fwd"][0])
    cases["forward loop (training)"] = (step, lambda: forward(True), None, lambda: kept["fwd"][0])
    cases["backward (loop + dW + dx)"] = (2 * step, backward, None, lambda: kept["bwd"][0])
    return cases


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tunings", default=",".join(native_tuning.TUNINGS))
    p.add_argument("--try", dest="variants", action="append", default=[])
    p.add_argument("--configs", default="C1,C2,C3")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--layout", choices=("time", "batch"), default="time")
    p.add_argument("--cases", default="", help="comma-separated words; default: every case")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--markdown", type=Path, default=None)
    args = p.parse_args()
    tunings = [native_tuning.TUNINGS[n] for n in args.tunings.split(",")]
    tunings += [_variant(tunings[0], spec) for spec in args.variants]
    for t in tunings:
        native_tuning.TUNINGS.setdefault(t.name, t)
    native.set_num_threads(2)
    rows, lines = [], []
    header = (
        "| cfg | case | " + " | ".join(t.name for t in tunings) + " | NumPy's BLAS | same bits |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    words = [w for w in args.cases.split(",") if w]
    for config in args.configs.split(","):
        cases = _cases(config, np.random.default_rng(0), args.layout)
        for case, (flops, ours, theirs, result) in cases.items():
            if words and not any(w in case for w in words):
                continue
            times = {t.name: [] for t in tunings}
            blas, bits = [], {}
            for r in range(args.rounds):
                for t in tunings[r % len(tunings) :] + tunings[: r % len(tunings)]:  # rotated
                    native.use_tuning(t.name)
                    times[t.name].append(_best_of(ours))
                    bits.setdefault(t.name, np.array(result(), copy=True))
                if theirs is not None:
                    blas.append(_best_of(theirs))
            same = all(np.array_equal(b, bits[tunings[0].name]) for b in bits.values())
            gflops = {n: flops / statistics.median(v) / 1e9 for n, v in times.items()}
            blas_gflops = flops / statistics.median(blas) / 1e9 if blas else None
            rows.append(
                {
                    "config": config,
                    "case": case,
                    "gflops": gflops,
                    "blas": blas_gflops,
                    "ms": {n: 1e3 * statistics.median(v) for n, v in times.items()},
                    "ms_per_round": {n: [1e3 * x for x in v] for n, v in times.items()},
                    "same_bits": same,
                }
            )
            cells = " | ".join(f"{gflops[t.name]:.0f}" for t in tunings)
            blas_text = "" if blas_gflops is None else f"{blas_gflops:.0f}"
            same_text = "yes" if same else "**no**"
            lines.append(f"| {config} | {case} | {cells} | {blas_text} | {same_text} |")
            print(lines[-1], flush=True)
    native.use_tuning(None)
    env = bench.environment()
    cpu = bench.describe_cpu(env["cpu"])
    note = (
        f"GFLOP/s on 2 threads, medians of {args.rounds} rounds, {args.layout}-major loops; {cpu}; "
        f"load {env['load_average']}"
    )
    print(note)
    if args.markdown:
        args.markdown.write_text("\n".join([note, "", *lines]) + "\n")
    if args.json:
        path = (
            args.json / f"tuning-{bench.cpu_slug(env['cpu'])}.json"
            if args.json.is_dir()
            else args.json
        )
        tuning_fields = [dataclasses.asdict(t) for t in tunings]
        path.write_text(
            json.dumps({"environment": env, "tunings": tuning_fields, "rows": rows}, indent=1)
        )
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
