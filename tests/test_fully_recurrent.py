"""The Williams–Zipser network as an OnlineModel: its step's Jacobians, RTRL = BPTT = finite
differences, teacher forcing, real-time and epochwise learning, SnAp-1 and UORO on it."""

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import numerical_gradient, relative_error
from rnnlab.online import (
    RTRL,
    UORO,
    FullyRecurrentNet,
    HalfSquaredError,
    SnAp1,
    TruncatedBPTT,
)

M, N, T = 2, 4, 9


def _problem(rng, batch=None, activation="logistic"):
    net = FullyRecurrentNet(
        M, N, activation=activation, seed=int(rng.integers(1000)), weight_scale=0.8
    )
    lead = (T,) if batch is None else (batch, T)
    x = rng.standard_normal((*lead, M))
    d = rng.random((*lead, N))
    mask = rng.random((*lead, N)) < 0.4  # a time-varying set of units with targets
    return net, x, d, mask


def _sgd(lr):
    return rnnlab.optimizers.SGD(learning_rate=lr)


# -- the step and its Jacobians ------------------------------------------------------------
@pytest.mark.parametrize("activation", ["logistic", "tanh", "linear"])
def test_step_jacobians_match_finite_differences(activation, rng):
    """D_t = ∂y(t)/∂ŷ(t−1) and I_t = ∂y(t)/∂W (W flat, row by row), central differences."""
    net, _, _, _ = _problem(rng, activation=activation)
    x, s = rng.standard_normal((3, M)), rng.random((3, N))
    step = net.jacobians(x, s)
    W0, eps = net.W.copy(), 1e-6

    def y_of(s_, w):
        net.W[...] = w.reshape(net.W.shape)
        return net.jacobians(x, s_).state

    D_num = np.stack(
        [(y_of(s + eps * e, W0) - y_of(s - eps * e, W0)) / (2 * eps) for e in np.eye(N)], -1
    )
    I_num = np.stack(
        [
            (y_of(s, W0.ravel() + eps * e) - y_of(s, W0.ravel() - eps * e)) / (2 * eps)
            for e in np.eye(W0.size)
        ],
        -1,
    )
    net.W[...] = W0
    f = {"logistic": lambda a: 1 / (1 + np.exp(-a)), "tanh": np.tanh, "linear": lambda a: a}
    z = np.concatenate([x, np.ones((3, 1)), s], axis=1)  # [x; 1; ŷ]
    np.testing.assert_allclose(step.state, f[activation](z @ W0.T), rtol=1e-14)
    assert relative_error(step.recurrent(), D_num) <= 1e-6
    assert relative_error(step.immediate(), I_num) <= 1e-6


def test_step_products_equal_dense(rng):
    """propagate, jvp_state, vjp_params, unit_blocks and immediate_by_unit agree with D and I;
    unit k owns row k of W."""
    net, _, _, _ = _problem(rng)
    x, s = rng.standard_normal((2, M)), rng.random((2, N))
    step = net.jacobians(x, s)
    D, Imm = step.recurrent(), step.immediate()
    P = net.param_count
    assert D.shape == (2, N, N) and Imm.shape == (2, N, P) and P == net.W.size
    infl = rng.standard_normal((2, N, P))
    out = np.empty_like(infl)
    assert step.propagate(infl, out) is out
    np.testing.assert_allclose(out, D @ infl + Imm, rtol=0, atol=1e-13)
    v, w = rng.standard_normal((2, N)), rng.standard_normal((2, N))
    np.testing.assert_allclose(step.jvp_state(v), np.einsum("bij,bj->bi", D, v), atol=1e-14)
    np.testing.assert_allclose(step.vjp_params(w), np.einsum("bs,bsp->bp", w, Imm), atol=1e-14)
    blocks = step.unit_blocks()  # (B, n, 1, 1): the diagonal of D
    np.testing.assert_allclose(blocks[:, :, 0, 0], np.diagonal(D, axis1=1, axis2=2), atol=0)
    cols = net.unit_columns()
    assert np.array_equal(cols, np.arange(P).reshape(N, -1))
    by_unit = step.immediate_by_unit()  # (B, n, 1, c)
    for k in range(N):
        np.testing.assert_array_equal(by_unit[:, k, 0], Imm[:, k, cols[k]])
        outside = np.delete(Imm[:, k], cols[k], axis=1)
        assert not outside.any()


