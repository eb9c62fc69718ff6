"""Builds the optional C extensions (everything else is in pyproject.toml): one source,
src/rnnlab/_kernels.c (+ _simd.h), compiled once per instruction-set path into its own module:

    rnnlab._kernels_avx512   -mavx512f -mavx512dq -mfma   (x86-64 only)
    rnnlab._kernels_avx2     -mavx2 -mfma                 (x86-64 only)
    rnnlab._kernels_generic  no -m flag: SSE2 on x86-64, NEON on ARM64, plain C elsewhere

rnnlab.native imports the best one this CPU runs (RNNLAB_ISA overrides). Every extension is
optional: without a C compiler the install still succeeds and rnnlab runs its NumPy code
(rnnlab.native.built() tells which paths built).
"""

import platform

from setuptools import Extension, setup

# ISO C without FMA contraction: the optimizer kernels round like NumPy does
COMMON = [
    "-O3",
    "-std=c11",
    "-ffp-contract=off",
    "-fno-math-errno",
    "-Wall",
    "-Wno-unknown-pragmas",
]
X86 = platform.machine().lower() in ("x86_64", "amd64")
PATHS: dict[str, list[str]] = {"generic": []}
if X86:
    PATHS["avx2"] = ["-mavx2", "-mfma"]
    PATHS["avx512"] = ["-mavx512f", "-mavx512dq", "-mavx2", "-mfma"]


def kernels(isa: str, flags: list[str]) -> Extension:
    """rnnlab._kernels_<isa>: _kernels.c compiled for one path."""
    return Extension(
        f"rnnlab._kernels_{isa}",
        ["src/rnnlab/_kernels.c"],
        depends=["src/rnnlab/_simd.h"],
        define_macros=[(f"RNNLAB_ISA_{isa.upper()}", "1")],
        extra_compile_args=[*COMMON, *flags],
        extra_link_args=["-pthread"],
        optional=True,
    )


setup(ext_modules=[kernels(isa, flags) for isa, flags in PATHS.items()])
