"""The compiled kernels (rnnlab._kernels_<path> via rnnlab.native), on every path the CPU runs.

They must give the NumPy path's numbers (float32 rounding apart) in every case the LSTM
dispatches to them — masks, final-state gradients, no output gradients, one step, one row,
odd sizes — and must not be used where they cannot run (recurrent dropout, H not a multiple of
16, float64): rnnlab.native.serves / why_not decide, and say why. The GEMM is checked against
float64 NumPy for every operand layout and every edge of the tiling (row tails, column tails,
depth blocks, depth 0). Thread counts must not change a single bit. The block pool must never
hand out memory something still refers to.

Each test runs once per kernel path (avx512, avx2, generic; tests/_native_paths.py), those in
ONE_PATH on the default path only; a path the CPU cannot run is skipped with the reason. Where
no path runs the module is skipped; with RNNLAB_REQUIRE_NATIVE=1 or auto (.ci/run) that is an
error instead.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import rnnlab
from _native_paths import native_path, pytest_generate_tests, require_or_skip_module  # noqa: F401
from _torch import requires_torch, torch
from helpers import ragged_mask
from rnnlab import native, native_paths
from rnnlab.cells import GRUCell, LSTMCell, lstm_native

require_or_skip_module()
SLOW_CASES = ("-64-3-40-600-",)  # B, T, I, H of the largest packed-GEMM layer case
ONE_PATH = {  # pure Python: no kernel arithmetic
    "test_thread_settings_validate",
    "test_pool_reuses_only_free_blocks",
    "test_dispatch_conditions_and_reasons",
    "test_cells_follow_the_dispatch",
    "test_layer_with_recurrent_dropout_still_trains",
    "test_packed_weights_are_reused_only_while_unchanged",
}

F32 = np.float32
LSTM_CELL, GRU_CELL = LSTMCell(), GRUCell()


def swap(a):
    """(T, B, ·) ↔ (B, T, ·), or None."""
    return None if a is None else np.ascontiguousarray(a.swapaxes(0, 1))


@pytest.fixture(autouse=True)
def _restore_native():
    yield
    native.set_enabled(True)
    native.set_num_threads(None)


def rel_err(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(
        np.abs(np.asarray(ours, np.float64) - ref).max(initial=0.0)
        / max(1.0, np.abs(ref).max(initial=0.0))
    )


# -- GEMM --------------------------------------------------------------------------------------
GEMM_SHAPES = [
    (1, 1, 1),
    (5, 7, 3),
    (6, 64, 64),
    (37, 130, 70),
    (100, 300, 129),
    (48, 0, 64),
    (0, 5, 8),
    (13, 257, 200),
    (200, 2000, 65),
]


@pytest.mark.parametrize(("M", "K", "N"), GEMM_SHAPES)
@pytest.mark.parametrize("layout", ["packed", "plain"])
@pytest.mark.parametrize("trans_a", [False, True])
def test_gemm_matches_float64(M, K, N, layout, trans_a):
    rng = np.random.default_rng(M * 1000 + K + N)
    a = rng.standard_normal((M, K)).astype(F32)
    b = rng.standard_normal((K, N)).astype(F32)
    bias = rng.standard_normal(N).astype(F32)
    b_op = native.pack(b) if layout == "packed" else b
    a_op = np.ascontiguousarray(a.T) if trans_a else a
    ref = a.astype(np.float64) @ b.astype(np.float64)
    tol = 3e-7 * max(1.0, np.sqrt(K))
    out = native.gemm(a_op, b_op, N, trans_a=trans_a)
    assert out.shape == (M, N)
    assert rel_err(out, ref) < tol
    assert rel_err(native.gemm(a_op, b_op, N, trans_a=trans_a, bias=bias), ref + bias) < tol
    acc = np.ones((M, N), F32)
    native.gemm(a_op, b_op, N, trans_a=trans_a, out=acc, accumulate=True)
    assert rel_err(acc, ref + 1.0) < tol


def test_gemm_thread_count_changes_no_bit():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 500)).astype(F32)
    b = native.pack(rng.standard_normal((500, 200)).astype(F32))
    results = []
    for n in (1, 2, 3, 7):
        native.set_num_threads(n)
        results.append(native.gemm(a, b, 200))
        results.append(native.gemm(np.ascontiguousarray(a.T), b, 200, trans_a=True))
    for i in (0, 1):
        for r in results[i::2]:
            np.testing.assert_array_equal(r, results[i])


def test_pack_layout_and_rows():
    b = np.arange(3 * 70, dtype=F32).reshape(3, 70)
    p = native.pack(b)
    assert p.shape == (2, 3, 64) and p.ctypes.data % 64 == 0
    np.testing.assert_array_equal(p[0], b[:, :64])
    np.testing.assert_array_equal(p[1, :, :6], b[:, 64:])
    assert not p[1, :, 6:].any()
    out = native.empty((2, 5, 64))
    native.pack(b, out=out, row0=2)
    np.testing.assert_array_equal(out[0, 2:], b[:, :64])
    cols = native.gate_interleave(32)
    assert sorted(cols) == list(range(128))
    assert list(cols[:18]) == [*range(16), 32, 33]  # panel 0: i of units 0-15, then f


def test_kernel_errors_are_clear():
    k = native._kernels
    a = np.zeros((4, 4), F32)
    bp = native.pack(a)
    out = np.zeros((4, 4), F32)
    args = dict(
        M=4,
        N=4,
        K=4,
        a=a,
        a_rs=4,
        a_cs=1,
        b=bp,
        b_ps=256,
        b_rs=64,
        bias=None,
        c=out,
        ldc=4,
        accumulate=False,
        threads=1,
    )
    k.gemm(**args)
    with pytest.raises(TypeError, match="float32"):
        k.gemm(**{**args, "a": a.astype(np.float64)})
    with pytest.raises(ValueError, match="at least"):
        k.gemm(**{**args, "M": 8})
    with pytest.raises(ValueError, match="C-contiguous"):
        k.gemm(**{**args, "a": np.zeros((4, 8), F32)[:, ::2]})
    lstm = dict(
        T=1,
        B=1,
        H=20,
        I=4,
        x=a,
        w_ih=a,
        bias=a,
        gates_in=None,
        w_hh=a,
        h0=a,
        c0=a,
        hs=a,
        cs=a,
        cs_step=0,
        acts=None,
        tanh_cs=None,
        mask=None,
        batch_major=False,
        threads=1,
    )
    with pytest.raises(ValueError, match="multiple of 16"):
        k.lstm_forward(**lstm)
    # arguments by keyword (in any order) or position; wrong, missing or repeated ones named
    with pytest.raises(
        TypeError,
        match=r"lstm_forward\(\) got an unexpected keyword argument "
        r"'gin_all'",
    ):
        k.lstm_forward(**lstm, gin_all=False)
    with pytest.raises(TypeError, match=r"lstm_forward\(\) missing required argument 'threads'"):
        k.lstm_forward(**{key: v for key, v in lstm.items() if key != "threads"})
    with pytest.raises(TypeError, match=r"gemm\(\) got multiple values for argument 'M'"):
        k.gemm(4, **args)
    with pytest.raises(TypeError, match=r"gemm\(\) takes at most 14 arguments \(15 given\)"):
        k.gemm(*args.values(), 0)
    k.gemm(*args.values())
    k.gemm(**dict(reversed(args.items())))
    with pytest.raises(ValueError, match="gemm"):
        native.gemm(a, native.pack(np.zeros((5, 4), F32)), 4)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 63, 64, 65, 130, 1000])
def test_all_finite_finds_every_inf_and_nan(n):
    base = np.random.default_rng(n).standard_normal(n).astype(F32) * 1e30
    base[: min(n, 4)] = [np.finfo(F32).max, -np.finfo(F32).max, 1e-45, -0.0][: min(n, 4)]
    assert native.all_finite(base)
    specials = [np.nan, np.inf, -np.inf, np.frombuffer(np.uint32(0xFFC00001).tobytes(), F32)[0]]
    for i in range(n):
        a = base.copy()
        a[i] = specials[i % 4]
        assert not native.all_finite(a), i
    with pytest.raises(TypeError, match="float32"):
        native._kernels.all_finite(base.astype(np.float64))
    assert native.all_finite(base.astype(np.float64))  # the NumPy path
    if n:
        a = base.astype(np.float64)
        a[-1] = np.nan
        assert not native.all_finite(a)
        assert not native.all_finite(a.astype(F32)[::-1])  # not contiguous: NumPy too


@pytest.mark.parametrize("kind", ["adam", "amsgrad", "adamw"])
def test_adam_kernel_gives_numpys_bits(kind):
    """The compiled Adam step does NumPy's float32 operations in NumPy's order: parameters and
    moments identical to the bit after steps with clipping and a learning-rate change."""
    make = {
        "adam": lambda: rnnlab.optimizers.Adam(3e-2, global_clipnorm=4.0),
        "amsgrad": lambda: rnnlab.optimizers.Adam(3e-2, amsgrad=True, clipnorm=2.0),
        "adamw": lambda: rnnlab.optimizers.AdamW(3e-2, weight_decay=0.1),
    }[kind]
    runs = []
    for enabled in (True, False):
        native.set_enabled(enabled)
        rng = np.random.default_rng(7)
        params = {
            "w": rng.standard_normal((33, 65)).astype(F32),
            "b": rng.standard_normal(1001).astype(F32) * 1e-20,
        }  # subnormal squares
        opt = make()
        for step in range(6):
            grads = {
                k: rng.standard_normal(v.shape).astype(F32) * (30.0 if step == 3 else 0.1)
                for k, v in params.items()
            }
            opt.learning_rate = 3e-2 / (1 + step)
            opt.step(params, grads)
        runs.append((params, opt.get_state()))
    (p1, s1), (p2, s2) = runs
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])
    assert s1.keys() == s2.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])


def test_adam_kernel_refuses_overlapping_arrays_and_sums_squares_in_double():
    a = np.ones(64, F32)
    hyper = dict(b1=0.9, b2=0.999, bias_correction2=1.0, eps=1e-7, step=1e-3)
    with pytest.raises(ValueError, match="must not overlap"):
        native.adam_step(a, np.ones(64, F32), a, np.zeros(64, F32), None, **hyper)
    with pytest.raises(ValueError, match="at least 64"):
        native.adam_step(a, np.ones(8, F32), np.zeros(64, F32), np.zeros(64, F32), None, **hyper)
    assert not native.adam_step(
        a[::2], np.ones(32, F32), np.zeros(32, F32), np.zeros(32, F32), None, **hyper
    )  # not contiguous: the NumPy code's turn
    g = np.random.default_rng(0).standard_normal(100_003).astype(F32) * 1e19  # g² > float32 max
    exact = float(np.einsum("i,i->", g.astype(np.float64), g.astype(np.float64)))
    assert abs(native.sum_squares(g) - exact) <= 1e-12 * exact
    assert native.sum_squares(np.zeros(0, F32)) == 0.0
    assert native.sum_squares(g.astype(np.float64)) is None


@pytest.mark.parametrize("shape", [(7, 1), (5, 16), (9, 17), (3, 11, 80), (2, 4, 6, 33)])
@pytest.mark.parametrize("masked", [False, True])
def test_sparse_crossentropy_kernel_matches_numpy(shape, masked):
    """float32 logits: the fused kernel gives the NumPy path's loss and gradient (float32
    rounding apart), masked rows get no gradient, extreme logits stay finite."""
    loss = rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = (rng.standard_normal(shape) * 4).astype(F32)
    x.reshape(-1)[::7] = 3e4  # e^(x − max) underflows to 0 for the others in those rows
    y = rng.integers(0, shape[-1], shape[:-1])
    mask = (rng.random(shape[:-1]) > 0.4) if masked else None
    if masked:
        mask.reshape(-1)[0] = True
        y[~mask] = -1  # padding ids are ignored where the mask says so
    value, grad = loss.value_and_grad(y, x, mask)
    native.set_enabled(False)
    try:
        ref_value, ref_grad = loss.value_and_grad(y, x, mask)
    finally:
        native.set_enabled(True)
    assert abs(value - ref_value) <= 1e-6 * max(1.0, abs(ref_value))
    assert grad.dtype == np.float32 and grad.shape == x.shape
    np.testing.assert_allclose(grad, ref_grad, rtol=0, atol=2e-7 * np.abs(ref_grad).max())
    if masked:
        assert not grad[~mask].any()
    # all masked: the NumPy path's (0, zeros); out-of-range ids: the same clear error
    none = np.zeros(shape[:-1], bool)
    assert loss.value_and_grad(y.clip(0), x, none)[0] == 0.0
    with pytest.raises(ValueError, match="class ids in"):
        loss.value_and_grad(np.full(shape[:-1], shape[-1]), x)
    with pytest.raises(ValueError, match="not in"):
        native.sparse_xent(np.zeros((1, 3), F32), np.array([3]), None, 1, np.zeros((1, 3), F32))


@pytest.mark.parametrize(("R", "K", "n"), [(64, 3, 64), (100, 17, 70), (7, 130, 5), (512, 64, 256)])
def test_pack_transposed_with_picked_columns(R, K, n):
    """pack(Wᵀ, columns) on the kernels (one register-transposing pass) gives NumPy's gather
    and copy bit for bit, padding columns zero; bad indices are refused."""
    rng = np.random.default_rng(R + K + n)
    w = rng.standard_normal((R, K)).astype(F32)
    cols = rng.integers(0, R, n)
    got = native.pack(w.T, cols)
    native.set_enabled(False)
    try:
        ref = native.pack(w.T, cols)
    finally:
        native.set_enabled(True)
    np.testing.assert_array_equal(got, ref)
    assert got.shape == (-(-n // 64), K, 64)
    assert not got.reshape(-1, K * 64)[-1].reshape(K, 64)[:, n - 64 * (got.shape[0] - 1) :].any()
    with pytest.raises(ValueError, match="picks row"):
        native._kernels.pack_t(w=w, R=R, K=K, columns=np.array([R]), out=np.empty((1, K, 64), F32))


def test_thread_settings_validate():
    with pytest.raises(ValueError, match="positive int"):
        native.set_num_threads(0)
    with pytest.raises(TypeError, match="True or False"):
        native.set_enabled("yes")
    native.set_num_threads(3)
    assert native.num_threads() == 3


# -- the block pool ----------------------------------------------------------------------------
def test_pool_reuses_only_free_blocks():
    gc.collect()  # no block of another test freed by a collection in the middle of this one
    shape = (3, (1 << 16) + 7)  # a size no other test allocates
    a = native.empty(shape)
    addr = a.ctypes.data
    b = native.empty(shape)
    assert b.ctypes.data != addr  # a is alive
    view = a[1]
    del a
    c = native.empty(shape)
    assert c.ctypes.data != addr  # a view of it is alive
    del view, c, b
    d = native.empty(shape)
    assert d.ctypes.data == addr  # the oldest free block
    e = native.empty(shape)
    assert e.ctypes.data != d.ctypes.data
    d[...] = 1.0
    e[...] = 2.0
    assert (d == 1.0).all()
    del d, e
    assert native.pooled_blocks(shape[0] * shape[1]) == 3  # a, b, c; d and e reused a, b
    native.empty_cache()
    assert native.pooled_blocks(shape[0] * shape[1]) == 0


# -- the LSTM ----------------------------------------------------------------------------------
def lstm_case(T, B, I, H, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    shapes = {
        "weight_ih": (4 * H, I),
        "weight_hh": (4 * H, H),
        "bias_ih": (4 * H,),
        "bias_hh": (4 * H,),
    }
    params = {k: (rng.standard_normal(s) * scale).astype(F32) for k, s in shapes.items()}
    x = rng.standard_normal((T, B, I)).astype(F32)
    states = tuple(rng.standard_normal((B, H)).astype(F32) for _ in range(2))
    d_out = rng.standard_normal((T, B, H)).astype(F32)
    d_final = tuple(rng.standard_normal((B, H)).astype(F32) for _ in range(2))
    mask = rng.random((T, B)) > 0.3
    mask[:, 0] = False  # a row with no valid step
    return params, x, states, d_out, d_final, mask


# H = 256 and 208: packed weights of 1 MiB and 692 KiB, panels of 64 columns with a partial last one
LSTM_CASES = [
    (7, 5, 9, 32),
    (1, 1, 3, 16),
    (6, 13, 20, 48),
    (3, 8, 64, 128),
    (4, 33, 7, 16),
    (2, 5, 8, 256),
    (3, 7, 5, 208),
]


def numpy_lstm(params, x, states, mask, d_out, d_final):
    native.set_enabled(False)
    try:
        hs, final, cache = LSTM_CELL.forward(params, x, states, mask=mask)
        dx, d_states, grads = LSTM_CELL.backward(cache, d_out, d_final)
        inf = LSTM_CELL.forward(params, x, states, mask=mask, keep_cache=False)[:2]
    finally:
        native.set_enabled(True)
    return hs, final, cache, dx, d_states, grads, inf


@pytest.mark.parametrize(("T", "B", "I", "H"), LSTM_CASES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("grads_in", ["both", "outputs", "final"])
def test_lstm_native_equals_numpy(T, B, I, H, masked, grads_in):
    params, x, states, d_out, d_final, mask = lstm_case(T, B, I, H, seed=T * B + H)
    mask = mask if masked else None
    d_out = None if grads_in == "final" else d_out
    d_final = (None, None) if grads_in == "outputs" else d_final
    assert native.serves("lstm", dtype=x.dtype, units=H)
    ref = numpy_lstm(params, x, states, mask, d_out, d_final)
    hs, final, cache = LSTM_CELL.forward(params, x, states, mask=mask)  # on the kernels
    tol = 2e-7 * (I + H)  # float32 sums of I + H terms of size ~0.5 in another order
    assert rel_err(hs, ref[0]) < tol
    for ours, theirs in zip(final, ref[1], strict=True):
        assert rel_err(ours, theirs) < tol
    for name in ("hs", "cs", "acts"):  # in the cache
        assert rel_err(getattr(cache, name), getattr(ref[2], name)) < tol
    assert cache.tanh_cs is None  # tanh c_t: recomputed by backward, not kept
    native.set_enabled(False)  # the NumPy backward takes the kernels' cache
    try:
        numpy_dx = LSTM_CELL.backward(cache, d_out, d_final)[0]
    finally:
        native.set_enabled(True)
    assert rel_err(numpy_dx, ref[3]) < 10 * tol
    dx, d_states, grads = LSTM_CELL.backward(cache, d_out, d_final)
    assert rel_err(dx, ref[3]) < 10 * tol
    for ours, theirs in zip(d_states, ref[4], strict=True):
        assert rel_err(ours, theirs) < 10 * tol
    for name, g in ref[5].items():
        assert rel_err(grads[name], g) < 10 * tol, name
    hs_inf, final_inf, _ = LSTM_CELL.forward(params, x, states, mask=mask, keep_cache=False)
    assert rel_err(hs_inf, ref[6][0]) < tol
    for ours, theirs in zip(final_inf, final, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(hs_inf, hs)  # same kernel with and without a cache


@pytest.mark.parametrize(("T", "B", "I", "H"), LSTM_CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_lstm_batch_major_inference_equals_time_major(T, B, I, H, masked):
    """x (B, T, I), mask (B, T) read and hs (B, T, H) written in place: the time-major numbers
    to the bit, with one thread (all-steps projection first) or several (in the tiles)."""
    params, x, states, _, _, mask = lstm_case(T, B, I, H, seed=T + B * H)
    mask = mask if masked else None
    hs, final, _ = lstm_native.forward(params, x, states, mask, keep_cache=False)
    x_bm = np.ascontiguousarray(x.transpose(1, 0, 2))
    m_bm = None if mask is None else np.ascontiguousarray(mask.T)
    hs_bm, final_bm, kept = lstm_native.forward(
        params, x_bm, states, m_bm, keep_cache=False, batch_major=True
    )
    assert kept is None and hs_bm.shape == (B, T, H)
    np.testing.assert_array_equal(hs_bm, hs.transpose(1, 0, 2))
    for ours, theirs in zip(final_bm, final, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    hs_cell, final_cell, none = LSTM_CELL.forward(
        params, x_bm, states, mask=m_bm, keep_cache=False, layout="batch"
    )
    assert none is None
    np.testing.assert_array_equal(hs_cell, hs_bm)
    np.testing.assert_array_equal(final_cell[1], final[1])


@pytest.mark.parametrize(("T", "B", "I", "H"), LSTM_CASES)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("grads_in", ["both", "outputs", "final"])
def test_lstm_batch_major_training_equals_time_major(T, B, I, H, masked, grads_in):
    """Forward with a cache and backward on (B, T, ·) data: the time-major results to the bit
    (outputs, states, dx, every weight gradient), and the NumPy backward takes that cache."""
    params, x, states, d_out, d_final, mask = lstm_case(T, B, I, H, seed=2 * T + B + H)
    mask = mask if masked else None
    d_out = None if grads_in == "final" else d_out
    d_final = (None, None) if grads_in == "outputs" else d_final
    hs, final, cache = LSTM_CELL.forward(params, x, states, mask=mask)  # kernels, time-major
    assert not cache.batch_major
    dx, d_states, grads = LSTM_CELL.backward(cache, d_out, d_final)

    hs_bm, final_bm, cache_bm = LSTM_CELL.forward(
        params, swap(x), states, mask=swap(mask), layout="batch"
    )
    assert cache_bm.batch_major and cache_bm.layout == "batch"  # read and written in place
    np.testing.assert_array_equal(hs_bm, swap(hs))
    for ours, theirs in zip(final_bm, final, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for t in (0, T - 1):
        for ours, theirs in zip(
            LSTM_CELL.states_at(cache_bm, t), LSTM_CELL.states_at(cache, t), strict=True
        ):
            np.testing.assert_array_equal(ours, theirs)
    dx_bm, d_states_bm, grads_bm = LSTM_CELL.backward(cache_bm, swap(d_out), d_final)
    np.testing.assert_array_equal(dx_bm, swap(dx))
    for ours, theirs in zip(d_states_bm, d_states, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    for name, g in grads.items():
        np.testing.assert_array_equal(grads_bm[name], g, err_msg=name)

    native.set_enabled(False)  # the NumPy code with the kernels' caches of either layout
    try:
        dx_np, _, grads_np = LSTM_CELL.backward(cache_bm, swap(d_out), d_final)
        dx_tm, _, _ = LSTM_CELL.backward(cache, d_out, d_final)
    finally:
        native.set_enabled(True)
    tol = 2e-6 * (I + H)
    assert rel_err(dx_np, swap(dx)) < tol and rel_err(dx_tm, dx) < tol
    for name, g in grads.items():
        assert rel_err(grads_np[name], g) < tol, name


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_lstm_layer_runs_batch_major(go_backwards, masked, monkeypatch):
    """float32, H % 16 == 0: with and without gradients the kernels read x (B, T, I) and write
    (B, T, H) in place (batch-major), unless the layer reads backwards. Same numbers as the
    NumPy code; the outputs do not alias the cache (editing them changes no gradient)."""
    layouts = []
    kernel_forward = lstm_native.forward

    def spy(*args, **kwargs):
        layouts.append(kwargs.get("batch_major", False))
        return kernel_forward(*args, **kwargs)

    monkeypatch.setattr(lstm_native, "forward", spy)
    layer = rnnlab.LSTM(
        32, seed=0, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    rng = np.random.default_rng(5)
    x = rng.standard_normal((9, 7, 5)).astype(np.float32)
    dy = rng.standard_normal((9, 7, 32)).astype(np.float32)
    mask = ragged_mask(9, 7, np.random.default_rng(6), holes=True) if masked else None

    def run():
        with rnnlab.no_grad():
            inference = layer.forward(x, mask=mask)
        outputs = layer.forward(x, mask=mask)
        unedited = [o.copy() for o in outputs]
        for o in outputs:
            o[...] = 7.0  # the caller owns what it got
        dx = layer.backward(dy, None, None)
        return inference, unedited, dx, {k: g.copy() for k, g in layer.grads.items()}

    inference, outputs, dx, grads = run()
    assert layouts == [not go_backwards] * 2  # reversed reading runs time-major
    for a, b in zip(inference, outputs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert outputs[0].flags.c_contiguous and outputs[0].shape == (9, 7, 32)
    native.set_enabled(False)
    try:
        ref = run()
    finally:
        native.set_enabled(True)
    for a, b in zip(outputs, ref[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dx, ref[2], rtol=1e-5, atol=1e-5)
    for k, g in grads.items():
        np.testing.assert_allclose(g, ref[3][k], rtol=1e-5, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("kind", ["rnn", "gru"])
@pytest.mark.parametrize(("B", "T", "I", "H"), [(5, 7, 3, 20), (33, 4, 70, 130), (64, 3, 40, 600)])
def test_simple_and_gru_on_the_packed_gemm_match_numpy(kind, B, T, I, H):
    """float32 SimpleRNN and GRU: the per-step recurrent products and the bulk GEMMs run on the
    packed GEMM (one thread or two, by size); the same numbers as NumPy's matmul to float32
    rounding, masks and recurrent dropout included."""
    make = {"rnn": rnnlab.SimpleRNN, "gru": rnnlab.GRU}[kind]
    layer = make(H, seed=1, return_sequences=True, recurrent_dropout=0.3)
    layer.build((T, I))
    rng = np.random.default_rng(B + H)
    x = rng.standard_normal((B, T, I)).astype(F32)
    dy = rng.standard_normal((B, T, H)).astype(F32)
    mask = ragged_mask(B, T, rng)
    runs = []
    for enabled in (True, False):
        native.set_enabled(enabled)
        layer.rng = np.random.default_rng(0)  # the same dropout masks
        y = layer.forward(x, mask=mask, training=True)
        dx = layer.backward(dy)
        runs.append((y, dx, *(g.copy() for g in layer.grads.values())))
    native.set_enabled(True)
    for ours, ref in zip(*runs, strict=True):
        assert rel_err(ours, ref) < 2e-6 * (I + H)


GRU_CASES = [(7, 5, 9, 32), (1, 1, 3, 16), (6, 13, 20, 48), (3, 33, 64, 128), (2, 7, 5, 208)]


@pytest.mark.parametrize(("T", "B", "I", "H"), GRU_CASES)
@pytest.mark.parametrize("masked", [False, True])
def test_gru_kernel_equals_numpy(T, B, I, H, masked):
    """The compiled GRU forward loop: outputs, final state and the cache (gates, q) equal to
    the NumPy loop to float32 rounding; the NumPy backward on its cache gives the NumPy
    gradients; inference gives the same outputs to the bit; thread counts change no bit."""
    rng = np.random.default_rng(T * B + H)
    shapes = {
        "weight_ih": (3 * H, I),
        "weight_hh": (3 * H, H),
        "bias_ih": (3 * H,),
        "bias_hh": (3 * H,),
    }
    params = {k: (rng.standard_normal(s) * 0.5).astype(F32) for k, s in shapes.items()}
    x = rng.standard_normal((T, B, I)).astype(F32)
    h0 = rng.standard_normal((B, H)).astype(F32)
    d_out = rng.standard_normal((T, B, H)).astype(F32)
    d_final = (rng.standard_normal((B, H)).astype(F32),)
    mask = (rng.random((T, B)) > 0.3) if masked else None
    assert native.serves("gru", dtype=x.dtype, units=H)
    hs, final, cache = GRU_CELL.forward(params, x, (h0,), mask=mask)
    grads = GRU_CELL.backward(cache, d_out, d_final)
    native.set_enabled(False)
    try:
        ref_hs, ref_final, ref_cache = GRU_CELL.forward(params, x, (h0,), mask=mask)
        ref_grads = GRU_CELL.backward(ref_cache, d_out, d_final)
    finally:
        native.set_enabled(True)
    tol = 2e-7 * (I + H)
    assert rel_err(hs, ref_hs) < tol and rel_err(final[0], ref_final[0]) < tol
    for name in ("gates", "hn"):
        assert rel_err(getattr(cache, name), getattr(ref_cache, name)) < tol
    assert rel_err(grads[0], ref_grads[0]) < 10 * tol
    assert rel_err(grads[1][0], ref_grads[1][0]) < 10 * tol
    for name, g in ref_grads[2].items():
        assert rel_err(grads[2][name], g) < 10 * tol, name
    hs_inf, final_inf, _ = GRU_CELL.forward(params, x, (h0,), mask=mask, keep_cache=False)
    np.testing.assert_array_equal(hs_inf, hs)
    np.testing.assert_array_equal(final_inf[0], final[0])
    for n in (1, 3):
        native.set_num_threads(n)
        np.testing.assert_array_equal(GRU_CELL.forward(params, x, (h0,), mask=mask)[0], hs)


@pytest.mark.parametrize("H", [64, 208])
def test_lstm_threads_change_no_bit(H):
    params, x, states, d_out, d_final, mask = lstm_case(9, 19, 24, H, seed=3)
    runs = []
    for n in (1, 2, 4):
        native.set_num_threads(n)
        hs, final, cache = LSTM_CELL.forward(params, x, states, mask=mask)
        hs_bm, _, _ = LSTM_CELL.forward(
            params, swap(x), states, mask=swap(mask), keep_cache=False, layout="batch"
        )
        runs.append((hs, hs_bm, *final, *LSTM_CELL.backward(cache, d_out, d_final)[2].values()))
    for run in runs[1:]:
        for a, b in zip(run, runs[0], strict=True):
            np.testing.assert_array_equal(a, b)


def test_lstm_saturation_and_nan():
    params, x, states, *_ = lstm_case(6, 4, 5, 16, seed=1, scale=4.0)
    x = x * 30
    x[1, 2, 0] = 1e30
    ref = numpy_lstm(params, x, states, None, None, (None, None))
    hs, *_ = LSTM_CELL.forward(params, x, states)
    assert np.isfinite(hs).all() and rel_err(hs, ref[0]) < 1e-5
    x[3, 1, 2] = np.nan
    hs, *_ = LSTM_CELL.forward(params, x, states)
    assert np.isnan(hs[3:, 1]).all()
    assert np.isfinite(hs[:3]).all() and np.isfinite(np.delete(hs, 1, axis=1)).all()


def test_dispatch_conditions_and_reasons(monkeypatch):
    """native.serves decides for every kernel; why_not says why not, for each condition."""
    assert native.serves("lstm", dtype=F32, units=16) and native.serves("gemm")
    assert native.why_not("lstm", dtype=F32, units=16) is None
    assert native.why_not("lstm", units=16, recurrent_dropout=True) == "recurrent dropout is active"
    assert native.why_not("gru", dtype=np.float64, units=16) == "float64 (the kernels are float32)"
    assert native.why_not("lstm", units=100) == "hidden size 100 is not a multiple of 16"
    assert native.why_not("gemm", units=100) is None  # not a fused loop: any size
    with pytest.raises(ValueError, match=r"expected a kernel in \['gemm', "):
        native.why_not("conv")
    with pytest.raises(ValueError, match="needs units"):
        native.why_not("lstm")
    assert [what for what, _ in native.report()] == list(native.KERNELS.values())
    assert all(status.startswith("serves float32") for _, status in native.report())
    native.set_enabled(False)
    assert native.why_not("adam") == "disabled by rnnlab.native.set_enabled(False)"
    assert not native.serves("lstm", units=16) and not native.available()
    assert all(
        status == "off: disabled by rnnlab.native.set_enabled(False)"
        for _, status in native.report()
    )
    native.set_enabled(True)
    native.use_isa("off")
    assert native.why_not("gemm") == "disabled by use_isa('off')" and not native.available()
    assert native.isa() is None and native.built()
    native.use_isa(None)
    assert native.serves("gemm") and native.isa() == native_paths.choose().isa


def test_cells_follow_the_dispatch(monkeypatch):
    """The LSTM runs its kernels exactly where native.serves says so (and the NumPy loop
    elsewhere); the layer's recurrent dropout keeps it off them."""
    calls = []
    kernel_forward = lstm_native.forward
    monkeypatch.setattr(
        lstm_native, "forward", lambda *a, **k: calls.append(1) or kernel_forward(*a, **k)
    )
    for H, dtype, rmask, expected in (
        (16, F32, None, True),
        (20, F32, None, False),
        (16, np.float64, None, False),
        (16, F32, True, False),
    ):
        params, x, states, *_ = lstm_case(2, 3, 4, H, seed=0)
        params = {k: v.astype(dtype) for k, v in params.items()}
        x, states = x.astype(dtype), tuple(s.astype(dtype) for s in states)
        r = None if rmask is None else np.ones((3, H), dtype)
        calls.clear()
        LSTM_CELL.forward(params, x, states, recurrent_mask=r)
        assert (
            bool(calls)
            is expected
            is native.serves("lstm", dtype=dtype, units=H, recurrent_dropout=rmask is not None)
        )


