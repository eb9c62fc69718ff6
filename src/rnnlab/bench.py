"""Layer benchmarks: rnnlab against a reference (torch.nn) in the same process, interleaved.

For every cell (rnn = tanh SimpleRNN, lstm, gru) × configuration (B, T, I, H) × mode:

    train      forward with caches + backward to input and parameter gradients
    inference  forward only, both under no_grad (rnnlab.no_grad, torch.no_grad)

the bench times rnnlab and the reference alternately (rnnlab, reference, rnnlab, ...) and
reports medians, tokens/s (B·T per call), the ratio reference time / rnnlab time (> 1: rnnlab is
faster), the GFLOP/s each side achieves counting the GEMMs only, and those as fractions of this
machine's float32 GEMM peak: the best of rnnlab's packed kernel, NumPy's BLAS and the
reference's GEMM at 1024³, each measured and recorded. It records the CPU (model, vendor,
family/model, the ISA flags that matter, L2 size), the kernel path and tuning, the BLAS library,
its kernel ("architecture") and threads, and the OPENBLAS_* variables (they change the kernel
OpenBLAS picks); results are kept as one JSON per CPU model (`results_path`), and the regression
warning compares with the JSON recorded on the same CPU model.

The package never imports torch. The reference is a Python file loaded by path
(`load_reference`): `benchmarks/torch_reference.py` of the source checkout rnnlab runs from, or
any file given; it defines `load()` returning an object with `name`, `version`,
`layer_call(cell, x, dy, hidden, train)` and `gemm_call(a, b)` (the `Reference` protocol).
Without the source tree or without torch the bench times rnnlab alone.

Each timed call follows untimed calls of the same side for 30 ms. OpenBLAS's and torch's
OpenMP worker threads spin for a while after a parallel region and then sleep: a call that
starts while the other library's threads still spin, or whose own threads must first be woken,
runs several times slower (measured on a 2-core VM: a 0.56 ms SimpleRNN forward took 6 ms right
after a torch call; a 1.75 ms torch call took 12 ms after a 50 ms pause). Settling first times
each side with its own threads awake and the other's quiet.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

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
#: the CPU flags recorded with every result (the kernels' and the BLAS libraries' paths)
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "amx_tile", "amx_bf16", "amx_int8")
#: where a source checkout keeps the torch reference: <root>/benchmarks/torch_reference.py
SOURCE_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REFERENCE = SOURCE_ROOT / "benchmarks" / "torch_reference.py"


# -- the reference ------------------------------------------------------------------------------
class Reference(Protocol):
    """What a reference implementation provides (benchmarks/torch_reference.py is one)."""

    name: str  # "torch"
    version: str  # "2.13.0+cpu"

    def layer_call(
        self, cell: str, x: np.ndarray, dy: np.ndarray, hidden: int, train: bool
    ) -> Callable[[], object]:
        """A callable running its `cell` layer on x (B, T, I): forward + backward of dy
        (B, T, H) when train, else forward only without gradients."""

    def gemm_call(self, a: np.ndarray, b: np.ndarray) -> Callable[[], object]:
        """A callable computing a @ b (float32) into a preallocated output."""


class ReferenceUnavailable(RuntimeError):
    """The reference cannot be loaded here (no source checkout, or torch not installed)."""


def load_reference(path: str | os.PathLike | None = None) -> Reference:
    """The reference defined by the Python file at `path` (default: DEFAULT_REFERENCE).

    Raises ReferenceUnavailable when the file does not exist or its imports fail (torch not
    installed); other errors in the file propagate.
    """
    path = DEFAULT_REFERENCE if path is None else Path(path)
    if not path.is_file():
        where = "" if path != DEFAULT_REFERENCE else " (rnnlab is not running from its source tree)"
        raise ReferenceUnavailable(f"no reference file at {path}{where}")
    spec = importlib.util.spec_from_file_location(f"_rnnlab_reference_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except ImportError as err:
        raise ReferenceUnavailable(f"{path} cannot be imported here: {err}") from err
    load = getattr(module, "load", None)
    if not callable(load):
        raise TypeError(f"reference file {path}: expected a function load(), found none")
    try:
        reference = load()
    except ImportError as err:
        raise ReferenceUnavailable(f"{path}: {err}") from err
    missing = [
        a for a in ("name", "version", "layer_call", "gemm_call") if not hasattr(reference, a)
    ]
    if missing:
        raise TypeError(f"reference file {path}: load() returned an object without {missing}")
    return reference


# -- the machine --------------------------------------------------------------------------------
def cpu_info(
    cpuinfo: str | None = None, cache_dir: Path = Path("/sys/devices/system/cpu/cpu0/cache")
) -> dict[str, Any]:
    """The CPU as Linux describes it: model name, vendor, family/model, ISA_FLAGS present, L2
    size (KiB, per core). `cpuinfo` is the text of /proc/cpuinfo (read when None); elsewhere
    the fields are None and the model name is platform.processor()."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.strip().split("\n\n")[0].splitlines():  # the first processor
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())

    def number(key: str) -> int | None:
        value = fields.get(key, "")
        return int(value) if value.isdigit() else None

    return {
        "model_name": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id"),
        "family": number("cpu family"),
        "model": number("model"),
        "isa": {flag: flag in flags for flag in ISA_FLAGS} if flags else {},
        "l2_kib": _l2_kib(cache_dir),
    }


