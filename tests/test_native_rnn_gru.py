"""The compiled SimpleRNN time loops (forward, backward) and the GRU backward loop.

They must give the NumPy path's numbers (float32 rounding apart: relative error ≤ 1e-5 on the
outputs and every gradient) in every case the cells dispatch to them — tanh and relu, masks
(ragged, with holes, rows with no valid step), final-state gradients with or without output
gradients, T = 1, B = 1, odd B, odd I, H = 16 / 48 / 128 / 208 — and run where they are used
(each test checks the kernel was called). Thread counts change no bit. float64 and recurrent
dropout never reach them.
"""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from _native_paths import native_path, pytest_generate_tests, require_or_skip_module  # noqa: F401
from _torch import requires_torch, torch
from rnnlab import native
from rnnlab.cells import GRUCell, SimpleRNNCell

require_or_skip_module()

F32 = np.float32
TOL = 1e-5  # relative to the largest magnitude of the NumPy result (at least 1)
CASES = [
    (7, 5, 9, 32),
    (1, 1, 3, 16),
    (6, 13, 20, 48),
    (3, 8, 64, 128),
    (4, 33, 7, 16),
    (5, 1, 11, 128),
    (3, 7, 5, 208),
]  # (T, B, I, H)
MASKS = ["none", "ragged", "holes"]
GRADS_IN = ["both", "outputs", "final"]


