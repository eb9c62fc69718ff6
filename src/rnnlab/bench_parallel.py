"""`rnnlab bench --cells mingru,minlstm,lru,gru,lstm`: the recurrences that train in parallel
against LSTM and GRU, all rnnlab's, timed in the same run (docs/parallel-rnn.md).

Three measurements, every cell's samples interleaved round by round (medians):

    train   forward with caches + backward of one (B, T, I) batch, B = 8, I = 128, for
            T = 64 … 8192: tokens/s (B·T per call) at equal hidden size (H = 256 for all) and
            at equal parameter count (each cell's H, a multiple of 16, whose parameter count is
            nearest the GRU's at H = 256: 296,448)
    step    one streaming step (T = 1, carried state, rnnlab.no_grad) at H = 256, B = 1 and 8:
            the latency of generating one token per sequence

The timing is rnnlab.bench's `time_warm` (each timed call after untimed calls of the same side
for 30 ms) for calls under 0.2 s; a longer call is timed as it comes. `run_parallel_bench`
returns the rows; `row_line`, `speedups`, `save` and `plot` report them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .bench import environment, time_warm

CELLS = ("mingru", "minlstm", "lru", "gru", "lstm", "rnn")
#: the cells of this bench (the others run the classic bench)
PARALLEL = ("mingru", "minlstm", "lru")
BATCH, INPUT, HIDDEN = 8, 128, 256
LENGTHS = (64, 256, 1024, 4096, 8192)
STEP_BATCHES = (1, 8)


def _layer(cell: str, units: int):
    from .layers import layer_for_cell

    return layer_for_cell(cell)(units, return_sequences=True, seed=0)


def param_count(cell: str, units: int, input_size: int = INPUT) -> int:
    """Parameters of the cell's layer with `units` on `input_size` features (from the shapes)."""
    from .cells import get_cell

    shapes = get_cell(cell)().param_shapes(input_size, units).values()
    return int(sum(np.prod(shape) for shape in shapes))


def equal_param_units(cell: str, target: int, input_size: int = INPUT) -> int:
    """The H (a multiple of 16) whose parameter count is nearest `target`."""
    best, best_gap = 16, None
    for units in range(16, 4097, 16):
        gap = abs(param_count(cell, units, input_size) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = units, gap
        elif gap > best_gap:  # counts grow with H: past the nearest
            break
    return best


def _train_call(cell: str, units: int, T: int) -> Callable[[], object]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, T, INPUT)).astype(np.float32)  # (B, T, I)
    dy = rng.standard_normal((BATCH, T, units)).astype(np.float32)  # (B, T, H)
    layer = _layer(cell, units)
    layer.build((T, INPUT))

    def call():
        layer.forward(x, training=True)
        layer.backward(dy)

    return call


def _step_call(cell: str, batch: int) -> Callable[[], object]:
    from .config import no_grad

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 1, INPUT)).astype(np.float32)  # (B, 1, I)
    layer = _layer(cell, HIDDEN)
    layer.build((None, INPUT))
    states = [np.zeros((batch, layer.state_size), np.float32) for _ in layer.state_names]
    layer.return_state = True

    def call():
        with no_grad():
            _, *new = layer.forward(x, initial_state=states)
        states[:] = new

    return call


def _time(fn: Callable[[], object]) -> float:
    """Seconds of one call: a call over 0.2 s is timed as it comes (warming it first would
    double the bench's time for nothing), a shorter one again after warming (time_warm)."""
    t0 = time.perf_counter()
    fn()
    seconds = time.perf_counter() - t0
    return seconds if seconds > 0.2 else time_warm(fn)


def run_parallel_bench(
    cells=(*PARALLEL, "gru", "lstm"),
    lengths=LENGTHS,
    repeats: int = 3,
    rounds: int = 1,
    log: Callable[[str], object] | None = None,
) -> list[dict[str, Any]]:
    """Every row: {"kind": "train"|"step", "cell", "setting", "units", "params", "T", "batch",
    "ms", "tokens_per_s"}, medians of rounds × repeats timed calls."""
    for cell in cells:
        if cell not in CELLS:
            raise ValueError(f"bench: expected cells from {list(CELLS)}, got {cell!r}")
    for T in lengths:
        if isinstance(T, bool) or not isinstance(T, int) or T < 1:
            raise ValueError(f"bench: expected sequence lengths ≥ 1, got {T!r}")
    target = param_count("gru", HIDDEN)
    units = {("equal H", c): HIDDEN for c in cells}
    units |= {("equal params", c): equal_param_units(c, target) for c in cells}
    plan = [("train", s, c, u, T) for (s, c), u in units.items() for T in lengths]
    plan += [("step", "equal H", c, HIDDEN, b) for c in cells for b in STEP_BATCHES]
    samples: dict[tuple, list[float]] = {row: [] for row in plan}
    for _ in range(rounds):  # a burst of others' load hits a few samples of every row
        for T in [*lengths, None]:
            rows = [
                r for r in plan if (r[0] == "train" and r[4] == T) or (T is None and r[0] == "step")
            ]
            calls = {
                r: (_train_call(r[2], r[3], r[4]) if r[0] == "train" else _step_call(r[2], r[4]))
                for r in rows
            }
            for _ in range(repeats):
                for row in rows:  # interleaved: A, B, C, A, B, C, ...
                    samples[row].append(_time(calls[row]))
    records = []
    for row in plan:
        kind, setting, cell, h, n = row
        seconds = statistics.median(samples[row])
        tokens = BATCH * n if kind == "train" else n
        records.append({
            "kind": kind, "cell": cell, "setting": setting, "units": h,
            "params": param_count(cell, h), "T": n if kind == "train" else 1,
            "batch": BATCH if kind == "train" else n, "ms": 1e3 * seconds,
            "tokens_per_s": tokens / seconds,
        })  # fmt: skip
        if log is not None:
            log(row_line(records[-1]))
    return records


