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
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wno-unknown-pragmas"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
