"""Where rnnlab's time goes, phase by phase, beside torch's own profile of the same call; and the
GEMMs alone at the shapes each phase uses (rnnlab's packed kernel, NumPy's BLAS, torch.mm, on 1
and 2 threads).

    PYTHONPATH=/tmp/base/src .venv/bin/python benchmarks/profile_phases.py \\
        [--cells rnn,lstm,gru] [--configs C1,C2,C3,C4] [--modes train,inference] [--calls 5]
        [--rounds 3] [--gemm-cells rnn,gru] [--no-phases] [--no-gemm] [--json F] [--markdown F]

Phases of one layer call (inference: forward under no_grad; train: forward + backward), found
by wrapping EVERY callable of `rnnlab.native._kernels` with a timer — whatever its name and
arguments — and attributing each call to a phase by the kernel's name and the rnnlab.cells
functions on the Python stack that made it (rules in `phase_of`, keyed to the cell code's
function names; a call no rule matches is reported as "GEMM (unattributed)"):

    input GEMM     x W_ihᵀ (+ b) for all steps at once (GRU, SimpleRNN; the LSTM when its loop
                   runs on one thread or its tuning's lstm_project_bytes says so — otherwise
                   the projection is inside its loop kernel)
    loop fwd       the forward time loop's kernel (LSTM, GRU), or its per-step h W_hhᵀ GEMMs
                   (SimpleRNN, whose loop is Python)
    loop bwd       the backward loop's kernel (LSTM), or its per-step δ W_hh GEMMs (SimpleRNN,
                   GRU, whose loops are Python)
    dW GEMM        the weight gradients after the backward loop (δᵀ [x | h_prev])
    dx GEMM        the input gradient δ W_ih (the LSTM's is in loop bwd where its tuning's
                   lstm_bwd_dx_bytes puts it in the backward loop)
    packing        packing GEMM operands into panels (the pack kernels)
    NumPy (cells)  time inside rnnlab.cells functions outside every kernel: the gate elementwise
                   work done in NumPy (GRU backward, SimpleRNN's activation and slope, bias adds,
                   weight re-layouts) and the per-step Python of the loops written in Python
    other          the rest of the layer call: validation, finite checks, transposing copies,
                   allocation, Python = uninstrumented median − all of the above

Beside it: torch's time for the same call (2 and 1 threads) and `torch.profiler`'s top
operators by self CPU time. Each row also gives the kernels' speedup from 1 to 2 threads
(1.0: the second thread does nothing useful; 2.0: perfect split), and the share of the machine
other processes used while the row ran (from /proc/stat: the machine is shared).

GEMM table: for SimpleRNN and GRU (the paths issue 23 item 3 asks about) at C1–C4, every GEMM
shape a training step runs, timed alone: rnnlab as the layer calls it (`native.matmul`, which
packs B on every call, or the per-step products on a B packed once), the packed kernel alone
(B packed beforehand) on 1 and 2 threads, NumPy's BLAS and torch.mm on 1 and 2 threads.
Timings interleave the variants, each after 30 ms of untimed calls of itself, medians.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import linecache
import os
import re
import statistics
import sys
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

import rnnlab
from rnnlab import native

sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_reference  # benchmarks/, beside this file

torch = torch_reference.torch

CONFIGS = {
    "C1": (32, 64, 64, 128),
    "C2": (32, 64, 128, 256),
    "C3": (64, 128, 256, 512),
    "C4": (1, 256, 64, 128),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
PHASES = ("input GEMM", "loop fwd", "loop bwd", "dW GEMM", "dx GEMM", "packing")
UNATTRIBUTED = "GEMM (unattributed)"
LAYERS = {"rnn": rnnlab.SimpleRNN, "lstm": rnnlab.LSTM, "gru": rnnlab.GRU}
#: the clock of every timing: wall time, or with --cpu-clock the calling thread's CPU time
#: (everything then runs on one thread, so that other processes' load does not count)
clock: Callable[[], float] = time.perf_counter


# -- timing and load -----------------------------------------------------------------------------
def settle(fn: Callable[[], object], seconds: float = 0.03) -> None:
    """Run fn untimed for `seconds` (at least once): its threads awake, others' gone quiet."""
    end = time.perf_counter() + seconds
    fn()
    while time.perf_counter() < end:
        fn()


