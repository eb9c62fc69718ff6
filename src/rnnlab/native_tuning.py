"""Tuning of the compiled kernels per CPU microarchitecture: a table keyed on the CPU's vendor,
family and model (`native_paths.cpu_id()`) and the instruction-set path in use, chosen once at
import (`RNNLAB_TUNING=<name>` forces one; `rnnlab.native.use_tuning(name)` switches).

A tuning sets blocking and threading parameters, never the arithmetic: every element of every
result is the same sum in the same order whichever tuning runs (tests/test_native_tuning.py
holds each one to the NumPy path and to the others, bit for bit).

    kc              depth of a GEMM cache block (a kc x 64 panel chunk stays in L1)
    rb              rows of a GEMM work item (row-major A)
    rbt             rows of a packed block of a transposed A
    kb_lstm         the LSTM forward's depth block (0: whole-depth register tiles; None: the
                    path's default, 0 on AVX-512, 96 on AVX2 and generic)
    spread_threads  start helper threads on CPUs other than the caller's
    gather_rows     the batch-major LSTM loops work on contiguous copies of each step's rows
                    (rows T steps apart share L1 and L2 sets): the forward copies x_t and
                    h_{t-1} into a buffer per thread, the backward writes δ_t into a step
                    buffer that its GEMM reads, then copies it out (the SimpleRNN backward
                    too)
    lstm_units_bytes  the LSTM forward loop splits each step's units between the threads (a
                    barrier per step) instead of the batch rows (none) when the packed weights
                    one thread would stream per step under the row split reach this many bytes
                    (0: never)
    lstm_bwd_units_bytes  the same for the LSTM backward loop (its per-step weights: W_hh)
    lstm_project_bytes  the LSTM forward on two or more threads projects every step's input
                    first (x W_ihᵀ + b as one GEMM) instead of inside each step's register
                    tiles, when the packed [W_ih | W_hh] one thread would stream per step,
                    16·H·(I + H) bytes, reach this many and the units split is not taken
                    (0: never; one thread always projects first)
    lstm_bwd_dx_bytes  the LSTM backward loop also computes dx_t = δ_t W_ih every step, while
                    δ_t is in cache, instead of dx = δ W_ih as one GEMM after the loop (which
                    reads all of δ from memory again), when the packed W_hh and W_ih, 16·H·(H +
                    I) bytes, are at most this many (0: never)
    depth_outer     a GEMM with a row-major A splits its rows evenly between the threads and
                    runs the depth blocks outermost (A read once, not once per 64-column panel)
    dynamic_split   the depth-outer GEMM's threads take (depth block, tune.rb rows) items from
                    a shared counter instead of equal shares of the rows: where one vCPU runs
                    slower for a while (a busy hyperthread sibling on a shared host), the other
                    takes more of the work; likewise the LSTM forward's units split takes each
                    step's 16-unit panels from a shared claim (own panels first, then the other
                    thread's from its end)
    stream_stores   the LSTM loops write what only a later pass reads — the forward's gate
                    activations (where a vector holds a gate's 16 units: AVX-512), the
                    backward's copy of δ_t into d_pre — with streaming stores

Why a table and not a calibration at first use: on the shared 2-vCPU machines this was tuned on,
the same GEMM sweep run three times in a row picked different winners for 4 of 7 shapes (run-to
-run spread 15-30 % on 1-10 ms calls, docs/native.md): a few seconds of calibration would pick
by noise, differently per run, and no test could pin it. The table holds what repeated,
interleaved measurements chose, and a test pins each CPU's entry.

    >>> from rnnlab import native_tuning
    >>> native_tuning.choose({"vendor": "GenuineIntel", "family": 6, "model": 207}, "avx512").name
    'intel-sapphire-rapids'
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass, replace

ENV = "RNNLAB_TUNING"


@dataclass(frozen=True)
class Tuning:
    """One tuning: its `name`, its parameters (module docstring), and `measured` (where and how
    its values were chosen)."""

    name: str
    measured: str
    kc: int = 128
    rb: int = 48
    rbt: int = 192
    kb_lstm: int | None = None
    spread_threads: bool = False
    gather_rows: bool = False
    lstm_units_bytes: int = 0
    lstm_bwd_units_bytes: int = 0
    lstm_project_bytes: int = 0
    lstm_bwd_dx_bytes: int = 0
    depth_outer: bool = False
    stream_stores: bool = False
    dynamic_split: bool = False

    def kernel_parameters(self, kb_lstm_default: int) -> dict[str, int]:
        """The parameters the compiled module takes (its set_tuning keywords), kb_lstm None
        given as the path's default."""
        values = {k: v for k, v in asdict(self).items() if k in _KERNEL_KEYS}
        if values["kb_lstm"] is None:
            values["kb_lstm"] = kb_lstm_default
        return {k: int(v) for k, v in values.items()}


