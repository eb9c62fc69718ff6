"""`rnnlab bench --isa PATH`: rnnlab's kernels on one instruction-set path, and the reference
(torch) held to the same instruction set, so that an AVX2 machine can be measured on an
AVX-512 one.

torch 2.13's CPU build picks its vector code three ways, each with its own switch, read when
torch loads (so `force` must run before the reference is loaded):

    ATEN_CPU_CAPABILITY      ATen's own kernels (elementwise, the GRU/RNN loops' pointwise)
    ONEDNN_MAX_CPU_ISA       oneDNN's JIT (nn.LSTM's fused `rnn` primitive)
    MKL_ENABLE_INSTRUCTIONS  MKL's SGEMM (nn.GRU / nn.RNN per-step products, torch.mm)

(`torch.backends.cpu.get_cpu_capability()` and `ONEDNN_VERBOSE=1` confirm the first two.)
NumPy's OpenBLAS is not touched: rnnlab never changes OPENBLAS_* variables.
"""

from __future__ import annotations

import os
import sys

from . import native

#: the reference's switches for each path (None: leave the reference at its best)
REFERENCE_ENV: dict[str, dict[str, str] | None] = {
    "avx512": None,
    "avx2": {
        "ATEN_CPU_CAPABILITY": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    },
    "generic": {
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },
}


def force(isa: str) -> dict[str, str]:
    """Run rnnlab's kernels on `isa` (RuntimeError with the reason where the CPU cannot) and
    set the reference's switches for it; returns the variables set. Refuses once torch is
    loaded (its switches would not take effect)."""
    if isa not in REFERENCE_ENV:
        raise ValueError(f"bench --isa: expected one of {list(REFERENCE_ENV)}, got {isa!r}")
    env = REFERENCE_ENV[isa] or {}
    if env and "torch" in sys.modules:
        raise RuntimeError(
            "bench --isa: torch is already loaded; its ISA switches need a fresh process"
        )
    native.use_isa(isa)
    os.environ.update(env)
    return dict(env)


def reference_env() -> dict[str, str]:
    """The reference's ISA switches as this process has them (for the results file)."""
    names = {name for env in REFERENCE_ENV.values() if env for name in env}
    return {name: os.environ[name] for name in sorted(names) if name in os.environ}