def timed_calls(fn: Callable[[], object], calls: int) -> list[float]:
    """Seconds of `calls` consecutive calls of fn, after settling."""
    settle(fn)
    out = []
    for _ in range(calls):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


class LoadMeter:
    """The share of the machine's CPU time that other processes used between start() and
    stop(): (busy jiffies of all CPUs − this process's CPU time) / (wall time × CPUs)."""

    def start(self) -> None:
        self.t0, self.busy0, self.own0 = time.perf_counter(), self._busy(), self._own()

    def stop(self) -> float | None:
        if self.busy0 is None:
            return None
        wall = time.perf_counter() - self.t0
        others = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(0.0, others / (wall * (os.cpu_count() or 1)))

    @staticmethod
    def _busy() -> float | None:
        try:
            fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        except OSError:
            return None
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
        return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system


def wait_quiet(max_load: float, patience: float) -> float | None:
    """Wait (up to `patience` seconds) until other processes use at most `max_load` of the
    machine over one second; returns the last share seen."""
    end = time.perf_counter() + patience
    while True:
        meter = LoadMeter()
        meter.start()
        time.sleep(1.0)
        load = meter.stop()
        if load is None or load <= max_load or time.perf_counter() > end:
            return load
        time.sleep(4.0)


def quietest(
    measure: Callable[[], dict], max_load: float, tries: int, patience: float = 0.0
) -> dict:
    """measure() until other processes used at most `max_load` of the machine while it ran (at
    most `tries` times; before each, wait up to `patience` s for a quiet second); returns the
    run with the least load from others, its share in "others_load" and the number of runs in
    "attempts"."""
    best: dict | None = None
    for attempt in range(1, tries + 1):
        if patience:
            wait_quiet(max_load, patience)
        meter = LoadMeter()
        meter.start()
        row = measure()
        row["others_load"], row["attempts"] = meter.stop(), attempt
        if best is None or (row["others_load"] or 0.0) < (best["others_load"] or 0.0):
            best = row
        if row["others_load"] is None or row["others_load"] <= max_load:
            break
    best["attempts"] = attempt
    return best


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# -- the instrumentation -------------------------------------------------------------------------
def phase_of(kernel: str, cell_functions: list[str], line: str) -> str:
    """The phase of one kernel call. cell_functions: qualified names of the rnnlab.cells and
    rnnlab.native functions on the stack, innermost first; line: the source line of the
    innermost rnnlab.cells one."""
    if "pack" in kernel:
        return "packing"
    if "backward" in kernel:
        return "loop bwd"
    if "forward" in kernel:
        return "loop fwd"
    if "gemm" not in kernel and "matmul" not in kernel:
        return f"checks ({kernel})"  # same (packed-weight cache), all_finite, ...
    outer = cell_functions[-1] if cell_functions else ""
    if any("weight_grad" in f for f in cell_functions):
        return "dW GEMM"
    if any("StepMatmul" in f or "RecurrentProduct" in f for f in cell_functions):
        return "loop bwd" if "backward" in outer else "loop fwd"
    if any("input_projection" in f or "input_side" in f for f in cell_functions):
        return "input GEMM"
    if "backward" in outer:
        if re.search(r"\bdx\b", line) or any("gated_grads" in f for f in cell_functions):
            return "dx GEMM"
        return "dW GEMM"
    if "forward" in outer:
        return "input GEMM"
    return UNATTRIBUTED