@pytest.fixture(autouse=True)
def _restore_native():
    yield
    native.set_enabled(True)
    native.set_num_threads(None)


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of the new kernels (a test that expects them checks they ran)."""
    counts = {"rnn_forward": 0, "rnn_backward": 0, "gru_forward": 0, "gru_backward": 0}
    for name in counts:
        kernel = getattr(native._kernels, name)

        def counted(*args, _kernel=kernel, _name=name, **kwargs):
            counts[_name] += 1
            return _kernel(*args, **kwargs)

        monkeypatch.setattr(native._kernels, name, counted)
    return counts


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    ref = np.asarray(ref, np.float64)
    return float(
        np.abs(np.asarray(ours, np.float64) - ref).max(initial=0.0)
        / max(1.0, np.abs(ref).max(initial=0.0))
    )


def make_case(cell: str, T, B, I, H, mask_kind: str, grads_in: str, seed: int, scale=1.0):
    """Weights N(0, scale²/fan_in): the recurrence has gain ~scale, as a trained network's
    (at a larger gain float32 rounding differences grow by it at every step)."""
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "gru": 3}[cell] * H
    shapes = {"weight_ih": (G, I), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,)}
    fan_in = {"weight_ih": I, "weight_hh": H, "bias_ih": 4, "bias_hh": 4}
    params = {
        k: (rng.standard_normal(s) * scale / np.sqrt(fan_in[k])).astype(F32)
        for k, s in shapes.items()
    }
    x = rng.standard_normal((T, B, I)).astype(F32)
    h0 = rng.standard_normal((B, H)).astype(F32)
    d_out = None if grads_in == "final" else rng.standard_normal((T, B, H)).astype(F32)
    d_final = (None if grads_in == "outputs" else rng.standard_normal((B, H)).astype(F32),)
    mask = None
    if mask_kind == "ragged":  # right padding, one row with no valid step
        lengths = rng.integers(1, T + 1, size=B)
        lengths[B // 2] = 0
        mask = np.arange(T)[:, None] < lengths[None, :]
    elif mask_kind == "holes":
        mask = rng.random((T, B)) > 0.35
        mask[:, 0] = False  # a row with no valid step
    return params, x, (h0,), mask, d_out, d_final


def run_cell(cell, params, x, states, mask, d_out, d_final):
    hs, final, cache = cell.forward(params, x, states, mask=mask)
    dx, d_states, grads = cell.backward(cache, d_out, d_final)
    return hs, final, dx, d_states, grads


def assert_close(ours, ref, tol=TOL):
    hs, final, dx, d_states, grads = ours
    r_hs, r_final, r_dx, r_states, r_grads = ref
    assert rel_err(hs, r_hs) < tol, "hs"
    assert rel_err(final[0], r_final[0]) < tol, "final state"
    assert rel_err(dx, r_dx) < tol, "dx"
    assert rel_err(d_states[0], r_states[0]) < tol, "dh0"
    assert grads.keys() == r_grads.keys()
    for name, g in r_grads.items():
        assert grads[name].shape == g.shape and grads[name].dtype == np.float32, name
        assert rel_err(grads[name], g) < tol, name


def numpy_run(cell, *args):
    native.set_enabled(False)
    try:
        return run_cell(cell, *args)
    finally:
        native.set_enabled(True)


# -- SimpleRNN ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("T", "B", "I", "H"), CASES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("grads_in", GRADS_IN)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_kernels_equal_numpy(T, B, I, H, mask_kind, grads_in, activation, calls):
    args = make_case("rnn", T, B, I, H, mask_kind, grads_in, seed=T * B + H + len(mask_kind))
    cell = SimpleRNNCell(activation)
    assert native.serves("rnn", dtype=args[1].dtype, units=H)
    ours = run_cell(cell, *args)
    assert calls["rnn_forward"] == 1 and calls["rnn_backward"] == 1
    ref = numpy_run(cell, *args)
    assert calls["rnn_forward"] == 1  # the reference did not run on the kernels
    assert_close(ours, ref)
    hs, _, _, d_states, _ = ours
    mask = args[3]
    if mask is not None:  # masked steps carry the state; rows never valid pass dh through
        never = ~mask.any(axis=0)
        np.testing.assert_array_equal(
            hs[:, never], np.broadcast_to(args[2][0][never], hs[:, never].shape)
        )
        if args[5][0] is not None and args[4] is None:
            np.testing.assert_array_equal(d_states[0][never], args[5][0][never])


@pytest.mark.parametrize(("T", "B", "I", "H"), CASES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_batch_major_inference_equals_time_major(
    T, B, I, H, mask_kind, activation, monkeypatch
):
    """Without a cache, layout "batch" reads x (B, T, I) and the mask (B, T) and writes
    (B, T, H) in place: the time-major numbers to the bit; the layer under no_grad gets them."""
    params, x, states, mask, _, _ = make_case("rnn", T, B, I, H, mask_kind, "both", seed=T + B)
    cell = SimpleRNNCell(activation)
    hs, final, cache = cell.forward(params, x, states, mask=mask, keep_cache=False)
    swap = lambda a: None if a is None else np.ascontiguousarray(a.swapaxes(0, 1))  # noqa: E731
    hs_bm, final_bm, cache_bm = cell.forward(
        params, swap(x), states, mask=swap(mask), keep_cache=False, layout="batch"
    )
    assert cache is None and cache_bm is None and hs_bm.shape == (B, T, H)
    np.testing.assert_array_equal(hs_bm, swap(hs))
    np.testing.assert_array_equal(final_bm[0], final[0])
    layer = rnnlab.SimpleRNN(H, activation=activation, return_sequences=True, dtype="float32")
    layer.build((T, I))
    for k, v in params.items():
        layer.params[k][...] = v
    layouts = []
    kernel = native._kernels.rnn_forward

    def recorded(**kwargs):
        layouts.append(kwargs.get("batch_major", False))
        return kernel(**kwargs)

    monkeypatch.setattr(native._kernels, "rnn_forward", recorded)
    with rnnlab.no_grad():
        y = layer.forward(swap(x), mask=swap(mask), initial_state=[states[0]])
    expected = swap(hs) if mask is None else swap(hs) * swap(mask)[:, :, None]
    np.testing.assert_array_equal(y, expected)
    assert layouts == [True]  # the layer's call read and wrote (B, T, ·) in place


@pytest.mark.parametrize(("T", "B", "I", "H"), CASES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("grads_in", GRADS_IN)
def test_simple_rnn_batch_major_training_equals_time_major(T, B, I, H, mask_kind, grads_in):
    """Forward with a cache and backward in layout "batch" (x, hs, mask, d_outputs, δ and dx
    (B, T, ·) in place): the time-major results to the bit; states_at agrees; the NumPy
    backward takes that cache (kernels disabled in between)."""
    args = make_case("rnn", T, B, I, H, mask_kind, grads_in, seed=3 * T + B + H)
    params, x, states, mask, d_out, d_final = args
    cell = SimpleRNNCell("tanh")
    ref = run_cell(cell, *args)
    swap = lambda a: None if a is None else np.ascontiguousarray(a.swapaxes(0, 1))  # noqa: E731
    hs, final, cache = cell.forward(params, swap(x), states, mask=swap(mask), layout="batch")
    assert cache.batch_major and hs.shape == (B, T, H)
    hs[...] = np.nan  # the caller's outputs are not the cache's
    dx, d_states, grads = cell.backward(cache, swap(d_out), d_final)
    np.testing.assert_array_equal(cache.hs, swap(ref[0]))
    np.testing.assert_array_equal(final[0], ref[1][0])
    np.testing.assert_array_equal(dx, swap(ref[2]))
    np.testing.assert_array_equal(d_states[0], ref[3][0])
    for name, g in ref[4].items():
        np.testing.assert_array_equal(grads[name], g, err_msg=name)
    for t in (0, T - 1):
        np.testing.assert_array_equal(cell.states_at(cache, t)[0], ref[0][t])
    native.set_enabled(False)
    try:
        dx_np, _, grads_np = cell.backward(cache, swap(d_out), d_final)
    finally:
        native.set_enabled(True)
    assert rel_err(dx_np, swap(ref[2])) < TOL
    for name, g in ref[4].items():
        assert rel_err(grads_np[name], g) < TOL, name


def test_simple_rnn_numpy_backward_takes_the_kernels_cache_and_back():
    """Either backward on either forward's cache gives the same gradients (float32 rounding)."""
    args = make_case("rnn", 6, 9, 10, 48, "holes", "both", seed=5)
    params, x, states, mask, d_out, d_final = args
    simple = SimpleRNNCell()
    _, _, kernel_cache = simple.forward(params, x, states, mask=mask)
    native.set_enabled(False)
    try:
        _, _, numpy_cache = simple.forward(params, x, states, mask=mask)
        numpy_grads = simple.backward(kernel_cache, d_out, d_final)
    finally:
        native.set_enabled(True)
    kernel_grads = simple.backward(numpy_cache, d_out, d_final)
    assert rel_err(kernel_grads[0], numpy_grads[0]) < TOL
    for name, g in numpy_grads[2].items():
        assert rel_err(kernel_grads[2][name], g) < TOL, name


