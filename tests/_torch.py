"""PyTorch as the optional reference of parity tests.

    from _torch import requires_torch, torch

    @requires_torch                 # on a test function or a test class
    def test_matches_torch(): ...

`torch` is the module, or None when it cannot be imported. `requires_torch` marks the test with
the "torch" marker (select with `-m torch`) and skips it, with a reason, when torch is absent.
With RNNLAB_REQUIRE_TORCH=1 (set by .ci/run) a missing torch is an error instead of a skip:
`requires_torch` raises while the test module is collected, naming the test, so the run fails.
"""

from __future__ import annotations

import os

import pytest

REQUIRED = os.environ.get("RNNLAB_REQUIRE_TORCH") == "1"

try:
    import torch
except ImportError as err:  # pragma: no cover - depends on the environment
    torch = None
    _IMPORT_ERROR = f"{type(err).__name__}: {err}"
else:
    _IMPORT_ERROR = ""

SKIP_REASON = "PyTorch is the reference for parity tests and is not installed"

__all__ = ["REQUIRED", "requires_torch", "torch"]


def requires_torch(test):
    """Decorator for tests that compare against PyTorch: skip without torch, unless required."""
    if torch is None and REQUIRED:
        raise RuntimeError(
            f"{getattr(test, '__qualname__', test)} needs PyTorch and RNNLAB_REQUIRE_TORCH=1 "
            f"forbids skipping it, but `import torch` failed ({_IMPORT_ERROR})"
        )
    test = pytest.mark.torch(test)
    return pytest.mark.skipif(torch is None, reason=SKIP_REASON)(test)
