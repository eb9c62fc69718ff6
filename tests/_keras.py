"""Keras 3 (torch backend) as the optional reference of the Keras parity tests.

    from _keras import keras, requires_keras

    @requires_keras
    def test_matches_keras(): ...

    pytestmark = keras_marks("test_keras_parity")     # for a whole module

`keras` is the module (imported with KERAS_BACKEND=torch unless the environment chose another
backend), or None when it cannot be imported. Without keras the tests skip with a reason; with
RNNLAB_REQUIRE_KERAS=1 (set by .ci/run) a missing keras is an error instead, raised while the
test module is collected, so the run fails.
"""

from __future__ import annotations

import os

import pytest

REQUIRED = os.environ.get("RNNLAB_REQUIRE_KERAS") == "1"
os.environ.setdefault("KERAS_BACKEND", "torch")

try:
    import keras
except ImportError as err:  # pragma: no cover - depends on the environment
    keras = None
    _IMPORT_ERROR = f"{type(err).__name__}: {err}"
else:
    _IMPORT_ERROR = ""

SKIP_REASON = "Keras 3 is the reference for Keras parity tests and is not installed"

__all__ = ["REQUIRED", "keras", "keras_marks", "requires_keras"]


def requires_keras(test):
    """Decorator for tests that compare against Keras: skip without it, unless required."""
    if keras is None and REQUIRED:
        raise RuntimeError(
            f"{getattr(test, '__qualname__', test)} needs Keras and RNNLAB_REQUIRE_KERAS=1 "
            f"forbids skipping it, but `import keras` failed ({_IMPORT_ERROR})"
        )
    test = pytest.mark.keras(test)
    return pytest.mark.skipif(keras is None, reason=SKIP_REASON)(test)


def keras_marks(where: str) -> list:
    """The marks of requires_keras, for `pytestmark = keras_marks(__name__)`."""
    if keras is None and REQUIRED:
        raise RuntimeError(
            f"{where} needs Keras and RNNLAB_REQUIRE_KERAS=1 forbids skipping it, but "
            f"`import keras` failed ({_IMPORT_ERROR})"
        )
    return [pytest.mark.keras, pytest.mark.skipif(keras is None, reason=SKIP_REASON)]