class KernelPhases:
    """Times every callable of rnnlab.native._kernels (a proxy module replaces it wherever an
    rnnlab module holds it) and the time spent inside rnnlab.cells functions (their
    module-level functions are wrapped wherever an rnnlab module holds them).

    Per layer call: the kernels' seconds per phase (those called from the cells), and the time
    outside the cells (the layer's own work, kernels it calls included). The NumPy time of the
    cells is what remains of an UNinstrumented call after both, so the timers' own cost (a few
    µs per kernel call, thousands of calls in a Python time loop) lands nowhere."""

    def __init__(self) -> None:
        self.real = native._kernels
        self.active = False
        self.seconds: dict[str, float] = defaultdict(float)
        self.depth = 0  # nesting of wrapped cell functions
        self.cells = 0.0  # time inside the outermost cell functions
        self._phases: dict[tuple, str] = {}
        self._restore: list[tuple[object, str, object]] = []

    # installing
    def install(self) -> None:
        proxy = types.ModuleType("rnnlab._kernels (timed)")
        for name in dir(self.real):
            value = getattr(self.real, name)
            is_kernel = callable(value) and not name.startswith("__")
            setattr(proxy, name, self._kernel(name, value) if is_kernel else value)
        cell_functions = {}
        for mod_name, module in list(sys.modules.items()):
            if mod_name.startswith("rnnlab.cells") and module is not None:
                for value in vars(module).values():
                    if isinstance(value, types.FunctionType) and value.__module__ == mod_name:
                        cell_functions[id(value)] = (value, self._cell(value))
                    elif isinstance(value, type) and value.__module__ == mod_name:
                        self._wrap_methods(value)
        for mod_name, module in list(sys.modules.items()):
            if not mod_name.startswith("rnnlab") or module is None:
                continue
            for name, value in list(vars(module).items()):
                if value is self.real:
                    self._swap(module, name, proxy)
                elif isinstance(value, types.FunctionType) and id(value) in cell_functions:
                    self._swap(module, name, cell_functions[id(value)][1])

    def _wrap_methods(self, cls: type) -> None:
        """The plain methods a cell class defines (cell families are classes in newer trees)."""
        for name, value in list(vars(cls).items()):
            if isinstance(value, types.FunctionType) and (
                not name.startswith("__") or name == "__call__"
            ):
                self._swap(cls, name, self._cell(value))

    def uninstall(self) -> None:
        for module, name, value in reversed(self._restore):
            setattr(module, name, value)
        self._restore.clear()

    def _swap(self, module, name: str, value) -> None:
        self._restore.append((module, name, getattr(module, name)))
        setattr(module, name, value)

    # the wrappers
    def _kernel(self, name: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            if not (self.active and self.depth):  # kernels the layer calls count as its own
                return fn(*args, **kwargs)
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = clock() - t0
                self.seconds[self._phase(name, sys._getframe(1))] += dt

        return timed

    def _cell(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            if not self.active or self.depth:
                self.depth += 1
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.depth -= 1
            self.depth = 1
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cells += clock() - t0
                self.depth = 0

        return timed

    def _phase(self, kernel: str, frame) -> str:
        """The phase of a kernel call made from `frame`, cached by the innermost five call
        sites (enough to tell a per-step product from its loop, forward from backward)."""
        key, f = [kernel], frame
        for _ in range(5):
            if f is None:
                break
            key += (id(f.f_code), f.f_lineno)
            f = f.f_back
        key = tuple(key)
        phase = self._phases.get(key)
        if phase is None:
            phase = self._phases[key] = self._classify(kernel, frame)
        return phase

    @staticmethod
    def _classify(kernel: str, frame) -> str:
        names, line = [], None  # rnnlab.cells and rnnlab.native functions, innermost first
        while frame is not None:
            path = frame.f_code.co_filename
            in_cells = f"rnnlab{os.sep}cells{os.sep}" in path
            if in_cells or path.endswith(f"rnnlab{os.sep}native.py"):
                names.append(getattr(frame.f_code, "co_qualname", frame.f_code.co_name))
                if in_cells and line is None:
                    line = linecache.getline(path, frame.f_lineno)
            frame = frame.f_back
        return phase_of(kernel, names, line or "")

    # measuring
    def measure(self, fn: Callable[[], object]) -> dict[str, float]:
        """Seconds of one instrumented call of fn: per kernel phase (called from the cells),
        "outside" (the layer's own time, outside every cell function) and "instrumented"."""
        self.seconds.clear()
        self.cells = 0.0
        self.active = True
        t0 = clock()
        try:
            fn()
        finally:
            total = clock() - t0
            self.active = False
        return {**self.seconds, "outside": total - self.cells, "instrumented": total}


# -- one row: phases, thread balance, torch ------------------------------------------------------
def layer_calls(cell: str, shape, train: bool, reference: torch_reference.TorchReference):
    B, T, I, H = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I)).astype(np.float32)  # (B, T, I)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)  # (B, T, H)
    layer = LAYERS[cell](H, return_sequences=True, seed=0)
    layer.build((T, I))
    if train:

        def ours():
            layer.forward(x, training=True)
            layer.backward(dy)

    else:

        def ours():
            with rnnlab.no_grad():
                layer.forward(x)

    return ours, reference.layer_call(cell, x, dy, H, train)