_KERNEL_KEYS = (
    "kc",
    "rb",
    "rbt",
    "kb_lstm",
    "spread_threads",
    "gather_rows",
    "depth_outer",
    "stream_stores",
    "dynamic_split",
)

#: every tuning by name
TUNINGS: dict[str, Tuning] = {
    t.name: t
    for t in (
        Tuning(
            "default",
            "the compile-time values (tuned on AMD Zen 5, 2026-11): CPUs not in the table",
        ),
        Tuning(
            "amd-zen",
            "AMD EPYC Zen 5 (family 26), 2026-11-22: every rnnlab/torch ratio >= 1.0 with these "
            "values (docs/benchmarks.md); unchanged since, not re-measured",
        ),
        Tuning(
            "intel-sapphire-rapids",
            "Intel Xeon family 6 model 207 (Emerald Rapids, the Sapphire Rapids core), 2026-12-06, "
            "benchmarks/tuning_sweep.py (docs/native.md): spread_threads ran the C1/C2 bulk GEMMs "
            "1.4-1.9x faster; kc 256 / rb 96 the C2 weight-gradient GEMM up to 1.7x; the units "
            "split the C3 forward loop 7-14 % faster (6 MiB of weights a step against 2 MiB of "
            "L2), but the C3 backward loop 5-8 % slower, so the backward keeps the row split; "
            "gather_rows ran the batch-major C3 forward 5-8 % faster (as fast as time-major) "
            "and, 2026-12-06 (session 7), its backward loop 6-9 % faster; depth_outer ran the "
            "C3 weight and input gradient GEMMs 12-14 % faster; stream_stores LSTM training "
            "C3 13 %, C1 2 %, C2 1.5 % faster (docs/native.md); lstm_bwd_dx_bytes (session 8) "
            "LSTM training C1 4-7 % faster, C2 and C3 unchanged within noise, so up to C1's "
            "0.4 MiB; dynamic_split (session 8) the C1-C3 weight and input gradient GEMMs 10-35 % "
            "faster in the machine's slow spells (one vCPU slowed), within 2-4 % either way in "
            "calm ones; lstm_project_bytes (session 8) LSTM C2 inference 2-5 % faster with the "
            "projection first (four A/Bs), training -3.5 to +1.4 %, C1 2-9 % and C3 10 % slower, "
            "so from C2's 1.5 MiB up to the units split's 3 MiB; session 9: with the units "
            "split's panels claimed per step (dynamic_split) the split from 1 MiB ran C2 "
            "training 5.7 % and inference 2.3 % faster than the projection first (paired A/B), "
            "C1 (0.375 MiB) 3-7 % slower, so the units split from 1 MiB and no projection first",
            kc=256,
            rb=96,
            spread_threads=True,
            gather_rows=True,
            lstm_units_bytes=1 << 20,
            depth_outer=True,
            stream_stores=True,
            lstm_bwd_dx_bytes=1 << 20,
            dynamic_split=True,
        ),
        Tuning(
            "intel-sapphire-rapids-avx2",
            "the AVX2 path forced on the same Xeon, 2026-12-06, benchmarks/tuning_sweep.py: "
            "spread_threads ran the C1/C2 bulk GEMMs 1.6-1.9x faster, the units split the C3 "
            "inference loop 18 % (training: no change); kc 256 / rb 96 changed nothing there; "
            "gather_rows (2026-12-06, benchmarks/tuning_sweep.py --layout batch) ran the "
            "batch-major C3 loops 1.2-2.4x faster (forward inference 53 -> 129 GFLOP/s, "
            "backward 82 -> 96); depth_outer changed nothing beyond noise alone and is on, as in "
            "the bench runs of docs/benchmarks.md; stream_stores (δ's copy only on AVX2) LSTM "
            "training C2 1 %, C3 4 % faster; lstm_bwd_dx_bytes (session 8) LSTM training C1 "
            "3-8 % faster, C2 and C3 unchanged within noise; dynamic_split the C1-C3 "
            "gradient GEMMs 7-23 % faster in slow spells; "
            "lstm_project_bytes C2 inference 1.5-5 % faster (four A/Bs), training 1-3.5 %, C1 "
            "1-13 % and C3 8 % slower; session 9: with the units split's panels claimed per "
            "step the split from 1 MiB ran C2 inference 1.7-3.8 % and training 2.3-2.8 % faster "
            "than the projection first (two paired A/Bs), C1 unchanged at 0.25 MiB, so the units "
            "split from 1 MiB and no projection first",
            spread_threads=True,
            gather_rows=True,
            depth_outer=True,
            stream_stores=True,
            lstm_units_bytes=1 << 20,
            lstm_bwd_dx_bytes=1 << 20,
            dynamic_split=True,
        ),
    )
}