def _l2_kib(cache_dir: Path) -> int | None:
    """Size of the level-2 cache from sysfs ("2048K" -> 2048), None when unknown."""
    for index in sorted(Path(cache_dir).glob("index*")):
        try:
            if (index / "level").read_text().strip() != "2":
                continue
            size = (index / "size").read_text().strip()
            scale = {"K": 1, "M": 1024}.get(size[-1:])
            return int(size[:-1]) * scale if scale else int(size) // 1024
        except (OSError, ValueError):
            continue
    return None


_VENDORS = {"GenuineIntel": "intel", "AuthenticAMD": "amd"}
_PRODUCTS = ("xeon", "epyc", "core", "ryzen", "threadripper", "opteron", "atom", "pentium")


def cpu_slug(cpu: dict[str, Any]) -> str:
    """A file-name key for a CPU model: vendor, product line, family, model
    ("intel-xeon-6-207")."""
    vendor = cpu.get("vendor")
    parts = [_VENDORS.get(vendor, vendor or platform.machine())]
    name = (cpu.get("model_name") or "").lower()
    parts.append(next((p for p in _PRODUCTS if re.search(rf"\b{p}\b", name)), None))
    parts += [cpu.get("family"), cpu.get("model")]
    slug = "-".join(str(p) for p in parts if p is not None).lower()
    return re.sub(r"[^a-z0-9]+", "-", slug).strip("-") or "unknown-cpu"


def same_cpu(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether two recorded CPUs are the same model (vendor, family and model; the model name
    where those are unknown)."""
    if not a or not b:
        return False
    if a.get("family") is not None and a.get("model") is not None:
        return all(a.get(k) == b.get(k) for k in ("vendor", "family", "model"))
    return a.get("model_name") == b.get("model_name")


def results_path(directory: str | os.PathLike, cpu: dict[str, Any]) -> Path:
    """The JSON that keeps this CPU model's results in `directory`: bench-<cpu_slug>.json."""
    return Path(directory) / f"bench-{cpu_slug(cpu)}.json"


def output_path(path: str | os.PathLike, cpu: dict[str, Any]) -> Path:
    """Where a run on `cpu` writes: `path`, or results_path(path, cpu) for a directory.
    Raises ValueError when the file holds another CPU model's results (one JSON per CPU)."""
    path = Path(path)
    if path.is_dir():
        path = results_path(path, cpu)
    earlier = recorded_cpu(path) if path.is_file() else None
    if earlier and not same_cpu(earlier, cpu):
        raise ValueError(
            f"{path} holds the results of {describe_cpu(earlier)}, and this is "
            f"{describe_cpu(cpu)}: give another file, or a directory to write "
            f"{results_path('.', cpu).name} in"
        )
    return path


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the OS has none)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None


def environment(reference: Reference | None = None) -> dict[str, Any]:
    """Date, versions, CPU, the load average (1, 5, 15 min: others' work on a shared machine),
    BLAS (library, kernel, threads), the OPENBLAS_* variables and the reference's name and
    version."""
    env: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cpu": cpu_info(),
        "load_average": load_average(),
        "openblas_env": {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")},
    }
    try:
        from threadpoolctl import threadpool_info

        keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer")
        blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
        env["blas"] = [{k: info.get(k) for k in keys} for info in blas]
    except ImportError:
        env["blas"] = "threadpoolctl not installed"
    env["reference"] = (
        None if reference is None else {"name": reference.name, "version": reference.version}
    )
    env["torch"] = None if reference is None or reference.name != "torch" else reference.version
    from .bench_isa import reference_env

    env["rnnlab_kernels"] = {
        "built": native.built(),
        "running": native.available(),
        "threads": native.num_threads(),
        "path": native.isa(),
        "paths": native.describe(),  # the path, why, the paths built and run, the CPU features
        "tuning": {**asdict(native.tuning().tuning), "source": native.tuning().source},
    }
    env["reference_isa_env"] = reference_env()
    return env


