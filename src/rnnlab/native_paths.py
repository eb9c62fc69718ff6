"""The instruction-set paths of the compiled kernels: which ones built, which this CPU runs, and
which one rnnlab.native uses (chosen once at import; `RNNLAB_ISA` overrides).

One C source (`_kernels.c` over the vector operations of `_simd.h`) is compiled once per path
into its own module (setup.py):

    avx512   rnnlab._kernels_avx512   needs AVX-512F, AVX-512DQ and FMA
    avx2     rnnlab._kernels_avx2     needs AVX2 and FMA
    generic  rnnlab._kernels_generic  needs nothing (built without -m flags; NEON on ARM64)

The default is the first of these that built and that the CPU runs. `RNNLAB_ISA=avx512|avx2|
generic` asks for one path (refused, with the reason, when the CPU cannot run it or it did not
build: the kernels are then off and a warning says why), `RNNLAB_ISA=off` runs NumPy.

    >>> from rnnlab import native_paths
    >>> native_paths.cpu_features()
    {'avx512f': True, 'avx512dq': True, 'avx512bw': True, 'avx512vl': True, 'avx2': True, ...}
    >>> native_paths.choose().isa, native_paths.choose().reason
    ('avx512', 'the best path this CPU runs')

A module is imported only after the CPU's features say it runs here: the compiler may use the
path's instructions anywhere in it. The CPU's features come from the generic module (the
compiler's CPUID reading), or from /proc/cpuinfo when that did not build.

`cpu_id()` gives the key (vendor, family, model) of the per-microarchitecture tuning table in
rnnlab.native_tuning, which rnnlab.native applies to the chosen path.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

#: the paths, best first
ISAS: tuple[str, ...] = ("avx512", "avx2", "generic")
#: the CPU features each path needs
REQUIRES: dict[str, tuple[str, ...]] = {
    "avx512": ("avx512f", "avx512dq", "fma"),
    "avx2": ("avx2", "fma"),
    "generic": (),
}
#: the x86 features reported (those that decide the paths)
FEATURES: tuple[str, ...] = ("avx512f", "avx512dq", "avx512bw", "avx512vl", "avx2", "fma")
ENV = "RNNLAB_ISA"


@dataclass(frozen=True)
class Choice:
    """The path in use: `isa` (None: the kernels are off), its `module`, and why (`reason`)."""

    isa: str | None
    module: ModuleType | None
    reason: str


def module_name(isa: str) -> str:
    """The compiled module of a path: rnnlab._kernels_<isa>."""
    return f"{__package__}._kernels_{isa}"


def _check(isa: str) -> None:
    if isa not in ISAS:
        raise ValueError(f"rnnlab: expected an instruction-set path in {list(ISAS)}, got {isa!r}")


def built(isa: str) -> bool:
    """True if the path's module was built (it exists; it is not imported here)."""
    _check(isa)
    return importlib.util.find_spec(module_name(isa)) is not None


def _proc_cpuinfo_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            return set(value.split())
    return set()


_features: dict[str, bool] | None = None


def cpu_features() -> dict[str, bool]:
    """{feature: present} for FEATURES on x86 ({} elsewhere: only the generic path runs)."""
    global _features
    if _features is None:
        if built("generic"):
            _features = dict(importlib.import_module(module_name("generic")).cpu_features())
        else:  # pragma: no cover - the generic path builds wherever a C compiler exists
            flags = _proc_cpuinfo_flags()
            _features = {f: f in flags for f in FEATURES} if flags else {}
    return dict(_features)


_cpu_id: dict[str, str | int | None] | None = None


def cpu_id() -> dict[str, str | int | None]:
    """The CPU's vendor, family and model from /proc/cpuinfo (None where unknown), read once: the
    key of the per-microarchitecture tuning (rnnlab.native_tuning)."""
    global _cpu_id
    if _cpu_id is None:
        _cpu_id = _read_cpu_id()
    return dict(_cpu_id)


def _read_cpu_id() -> dict[str, str | int | None]:
    fields: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.strip().split("\n\n")[0].splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())

    def number(key: str) -> int | None:
        return int(fields[key]) if fields.get(key, "").isdigit() else None

    return {
        "vendor": fields.get("vendor_id"),
        "family": number("cpu family"),
        "model": number("model"),
    }


def why_not_runs(isa: str) -> str | None:
    """None if the path built and this CPU runs it, else the reason."""
    _check(isa)
    if not built(isa):
        return f"the {isa} path did not build"
    missing = [f for f in REQUIRES[isa] if not cpu_features().get(f, False)]
    if missing:
        return f"the CPU has no {', '.join(missing)}"
    return None


def runnable() -> list[str]:
    """The paths that built and that this CPU runs, best first."""
    return [isa for isa in ISAS if why_not_runs(isa) is None]


def load(isa: str) -> ModuleType:
    """The module of a path this CPU runs; RuntimeError with the reason otherwise."""
    reason = why_not_runs(isa)
    if reason is not None:
        raise RuntimeError(f"rnnlab: the {isa} kernel path cannot run here: {reason}")
    return importlib.import_module(module_name(isa))


def choose(requested: str | None = None, strict: bool = False) -> Choice:
    """The path to use: `requested` ("avx512", "avx2", "generic", "off"; default: $RNNLAB_ISA,
    else the best path this CPU runs). A path that cannot run here is refused: with `strict`
    by a RuntimeError with the reason, else by a Choice of no path that gives it."""
    source = "argument"
    if requested is None:
        requested = os.environ.get(ENV) or None
        source = ENV
    if requested is None:
        best = runnable()
        if best:
            return Choice(best[0], load(best[0]), "the best path this CPU runs")
        if not any(built(isa) for isa in ISAS):
            return Choice(None, None, "the extension did not build")
        reasons = "; ".join(f"{isa}: {why_not_runs(isa)}" for isa in ISAS)
        return Choice(None, None, f"no built path runs on this CPU ({reasons})")
    asked = f"{ENV}={requested}" if source == ENV else f"use_isa({requested!r})"
    if requested == "off":
        return Choice(None, None, f"disabled by {asked}")
    if requested not in ISAS:
        raise ValueError(f"{asked}: expected one of {[*ISAS, 'off']}, got {requested!r}")
    reason = why_not_runs(requested)
    if reason is not None:
        if strict:
            raise RuntimeError(f"rnnlab: {asked} refused: {reason}")
        return Choice(None, None, f"{asked} refused: {reason}")
    return Choice(requested, load(requested), asked)


def default() -> Choice:
    """choose() at import: a refused $RNNLAB_ISA warns (the kernels are off, NumPy runs)."""
    choice = choose()
    if choice.isa is None and choice.reason.startswith(ENV):
        warnings.warn(
            f"rnnlab: compiled kernels off: {choice.reason}", RuntimeWarning, stacklevel=3
        )
    return choice


def describe(choice: Choice) -> str:
    """One line: the path in use and why, the paths and whether they run here, the CPU's
    features."""
    have = " ".join(f for f, present in cpu_features().items() if present) or "none known"
    paths = ", ".join(f"{isa} ({why_not_runs(isa) or 'runs'})" for isa in ISAS)
    return f"path {choice.isa or 'none'} ({choice.reason}); paths: {paths}; CPU features: {have}"