def torch_top(call: Callable[[], object], calls: int, top: int) -> list[dict]:
    """torch.profiler's operators with the most self CPU time: name, ms per layer call, calls
    per layer call, share of all self time."""
    from torch.profiler import ProfilerActivity, profile

    settle(call)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(calls):
            call()
    events = list(prof.key_averages())
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [
        {
            "op": e.key,
            "ms": e.self_cpu_time_total / calls / 1e3,
            "count": e.count / calls,
            "share": e.self_cpu_time_total / total,
        }
        for e in events[:top]
    ]


def profile_row(cell, config, mode, timer, reference, calls, rounds, top) -> dict:
    shape = CONFIGS[config]
    ours, theirs = layer_calls(cell, shape, mode == "train", reference)
    threads = native.num_threads()
    counts = (threads, 1) if threads > 1 else (1,)
    plain, torch2, torch1 = [], [], []
    phases: dict[int, list[dict[str, float]]] = {n: [] for n in counts}
    try:
        for _ in range(rounds):
            plain += timed_calls(ours, calls)
            reference.set_threads(threads)
            torch2 += timed_calls(theirs, calls)
            for n in counts:
                native.set_num_threads(n)
                settle(ours)
                phases[n] += [timer.measure(ours) for _ in range(calls)]
            native.set_num_threads(threads)
            if threads > 1:
                reference.set_threads(1)
                torch1 += timed_calls(theirs, calls)
        reference.set_threads(threads)
        top_ops = torch_top(theirs, calls, top)
    finally:
        native.set_num_threads(threads)
        reference.set_threads(threads)
    names = sorted({k for d in phases[threads] + phases[1] for k in d})

    def med(n):
        return {k: median([d.get(k, 0.0) for d in phases[n]]) for k in names}

    two, one = med(threads), med(1)
    total = median(plain)
    kernel_phases = [k for k in names if k not in ("outside", "instrumented")]
    checks = sum(two[k] for k in kernel_phases if k.startswith("checks"))
    shown = {k: two[k] for k in kernel_phases if not k.startswith("checks")}
    other = two["outside"] + checks  # the layer's own time, and the cache/finite checks
    shown["NumPy (cells)"] = total - other - sum(shown.values())  # the rest of a plain call
    kernels2 = sum(two[k] for k in kernel_phases)
    kernels1 = sum(one[k] for k in kernel_phases)
    row = {
        "cell": cell,
        "config": config,
        "shape": shape,
        "mode": mode,
        "rnnlab_ms": 1e3 * total,
        "torch_ms": 1e3 * median(torch2),
        "torch_1thread_ms": 1e3 * median(torch1 or torch2),
        "threads": threads,
        "clock": "thread CPU time" if clock is time.thread_time else "wall",
        "phases_ms": {k: 1e3 * v for k, v in shown.items()},
        "other_ms": 1e3 * other,
        "kernels_ms": {"2 threads": 1e3 * kernels2, "1 thread": 1e3 * kernels1},
        "kernel_speedup_2_threads": kernels1 / kernels2 if kernels2 else None,
        "loop_speedup_2_threads": {
            k: one[k] / two[k] for k in ("loop fwd", "loop bwd") if two.get(k) and one.get(k)
        },
        "instrumented_ms": 1e3 * two["instrumented"],
        "torch_top_ops": top_ops,
    }
    row["ratio"] = row["torch_ms"] / row["rnnlab_ms"]
    return row


