"""Layer benchmarks: rnnlab against torch.nn in the same process, interleaved, medians.

For every cell (rnn = tanh SimpleRNN, lstm, gru) × configuration (B, T, I, H) × mode:

    train      forward with caches + backward to input and parameter gradients
    inference  forward only, both under no_grad (rnnlab.no_grad, torch.no_grad)

the bench times rnnlab and torch alternately (rnnlab, torch, rnnlab, torch, ...) and reports
medians, tokens/s (B·T per call), the ratio torch time / rnnlab time (> 1: rnnlab is faster),
the GFLOP/s rnnlab achieves counting the GEMMs only, and that as a fraction of a float32 GEMM
peak the bench measures on this machine. It records the BLAS library, its kernel
("architecture") and threads, and the OPENBLAS_* variables, which change the kernel OpenBLAS
picks. torch is optional: without it rnnlab is reported alone.

Each timed call follows untimed calls of the same side for 30 ms. OpenBLAS's and torch's
OpenMP worker threads spin for a while after a parallel region and then sleep: a call that
starts while the other library's threads still spin, or whose own threads must first be woken,
runs several times slower (measured on this VM: a 0.56 ms SimpleRNN forward took 6 ms right
after a torch call; a 1.75 ms torch call took 12 ms after a 50 ms pause). Settling first times
each side with its own threads awake and the other's quiet.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import native

CONFIGS: dict[str, tuple[int, int, int, int]] = {
    "C1": (32, 64, 64, 128),
    "C2": (32, 64, 128, 256),
    "C3": (64, 128, 256, 512),
    "C4": (1, 256, 64, 128),
}
#: scaling sweeps around C2: hidden size H, and sequence length T
SWEEPS: dict[str, dict[str, tuple[int, int, int, int]]] = {
    "H": {f"H={h}": (32, 64, 128, h) for h in (64, 128, 256, 512, 1024)},
    "T": {f"T={t}": (32, t, 128, 256) for t in (16, 32, 64, 128, 256)},
}
CELLS = ("rnn", "lstm", "gru")
MODES = ("train", "inference")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass
class Record:
    cell: str
    config: str
    shape: tuple[int, int, int, int]
    mode: str
    rnnlab_ms: float
    torch_ms: float | None
    ratio: float | None
    rnnlab_tokens_per_s: float
    torch_tokens_per_s: float | None
    gflops: float
    peak_fraction: float


def environment() -> dict:
    """Versions, CPU, BLAS (library, kernel, threads) and the OPENBLAS_* variables."""
    env = {"numpy": np.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "cores": os.cpu_count(),
           "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}}
    try:
        from threadpoolctl import threadpool_info

        env["blas"] = [{k: info.get(k) for k in ("internal_api", "version", "architecture",
                                                  "num_threads", "threading_layer")}
                       for info in threadpool_info() if info.get("user_api") == "blas"]
    except ImportError:
        env["blas"] = "threadpoolctl not installed"
    torch = _torch()
    env["torch"] = None if torch is None else torch.__version__
    env["rnnlab_kernels"] = {"built": native.built(), "running": native.available(),
                             "threads": native.num_threads()}
    return env


def gemm_peak(n: int = 1024, repeats: int = 7) -> float:
    """Median float32 GFLOP/s of an n×n by n×n matrix product (2n³ flops): the faster of
    NumPy's BLAS and rnnlab's compiled GEMM (rnnlab.native) when that runs here."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    products = [lambda: a @ b]
    if native.available():
        packed, out = native.pack(b), np.empty((n, n), np.float32)
        products.append(lambda: native.gemm(a, packed, n, out=out))
    best = 0.0
    for product in products:
        times = [_time_warm(product) for _ in range(repeats)]
        best = max(best, 2 * n**3 / statistics.median(times) / 1e9)
    return best


