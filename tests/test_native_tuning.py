"""Per-CPU tuning of the kernels (rnnlab.native_tuning): the table pins each CPU's choice, and no
tuning changes a single bit of any result.

Bit equality between tunings, together with tests/test_native.py holding the kernels to the
NumPy path under the tuning in use, holds every tuning to the NumPy path. Each test runs on
every kernel path the CPU runs (tests/_native_paths.py).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from _native_paths import native_path, pytest_generate_tests, require_or_skip_module  # noqa: F401
from rnnlab import native, native_tuning
from rnnlab.cells import GRUCell, LSTMCell, SimpleRNNCell
from rnnlab.native_tuning import Tuning

require_or_skip_module()
ONE_PATH = {
    "test_table_pins_each_cpu",
    "test_requests_and_errors",
    "test_environment_override_and_info",
    "test_set_tuning_checks_every_value",
}
F32 = np.float32
ZEN5 = {"vendor": "AuthenticAMD", "family": 26, "model": 2}
ZEN4 = {"vendor": "AuthenticAMD", "family": 25, "model": 17}
SAPPHIRE = {"vendor": "GenuineIntel", "family": 6, "model": 143}
EMERALD = {"vendor": "GenuineIntel", "family": 6, "model": 207}
SKYLAKE_X = {"vendor": "GenuineIntel", "family": 6, "model": 85}

# every parameter at an edge: one-tile blocks, depth blocks of 16, the units split always
EXTREME = Tuning(
    "test-extreme",
    "tests only",
    kc=16,
    rb=6,
    rbt=6,
    kb_lstm=16,
    spread_threads=True,
    gather_rows=True,
    lstm_units_bytes=1,
    lstm_bwd_units_bytes=1,
    lstm_bwd_dx_bytes=1 << 40,
    depth_outer=True,
    stream_stores=True,
    dynamic_split=True,
)
# the row split with the input projected first on two threads (EXTREME always splits units)
PROJECT_FIRST = dataclasses.replace(
    EXTREME, name="test-project-first", lstm_units_bytes=0, lstm_project_bytes=1
)


@pytest.fixture(autouse=True)
def _restore():
    yield
    native.use_tuning(None)
    native.set_num_threads(None)


def test_table_pins_each_cpu():
    """A tuning for one core cannot silently change another's: each CPU's entry is pinned,
    and the AMD Zen 4/5 entry keeps the values measured there (the compile-time defaults)."""
    expected = [
        (ZEN5, "avx512", "amd-zen"),
        (ZEN4, "avx512", "amd-zen"),
        (ZEN5, "avx2", "amd-zen"),
        (SAPPHIRE, "avx512", "intel-sapphire-rapids"),
        (EMERALD, "avx512", "intel-sapphire-rapids"),
        (EMERALD, "avx2", "intel-sapphire-rapids-avx2"),
        (SAPPHIRE, "generic", "default"),  # not measured there
        (SKYLAKE_X, "avx512", "default"),
    ]
    for cpu, isa, name in expected:
        assert native_tuning.choose(cpu, isa).tuning.name == name, (cpu, isa)
    zen = native_tuning.TUNINGS["amd-zen"]
    assert dataclasses.astuple(zen)[2:] == (
        128,
        48,
        192,
        None,
        False,
        False,
        0,
        0,
        0,
        0,
        False,
        False,
        False,
    )
    assert native_tuning.TUNINGS["default"].kernel_parameters(0) == zen.kernel_parameters(0)
    intel = native_tuning.TUNINGS["intel-sapphire-rapids"]
    assert (intel.kc, intel.rb, intel.rbt, intel.kb_lstm, intel.gather_rows) == (
        256,
        96,
        192,
        None,
        True,
    )
    assert (
        intel.spread_threads,
        intel.lstm_units_bytes,
        intel.lstm_bwd_units_bytes,
        intel.lstm_project_bytes,
        intel.lstm_bwd_dx_bytes,
        intel.depth_outer,
        intel.stream_stores,
        intel.dynamic_split,
    ) == (True, 1 << 20, 0, 0, 1 << 20, True, True, True)
    intel_avx2 = native_tuning.TUNINGS["intel-sapphire-rapids-avx2"]
    assert dataclasses.astuple(intel_avx2)[2:] == (
        128,
        48,
        192,
        None,
        True,
        True,
        1 << 20,
        0,
        0,
        1 << 20,
        True,
        True,
        True,
    )
    unknown = native_tuning.choose({"vendor": None, "family": None, "model": None}, "generic")
    assert unknown.tuning.name == "default"
    assert unknown.source == "no table entry for unknown vendor family None model None on generic"
    assert native_tuning.choose(EMERALD, "avx512").source == (
        "table: GenuineIntel family 6 model 207 on avx512"
    )


def test_requests_and_errors():
    with pytest.raises(ValueError, match=r"expected a tuning in \['amd-zen', 'default', 'intel"):
        native_tuning.choose(EMERALD, "avx512", "fast")
    with pytest.raises(ValueError, match="got 'fast'"):
        native.use_tuning("fast")
    native.use_tuning("amd-zen")
    assert native.tuning().tuning.name == "amd-zen"
    assert native.tuning().source == "requested"
    assert native._kernels.tuning() == {
        "kc": 128,
        "rb": 48,
        "rbt": 192,
        "kb_lstm": native._kernels.KB_LSTM,
        "spread_threads": 0,
        "gather_rows": 0,
        "depth_outer": 0,
        "stream_stores": 0,
        "dynamic_split": 0,
    }
    isa = native.isa()
    native.use_isa(isa)  # a requested tuning survives a change of path
    assert native.tuning().tuning.name == "amd-zen"
    assert "tuning amd-zen (requested)" in native.describe()


def test_environment_override_and_info():
    code = "from rnnlab import native; print(native.tuning().tuning.name, native.tuning().source)"
    env = {"RNNLAB_TUNING": "intel-sapphire-rapids", "PYTHONWARNINGS": "error::UserWarning"}
    run = subprocess.run(
        [sys.executable, "-c", code], env={**_env(), **env}, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [
        "intel-sapphire-rapids",
        "RNNLAB_TUNING=intel-sapphire-rapids",
    ]
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={**_env(), "RNNLAB_TUNING": "bogus"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert "RNNLAB_TUNING ignored: expected a tuning in" in run.stderr
    assert "got 'bogus'" in run.stderr
    assert not run.stdout.startswith("bogus")
    info = subprocess.run(
        [sys.executable, "-m", "rnnlab.cli", "info"],
        env={**_env(), "RNNLAB_TUNING": "amd-zen"},
        capture_output=True,
        text=True,
    )
    assert info.returncode == 0, info.stderr
    assert "tuning amd-zen (RNNLAB_TUNING=amd-zen)" in info.stdout


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "RNNLAB_TUNING"}


def test_set_tuning_checks_every_value():
    k = native._kernels
    before = k.tuning()
    for name, bad in (
        ("kc", 8),
        ("rb", 1),
        ("rbt", 5000),
        ("kb_lstm", 7),
        ("spread_threads", 2),
        ("gather_rows", -1),
        ("depth_outer", 2),
        ("stream_stores", -1),
        ("dynamic_split", 2),
    ):
        with pytest.raises(ValueError, match=f"expected {name} "):
            k.set_tuning(**{name: bad})
        assert k.tuning() == before  # nothing set
    with pytest.raises(TypeError):
        k.set_tuning(block=4)


def _under_each_tuning(monkeypatch, compute):
    """compute() under every tuning of the table and EXTREME, on 1 and 2 threads: the results
    must be the same bits."""
    monkeypatch.setitem(native_tuning.TUNINGS, EXTREME.name, EXTREME)
    monkeypatch.setitem(native_tuning.TUNINGS, PROJECT_FIRST.name, PROJECT_FIRST)
    runs = {}
    try:
        for name in native_tuning.TUNINGS:
            native.use_tuning(name)
            for threads in (1, 2):
                native.set_num_threads(threads)
                runs[name, threads] = compute()
    finally:
        native.use_tuning(None)  # while EXTREME is still in the table
    first = next(iter(runs.values()))
    for key, run in runs.items():
        for a, b in zip(run, first, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=str(key))


@pytest.mark.parametrize(("M", "K", "N"), [(5, 7, 3), (100, 300, 129), (200, 700, 390)])
def test_gemm_same_bits_under_every_tuning(monkeypatch, M, K, N):
    rng = np.random.default_rng(M + K + N)
    a = rng.standard_normal((M, K)).astype(F32)
    b = rng.standard_normal((K, N)).astype(F32)
    packed, bias = native.pack(b), rng.standard_normal(N).astype(F32)
    a_t = np.ascontiguousarray(a.T)

    def compute():
        acc = np.ones((M, N), F32)
        native.gemm(a, packed, N, out=acc, accumulate=True)
        return (
            native.gemm(a, packed, N, bias=bias),
            native.gemm(a_t, packed, N, trans_a=True),
            native.gemm(a, b, N),
            acc,
        )

    _under_each_tuning(monkeypatch, compute)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert np.abs(compute()[1] - ref).max() < 3e-7 * np.sqrt(K) * max(1.0, np.abs(ref).max())


def _lstm_inputs(rng, T, B, I, H):
    """Random LSTM parameters (torch's names and layouts), inputs x (T, B, I), states (h0, c0)."""
    params = {
        "weight_ih": (rng.standard_normal((4 * H, I)) * 0.3).astype(F32),
        "weight_hh": (rng.standard_normal((4 * H, H)) * 0.3).astype(F32),
        "bias_ih": (rng.standard_normal(4 * H) * 0.1).astype(F32),
        "bias_hh": (rng.standard_normal(4 * H) * 0.1).astype(F32),
    }
    x = rng.standard_normal((T, B, I)).astype(F32)
    states = tuple(rng.standard_normal((B, H)).astype(F32) for _ in range(2))
    return params, x, states


@pytest.mark.parametrize(
    ("T", "B", "I", "H", "layout"),
    [
        (6, 7, 24, 64, "time"),
        (5, 13, 40, 208, "time"),
        (4, 9, 16, 48, "batch"),
        (5, 13, 40, 208, "batch"),
    ],
)
def test_lstm_same_bits_under_every_tuning(monkeypatch, T, B, I, H, layout):
    """Including the units split (EXTREME always splits the units) and depth blocks, with a
    mask, both layouts, every output and gradient."""
    rng = np.random.default_rng(T * B + H)
    cell = LSTMCell()
    params, x, states = _lstm_inputs(rng, T, B, I, H)
    mask = rng.random((T, B)) > 0.2
    d_out = rng.standard_normal((T, B, H)).astype(F32)
    d_final = tuple(rng.standard_normal((B, H)).astype(F32) for _ in range(2))
    if layout == "batch":
        x, mask, d_out = (np.ascontiguousarray(v.swapaxes(0, 1)) for v in (x, mask, d_out))

    def compute():
        hs, final, cache = cell.forward(params, x, states, mask=mask, layout=layout)
        inference = cell.forward(params, x, states, mask=mask, keep_cache=False, layout=layout)
        dx, d_states, grads = cell.backward(cache, d_out, d_final)
        return (hs, *final, inference[0], dx, *d_states, *grads.values())

    assert native.serves("lstm", dtype=F32, units=H)
    _under_each_tuning(monkeypatch, compute)


@pytest.mark.parametrize("layout", ["time", "batch"])
@pytest.mark.parametrize("cell", [GRUCell(), SimpleRNNCell()], ids=["gru", "rnn"])
def test_gru_and_simple_rnn_same_bits_under_every_tuning(monkeypatch, cell, layout):
    """Both layouts: the batch-major SimpleRNN backward gathers δ_t under gather_rows."""
    rng = np.random.default_rng(7)
    T, B, I, H = 5, 11, 70, 48
    params = {
        name: (rng.standard_normal(shape) * 0.3).astype(F32)
        for name, shape in cell.param_shapes(I, H).items()
    }
    x = rng.standard_normal((T, B, I)).astype(F32)
    states = (rng.standard_normal((B, H)).astype(F32),)
    d_out = rng.standard_normal((T, B, H)).astype(F32)
    if layout == "batch":
        x, d_out = (np.ascontiguousarray(v.swapaxes(0, 1)) for v in (x, d_out))

    def compute():
        hs, final, cache = cell.forward(params, x, states, layout=layout)
        dx, d_states, grads = cell.backward(cache, d_out, (None,))
        return (hs, *final, dx, *d_states, *grads.values())

    _under_each_tuning(monkeypatch, compute)


def test_lstm_loop_rules():
    """The units split from lstm_units_bytes up, dx in the backward loop up to
    lstm_bwd_dx_bytes (16·H·(H + I) bytes of packed W_hh and W_ih), never at 0."""
    rule = dataclasses.replace(
        native_tuning.TUNINGS["default"], lstm_units_bytes=3 << 20, lstm_bwd_dx_bytes=1 << 20
    )
    # C1 (H 128, I 64): 0.375 MiB; C2 (256, 128): 1.5 MiB
    assert native_tuning.lstm_dx_in_loop(rule, 128, 64)
    assert not native_tuning.lstm_dx_in_loop(rule, 256, 128)
    assert native_tuning.lstm_dx_in_loop(rule, 128, 384)  # exactly 1 MiB
    assert not native_tuning.lstm_dx_in_loop(rule, 128, 385)
    assert not native_tuning.lstm_dx_in_loop(native_tuning.TUNINGS["default"], 16, 1)
    assert native_tuning.lstm_split_units(rule, 512, 256, 2)  # C3's forward: 6 MiB
    assert not native_tuning.lstm_split_units(rule, 512, 256, 1)
    assert not native_tuning.lstm_split_units(rule, 256, 128, 2)
    # the projection first: one thread always; two from 1 MiB until the units split (3 MiB)
    rule = dataclasses.replace(rule, lstm_project_bytes=1 << 20)
    assert native_tuning.lstm_project_first(rule, 128, 64, 1)
    assert not native_tuning.lstm_project_first(rule, 128, 64, 2)  # C1: 0.375 MiB
    assert native_tuning.lstm_project_first(rule, 256, 128, 2)  # C2: 1.5 MiB
    assert not native_tuning.lstm_project_first(rule, 512, 256, 2)  # C3: the units split
    assert not native_tuning.lstm_project_first(native_tuning.TUNINGS["default"], 256, 128, 2)


def test_lstm_backward_takes_w_ih_and_dx_together():
    B, T, H, I = 2, 3, 16, 5
    f = np.zeros
    args = dict(
        T=T, B=B, H=H, acts=f((T, B, 4 * H), F32), cs=f((T, B, H), F32), c0=f((B, H), F32),
        tanh_cs=None, d_out=None, w_hh=native.pack(f((4 * H, H), F32)), mask=None,
        dh=f((B, H), F32), dc=f((B, H), F32), d_pre=f((T, B, 4 * H), F32), d_pre_t=None,
        ld_pre_t=0, d_bias=f((B, 4 * H), F32), batch_major=False, threads=1,
    )  # fmt: skip
    with pytest.raises(ValueError, match="expected w_ih and dx both or neither"):
        native._kernels.lstm_backward(**args, w_ih=native.pack(f((4 * H, I), F32)), I=I)
    with pytest.raises(ValueError, match="dx: expected at least 30 elements, got 29"):
        native._kernels.lstm_backward(
            **args, w_ih=native.pack(f((4 * H, I), F32)), dx=f(29, F32), I=I
        )


def test_dynamic_split_same_bits_whoever_takes_the_items(monkeypatch):
    """Which thread takes which (depth block, rows) item varies from call to call: the result
    does not (20 two-thread calls against one thread, with small items to race for)."""
    monkeypatch.setitem(native_tuning.TUNINGS, EXTREME.name, EXTREME)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((301, 515)).astype(F32)
    b = rng.standard_normal((515, 77)).astype(F32)
    packed = native.pack(b)
    native.use_tuning(EXTREME.name)
    try:
        alone = native.gemm(a, packed, 77, threads=1)
        for _ in range(20):
            np.testing.assert_array_equal(native.gemm(a, packed, 77, threads=2), alone)
    finally:
        native.use_tuning(None)  # while EXTREME is still in the table
    np.testing.assert_allclose(alone, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)


def test_lstm_units_claimed_at_run_time_same_bits(monkeypatch):
    """Under the units split with dynamic_split, which thread takes which 16-unit panel of a
    step varies from call to call (lstm_fwd_units_shared): the outputs do not (20 two-thread
    forwards against one thread, 13 panels a step to race for)."""
    monkeypatch.setitem(native_tuning.TUNINGS, EXTREME.name, EXTREME)
    rng = np.random.default_rng(5)
    T, B, I, H = 12, 9, 40, 208
    cell = LSTMCell()
    params, x, states = _lstm_inputs(rng, T, B, I, H)
    assert native_tuning.lstm_split_units(EXTREME, H, I, 2)
    native.use_tuning(EXTREME.name)
    try:
        native.set_num_threads(1)
        alone, _, _ = cell.forward(params, x, states, keep_cache=False)
        native.set_num_threads(2)
        for _ in range(20):
            hs, _, _ = cell.forward(params, x, states, keep_cache=False)
            np.testing.assert_array_equal(hs, alone)
    finally:
        native.use_tuning(None)  # while EXTREME is still in the table
    native.set_enabled(False)
    try:
        numpy_hs, _, _ = cell.forward(params, x, states, keep_cache=False)
    finally:
        native.set_enabled(True)
    np.testing.assert_allclose(alone, numpy_hs, rtol=1e-4, atol=1e-5)