def test_layer_with_recurrent_dropout_still_trains():
    layer = rnnlab.LSTM(16, return_sequences=True, recurrent_dropout=0.3, seed=0)
    x = np.random.default_rng(0).standard_normal((4, 5, 3)).astype(F32)
    y = layer.forward(x, training=True)
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and np.isfinite(dx).all()


@requires_torch
@pytest.mark.parametrize("masked", [False, True])
def test_layer_float32_matches_torch(masked):
    """rnnlab.LSTM (float32, on the kernels) against torch.nn.LSTM with the same weights."""
    B, T, I, H = 6, 11, 10, 32
    torch.manual_seed(0)
    ref = torch.nn.LSTM(I, H, batch_first=True)
    layer = rnnlab.LSTM(H, return_sequences=True, return_state=True, dtype="float32")
    layer.build((T, I))
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        layer.params[name][...] = getattr(ref, f"{name}_l0").detach().numpy()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(F32)
    lengths = np.array([11, 3, 7, 11, 1, 5]) if masked else np.full(B, T)
    mask = np.arange(T)[None, :] < lengths[:, None]
    dy = rng.standard_normal((B, T, H)).astype(F32) * mask[..., None]
    out, h, c = layer.forward(x, mask=mask if masked else None, training=True)
    layer.backward(dy)
    tx = torch.from_numpy(x).requires_grad_(True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        tx, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    t_out, (t_h, t_c) = ref(packed)
    t_out, _ = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=True, total_length=T)
    (t_out * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(out * mask[..., None], t_out.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h, t_h[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c, t_c[0].detach().numpy(), atol=2e-6)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(
            layer.grads[name],
            getattr(ref, f"{name}_l0").grad.numpy(),
            atol=2e-5,
            rtol=1e-5,
            err_msg=name,
        )


def test_packed_weights_are_reused_only_while_unchanged(monkeypatch):
    params, x, states, *_ = lstm_case(5, 4, 6, 32, seed=7)
    calls = []
    real_pack = native.pack
    monkeypatch.setattr(native, "pack", lambda *a, **k: calls.append(1) or real_pack(*a, **k))
    first, *_ = lstm_native.forward(params, x, states, keep_cache=False)
    n_packs = len(calls)
    saved = {name: params[name].copy() for name in ("weight_hh", "weight_ih", "bias_hh")}
    again, *_ = lstm_native.forward(params, x, states, keep_cache=False)
    assert len(calls) == n_packs  # same bytes: the packed weights were reused
    np.testing.assert_array_equal(again, first)
    for name in ("weight_hh", "weight_ih", "bias_hh"):  # in-place edits must take effect
        params[name][1] += 0.5
        edited, *_ = lstm_native.forward(params, x, states, keep_cache=False)
        assert len(calls) > n_packs  # changed bytes: packed again
        n_packs = len(calls)
        ref = numpy_lstm(params, x, states, None, None, (None, None))[0]
        assert rel_err(edited, ref) < 1e-5, name
    for name, value in saved.items():  # back to the first bytes (x + 0.5 - 0.5 rounds, not these)
        params[name][...] = value
    np.testing.assert_array_equal(
        lstm_native.forward(params, x, states, keep_cache=False)[0], first
    )


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 70), (2, 3, 4, 130)])
def test_matmul_matches_numpy_and_falls_back(shape):
    rng = np.random.default_rng(len(shape))
    a = rng.standard_normal(shape).astype(F32)
    b = rng.standard_normal((shape[-1], 65)).astype(F32)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    out = native.matmul(a, b)
    assert out.shape == ref.shape and out.dtype == F32
    assert rel_err(out, ref) < 1e-6 * shape[-1]
    flat = a.reshape(-1, shape[-1])
    f_order = np.asfortranarray(flat)  # its transpose is C-contiguous: the trans_a path
    assert rel_err(native.matmul(f_order, b), flat @ b) < 1e-6 * shape[-1]
    strided = np.zeros((flat.shape[0], 2 * flat.shape[1]), F32)[:, ::2]  # neither: copied
    strided[...] = flat
    assert rel_err(native.matmul(strided, b), flat @ b) < 1e-6 * shape[-1]
    assert native.matmul(a.astype(np.float64), b.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError):
        native.matmul(a, b[:-1])


def test_dense_float32_on_kernels_matches_float64():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 6, 10))
    dy = rng.standard_normal((4, 6, 70))
    outs = {}
    for dtype in ("float32", "float64"):
        layer = rnnlab.Dense(70, dtype=dtype, seed=1)
        y = layer.forward(x.astype(dtype), training=True)
        dx = layer.backward(dy.astype(dtype))
        outs[dtype] = (y, dx, layer.grads["weight"], layer.grads["bias"])
    for a, b in zip(outs["float32"], outs["float64"], strict=True):
        assert rel_err(a, b) < 1e-5


def test_lstm_kernels_equal_the_plain_step():
    """docs/design.md: every fast path is tested equal to the reference step."""
    params, x, states, *_ = lstm_case(6, 7, 5, 32, seed=11)
    h, c = states
    steps = []
    for t in range(x.shape[0]):
        h, c = LSTM_CELL.step(params, x[t], (h, c))
        steps.append(h)
    hs, (h_T, c_T), _ = lstm_native.forward(params, x, states)
    assert rel_err(hs, np.stack(steps)) < 1e-5
    assert rel_err(c_T, c) < 1e-5 and rel_err(h_T, h) < 1e-5