# -- RTRL = BPTT = finite differences --------------------------------------------------------
@pytest.mark.parametrize("activation", ["logistic", "tanh", "linear"])
@pytest.mark.parametrize("teacher_forcing", [False, True])
@pytest.mark.parametrize("batch", [None, 3])
def test_rtrl_equals_bptt_equals_finite_differences(activation, teacher_forcing, batch, rng):
    net, x, d, mask = _problem(rng, batch, activation)
    g_rtrl = net.gradient(x, d, mask, method="rtrl", teacher_forcing=teacher_forcing)
    g_bptt = net.gradient(x, d, mask, method="bptt", teacher_forcing=teacher_forcing)
    assert g_rtrl.shape == net.W.shape == (N, M + 1 + N)
    np.testing.assert_allclose(g_rtrl, g_bptt, rtol=1e-9, atol=1e-12)
    numeric = numerical_gradient(lambda: net.loss(x, d, mask, teacher_forcing), net.W)
    assert relative_error(g_rtrl, numeric) <= 1e-6


def test_batched_gradient_is_the_sum_of_rows(rng):
    net, x, d, mask = _problem(rng, batch=3)
    total = net.gradient(x, d, mask)
    rows = sum(net.gradient(x[b], d[b], mask[b]) for b in range(3))
    np.testing.assert_allclose(total, rows, rtol=1e-12)


