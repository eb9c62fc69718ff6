"""Test session settings: floating-point errors raise, fixed seeds, tests/ importable."""

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(__file__))

np.seterr(all="raise")

settings.register_profile(
    "rnnlab",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("rnnlab")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