def gemm_flops(cell: str, shape: tuple[int, int, int, int], mode: str) -> float:
    """Flops of the GEMMs: the input projection and the recurrent matmuls; backward twice that
    (the input/state gradients and the weight gradients)."""
    B, T, I, H = shape
    G = GATES[cell] * H
    forward = 2.0 * B * T * G * (I + H)
    return forward if mode == "inference" else 3.0 * forward


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _time_warm(fn: Callable[[], object], settle: float = 0.03) -> float:
    """Time fn after running it untimed for `settle` seconds (at least once): its own threads
    awake, the other library's spinning threads gone quiet."""
    end = time.perf_counter() + settle
    fn()
    while time.perf_counter() < end:
        fn()
    return _time(fn)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _pair(cell: str, shape, mode: str, against_torch: bool):
    """(rnnlab callable, torch callable or None) for one measurement."""
    from .config import no_grad
    from .layers import GRU, LSTM, SimpleRNN

    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)
    layer = {"rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[cell](H, return_sequences=True, seed=0)
    layer.build((T, I))
    if mode == "train":
        def ours():
            layer.forward(x, training=True)
            layer.backward(dy)
    else:
        def ours():
            with no_grad():
                layer.forward(x)
    torch = _torch() if against_torch else None
    if torch is None:
        return ours, None
    torch.set_num_threads(os.cpu_count() or 1)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        I, H, batch_first=True)
    tx = torch.from_numpy(x).requires_grad_(mode == "train")
    tdy = torch.from_numpy(dy)
    if mode == "train":
        def theirs():
            out, _ = module(tx)
            out.backward(tdy)
    else:
        def theirs():
            with torch.no_grad():
                module(tx)
    return ours, theirs


def run(cells=CELLS, configs=tuple(CONFIGS), modes=MODES, against_torch: bool = True,
        repeats: int = 7, peak: float | None = None, log: Callable[[str], object] | None = None,
        rounds: int = 1) -> list[Record]:
    """Measure every cell × config × mode: the median of rounds × repeats timings per side."""
    for c in cells:
        if c not in CELLS:
            raise ValueError(f"bench: expected cells from {list(CELLS)}, got {c!r}")
    shapes = {**CONFIGS, **SWEEPS["H"], **SWEEPS["T"]}
    for c in configs:
        if c not in shapes:
            raise ValueError(f"bench: expected configs from {list(CONFIGS)} or a sweep's, "
                             f"got {c!r}")
    for m in modes:
        if m not in MODES:
            raise ValueError(f"bench: expected modes from {list(MODES)}, got {m!r}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"bench: expected repeats ≥ 1, got {repeats!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"bench: expected rounds ≥ 1, got {rounds!r}")
    peak = gemm_peak() if peak is None else peak
    rows = [(config, cell, mode) for config in configs for cell in cells for mode in modes]
    samples: dict[tuple, tuple[list[float], list[float]]] = {row: ([], []) for row in rows}
    # rounds spread each row's samples over the whole run, so that a burst of load from
    # elsewhere on a shared machine hits a few samples of every row, not all samples of one
    for _ in range(rounds):
        for row in rows:
            config, cell, mode = row
            ours, theirs = _pair(cell, shapes[config], mode, against_torch)
            t_ours, t_theirs = samples[row]
            for _ in range(repeats):
                t_ours.append(_time_warm(ours))
                if theirs is not None:
                    t_theirs.append(_time_warm(theirs))
    records = []
    for row in rows:
        config, cell, mode = row
        shape = shapes[config]
        t_ours, t_theirs = samples[row]
        a = statistics.median(t_ours)
        b = statistics.median(t_theirs) if t_theirs else None
        tokens = shape[0] * shape[1]
        gflops = gemm_flops(cell, shape, mode) / a / 1e9
        rec = Record(cell, config, shape, mode, 1e3 * a, None if b is None else 1e3 * b,
                     None if b is None else b / a, tokens / a,
                     None if b is None else tokens / b, gflops, gflops / peak)
        records.append(rec)
        if log is not None:
            log(_row(rec))
    return records


def _row(r: Record) -> str:
    torch_ms = "—" if r.torch_ms is None else f"{r.torch_ms:.2f}"
    ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
    return (f"| {r.cell} | {r.config} {r.shape} | {r.mode} | {r.rnnlab_ms:.2f} | {torch_ms} | "
            f"{ratio} | {r.rnnlab_tokens_per_s:,.0f} | {r.gflops:.1f} | "
            f"{100 * r.peak_fraction:.0f}% |")


HEADER = ("| cell | config (B, T, I, H) | mode | rnnlab ms | torch ms | speed ratio | "
          "rnnlab tokens/s | GFLOP/s | of GEMM peak |\n|---|---|---|---|---|---|---|---|---|")


def to_markdown(records: list[Record]) -> str:
    return "\n".join([HEADER, *(_row(r) for r in records)])


def save_json(path, records: list[Record], env: dict, peak: float) -> None:
    from .io import atomic_write

    payload = {"environment": env, "gemm_peak_gflops": peak,
               "records": [asdict(r) for r in records]}
    atomic_write(path, json.dumps(payload, indent=2))


def regressions(records: list[Record], previous_path, threshold: float = 0.10) -> list[str]:
    """Warnings for figures more than `threshold` below the same figure in a previous JSON."""
    path = Path(previous_path)
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text())["records"]
    except (ValueError, KeyError, TypeError) as err:
        return [f"cannot compare with {path}: {err}"]
    before = {(r["cell"], r["config"], r["mode"]): r for r in old}
    warnings = []
    for r in records:
        prev = before.get((r.cell, r.config, r.mode))
        if prev is None:
            continue
        if r.rnnlab_tokens_per_s < (1 - threshold) * prev["rnnlab_tokens_per_s"]:
            warnings.append(
                f"{r.cell} {r.config} {r.mode}: {r.rnnlab_tokens_per_s:,.0f} tokens/s is "
                f"{100 * (1 - r.rnnlab_tokens_per_s / prev['rnnlab_tokens_per_s']):.0f}% below "
                f"the {prev['rnnlab_tokens_per_s']:,.0f} recorded in {path}")
        if r.ratio is not None and prev.get("ratio") and r.ratio < (1 - threshold) * prev["ratio"]:
            warnings.append(f"{r.cell} {r.config} {r.mode}: ratio to torch {r.ratio:.2f} is "
                            f"below the {prev['ratio']:.2f} recorded in {path}")
    return warnings