# -- timing -------------------------------------------------------------------------------------
def time_warm(fn: Callable[[], object], settle: float = 0.03) -> float:
    """Seconds of one call of fn after running it untimed for `settle` seconds (at least once):
    its own threads awake, the other library's spinning threads gone quiet."""
    end = time.perf_counter() + settle
    fn()
    while time.perf_counter() < end:
        fn()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def gemm_peak(
    reference: Reference | None = None, n: int = 1024, repeats: int = 7
) -> dict[str, float]:
    """Float32 GFLOP/s of an n×n by n×n product (2n³ flops) by rnnlab's packed kernel (when it
    runs here), NumPy's BLAS and the reference, interleaved, each its best of `repeats` timed
    calls (a limit is what the machine can do: on a shared machine, the calls that others'
    work slowed are not it); "peak" is the best of all.

        {"rnnlab": 265.0, "numpy": 240.1, "torch": 270.3, "peak": 270.3}
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    out = np.empty((n, n), np.float32)
    products: dict[str, Callable[[], object]] = {}
    if native.available():
        packed = native.pack(b)
        products["rnnlab"] = lambda: native.gemm(a, packed, n, out=out)
    products["numpy"] = lambda: np.matmul(a, b, out=out)
    if reference is not None:
        products[reference.name] = reference.gemm_call(a, b)
    times: dict[str, list[float]] = {name: [] for name in products}
    for _ in range(repeats):
        for name, product in products.items():
            times[name].append(time_warm(product))
    result = {name: 2 * n**3 / min(t) / 1e9 for name, t in times.items()}
    result["peak"] = max(result.values())
    return result


def gemm_flops(cell: str, shape: tuple[int, int, int, int], mode: str) -> float:
    """Flops of the GEMMs: the input projection and the recurrent matmuls,
    2·B·T·G·H·(I + H) with G gates; backward twice that (the input/state gradients and the
    weight gradients), so train = 3 × inference."""
    B, T, I, H = shape
    G = GATES[cell] * H
    forward = 2.0 * B * T * G * (I + H)
    return forward if mode == "inference" else 3.0 * forward


# -- the measurement ----------------------------------------------------------------------------
@dataclass
class Record:
    """One row. The torch_* fields hold the reference's figures (torch in practice; the names
    are the JSON's since the first results)."""

    cell: str
    config: str
    shape: tuple[int, int, int, int]
    mode: str
    rnnlab_ms: float
    torch_ms: float | None
    ratio: float | None  # torch_ms / rnnlab_ms: > 1, rnnlab is faster
    rnnlab_tokens_per_s: float
    torch_tokens_per_s: float | None
    gflops: float  # rnnlab's GEMM flops per second
    peak_fraction: float  # gflops / the machine's GEMM peak
    torch_gflops: float | None = None
    torch_peak_fraction: float | None = None


def _pair(cell: str, shape, mode: str, reference: Reference | None):
    """(rnnlab callable, reference callable or None) for one measurement."""
    from .config import no_grad
    from .layers import GRU, LSTM, SimpleRNN

    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)  # (B, T, I)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)  # (B, T, H)
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

    theirs = None if reference is None else reference.layer_call(cell, x, dy, H, mode == "train")
    return ours, theirs


def _check_choices(what: str, given, allowed) -> None:
    for item in given:
        if item not in allowed:
            raise ValueError(f"bench: expected {what} from {list(allowed)}, got {item!r}")