@pytest.mark.parametrize("cell", ["rnn", "gru"])
@pytest.mark.parametrize("H", [48, 128])
def test_thread_counts_change_no_bit(cell, H):
    module = SimpleRNNCell() if cell == "rnn" else GRUCell()
    args = make_case(cell, 9, 19, 24, H, "holes", "both", seed=3)
    runs = []
    for n in (1, 2, 3):
        native.set_num_threads(n)
        hs, final, dx, d_states, grads = run_cell(module, *args)
        runs.append((hs, final[0], dx, d_states[0], *grads.values()))
    for run in runs[1:]:
        for a, b in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(a, b)


def test_relu_saturation_and_nan():
    """Large pre-activations stay finite (relu: exact; tanh: ±1); a NaN input spreads only
    along its own batch row, as in NumPy."""
    params, x, states, _, d_out, d_final = make_case(
        "rnn", 6, 4, 5, 16, "none", "both", seed=1, scale=20.0
    )
    x = x * 30
    for activation in ("tanh", "relu"):
        cell = SimpleRNNCell(activation)
        ours = run_cell(cell, params, x, states, None, d_out, d_final)
        ref = numpy_run(cell, params, x, states, None, d_out, d_final)
        assert np.isfinite(ours[0]).all()
        assert rel_err(ours[0], ref[0]) < TOL
    x[3, 1, 2] = np.nan
    hs = SimpleRNNCell().forward(params, x, states)[0]
    assert np.isnan(hs[3:, 1]).all()
    assert np.isfinite(hs[:3]).all() and np.isfinite(np.delete(hs, 1, axis=1)).all()


