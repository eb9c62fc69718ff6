"""Issue 17's must-show row on its own: minGRU against GRU training at T = 4096, B = 8, I = 128,
H = 256, and one streaming step at B = 1, interleaved pairs, medians (docs/parallel-rnn.md).

    nice -n 5 .venv/bin/python benchmarks/parallel_must_show.py [pairs]
"""

import os
import statistics
import sys
import time

from rnnlab import bench_parallel as bp


def main(pairs: int = 7) -> None:
    print("load", os.getloadavg(), time.strftime("%H:%M:%S"))
    calls = {c: bp._train_call(c, 256, 4096) for c in ("mingru", "gru")}
    steps = {c: bp._step_call(c, 1) for c in ("mingru", "gru")}
    t = {k: [] for k in ["train mingru", "train gru", "step mingru", "step gru"]}
    for _ in range(pairs):
        for c in ("mingru", "gru"):
            t[f"train {c}"].append(bp._time(calls[c]))
        for c in ("mingru", "gru"):
            t[f"step {c}"].append(bp._time(steps[c]))
    m = {k: statistics.median(v) for k, v in t.items()}
    for k, v in t.items():
        print(k, "median", round(m[k] * 1e3, 2), "ms; all", [round(x * 1e3, 1) for x in v])
    tokens = 8 * 4096
    print(
        f"train tokens/s minGRU {tokens / m['train mingru']:,.0f}, GRU "
        f"{tokens / m['train gru']:,.0f}: {m['train gru'] / m['train mingru']:.2f}x"
    )
    ratios = sorted(g / n for g, n in zip(t["train gru"], t["train mingru"], strict=True))
    print("per-pair ratios", [round(r, 2) for r in ratios])
    print(f"step µs minGRU {m['step mingru'] * 1e6:.0f}, GRU {m['step gru'] * 1e6:.0f}")
    print("load", os.getloadavg(), time.strftime("%H:%M:%S"))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