def run(
    cells=CELLS,
    configs=tuple(CONFIGS),
    modes=MODES,
    reference: Reference | None = None,
    repeats: int = 7,
    peak: float | None = None,
    log: Callable[[str], object] | None = None,
    rounds: int = 1,
) -> list[Record]:
    """Measure every cell × config × mode: the median of rounds × repeats timings per side,
    rnnlab alone when `reference` is None. `peak` (GFLOP/s) defaults to gemm_peak()'s."""
    _check_choices("cells", cells, CELLS)
    shapes = {**CONFIGS, **SWEEPS["H"], **SWEEPS["T"]}
    for c in configs:
        if c not in shapes:
            raise ValueError(
                f"bench: expected configs from {list(CONFIGS)} or a sweep's, got {c!r}"
            )
    _check_choices("modes", modes, MODES)
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"bench: expected repeats ≥ 1, got {repeats!r}")
    if not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"bench: expected rounds ≥ 1, got {rounds!r}")
    peak = gemm_peak(reference)["peak"] if peak is None else peak
    if not peak > 0:
        raise ValueError(f"bench: expected a GEMM peak > 0 GFLOP/s, got {peak!r}")
    rows = [(config, cell, mode) for config in configs for cell in cells for mode in modes]
    samples: dict[tuple, tuple[list[float], list[float]]] = {row: ([], []) for row in rows}
    # rounds spread each row's samples over the whole run, so that a burst of load from
    # elsewhere on a shared machine hits a few samples of every row, not all samples of one
    for _ in range(rounds):
        for row in rows:
            config, cell, mode = row
            ours, theirs = _pair(cell, shapes[config], mode, reference)
            t_ours, t_theirs = samples[row]
            for _ in range(repeats):
                t_ours.append(time_warm(ours))
                if theirs is not None:
                    t_theirs.append(time_warm(theirs))
    records = []
    for row in rows:
        config, cell, mode = row
        records.append(_record(cell, config, shapes[config], mode, *samples[row], peak))
        if log is not None:
            log(_row(records[-1]))
    return records


def _record(cell, config, shape, mode, t_ours, t_theirs, peak: float) -> Record:
    a = statistics.median(t_ours)
    b = statistics.median(t_theirs) if t_theirs else None
    tokens = shape[0] * shape[1]
    flops = gemm_flops(cell, shape, mode)
    return Record(
        cell, config, tuple(shape), mode, 1e3 * a,
        torch_ms=None if b is None else 1e3 * b,
        ratio=None if b is None else b / a,
        rnnlab_tokens_per_s=tokens / a,
        torch_tokens_per_s=None if b is None else tokens / b,
        gflops=flops / a / 1e9,
        peak_fraction=flops / a / 1e9 / peak,
        torch_gflops=None if b is None else flops / b / 1e9,
        torch_peak_fraction=None if b is None else flops / b / 1e9 / peak,
    )  # fmt: skip


# -- reports ------------------------------------------------------------------------------------
def _row(r: Record) -> str:
    def fmt(value, spec, scale=1.0, unit=""):
        return "—" if value is None else f"{scale * value:{spec}}{unit}"

    return (
        f"| {r.cell} | {r.config} {tuple(r.shape)} | {r.mode} | {r.rnnlab_ms:.2f} | "
        f"{fmt(r.torch_ms, '.2f')} | {fmt(r.ratio, '.2f')} | {r.rnnlab_tokens_per_s:,.0f} | "
        f"{r.gflops:.0f} / {fmt(r.torch_gflops, '.0f')} | {100 * r.peak_fraction:.0f}% / "
        f"{fmt(r.torch_peak_fraction, '.0f', 100, '%')} |"
    )


def header(reference_name: str = "torch") -> str:
    """The table header; the reference's columns named after it."""
    ref = reference_name
    return (
        f"| cell | config (B, T, I, H) | mode | rnnlab ms | {ref} ms | speed ratio | "
        f"rnnlab tokens/s | GFLOP/s rnnlab / {ref} | of GEMM peak rnnlab / {ref} |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )


def to_markdown(records: list[Record], reference_name: str = "torch") -> str:
    return "\n".join([header(reference_name), *(_row(r) for r in records)])


def describe_cpu(cpu: dict[str, Any]) -> str:
    """One line: 'Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 207; avx2 fma ...;
    L2 2048 KiB)'."""
    isa = " ".join(flag for flag, present in (cpu.get("isa") or {}).items() if present)
    l2 = "L2 unknown" if cpu.get("l2_kib") is None else f"L2 {cpu['l2_kib']} KiB"
    return (
        f"{cpu.get('model_name')} ({cpu.get('vendor')} family {cpu.get('family')} model "
        f"{cpu.get('model')}; {isa or 'ISA flags unknown'}; {l2})"
    )


def save_json(path, records: list[Record], env: dict, peak: dict[str, float] | float) -> None:
    """Write the records with the environment and the GEMM peak (all its measurements)."""
    from .io import atomic_write

    peaks = peak if isinstance(peak, dict) else {"peak": float(peak)}
    payload = {
        "environment": env,
        "gemm_peak_gflops": peaks["peak"],
        "gemm_peaks_gflops": peaks,
        "records": [asdict(r) for r in records],
    }
    atomic_write(path, json.dumps(payload, indent=2))


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("records"), list) else None