# -- GRU ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("T", "B", "I", "H"), CASES)
@pytest.mark.parametrize("mask_kind", MASKS)
@pytest.mark.parametrize("grads_in", GRADS_IN)
def test_gru_backward_kernel_equals_numpy(T, B, I, H, mask_kind, grads_in, calls):
    args = make_case("gru", T, B, I, H, mask_kind, grads_in, seed=2 * T + B + H)
    gru = GRUCell()
    assert native.serves("gru", dtype=args[1].dtype, units=H)
    ours = run_cell(gru, *args)
    assert calls["gru_forward"] == 1 and calls["gru_backward"] == 1
    ref = numpy_run(gru, *args)
    assert calls["gru_backward"] == 1
    assert_close(ours, ref)


def test_gru_backward_kernel_takes_the_numpy_cache():
    """The kernels' backward on a cache the NumPy forward made (e.g. enabled in between)."""
    params, x, states, mask, d_out, d_final = make_case("gru", 5, 6, 7, 32, "ragged", "both", 9)
    native.set_enabled(False)
    try:
        gru = GRUCell()
        _, _, cache = gru.forward(params, x, states, mask=mask)
        ref = gru.backward(cache, d_out, d_final)
    finally:
        native.set_enabled(True)
    ours = gru.backward(cache, d_out, d_final)
    assert rel_err(ours[0], ref[0]) < TOL and rel_err(ours[1][0], ref[1][0]) < TOL
    for name, g in ref[2].items():
        assert rel_err(ours[2][name], g) < TOL, name


# -- where they run, and bad input ---------------------------------------------------------------
def test_dispatch_conditions(calls):
    """Recurrent dropout, float64, H not a multiple of 16 and disabled kernels run NumPy."""
    for name, cell in (("rnn", SimpleRNNCell()), ("gru", GRUCell())):
        params, x, states, *_ = make_case(name, 2, 3, 4, 16, "none", "both", 0)
        assert native.serves(name, dtype=x.dtype, units=16)
        assert not native.serves(name, dtype=x.dtype, units=16, recurrent_dropout=True)
        assert not native.serves(name, dtype=np.float64, units=16)
        assert not native.serves(name, dtype=x.dtype, units=20)
        _, _, cache = cell.forward(params, x, states, recurrent_mask=np.ones((3, 16), F32))
        cell.backward(cache, None, (None,))
        p20, x20, s20, *_ = make_case(name, 2, 3, 4, 20, "none", "both", 0)
        run_cell(cell, p20, x20, s20, None, None, (None,))  # NumPy, H = 20
        p64 = {k: v.astype(np.float64) for k, v in params.items()}
        run_cell(
            cell, p64, x.astype(np.float64), (states[0].astype(np.float64),), None, None, (None,)
        )
        native.set_enabled(False)
        assert not native.serves(name, dtype=x.dtype, units=16)
        run_cell(cell, params, x, states, None, None, (None,))
        native.set_enabled(True)
    assert calls == {"rnn_forward": 0, "rnn_backward": 0, "gru_forward": 0, "gru_backward": 0}


