"""The Williams–Zipser network: RTRL = BPTT = finite differences, teacher forcing, learners."""

import numpy as np
import pytest

from rnnlab.gradcheck import numerical_gradient, relative_error
from rnnlab.online import FullyRecurrentNet, RTRLLearner, RTRLState

M, N, T = 2, 4, 9


def _problem(rng, batch=None, activation="logistic"):
    net = FullyRecurrentNet(M, N, activation=activation, seed=int(rng.integers(1000)),
                            weight_scale=0.8)
    lead = (T,) if batch is None else (batch, T)
    x = rng.standard_normal((*lead, M))
    d = rng.random((*lead, N))
    mask = rng.random((*lead, N)) < 0.4  # a time-varying set of units with targets
    return net, x, d, mask


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
    state = RTRLState(net)
    state.step(x[:1], d[:1], mask[:1], teacher_forcing=True)
    assert np.all(state.P[0, 0] == 0) and np.any(state.P[0, 1] != 0)  # eq. 19


def test_realtime_and_epochwise_learning(rng):
    """A one-unit net learns to copy its input line one step later (online, real time)."""
    net = FullyRecurrentNet(1, 2, seed=0)
    learner = RTRLLearner(net, learning_rate=1.0)
    bits = rng.integers(0, 2, size=4000).astype(float)
    errors = []
    for t in range(1, len(bits)):
        _, err = learner.step([bits[t]], [bits[t - 1], 0.0], np.array([True, False]))
        errors.append(err)
    assert np.mean(errors[-500:]) < 0.1 * np.mean(errors[:500])

    net2 = FullyRecurrentNet(1, 2, seed=0)
    epochwise = RTRLLearner(net2, learning_rate=0.5, mode="epochwise")
    x, dd = rng.standard_normal((5, 1)), rng.random((5, 2))
    mk = np.ones((5, 2), bool)
    before = net2.loss(x, dd, mk)
    expected = net2.W - 0.5 * net2.gradient(x, dd, mk)
    for t in range(5):
        epochwise.step(x[t], dd[t], mk[t])
    np.testing.assert_allclose(net2.W, FullyRecurrentNet(1, 2, seed=0).W)  # not yet updated
    epochwise.end_epoch()
    np.testing.assert_allclose(net2.W, expected, rtol=1e-12)
    assert net2.loss(x, dd, mk) < before


def test_rtrl_memory_does_not_grow_with_the_stream():
    net = FullyRecurrentNet(3, 5)
    state = RTRLState(net, batch_size=2)
    assert state.P.shape == (2, 5, 5, 3 + 1 + 5)
    for _ in range(50):
        state.step(np.zeros((2, 3)))
    assert state.P.shape == (2, 5, 5, 9)


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
    with pytest.raises(ValueError, match="expected mode"):
        RTRLLearner(net, 0.1, mode="batch")