def plot_scaling(json_paths, out_path) -> None:
    """tokens/s against H and against T (one panel per sweep found in the JSON files), rnnlab
    solid and torch dashed, one colour per cell and mode; PNG written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .viz.curves import save_figure

    records = []
    for path in json_paths:
        records += json.loads(Path(path).read_text())["records"]
    panels = [k for k in SWEEPS if any(r["config"].startswith(f"{k}=") for r in records)]
    if not panels:
        raise ValueError("plot_scaling: no sweep records (configs like 'H=256') in the JSON")
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), dpi=110,
                             squeeze=False)
    for ax, key in zip(axes[0], panels, strict=True):
        axis = 3 if key == "H" else 1
        for (cell, mode), colour in zip(
                [(c, m) for c in CELLS for m in MODES], plt.cm.tab10.colors, strict=False):
            rows = sorted((r for r in records if r["config"].startswith(f"{key}=")
                           and r["cell"] == cell and r["mode"] == mode),
                          key=lambda r: r["shape"][axis])
            if not rows:
                continue
            xs = [r["shape"][axis] for r in rows]
            ax.plot(xs, [r["rnnlab_tokens_per_s"] for r in rows], "-o", color=colour,
                    label=f"rnnlab {cell} {mode}", markersize=3)
            if all(r["torch_tokens_per_s"] for r in rows):
                ax.plot(xs, [r["torch_tokens_per_s"] for r in rows], "--", color=colour,
                        alpha=0.7, label=f"torch {cell} {mode}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden size H" if key == "H" else "sequence length T")
        ax.set_ylabel("tokens / s")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(f"scaling with {key} (other sizes as C2)")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save_figure(fig, out_path)
