"""The kernel paths the native tests run on (avx512, avx2, generic: rnnlab.native_paths).

A test module imports `native_path` (an autouse fixture) and `pytest_generate_tests`: then each
of its tests runs once per path, the path switched in by rnnlab.native.use_isa, except the tests
named in the module's ONE_PATH (pure Python), which run on the default path only, and the
cases whose test id contains one of the module's SLOW_CASES (the largest, where NumPy's side
takes the time), which the other paths skip. A path the CPU cannot run is skipped with the
reason; with RNNLAB_ISA set, only that path runs (the others skip: "RNNLAB_ISA=avx2 forces one
path").

RNNLAB_REQUIRE_NATIVE (set by .ci/run):
    1      the kernels must run here (the default path at least);
    auto   every path this CPU can run must have been built and run; the rest skip.
"""

from __future__ import annotations

import os

import pytest

from rnnlab import native, native_paths

REQUIRE = os.environ.get("RNNLAB_REQUIRE_NATIVE", "")
FORCED = os.environ.get(native_paths.ENV) or None


def unbuilt_paths_the_cpu_runs() -> list[str]:
    """Paths whose CPU features are present but whose module did not build."""
    features = native_paths.cpu_features()
    return [
        isa
        for isa in native_paths.ISAS
        if not native_paths.built(isa) and all(features.get(f) for f in native_paths.REQUIRES[isa])
    ]


def require_or_skip_module() -> None:
    """At the import of a native test module: skip it where no path runs (an error when
    RNNLAB_REQUIRE_NATIVE asks for the kernels)."""
    if REQUIRE == "auto" and unbuilt_paths_the_cpu_runs():
        missing = unbuilt_paths_the_cpu_runs()
        raise RuntimeError(f"RNNLAB_REQUIRE_NATIVE=auto but the CPU runs {missing}, not built")
    if not native.available():  # pragma: no cover - depends on the machine
        reason = f"compiled kernels unavailable: {native.why_not('gemm')}"
        if REQUIRE in ("1", "auto") and FORCED != "off":
            raise RuntimeError(f"RNNLAB_REQUIRE_NATIVE={REQUIRE} but {reason}")
        pytest.skip(reason, allow_module_level=True)


def why_skip(isa: str) -> str | None:
    """None if the tests run on `isa` here, else why not."""
    if FORCED is not None and FORCED != isa:
        return f"{native_paths.ENV}={FORCED} forces one path"
    return native_paths.why_not_runs(isa)


def pytest_generate_tests(metafunc) -> None:
    if "native_path" not in metafunc.fixturenames:
        return
    one_path = metafunc.function.__name__ in getattr(metafunc.module, "ONE_PATH", ())
    paths = [native.isa()] if one_path else list(native_paths.ISAS)
    metafunc.parametrize("native_path", paths, indirect=True)


@pytest.fixture(autouse=True)
def native_path(request):
    """The kernel path of this test (its parameter), switched in for it and back after."""
    isa = getattr(request, "param", None) or native.isa()
    reason = why_skip(isa)
    slow = getattr(request.module, "SLOW_CASES", ())
    if reason is None and isa != native.isa() and any(c in request.node.name for c in slow):
        reason = "a slow case, run on the default path only"
    if reason is not None:
        pytest.skip(f"{isa} path: {reason}")
    default = native.isa()
    native.use_isa(isa)
    yield isa
    native.use_isa(default)