def test_kernel_errors_are_clear():
    """Bad sizes, dtypes, short buffers, masks and missing arguments are refused by name."""
    k = native._kernels
    z = np.zeros(4096, F32)
    fwd = dict(T=1, B=1, H=16, a_in=z, w_hh=z, h0=z, hs=z, mask=None, relu=False, threads=1)
    k.rnn_forward(**fwd)  # the arguments below are wrong one at a time
    with pytest.raises(ValueError, match="multiple of 16"):
        k.rnn_forward(**{**fwd, "H": 20})
    with pytest.raises(TypeError, match="float32"):
        k.rnn_forward(**{**fwd, "a_in": z.astype(np.float64)})
    bwd = dict(
        T=2,
        B=1,
        H=16,
        hs=z,
        d_out=None,
        w_hh=z,
        mask=None,
        dh=z,
        d_pre=z,
        dbias=z,
        d_pre_t=z,
        ldt=2,
        relu=True,
        threads=1,
    )
    k.rnn_backward(**bwd)
    with pytest.raises(ValueError, match="hs: expected at least 32"):
        k.rnn_backward(**{**bwd, "hs": z[:16]})
    with pytest.raises(ValueError, match="ldt"):
        k.rnn_backward(**{**bwd, "ldt": 1})
    gru_bwd = dict(
        T=3,
        B=1,
        H=16,
        gates=z,
        hn=z,
        hs=z,
        h0=z,
        d_out=None,
        w_hh=z,
        mask=None,
        dh=z,
        d_x=z,
        d_h=z,
        dbias_x=z,
        dbias_h=z,
        d_x_t=z,
        d_hn_t=z,
        ldt=3,
        threads=1,
    )
    k.gru_backward(**gru_bwd)
    with pytest.raises(ValueError, match="expected 3 bytes"):
        k.gru_backward(**{**gru_bwd, "mask": np.ones(2, np.uint8)})
    with pytest.raises(ValueError, match="d_x_t: expected at least"):
        k.gru_backward(**{**gru_bwd, "ldt": 300})
    del gru_bwd["threads"]
    with pytest.raises(TypeError, match="threads"):
        k.gru_backward(**gru_bwd)


def test_packed_gemm_reads_whole_panel_rows():
    """The GEMM tile loads packed panels in whole rows of 64 (plain loads, zero padding): a
    packed B one row short of that is refused, a full one gives the product."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 8)).astype(F32)
    b = rng.standard_normal((8, 10)).astype(F32)
    packed = native.pack(b).reshape(-1)  # (1, 8, 64): 512 floats, columns 10 … 63 zero
    out = np.empty((7, 10), F32)
    with pytest.raises(ValueError, match="b: expected at least 512"):
        native._kernels.gemm(7, 10, 8, a, 8, 1, packed[: 7 * 64 + 10], 512, 64, None, out, 10, 0, 1)
    native._kernels.gemm(7, 10, 8, a, 8, 1, packed, 512, 64, None, out, 10, 0, 1)
    assert rel_err(out, a.astype(np.float64) @ b) < 1e-6


# -- the layers, float32, against torch ------------------------------------------------------------
@requires_torch
@pytest.mark.parametrize("kind", ["rnn", "gru"])
def test_layers_float32_match_torch(kind):
    """rnnlab.SimpleRNN / GRU (float32, on the kernels) against torch.nn.RNN / GRU with the
    same weights: outputs, final state, dx and every weight gradient."""
    B, T, I, H = 6, 11, 10, 32
    torch.manual_seed(0)
    ref = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU}[kind](I, H, batch_first=True)
    layer = {"rnn": rnnlab.SimpleRNN, "gru": rnnlab.GRU}[kind](
        H, return_sequences=True, return_state=True, dtype="float32"
    )
    layer.build((T, I))
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        layer.params[name][...] = getattr(ref, f"{name}_l0").detach().numpy()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(F32)
    dy = rng.standard_normal((B, T, H)).astype(F32)
    out, h = layer.forward(x, training=True)
    dx = layer.backward(dy)
    tx = torch.from_numpy(x).requires_grad_(True)
    t_out, t_h = ref(tx)
    (t_out * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(out, t_out.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h, t_h[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=2e-5, rtol=1e-5)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(
            layer.grads[name],
            getattr(ref, f"{name}_l0").grad.numpy(),
            atol=2e-5,
            rtol=1e-5,
            err_msg=name,
        )