def recorded_cpu(path: str | os.PathLike) -> dict[str, Any] | None:
    """The CPU a bench JSON was measured on (None: not a bench JSON, or none recorded)."""
    data = _read(Path(path))
    env = (data or {}).get("environment")
    return env.get("cpu") if isinstance(env, dict) else None


def find_baseline(
    path: str | os.PathLike, cpu: dict[str, Any], records: list[Record], kernel_path: str | None
) -> Path | None:
    """The earlier JSON to compare a run with: `path` itself when recorded on the same CPU
    model and kernel path (None: any path), else such a bench JSON beside it or in the source
    tree's benchmarks/results/ that has some of the same rows."""
    path = Path(path)
    rows = {(r.cell, r.config, r.mode) for r in records}
    folders = [path.parent, SOURCE_ROOT / "benchmarks" / "results"]
    candidates = [path] + [p for folder in folders for p in sorted(folder.glob("*.json"))]
    for candidate in candidates:
        data = _read(candidate) if candidate.is_file() else None
        if data is None or not same_cpu(recorded_cpu(candidate), cpu):
            continue
        kernels = (data.get("environment") or {}).get("rnnlab_kernels") or {}
        keys = {(r.get("cell"), r.get("config"), r.get("mode")) for r in data["records"]}
        if (kernel_path is None or kernels.get("path") == kernel_path) and keys & rows:
            return candidate
    return None


def regressions(records: list[Record], previous_path, threshold: float = 0.10) -> list[str]:
    """Warnings for figures more than `threshold` below the same figure in a previous JSON
    (rnnlab's tokens/s, and the speed ratio)."""
    path = Path(previous_path)
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text())["records"]
        before = {(r["cell"], r["config"], r["mode"]): r for r in old}
    except (ValueError, KeyError, TypeError) as err:
        return [f"cannot compare with {path}: {err}"]
    warnings = []
    for r in records:
        prev = before.get((r.cell, r.config, r.mode))
        if prev is None:
            continue
        if r.rnnlab_tokens_per_s < (1 - threshold) * prev["rnnlab_tokens_per_s"]:
            warnings.append(
                f"{r.cell} {r.config} {r.mode}: {r.rnnlab_tokens_per_s:,.0f} tokens/s is "
                f"{100 * (1 - r.rnnlab_tokens_per_s / prev['rnnlab_tokens_per_s']):.0f}% below "
                f"the {prev['rnnlab_tokens_per_s']:,.0f} recorded in {path}"
            )
        if r.ratio is not None and prev.get("ratio") and r.ratio < (1 - threshold) * prev["ratio"]:
            warnings.append(
                f"{r.cell} {r.config} {r.mode}: ratio to the reference {r.ratio:.2f} is "
                f"below the {prev['ratio']:.2f} recorded in {path}"
            )
    return warnings


def plot_scaling(json_paths, out_path) -> None:
    """tokens/s against H and against T (one panel per sweep found in the JSON files), rnnlab
    solid and the reference dashed, one colour per cell and mode; PNG written atomically."""
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
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), dpi=110, squeeze=False)
    pairs = [(c, m) for c in CELLS for m in MODES]
    for ax, key in zip(axes[0], panels, strict=True):
        axis = 3 if key == "H" else 1
        for (cell, mode), colour in zip(pairs, plt.cm.tab10.colors, strict=False):
            rows = sorted(
                (
                    r
                    for r in records
                    if r["config"].startswith(f"{key}=") and r["cell"] == cell and r["mode"] == mode
                ),
                key=lambda r: r["shape"][axis],
            )
            if not rows:
                continue
            xs = [r["shape"][axis] for r in rows]
            ax.plot(xs, [r["rnnlab_tokens_per_s"] for r in rows], "-o", color=colour,
                    label=f"rnnlab {cell} {mode}", markersize=3)  # fmt: skip
            if all(r["torch_tokens_per_s"] for r in rows):
                ax.plot(xs, [r["torch_tokens_per_s"] for r in rows], "--", color=colour,
                        alpha=0.7, label=f"torch {cell} {mode}")  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("hidden size H" if key == "H" else "sequence length T")
        ax.set_ylabel("tokens / s")
        ax.grid(alpha=0.3, which="both")
        ax.set_title(f"scaling with {key} (other sizes as C2)")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    save_figure(fig, out_path)