def test_row_masks_carry_the_state(rng):
    """mask_t (B,) False keeps a row's ŷ and influence: running with holes equals running the
    row without those steps."""
    net, x, d, mask = _problem(rng, batch=2)
    valid = np.ones((2, T), bool)
    valid[1, [2, 5, 6]] = False
    learner = RTRL(net, loss=HalfSquaredError(), teacher_forcing=True)
    learner.reset(2)
    for t in range(T):
        learner.step(x[:, t], d[:, t], valid[:, t], target_mask=mask[:, t])
    row = RTRL(net, loss=HalfSquaredError(), teacher_forcing=True)
    row.reset(1)
    for t in np.flatnonzero(valid[1]):
        row.step(x[1:, t], d[1:, t], target_mask=mask[1:, t])
    np.testing.assert_allclose(learner.state[0][1], row.state[0][0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(learner.influence[1], row.influence[0], rtol=0, atol=1e-15)


# -- teacher forcing, learning ---------------------------------------------------------------
def test_teacher_forcing_feeds_targets_back_and_zeroes_sensitivities(rng):
    net, x, d, mask = _problem(rng)
    mask[:] = False
    mask[:, 0] = True  # unit 0 always has a target
    y_free = net.run(x)
    y_forced = net.run(x, d, mask, teacher_forcing=True)
    assert not np.allclose(y_free[1:], y_forced[1:])
    # by hand: the next step sees d instead of y on unit 0
    z = np.concatenate([x[1], [1.0], np.where(mask[0], d[0], y_forced[0])])
    np.testing.assert_allclose(y_forced[1], 1 / (1 + np.exp(-(net.W @ z))), rtol=1e-12)
    learner = RTRL(net, loss=HalfSquaredError(), teacher_forcing=True)
    learner.reset(1)
    out = learner.step(x[:1], d[:1], target_mask=mask[:1])
    np.testing.assert_allclose(out["output"][0], y_forced[0], rtol=1e-15)
    assert learner.state[0][0, 0] == d[0, 0]  # ŷ(0) = d(0) on the forced unit
    np.testing.assert_array_equal(learner.state[0][0, 1:], y_forced[0, 1:])
    P = learner.influence.reshape(1, N, N, M + 1 + N)  # p^k_ij: [b, k, i, j]
    assert np.all(P[0, 0] == 0) and np.any(P[0, 1] != 0)  # eq. 19
    # the gradient of this step was taken before the forcing: e on unit 0 times p^0
    assert np.any(out["grads"]["net"]["W"] != 0)


def test_realtime_and_epochwise_learning(rng):
    """A two-unit net learns to copy its input line one step later (real time, SGD after
    every step); epochwise: the summed gradient is applied by update(), then reset."""
    net = FullyRecurrentNet(1, 2, seed=0)
    learner = RTRL(net, loss=HalfSquaredError(), optimizer=_sgd(1.0))
    learner.reset(1)
    bits = rng.integers(0, 2, size=4000).astype(float)
    target_mask = np.array([[True, False]])
    errors = []
    for t in range(1, len(bits)):
        out = learner.step([[bits[t]]], [[bits[t - 1], 0.0]], target_mask=target_mask)
        assert out["updated"]
        errors.append(out["loss"])
    assert np.mean(errors[-500:]) < 0.1 * np.mean(errors[:500])

    net2 = FullyRecurrentNet(1, 2, seed=0)
    epochwise = RTRL(net2, loss=HalfSquaredError(), optimizer=_sgd(0.5), update_every=None)
    x, dd = rng.standard_normal((5, 1)), rng.random((5, 2))
    mk = np.ones((5, 2), bool)
    before = net2.loss(x, dd, mk)
    expected = net2.W - 0.5 * net2.gradient(x, dd, mk)
    epochwise.reset(1)
    for t in range(5):
        assert not epochwise.step(x[t : t + 1], dd[t : t + 1], target_mask=mk[t : t + 1])["updated"]
    np.testing.assert_array_equal(net2.W, FullyRecurrentNet(1, 2, seed=0).W)  # not yet
    assert epochwise.update()
    np.testing.assert_allclose(net2.W, expected, rtol=1e-12)
    assert net2.loss(x, dd, mk) < before
    epochwise.reset(1)  # the next epoch starts afresh: ŷ = 0, P = 0
    assert not epochwise.state[0].any() and not epochwise.update()


def test_rtrl_memory_does_not_grow_with_the_stream(rng):
    net = FullyRecurrentNet(3, 5)
    learner = RTRL(net, loss=HalfSquaredError())
    learner.reset(2)
    sizes = []
    for t in range(50):
        learner.step(np.zeros((2, 3)), rng.random((2, 5)))
        if t in (0, 49):
            sizes.append(learner.memory_nbytes())
    assert learner.influence.shape == (2, 5, 5 * (3 + 1 + 5))
    assert sizes[0] == sizes[1] == 8 * (2 * 5 + 2 * 2 * 5 * 45)  # ŷ, M and its buffer


# -- SnAp-1 and UORO on the net ----------------------------------------------------------------
@pytest.mark.parametrize("teacher_forcing", [False, True])
def test_snap1_equals_rtrl_when_the_feedback_is_diagonal(teacher_forcing, rng):
    net, x, d, mask = _problem(rng, batch=2)
    net.recurrent_weights()[...] *= np.eye(N)  # each unit feeds back only to itself
    loss = HalfSquaredError()
    snap, exact = (cls(net, loss=loss, teacher_forcing=teacher_forcing) for cls in (SnAp1, RTRL))
    snap.reset(2)
    exact.reset(2)
    for t in range(T):
        gs = snap.step(x[:, t], d[:, t], target_mask=mask[:, t])["grads"]["net"]["W"]
        ge = exact.step(x[:, t], d[:, t], target_mask=mask[:, t])["grads"]["net"]["W"]
        np.testing.assert_allclose(gs, ge, rtol=0, atol=1e-13)
    np.testing.assert_allclose(snap.dense_influence(), exact.influence, rtol=0, atol=1e-13)
    # with full feedback SnAp-1 drops the other units' paths
    net2, x2, d2, mask2 = _problem(rng, batch=2)
    snap, exact = SnAp1(net2, loss=loss), RTRL(net2, loss=loss)
    snap.reset(2)
    exact.reset(2)
    for t in range(T):
        snap.step(x2[:, t], d2[:, t], target_mask=mask2[:, t])
        exact.step(x2[:, t], d2[:, t], target_mask=mask2[:, t])
    assert relative_error(snap.dense_influence(), exact.influence) > 1e-2


def _summed(learner, x, d, mask):
    learner.reset(x.shape[0])
    return sum(
        learner.step(x[:, t], d[:, t], target_mask=mask[:, t])["grads"]["net"]["W"]
        for t in range(x.shape[1])
    )


def test_uoro_on_the_net_is_unbiased_with_teacher_forcing(rng):
    """Mean of 60 × 250 UORO estimates of ∂J/∂W within 4.5 standard errors of RTRL's (the
    z-test of test_online_learners.py), teacher-forced: the forced rows of s̃ are zeroed."""
    net = FullyRecurrentNet(M, 3, seed=1, weight_scale=1.0)
    x, d = rng.standard_normal((1, 4, M)), rng.random((1, 4, 3))
    mask = np.zeros((1, 4, 3), bool)
    mask[0, :, 0] = True
    mask[0, 2, 1] = True
    loss = HalfSquaredError()
    exact = _summed(RTRL(net, loss=loss, teacher_forcing=True), x, d, mask)
    rows, groups = 250, 60
    xs, ds, ms = (np.repeat(a, rows, axis=0) for a in (x, d, mask))
    means = np.array(
        [
            _summed(UORO(net, loss=loss, teacher_forcing=True, seed=g), xs, ds, ms) / rows
            for g in range(groups)
        ]
    )
    se = means.std(axis=0, ddof=1) / np.sqrt(groups)
    z = np.abs(means.mean(axis=0) - exact) / np.where(se > 0, se, 1.0)
    assert z.max() <= 4.5, z
    assert np.abs(means.mean(axis=0) - exact).max() > 0  # it is an estimate, not RTRL


# -- the loss --------------------------------------------------------------------------------
def test_half_squared_error_sums(rng):
    y, d = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    mask = np.array([True, False, True])
    value, grad = HalfSquaredError().value_and_grad(d, y, mask)
    e = (y - d) * mask[:, None]
    assert value == pytest.approx(0.5 * np.sum(e * e), rel=1e-14)
    np.testing.assert_array_equal(grad, e)
    numeric = numerical_gradient(lambda: HalfSquaredError()(d, y, mask), y)
    assert relative_error(grad, numeric) <= 1e-6
    assert HalfSquaredError()(d, y) == pytest.approx(0.5 * np.sum((y - d) ** 2), rel=1e-14)
    g32 = HalfSquaredError().gradient(d, y.astype(np.float32))
    assert g32.dtype == np.float32
    with pytest.raises(ValueError, match="HalfSquaredError: expected y_true of shape"):
        HalfSquaredError()(d[:, :2], y)
    with pytest.raises(ValueError, match="HalfSquaredError: expected mask of shape"):
        HalfSquaredError()(d, y, mask[:2])


# -- bad input -----------------------------------------------------------------------------------
def test_bad_input_is_refused(rng):
    net, x, d, mask = _problem(rng)
    with pytest.raises(ValueError, match=r"expected x of shape \(T, 2\) or \(B, T, 2\)"):
        net.loss(x[:, :1], d, mask)
    with pytest.raises(ValueError, match=r"expected targets d of shape \(9, 4\)"):
        net.loss(x, d[:, :3], mask)
    with pytest.raises(TypeError, match="expected target_mask as a bool array"):
        net.loss(x, d, mask.astype(int))
    with pytest.raises(ValueError, match=r"expected target_mask of shape \(9, 4\)"):
        net.loss(x, d, mask[:-1])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN or Inf"):
        net.gradient(bad, d, mask)
    with pytest.raises(ValueError, match="expected method 'rtrl' or 'bptt'"):
        net.gradient(x, d, mask, method="uoro")
    with pytest.raises(ValueError, match="expected n_units to be a positive int"):
        FullyRecurrentNet(2, 0)
    with pytest.raises(ValueError, match="expected activation in"):
        FullyRecurrentNet(2, 3, activation="relu")
    with pytest.raises(ValueError, match="teacher forcing needs targets"):
        net.run(x, teacher_forcing=True)


def test_learners_refuse_what_the_net_cannot_take(rng):
    net, x, d, mask = _problem(rng)
    loss = HalfSquaredError()
    with pytest.raises(TypeError, match=r"RTRL: FullyRecurrentNet\(m=2, n=4\) reads its outputs"):
        RTRL(net, rnnlab.Dense(2, dtype="float64"), loss)
    with pytest.raises(TypeError, match="TruncatedBPTT: expected a recurrent layer and a Dense"):
        TruncatedBPTT(net, None, loss, h=3)
    learner = RTRL(net, loss=loss, teacher_forcing=True)
    learner.reset(1)
    with pytest.raises(ValueError, match=r"RTRL\.step: expected x_t with 2 features"):
        learner.step(x[:1, :1], d[:1])
    with pytest.raises(
        ValueError,
        match=r"RTRL\.step: expected target_t of shape \(1, 4\), one "
        r"target per output \(teacher forcing",
    ):
        learner.step(x[:1], d[:1, :2])
    with pytest.raises(ValueError, match=r"RTRL\.step: expected target_mask of shape \(1, 4\)"):
        learner.step(x[:1], d[:1], target_mask=mask[:1, :2])
    assert learner.steps == 0 and not learner.state[0].any()
    out = learner.step(x[:1], d[:1], target_mask=mask[:1])
    assert out["output"].shape == (1, N) and learner.steps == 1