# -- the GEMM table ------------------------------------------------------------------------------
def gemm_ops(cell: str, shape) -> list[tuple[str, int, int, int, bool, bool]]:
    """(op, M, N, K, A read transposed, B packed once per sequence) of every GEMM one
    training step of `cell` runs at `shape`: C (M, N) = A (M, K) · B (K, N)."""
    B, T, I, H = shape
    G = GATES[cell] * H
    return [
        ("input x·W_ihᵀ", T * B, G, I, False, False),
        ("step h·W_hhᵀ", B, G, H, False, True),
        ("step δ·W_hh", B, H, G, False, True),
        ("dW_ih = δᵀ·x", G, I, T * B, True, False),
        ("dW_hh = δᵀ·h", G, H, T * B, True, False),
        ("dx = δ·W_ih", T * B, I, G, False, False),
    ]


@contextlib.contextmanager
def forced_threads(n: int):
    """rnnlab's kernels on n threads, even for a GEMM its policy keeps on one (< 16 MFLOP)."""
    spawn, before = getattr(native, "_SPAWN_FLOPS", None), native.num_threads()
    native.set_num_threads(n)
    if spawn is not None:
        native._SPAWN_FLOPS = 0.0
    try:
        yield
    finally:
        if spawn is not None:
            native._SPAWN_FLOPS = spawn
        native.set_num_threads(before)


