"""Builds the optional C extension rnnlab._kernels (everything else is in pyproject.toml).

The extension is optional: without a C compiler the install still succeeds and rnnlab runs its
NumPy code (rnnlab.native.built() tells which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "rnnlab._kernels",
            ["src/rnnlab/_kernels.c"],
            # ISO C without FMA contraction: the optimizer kernels round like NumPy does
            extra_compile_args=["-O3", "-std=c11", "-ffp-contract=off", "-fno-math-errno",
                                "-Wall", "-Wno-unknown-pragmas"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