def row_line(r: dict[str, Any]) -> str:
    return (
        f"| {r['kind']} | {r['cell']} | {r['setting']} | {r['units']} | {r['params']:,} | "
        f"{r['T']} | {r['batch']} | {r['ms']:.2f} | {r['tokens_per_s']:,.0f} |"
    )


HEADER = (
    "| mode | cell | setting | H | params | T | B | ms per call | tokens/s |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def speedups(records: list[dict[str, Any]], baseline: str = "gru") -> list[str]:
    """Lines 'mingru / gru training tokens/s at T=4096, equal H: 5.1x', and step latencies."""
    lines = []
    base = {
        (r["kind"], r["setting"], r["T"], r["batch"]): r for r in records if r["cell"] == baseline
    }
    for r in records:
        b = base.get((r["kind"], r["setting"], r["T"], r["batch"]))
        if r["cell"] == baseline or b is None:
            continue
        if r["kind"] == "train":
            lines.append(
                f"{r['cell']} / {baseline} training tokens/s at T={r['T']}, {r['setting']}: "
                f"{r['tokens_per_s'] / b['tokens_per_s']:.2f}x"
            )
        else:
            lines.append(
                f"{r['cell']} / {baseline} step latency at B={r['batch']}: "
                f"{r['ms'] / b['ms']:.2f} ({r['ms'] * 1e3:.0f} vs {b['ms'] * 1e3:.0f} µs)"
            )
    return lines


def save(path: str | Path, records: list[dict[str, Any]], env: dict[str, Any]) -> None:
    from .io import atomic_write

    atomic_write(Path(path), json.dumps({"environment": env, "records": records}, indent=2))


def plot(records: list[dict[str, Any]], out_path: str | Path, title: str = "") -> None:
    """Training tokens/s against T, one panel per setting (equal H, equal params)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz.curves import save_figure

    settings = ("equal H", "equal params")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, setting in zip(axes, settings, strict=True):
        rows = [r for r in records if r["kind"] == "train" and r["setting"] == setting]
        for cell in dict.fromkeys(r["cell"] for r in rows):
            mine = sorted((r for r in rows if r["cell"] == cell), key=lambda r: r["T"])
            label = f"{cell} (H={mine[0]['units']}, {mine[0]['params']:,} params)"
            ax.plot([r["T"] for r in mine], [r["tokens_per_s"] for r in mine], marker="o", ms=3,
                    label=label, ls="--" if cell in ("gru", "lstm", "rnn") else "-")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel("training tokens / s (B = 8)")
        ax.set_title(f"{setting}" + (f" — {title}" if title else ""), fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out_path)


def main(cells, repeats: int, rounds: int, json_path: Path | None, echo) -> list[dict[str, Any]]:
    """The command: header lines, the table, the speed-ups against the GRU, the files."""
    from .bench import cpu_slug, describe_cpu, load_average

    env = environment(None)
    echo(f"# {env['date']}, numpy {env['numpy']}, {env['cores']} cores, BLAS {env['blas']}")
    echo(f"# CPU: {describe_cpu(env['cpu'])}; load average {env['load_average']}")
    echo(f"# training: B = {BATCH}, I = {INPUT}, forward + backward; step: T = 1, no_grad; "
         f"median of {rounds} rounds × {repeats} timed calls, cells interleaved")  # fmt: skip
    echo(HEADER)
    records = run_parallel_bench(cells, LENGTHS, repeats=repeats, rounds=rounds, log=echo)
    if "gru" in cells:
        for line in speedups(records):
            echo(f"# {line}")
    echo(f"# load average at the start {env['load_average']}, now {load_average()}")
    if json_path is not None:
        if json_path.is_dir():
            json_path = json_path / f"parallel-{cpu_slug(env['cpu'])}.json"
        save(json_path, records, env)
        plot(records, json_path.with_suffix(".png"), env["cpu"].get("model_name") or "")
        echo(f"wrote {json_path} and {json_path.with_suffix('.png')}")
    return records