# Sapphire Rapids (143), Emerald Rapids (207), Granite Rapids (173, 174): Golden/Redwood Cove
# cores with 2 MiB of L2; measured on 207
_SAPPHIRE_RAPIDS = frozenset({143, 207, 173, 174})
_AVX512, _AVX2 = frozenset({"avx512"}), frozenset({"avx2"})
#: (vendor, family, models or None for any, paths or None for any) -> tuning name, first match
TABLE: tuple[tuple[str, int, frozenset[int] | None, frozenset[str] | None, str], ...] = (
    ("GenuineIntel", 6, _SAPPHIRE_RAPIDS, _AVX512, "intel-sapphire-rapids"),
    ("GenuineIntel", 6, _SAPPHIRE_RAPIDS, _AVX2, "intel-sapphire-rapids-avx2"),
    # Zen 4 (family 25) and Zen 5 (family 26)
    ("AuthenticAMD", 25, None, None, "amd-zen"),
    ("AuthenticAMD", 26, None, None, "amd-zen"),
)


@dataclass(frozen=True)
class Chosen:
    """The tuning in use and why (`source`)."""

    tuning: Tuning
    source: str


def lookup(cpu: dict, isa: str | None) -> str | None:
    """The table's tuning name for a CPU (`native_paths.cpu_id()`) and path, or None."""
    for vendor, family, models, isas, name in TABLE:
        if cpu.get("vendor") != vendor or cpu.get("family") != family:
            continue
        if models is not None and cpu.get("model") not in models:
            continue
        if isas is not None and isa not in isas:
            continue
        return name
    return None


def _cpu_text(cpu: dict) -> str:
    vendor = cpu.get("vendor") or "unknown vendor"
    return f"{vendor} family {cpu.get('family')} model {cpu.get('model')}"


def choose(cpu: dict, isa: str | None, requested: str | None = None) -> Chosen:
    """The tuning for a CPU and path: `requested` (a name of TUNINGS; ValueError naming them
    otherwise), else the table's entry, else "default"."""
    if requested is not None:
        if requested not in TUNINGS:
            raise ValueError(f"expected a tuning in {sorted(TUNINGS)}, got {requested!r}")
        return Chosen(TUNINGS[requested], "requested")
    name = lookup(cpu, isa)
    if name is None:
        return Chosen(TUNINGS["default"], f"no table entry for {_cpu_text(cpu)} on {isa}")
    return Chosen(TUNINGS[name], f"table: {_cpu_text(cpu)} on {isa}")


def from_environment(cpu: dict, isa: str | None) -> Chosen:
    """choose() with $RNNLAB_TUNING: an unknown name warns and the table decides."""
    requested = os.environ.get(ENV) or None
    try:
        chosen = choose(cpu, isa, requested)
    except ValueError as error:
        warnings.warn(f"rnnlab: {ENV} ignored: {error}", RuntimeWarning, stacklevel=3)
        return choose(cpu, isa)
    if requested is not None:
        chosen = replace(chosen, source=f"{ENV}={requested}")
    return chosen


def lstm_split_units(tuning: Tuning, H: int, I: int, threads: int, backward: bool = False) -> bool:
    """Whether an LSTM time loop splits each step's units between `threads` threads: the packed
    weights one thread streams per step under the row split, 4·4H·(I + H) bytes (the forward's
    [W_ih | W_hh]; the backward's W_hh with I = 0), reach the tuning's lstm_units_bytes
    (lstm_bwd_units_bytes for the backward)."""
    limit = tuning.lstm_bwd_units_bytes if backward else tuning.lstm_units_bytes
    return threads > 1 and limit > 0 and 16 * H * (I + H) >= limit


def lstm_project_first(tuning: Tuning, H: int, I: int, threads: int) -> bool:
    """Whether the LSTM forward projects every step's input first (one GEMM, x W_ihᵀ + b) and
    its loop then streams only W_hh: always on one thread; on more, where the packed
    [W_ih | W_hh], 16·H·(I + H) bytes, reach the tuning's lstm_project_bytes and the units
    split is not taken."""
    if threads == 1:
        return True
    limit = tuning.lstm_project_bytes
    return 0 < limit <= 16 * H * (I + H) and not lstm_split_units(tuning, H, I, threads)


def lstm_dx_in_loop(tuning: Tuning, H: int, I: int) -> bool:
    """Whether the LSTM backward loop computes dx_t = δ_t W_ih per step: the packed W_hh and
    W_ih, 16·H·(H + I) bytes, are at most the tuning's lstm_bwd_dx_bytes."""
    return 0 < 16 * H * (H + I) <= tuning.lstm_bwd_dx_bytes