def gemm_row(op, M, N, K, trans, step, repeats, reference) -> dict:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M) if trans else (M, K)).astype(np.float32)
    a_op = a.T if trans else a  # (M, K), a transposed view as the layer passes it
    b = rng.standard_normal((K, N)).astype(np.float32)
    out = np.empty((M, N), np.float32)
    packed = native.pack(b)
    ta, tb = torch.from_numpy(a_op), torch.from_numpy(b)
    tout = torch.empty((M, N), dtype=torch.float32)
    threads = native.num_threads()

    def kernel():
        native.gemm(a, packed, N, trans_a=trans, out=out)

    as_called = kernel if step else (lambda: native.matmul(a_op, b))
    variants: dict[str, tuple[Callable, Callable]] = {
        "rnnlab as called": (as_called, contextlib.nullcontext),
        "kernel 1T": (kernel, lambda: forced_threads(1)),
        "kernel 2T": (kernel, lambda: forced_threads(threads)),
        "OpenBLAS 1T": (
            lambda: np.matmul(a_op, b, out=out),
            lambda: threadpool_limits(1, user_api="blas"),
        ),
        "OpenBLAS 2T": (
            lambda: np.matmul(a_op, b, out=out),
            lambda: threadpool_limits(threads, user_api="blas"),
        ),
        "torch 1T": (lambda: torch.mm(ta, tb, out=tout), lambda: _torch_threads(reference, 1)),
        "torch 2T": (
            lambda: torch.mm(ta, tb, out=tout),
            lambda: _torch_threads(reference, threads),
        ),
    }
    flops = 2.0 * M * N * K
    inner = int(min(1000, max(1, 1e-3 // (flops / 50e9))))  # ≥ ~1 ms per sample
    if threads == 1:
        variants = {k: v for k, v in variants.items() if not k.endswith("2T")}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats):
        order = list(variants)
        order = order[r % len(order) :] + order[: r % len(order)]  # rotate the order
        for name in order:
            fn, context = variants[name]
            with context():
                times[name] += timed_calls(_repeated(fn, inner), 1)
    times = {k: [t / inner for t in v] for k, v in times.items()}
    us = {k: 1e6 * median(v) for k, v in times.items()}
    return {
        "op": op,
        "M": M,
        "N": N,
        "K": K,
        "trans_a": trans,
        "mflop": flops / 1e6,
        "us": us,
        "gflops": {k: flops / v / 1e3 for k, v in us.items()},
    }


def _repeated(fn: Callable[[], object], n: int) -> Callable[[], None]:
    def calls():
        for _ in range(n):
            fn()

    return calls


@contextlib.contextmanager
def _torch_threads(reference, n: int):
    reference.set_threads(n)
    try:
        yield
    finally:
        reference.set_threads(native.num_threads())


# -- reports -------------------------------------------------------------------------------------
def phase_table(rows: list[dict]) -> str:
    """Markdown: per row the phases in ms and % of rnnlab's call, the kernels' speedup from one
    thread to two (when measured), torch's top operators and the load from others."""
    extra = sorted({k for r in rows for k in r["phases_ms"]} - {*PHASES, "NumPy (cells)"})
    columns = [*PHASES, *extra, "NumPy (cells)", "other"]
    two = any(r.get("threads", 2) > 1 for r in rows)
    head = "| cell | cfg | mode | rnnlab ms | torch ms | ratio | " + " | ".join(columns)
    head += (" | kernels ×2T" if two else "") + " | torch's top ops (share of self time) | load |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        total = r["rnnlab_ms"]

        def cell(ms, total=total):
            return "" if ms is None or abs(ms) < 0.005 else f"{ms:.2f} ({100 * ms / total:.0f}%)"

        values = {**r["phases_ms"], "other": r["other_ms"]}
        ops = "; ".join(
            f"{o['op'].removeprefix('aten::')} {100 * o['share']:.0f}%"
            for o in r["torch_top_ops"][:3]
        )
        speed = r["kernel_speedup_2_threads"]
        cells = [cell(values.get(k)) for k in columns]
        if two:
            cells.append("" if speed is None else f"{speed:.2f}")
        lines.append(
            f"| {r['cell']} | {r['config']} | {r['mode']} | {total:.2f} | {r['torch_ms']:.2f} | "
            f"{r['ratio']:.2f} | " + " | ".join(cells) + f" | {ops} | {_load(r)} |"
        )
    return "\n".join(lines)


def _load(row: dict) -> str:
    load = row.get("others_load")
    return "" if load is None else f"{100 * load:.0f}%"


def gemm_table(rows: list[dict]) -> str:
    head = (
        "| cell | cfg | GEMM | M×K·K×N | MFLOP | rnnlab as called µs | GFLOP/s: as called | "
        "kernel 1T / 2T | OpenBLAS 1T / 2T | torch 1T / 2T | best BLAS vs rnnlab | load |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        g = r["gflops"]

        def pair(name, g=g):
            return " / ".join("—" if f"{name} {t}" not in g else f"{g[f'{name} {t}']:.0f}"
                              for t in ("1T", "2T"))  # fmt: skip

        blas = max(v for k, v in g.items() if k.startswith("OpenBLAS"))
        verdict = blas / g["rnnlab as called"]
        word = "BLAS faster" if verdict > 1.05 else "kernel faster" if verdict < 0.95 else "same"
        lines.append(
            f"| {r['cell']} | {r['config']} | {r['op']} | {r['M']}×{r['K']}·{r['K']}×{r['N']} | "
            f"{r['mflop']:.1f} | {r['us']['rnnlab as called']:.1f} | {g['rnnlab as called']:.0f} | "
            f"{pair('kernel')} | {pair('OpenBLAS')} | {pair('torch')} | {verdict:.2f}× ({word}) | "
            f"{_load(r)} |"
        )
    return "\n".join(lines)


def _csv(value: str, allowed) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if not items or bad:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list from {list(allowed)}, got {value!r}"
        )
    return items


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", default="rnn,lstm,gru", type=lambda v: _csv(v, GATES))
    p.add_argument("--configs", default="C1,C2,C3,C4", type=lambda v: _csv(v, CONFIGS))
    p.add_argument(
        "--modes", default="train,inference", type=lambda v: _csv(v, ("train", "inference"))
    )
    p.add_argument("--calls", type=int, default=5, help="timed calls per side per round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per row")
    p.add_argument("--top", type=int, default=4, help="torch operators listed per row")
    p.add_argument("--gemm-cells", default="rnn,gru", type=lambda v: _csv(v, GATES))
    p.add_argument("--gemm-repeats", type=int, default=5)
    p.add_argument(
        "--max-load",
        type=float,
        default=0.1,
        help="re-measure a row when other processes used more of the machine",
    )
    p.add_argument("--tries", type=int, default=3, help="measurements of a row at most")
    p.add_argument(
        "--patience",
        type=float,
        default=0.0,
        help="seconds to wait, before each measurement, for a second with others under --max-load",
    )
    p.add_argument(
        "--cpu-clock",
        action="store_true",
        help="one thread on both sides, timed by the calling thread's CPU time: what each "
        "library costs per core, whatever else runs on the machine",
    )
    p.add_argument("--no-phases", action="store_true")
    p.add_argument("--no-gemm", action="store_true")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--markdown", type=Path, default=None)
    p.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        help="measure nothing: the tables from these JSON files of earlier runs, each row from "
        "the run in which other processes loaded the machine least",
    )
    args = p.parse_args(argv)
    if args.cpu_clock:
        global clock
        clock = time.thread_time
    if args.merge:
        result = merge(args.merge)
        _write(result, [result["header"], "", phase_table(result["phases"]), "",
                        gemm_table(result["gemm"])], args)  # fmt: skip
        return
    if not native.available():
        raise SystemExit("profile_phases: rnnlab's compiled kernels do not run here")
    reference = torch_reference.TorchReference(threads=1 if args.cpu_clock else None)
    if args.cpu_clock:
        native.set_num_threads(1)
    from threadpoolctl import threadpool_info

    blas = [
        (i.get("internal_api"), i.get("version"), i.get("architecture"))
        for i in threadpool_info()
        if i.get("user_api") == "blas"
    ]
    openblas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    header = (
        f"# rnnlab {rnnlab.__file__}, torch {reference.version}, numpy {np.__version__}, "
        f"BLAS {blas}, {os.cpu_count()} CPUs, "
        f"{openblas or 'no OPENBLAS_*'}; "
        f"load average at start {os.getloadavg()}"
    )
    print(header, flush=True)
    result: dict = {"header": header, "phases": [], "gemm": []}
    out: list[str] = [header]
    if not args.no_phases:
        timer = KernelPhases()
        timer.install()
        try:
            for config in args.configs:
                for cell in args.cells:
                    for mode in args.modes:
                        row = quietest(
                            lambda c=cell, g=config, m=mode: profile_row(
                                c, g, m, timer, reference, args.calls, args.rounds, args.top
                            ),
                            args.max_load,
                            args.tries,
                            args.patience,
                        )
                        result["phases"].append(row)
                        _save(result, args.json)
                        print(phase_table([row]).splitlines()[-1], flush=True)
        finally:
            timer.uninstall()
        out += ["", phase_table(result["phases"])]
    if not args.no_gemm:
        for config in args.configs:
            for cell in args.gemm_cells:
                for op in gemm_ops(cell, CONFIGS[config]):
                    row = quietest(
                        lambda op=op: gemm_row(*op, args.gemm_repeats, reference),
                        args.max_load,
                        args.tries,
                        args.patience,
                    )
                    row = {"cell": cell, "config": config, **row}
                    result["gemm"].append(row)
                    _save(result, args.json)
                    print(gemm_table([row]).splitlines()[-1], flush=True)
        out += ["", gemm_table(result["gemm"])]
    result["load_average_end"] = os.getloadavg()
    out.append(f"# load average at the end {os.getloadavg()}")
    _write(result, out, args)


def _save(result: dict, path: Path | None) -> None:
    """The JSON so far (after every row: an interrupted run keeps what it measured)."""
    if path is not None:
        path.write_text(json.dumps(result, indent=1))


def _write(result: dict, out: list[str], args) -> None:
    print("\n".join(out))
    _save(result, args.json)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(out) + "\n")


def merge(paths: list[Path]) -> dict:
    """The rows of several runs' JSON, each (cell, config, mode) or (cell, config, GEMM) from
    the run in which others loaded the machine least; in the order of first appearance."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    result = {
        "header": "\n".join(r["header"] for r in runs),
        "merged_from": [str(p) for p in paths],
    }
    for part, key in (("phases", ("cell", "config", "mode")), ("gemm", ("cell", "config", "op"))):
        best: dict[tuple, dict] = {}
        for run in runs:
            for row in run.get(part, []):
                k = tuple(row[f] for f in key)
                load = row.get("others_load") or 0.0
                if k not in best or load < (best[k].get("others_load") or 0.0):
                    best[k] = row
        result[part] = list(best.values())
    return result


if __name__ == "__main__":
    main()
