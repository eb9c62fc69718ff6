"""Online gradient algorithms: per-step Jacobians, RTRL, SnAp-1, UORO, truncated BPTT(h; h'),
on recurrent layers with a readout (the Williams–Zipser net: test_fully_recurrent.py)."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from _torch import requires_torch, torch
from rnnlab.gradcheck import relative_error
from rnnlab.online import jacobians as J
from rnnlab.online.learners import RTRL, UORO, SnAp1, TruncatedBPTT
from rnnlab.online.uoro import EPSILON

KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
#: the legacy names jacobians.py still accepts (resolved once to cells): kind -> (name, activation)
LEGACY = {
    "rnn_tanh": ("simple", "tanh"),
    "rnn_relu": ("simple", "relu"),
    "lstm": ("lstm", None),
    "gru": ("gru", None),
}
I, H, O = 3, 4, 2


def make_layer(kind: str, rng, units: int = H, inputs: int = I, scale: float = 0.6):
    """A built float64 layer of the family with random params (no unit_forget_bias offset)."""
    if kind == "lstm":
        layer = rnnlab.LSTM(units, return_sequences=True, dtype="float64", seed=1)
    elif kind == "gru":
        layer = rnnlab.GRU(units, return_sequences=True, dtype="float64", seed=1)
    else:
        layer = rnnlab.SimpleRNN(
            units, activation=kind[4:], return_sequences=True, dtype="float64", seed=1
        )
    layer.build((None, inputs))
    for p in layer.params.values():
        p[...] = scale * rng.standard_normal(p.shape)
    return layer


def make_readout(rng, units: int = H, outputs: int = O):
    readout = rnnlab.Dense(outputs, dtype="float64", seed=2)
    readout.build((units,))
    for p in readout.params.values():
        p[...] = rng.standard_normal(p.shape)
    return readout


def run(learner, x, y, mask=None):
    """Feed (B, T, ·) data step by step; return the summed grads, flattened per part."""
    B, T = x.shape[:2]
    learner.reset(B)
    layer = readout = 0.0
    for t in range(T):
        out = learner.step(x[:, t], y[:, t], None if mask is None else mask[:, t])
        if out["grads"] is not None:
            layer = layer + J.flatten_params(out["grads"]["layer"])
            readout = readout + J.flatten_params(out["grads"]["readout"], ("weight", "bias"))
    return layer, readout


def bptt(layer, readout, loss, x, y, mask=None):
    """The reference: Σ_t loss(y_t, readout(h_t)) by the layer's own backward."""
    out = readout.forward(layer.forward(x, mask=mask))  # (B, T, O)
    d_out = np.zeros_like(out)
    for t in range(x.shape[1]):
        _, d_out[:, t] = loss.value_and_grad(
            y[:, t], out[:, t], None if mask is None else mask[:, t]
        )
    layer.backward(readout.backward(d_out))
    return (J.flatten_params(layer.grads), J.flatten_params(readout.grads, ("weight", "bias")))


def data(rng, B=3, T=6, holes=True):
    x = rng.standard_normal((B, T, I))
    y = rng.standard_normal((B, T, O))
    mask = rng.random((B, T)) > 0.3 if holes else None
    return x, y, mask


# -- Jacobians -------------------------------------------------------------------------------
def cell_params(kind: str, rng):
    """The layer's cell (a Cell instance) and its params."""
    layer = make_layer(kind, rng)
    return layer.cell, layer.params


def state_size(kind: str) -> int:
    return 2 * H if kind == "lstm" else H


@pytest.mark.parametrize("kind", KINDS)
def test_jacobians_match_finite_differences(kind, rng):
    cell, params = cell_params(kind, rng)
    x = rng.standard_normal((2, I))
    s = 0.5 * rng.standard_normal((2, state_size(kind)))
    _, D, Imm = J.step_with_jacobians(cell, params, x, s)
    theta = J.flatten_params(params)

    def f(s_, th):
        return J.local_jacobians(cell, J.unflatten(th, params), x, s_).state

    eps = 1e-6
    D_num = np.stack(
        [(f(s + eps * e, theta) - f(s - eps * e, theta)) / (2 * eps) for e in np.eye(s.shape[1])],
        axis=-1,
    )
    I_num = np.stack(
        [(f(s, theta + eps * e) - f(s, theta - eps * e)) / (2 * eps) for e in np.eye(theta.size)],
        axis=-1,
    )
    assert D.shape == (2, s.shape[1], s.shape[1]) and Imm.shape == (2, s.shape[1], theta.size)
    assert relative_error(D, D_num) <= 1e-6
    assert relative_error(Imm, I_num) <= 1e-6


def torch_step(kind: str, params, x, s, theta):
    """The same step in torch, θ flat (PARAM_KEYS order), for autograd's Jacobians."""
    shapes = [params[k].shape for k in J.PARAM_KEYS]
    sizes = [int(np.prod(sh)) for sh in shapes]
    w_ih, w_hh, b_ih, b_hh = (
        p.reshape(sh) for p, sh in zip(torch.split(theta, sizes), shapes, strict=True)
    )
    x = torch.from_numpy(x)
    Hn = w_hh.shape[1]
    h = s[:, :Hn]
    a, q = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if kind == "rnn_tanh":
        return torch.tanh(a + q)
    if kind == "rnn_relu":
        return torch.relu(a + q)
    if kind == "lstm":
        i, f, g, o = (a + q).chunk(4, dim=1)
        c = torch.sigmoid(f) * s[:, Hn:] + torch.sigmoid(i) * torch.tanh(g)
        return torch.cat([torch.sigmoid(o) * torch.tanh(c), c], dim=1)
    r = torch.sigmoid(a[:, :Hn] + q[:, :Hn])
    z = torch.sigmoid(a[:, Hn : 2 * Hn] + q[:, Hn : 2 * Hn])
    n = torch.tanh(a[:, 2 * Hn :] + r * q[:, 2 * Hn :])
    return (1 - z) * n + z * h


@requires_torch
@pytest.mark.parametrize("kind", KINDS)
def test_jacobians_match_torch_autograd(kind, rng):
    cell, params = cell_params(kind, rng)
    B = 3
    x = rng.standard_normal((B, I))
    s = 0.5 * rng.standard_normal((B, state_size(kind)))
    s_new, D, Imm = J.step_with_jacobians(cell, params, x, s)
    ts, tth = torch.from_numpy(s), torch.from_numpy(J.flatten_params(params))
    jac_s, jac_th = torch.autograd.functional.jacobian(
        lambda s_, th: torch_step(kind, params, x, s_, th), (ts, tth)
    )
    D_torch = np.stack([jac_s[b, :, b, :].numpy() for b in range(B)])  # rows are independent
    np.testing.assert_allclose(
        s_new, torch_step(kind, params, x, ts, tth).numpy(), rtol=0, atol=1e-12
    )
    np.testing.assert_allclose(D, D_torch, rtol=0, atol=1e-10)
    np.testing.assert_allclose(Imm, jac_th.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_structured_products_equal_dense(kind, rng):
    """jvp_state, vjp_params, unit_blocks, immediate_by_unit and propagate agree with D_t and
    I_t (the step keeps the weight_hh it read; passing one explicitly gives the same)."""
    cell, params = cell_params(kind, rng)
    S = state_size(kind)
    x, s = rng.standard_normal((2, I)), rng.standard_normal((2, S))
    jac = J.local_jacobians(cell, params, x, s)
    D, Imm = jac.recurrent(), jac.immediate()
    np.testing.assert_array_equal(D, jac.recurrent(params["weight_hh"]))
    v, w = rng.standard_normal((2, S)), rng.standard_normal((2, S))
    np.testing.assert_allclose(jac.jvp_state(v), np.einsum("bij,bj->bi", D, v), atol=1e-13)
    np.testing.assert_allclose(jac.vjp_params(w), np.einsum("bs,bsp->bp", w, Imm), atol=1e-13)
    M = rng.standard_normal(Imm.shape)
    out = np.empty_like(M)
    assert jac.propagate(M, out) is out
    np.testing.assert_allclose(out, D @ M + Imm, rtol=0, atol=1e-13)
    U = S // H
    blocks = jac.unit_blocks()
    for k in range(H):
        own = [u * H + k for u in range(U)]
        np.testing.assert_allclose(blocks[:, k], D[:, own][:, :, own], atol=1e-15)
    cols = J.unit_columns(jac.gates, H, I)
    assert np.array_equal(np.sort(cols.ravel()), np.arange(Imm.shape[2]))  # a partition of θ
    outside = Imm.copy()
    for k in range(H):
        for u in range(U):
            outside[:, u * H + k, cols[k]] = 0.0
    assert not outside.any()  # I_t vanishes outside the pattern


@pytest.mark.parametrize("kind", KINDS)
def test_legacy_names_resolve_to_the_layers_cells(kind, rng):
    """ "simple" (with activation), "lstm", "gru" are input conveniences: the same cell."""
    cell, params = cell_params(kind, rng)
    name, activation = LEGACY[kind]
    assert J.resolve_cell(name, activation) == cell
    x, s = rng.standard_normal((2, I)), rng.standard_normal((2, state_size(kind)))
    for a, b in zip(
        J.step_with_jacobians(name, params, x, s, activation=activation),
        J.step_with_jacobians(cell, params, x, s),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_flatten_and_unflatten_round_trip(rng):
    _, params = cell_params("gru", rng)
    theta = J.flatten_params(params)
    assert theta.shape == (J.param_count(3, H, I),)
    np.testing.assert_array_equal(theta[: 3 * H * I], params["weight_ih"].ravel())
    back = J.unflatten(theta, params)
    assert all(np.array_equal(back[k], params[k]) for k in J.PARAM_KEYS)
    with pytest.raises(ValueError, match="unflatten: expected a vector of"):
        J.unflatten(theta[:-1], params)
    with pytest.raises(ValueError, match="step_with_jacobians: expected kind"):
        J.step_with_jacobians("jordan", params, np.zeros((1, I)), np.zeros((1, H)))
    with pytest.raises(ValueError, match="step_with_jacobians: expected state of shape"):
        J.step_with_jacobians("gru", params, np.zeros((1, I)), np.zeros((1, 2 * H)))


# -- RTRL and truncated BPTT against BPTT ----------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_rtrl_equals_bptt(kind, rng):
    layer, readout = make_layer(kind, rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, mask = data(rng)
    ref_layer, ref_readout = bptt(layer, readout, loss, x, y, mask)
    got_layer, got_readout = run(RTRL(layer, readout, loss), x, y, mask)
    np.testing.assert_allclose(got_layer, ref_layer, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got_readout, ref_readout, rtol=0, atol=1e-9)
    # without a mask too
    ref_layer, _ = bptt(layer, readout, loss, x, y)
    np.testing.assert_allclose(run(RTRL(layer, readout, loss), x, y)[0], ref_layer, atol=1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bptt_with_long_window_equals_bptt(kind, rng):
    layer, readout = make_layer(kind, rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, mask = data(rng)
    T = x.shape[1]
    ref_layer, ref_readout = bptt(layer, readout, loss, x, y, mask)
    for h, h_prime in ((T, T), (T + 3, 1), (T, 2)):  # T = 6 is a multiple of h' = 2
        got_layer, got_readout = run(TruncatedBPTT(layer, readout, loss, h, h_prime), x, y, mask)
        np.testing.assert_allclose(got_layer, ref_layer, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got_readout, ref_readout, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm"])
def test_truncated_bptt_cuts_h_steps_back(kind, rng):
    """BPTT(h; 1) at step t = BPTT of L_t alone over x_{t-h+1..t} from the true s_{t-h}."""
    layer, readout = make_layer(kind, rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, _ = data(rng, holes=False)
    B, T = x.shape[:2]
    h = 2
    trunc, exact = TruncatedBPTT(layer, readout, loss, h), RTRL(layer, readout, loss)
    trunc.reset(B)
    exact.reset(B)
    states = [exact.state]  # s_0 ... by the exact learner's forward
    for t in range(T):
        got = J.flatten_params(trunc.step(x[:, t], y[:, t])["grads"]["layer"])
        exact.step(x[:, t], y[:, t])
        states.append(tuple(s.copy() for s in exact.state))
        lo = max(0, t + 1 - h)
        out = readout.forward(layer.forward(x[:, lo : t + 1], initial_state=list(states[lo])))
        d_out = np.zeros_like(out)
        _, d_out[:, -1] = loss.value_and_grad(y[:, t], out[:, -1])
        layer.backward(readout.backward(d_out))
        np.testing.assert_allclose(got, J.flatten_params(layer.grads), rtol=0, atol=1e-10)


def test_rtrl_gives_each_step_its_own_gradient(rng):
    """Per step, RTRL's g_t = ∂L_t/∂θ = truncated BPTT(h ≥ t; 1)'s."""
    layer, readout = make_layer("gru", rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, mask = data(rng)
    a, b = RTRL(layer, readout, loss), TruncatedBPTT(layer, readout, loss, h=10)
    a.reset(3)
    b.reset(3)
    for t in range(x.shape[1]):
        ga = a.step(x[:, t], y[:, t], mask[:, t])["grads"]["layer"]
        gb = b.step(x[:, t], y[:, t], mask[:, t])["grads"]["layer"]
        for k in J.PARAM_KEYS:
            np.testing.assert_allclose(ga[k], gb[k], rtol=0, atol=1e-10)
        np.testing.assert_allclose(a.state[0], b.state[0], atol=1e-14)


# -- SnAp-1 ----------------------------------------------------------------------------------
def make_units_independent(layer) -> None:
    """Zero every off-diagonal entry of each H×H gate block of weight_hh."""
    w = layer.params["weight_hh"]
    G = w.shape[0] // w.shape[1]
    w.reshape(G, H, H)[...] *= np.eye(H)


@pytest.mark.parametrize("kind", KINDS)
def test_snap1_equals_rtrl_when_units_do_not_interact(kind, rng):
    layer, readout = make_layer(kind, rng), make_readout(rng)
    make_units_independent(layer)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, mask = data(rng)
    snap, exact = SnAp1(layer, readout, loss), RTRL(layer, readout, loss)
    snap.reset(3)
    exact.reset(3)
    for t in range(x.shape[1]):
        gs = snap.step(x[:, t], y[:, t], mask[:, t])["grads"]["layer"]
        ge = exact.step(x[:, t], y[:, t], mask[:, t])["grads"]["layer"]
        np.testing.assert_allclose(J.flatten_params(gs), J.flatten_params(ge), rtol=0, atol=1e-10)
    np.testing.assert_allclose(snap.dense_influence(), exact.influence, rtol=0, atol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_snap1_differs_from_rtrl_when_units_interact(kind, rng):
    layer, readout = make_layer(kind, rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, _ = data(rng, holes=False)
    exact = run(RTRL(layer, readout, loss), x, y)[0]
    approx = run(SnAp1(layer, readout, loss), x, y)[0]
    assert relative_error(approx, exact) > 1e-2


# -- UORO --------------------------------------------------------------------------------------
class _UOROConstantSigns(UORO):
    """Broken on purpose: ν = 1 instead of random signs. E[ννᵀ] = 11ᵀ ≠ Id: biased."""

    def _draw_signs(self, shape):
        return np.ones(shape)


class _UOROHalfNormalised(UORO):
    """Broken on purpose: s̃ is scaled by ρ0 but θ̃ is not divided by it: biased by ρ0²."""

    def _rank_one_update(self, s_tilde, theta_tilde, d_s, nu, nu_i):
        norm = np.linalg.norm
        rho0 = np.sqrt((norm(theta_tilde, axis=1) + EPSILON) / (norm(d_s, axis=1) + EPSILON))
        rho1 = np.sqrt((norm(nu_i, axis=1) + EPSILON) / (norm(nu, axis=1) + EPSILON))
        return rho0[:, None] * d_s + rho1[:, None] * nu, theta_tilde + nu_i / rho1[:, None]


def uoro_z_scores(cls, layer, readout, loss, x, y, exact, groups=60, rows=250):
    """z = (mean of N = groups·rows independent estimates − exact) / (its standard error).

    The sequence (B = 1) is repeated over `rows` batch rows, each with its own signs; the loss
    is a mean over rows, so one run returns the mean of `rows` independent estimates. The
    standard error comes from the spread of the `groups` means (different seeds).
    """
    xs, ys = np.repeat(x, rows, axis=0), np.repeat(y, rows, axis=0)
    means = np.array([run(cls(layer, readout, loss, seed=g), xs, ys)[0] for g in range(groups)])
    diff = means.mean(axis=0) - exact
    se = means.std(axis=0, ddof=1) / np.sqrt(groups)
    return np.where(
        se > 0,
        np.abs(diff) / np.where(se > 0, se, 1.0),
        np.where(np.abs(diff) > 1e-12, np.inf, 0.0),
    )


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm"])
def test_uoro_is_unbiased(kind, rng):
    """Mean of N = 15000 UORO estimates of Σ_t ∂L_t/∂θ vs RTRL: every |z| ≤ 4.5.

    With 60 groups the z's are t-distributed with 59 degrees of freedom; P(|t| > 4.5) ≈ 3e-5
    per parameter, so a correct estimator passes. Two deliberately broken variants — constant
    signs, and the ρ0 normalisation applied to s̃ only — fail the same check by a wide margin
    (asserted below), so the test does detect bias. (Dropping the ρ's altogether, ρ0 = ρ1 = 1,
    stays unbiased — only noisier — and is rightly not rejected.)
    """
    units = 3
    layer = make_layer(kind, rng, units=units, inputs=2, scale=0.7)
    readout = make_readout(rng, units=units)
    loss = rnnlab.losses.MeanSquaredError()
    x, y = rng.standard_normal((1, 4, 2)), rng.standard_normal((1, 4, O))
    exact_layer, exact_readout = run(RTRL(layer, readout, loss), x, y)
    z = uoro_z_scores(UORO, layer, readout, loss, x, y, exact_layer)
    assert z.max() <= 4.5, z
    assert run(UORO(layer, readout, loss, seed=0), x, y)[1] == pytest.approx(
        exact_readout, abs=1e-12
    )
    for broken in (_UOROConstantSigns, _UOROHalfNormalised):
        z_bad = uoro_z_scores(broken, layer, readout, loss, x, y, exact_layer)
        assert z_bad.max() > 4.5, broken.__name__


def test_uoro_estimates_vary_with_the_seed(rng):
    layer, readout = make_layer("gru", rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, _ = data(rng, holes=False)
    a = run(UORO(layer, readout, loss, seed=1), x, y)[0]
    b = run(UORO(layer, readout, loss, seed=1), x, y)[0]
    c = run(UORO(layer, readout, loss, seed=2), x, y)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


# -- real-time learning, updates, memory -----------------------------------------------------
def test_realtime_rtrl_learns_a_delayed_copy():
    """Target at step t is the input bit of step t − 1; Adam updates after every step."""
    rng = np.random.default_rng(0)
    layer = rnnlab.SimpleRNN(8, dtype="float64", seed=3)
    readout = rnnlab.Dense(1, dtype="float64", seed=4)
    learner = RTRL(
        layer,
        readout,
        rnnlab.losses.BinaryCrossentropy(from_logits=True),
        optimizer=rnnlab.optimizers.Adam(learning_rate=0.01),
    )
    B, steps = 8, 300
    learner.reset(B)
    prev = np.zeros((B, 1))
    losses = []
    for _ in range(steps):
        bit = rng.integers(0, 2, size=(B, 1)).astype(np.float64)
        out = learner.step(bit, prev)
        assert out["updated"]
        losses.append(out["loss"])
        prev = bit
    first, last = np.mean(losses[:20]), np.mean(losses[-50:])
    assert first > 0.5 and last < 0.05, (first, last)  # from ≈ log 2 (chance) to near 0


@pytest.mark.parametrize("cls", [RTRL, SnAp1, UORO])
def test_update_every_applies_the_summed_gradients(cls, rng):
    layer, readout = make_layer("lstm", rng), make_readout(rng)
    lr = 0.1
    learner = cls(
        layer, readout, "mse", optimizer=rnnlab.optimizers.SGD(learning_rate=lr), update_every=3
    )
    x, y, _ = data(rng, holes=False)
    learner.reset(3)
    before = {k: v.copy() for k, v in learner.params.items()}
    total = {k: 0.0 for k in before}
    for t in range(x.shape[1]):
        out = learner.step(x[:, t], y[:, t])
        for part, gs in out["grads"].items():
            for k, g in gs.items():
                total[f"{part}.{k}"] = total[f"{part}.{k}"] + g
        assert out["updated"] == (t % 3 == 2)
        if t == 2:
            for k, p in learner.params.items():
                np.testing.assert_allclose(p, before[k] - lr * total[k], atol=1e-12)


def test_truncated_bptt_updates_at_its_backward_steps(rng):
    layer, readout = make_layer("gru", rng), make_readout(rng)
    learner = TruncatedBPTT(
        layer, readout, "mse", h=4, h_prime=2, optimizer=rnnlab.optimizers.SGD(learning_rate=0.01)
    )
    x, y, _ = data(rng, holes=False)
    learner.reset(3)
    flags = [learner.step(x[:, t], y[:, t])["updated"] for t in range(x.shape[1])]
    assert flags == [False, True] * 3


@pytest.mark.parametrize("cls", [RTRL, SnAp1, UORO, lambda *a: TruncatedBPTT(*a, h=3)])
def test_memory_is_constant_in_the_stream_length(cls, rng):
    layer, readout = make_layer("lstm", rng), make_readout(rng)
    learner = cls(layer, readout, "mse")
    learner.reset(2)
    sizes = []
    for t in range(30):
        learner.step(rng.standard_normal((2, I)), rng.standard_normal((2, O)))
        if t in (4, 29):
            sizes.append(learner.memory_nbytes())
    assert sizes[0] == sizes[1] > 0


def test_lazy_build_float32_and_class_targets(rng):
    """Unbuilt layer and readout are built by the first step; float32 runs close to float64;
    sparse class ids work as targets."""
    x = rng.standard_normal((2, 5, I))
    labels = rng.integers(0, 3, size=(2, 5))
    loss = rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True)
    results = {}
    for dtype in ("float32", "float64"):
        layer = rnnlab.LSTM(H, return_sequences=True, dtype=dtype, seed=5)
        readout = rnnlab.Dense(3, dtype=dtype, seed=6)
        got = run(RTRL(layer, readout, loss), x, labels)[0]
        assert layer.built and readout.built and got.dtype == np.dtype(dtype)
        results[dtype] = got
    np.testing.assert_allclose(results["float32"], results["float64"], rtol=1e-4, atol=1e-5)
    ref = bptt(layer, readout, loss, x, labels)[0]
    np.testing.assert_allclose(results["float64"], ref, rtol=0, atol=1e-9)


LEARNERS = {
    "RTRL": RTRL,
    "SnAp1": SnAp1,
    "UORO": UORO,
    "TruncatedBPTT": lambda *a, **kw: TruncatedBPTT(*a, h=2, **kw),
}


def _carried_copy(learner):
    return [np.array(a, copy=True) for a in [*learner.state, *learner._carried()]]


@pytest.mark.parametrize("name", ["RTRL", "SnAp1", "UORO", "TruncatedBPTT"])
def test_a_rejected_step_changes_nothing(name, rng):
    """A target the loss refuses leaves the state, the learner's memory, the parameters and the
    step count as they were; the next good step gives what it would have given."""
    layer, readout = make_layer("lstm", rng), make_readout(rng)
    make = LEARNERS[name]
    options = {"seed": 0} if name == "UORO" else {}  # the same random signs in both
    learner, twin = make(layer, readout, "mse", **options), make(layer, readout, "mse", **options)
    xs, ys = rng.standard_normal((3, 2, I)), rng.standard_normal((3, 2, O))
    for lrn in (learner, twin):
        lrn.reset(2)
        lrn.step(xs[0], ys[0])
    before, params = _carried_copy(learner), {k: v.copy() for k, v in learner.params.items()}
    with pytest.raises(ValueError, match=f"{name}.step: MeanSquaredError: expected y_true"):
        learner.step(xs[1], np.zeros((2, O + 1)))
    assert learner.steps == 1
    for a, b in zip(before, _carried_copy(learner), strict=True):
        np.testing.assert_array_equal(a, b)
    for k, v in learner.params.items():
        np.testing.assert_array_equal(v, params[k])
    for t in (1, 2):
        got, want = learner.step(xs[t], ys[t]), twin.step(xs[t], ys[t])
        np.testing.assert_array_equal(got["output"], want["output"])
        if want["grads"] is not None:
            np.testing.assert_array_equal(
                J.flatten_params(got["grads"]["layer"]), J.flatten_params(want["grads"]["layer"])
            )


def test_target_mask_makes_each_output_a_position(rng):
    """With target_mask (B, O), the loss sees y_t as (B, O, 1) and counts the selected outputs:
    RTRL's summed gradient equals BPTT's with the same per-output masks."""
    layer, readout = make_layer("gru", rng), make_readout(rng)
    loss = rnnlab.losses.MeanSquaredError()
    x, y, mask = data(rng)
    B, T = x.shape[:2]
    outputs = rng.random((B, T, O)) < 0.6
    learner = RTRL(layer, readout, loss)
    learner.reset(B)
    got, values = 0.0, []
    for t in range(T):
        out = learner.step(x[:, t], y[:, t], mask[:, t], target_mask=outputs[:, t])
        got = got + J.flatten_params(out["grads"]["layer"])
        values.append(out["loss"])
    pred = readout.forward(layer.forward(x, mask=mask))  # (B, T, O)
    d_pred = np.zeros_like(pred)
    for t in range(T):
        counted = outputs[:, t] & mask[:, t, None]
        e = np.where(counted, pred[:, t] - y[:, t], 0.0)
        n = max(int(counted.sum()), 1)
        assert values[t] == pytest.approx(float(np.sum(e * e)) / n, rel=1e-12)
        d_pred[:, t] = 2 * e / n  # mean over the counted (b, o) positions
    layer.backward(readout.backward(d_pred))
    np.testing.assert_allclose(got, J.flatten_params(layer.grads), rtol=0, atol=1e-9)


def test_update_every_none_waits_for_update(rng):
    """Epochwise learning: nothing moves until update(), which applies the summed gradients."""
    layer, readout = make_layer("rnn_tanh", rng), make_readout(rng)
    lr = 0.05
    learner = RTRL(
        layer, readout, "mse", optimizer=rnnlab.optimizers.SGD(learning_rate=lr), update_every=None
    )
    x, y, _ = data(rng, holes=False)
    learner.reset(3)
    before = {k: v.copy() for k, v in learner.params.items()}
    total = dict.fromkeys(before, 0.0)
    for t in range(x.shape[1]):
        out = learner.step(x[:, t], y[:, t])
        assert not out["updated"]
        for part, gs in out["grads"].items():
            for k, g in gs.items():
                total[f"{part}.{k}"] = total[f"{part}.{k}"] + g
    for k, p in learner.params.items():
        np.testing.assert_array_equal(p, before[k])
    assert learner.update() is True
    for k, p in learner.params.items():
        np.testing.assert_allclose(p, before[k] - lr * total[k], rtol=0, atol=1e-12)
    assert learner.update() is False  # nothing pending any more
    assert RTRL(layer, readout, "mse").update() is False  # no optimizer


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(LEARNERS))
def test_bad_input_raises_naming_the_learner(name, rng):
    make = LEARNERS[name]
    layer, readout = make_layer("gru", rng), make_readout(rng)
    with pytest.raises(TypeError, match=f"{name}: expected the recurrent layer"):
        make(rnnlab.Jordan(4, output_units=2, dtype="float64"), readout, "mse")
    with pytest.raises(TypeError, match=f"{name}: expected the recurrent layer"):
        make(rnnlab.Dense(4, dtype="float64"), readout, "mse")
    with pytest.raises(TypeError, match=f"{name}: expected the readout"):
        make(layer, layer, "mse")
    with pytest.raises(TypeError, match=f"{name}: the readout's dtype"):
        make(layer, rnnlab.Dense(2, dtype="float32"), "mse")
    with pytest.raises(ValueError, match=f"{name}: online learners run the layer without"):
        make(rnnlab.LSTM(4, recurrent_dropout=0.2), rnnlab.Dense(2), "mse")
    with pytest.raises(ValueError, match=f"{name}: .*go_backwards"):
        make(rnnlab.GRU(4, go_backwards=True), rnnlab.Dense(2), "mse")
    with pytest.raises(ValueError, match=f"{name}: .*or one of"):
        make(layer, readout, "no_such_loss")
    with pytest.raises(ValueError, match=f"{name}: expected update_every"):
        make(layer, readout, "mse", update_every=0)

    learner = make(layer, readout, "mse")
    x, y = np.zeros((2, I)), np.zeros((2, O))
    with pytest.raises(RuntimeError, match=rf"{name}\.step: call reset"):
        learner.step(x, y)
    learner.reset(2)
    with pytest.raises(ValueError, match=rf"{name}\.step: expected x_t of shape \(batch=2"):
        learner.step(np.zeros((3, I)), y)
    with pytest.raises(ValueError, match=rf"{name}\.step: expected x_t with {I} features"):
        learner.step(np.zeros((2, I + 1)), y)
    bad = x.copy()
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match=rf"{name}\.step: x_t contains NaN"):
        learner.step(bad, y)
    with pytest.raises(TypeError, match=rf"{name}\.step: expected mask_t as a bool array"):
        learner.step(x, y, np.array([1, 0]))
    with pytest.raises(ValueError, match=rf"{name}\.step: expected mask_t of shape \(2,\)"):
        learner.step(x, y, np.array([True, False, True]))
    with pytest.raises(ValueError, match=rf"{name}\.step: MeanSquaredError: expected y_true"):
        learner.step(x, np.zeros((2, O + 1)))
    with pytest.raises(ValueError, match=rf"{name}\.reset: expected batch_size"):
        learner.reset(0)
    assert learner.step(x, y)["loss"] >= 0.0  # still usable after the errors


def test_bad_truncation_and_seed_arguments(rng):
    layer, readout = make_layer("rnn_tanh", rng), make_readout(rng)
    with pytest.raises(ValueError, match="TruncatedBPTT: expected h_prime ≤ h"):
        TruncatedBPTT(layer, readout, "mse", h=2, h_prime=3)
    with pytest.raises(ValueError, match="TruncatedBPTT: expected h to be a positive int"):
        TruncatedBPTT(layer, readout, "mse", h=0)
    with pytest.raises(TypeError, match="UORO: expected seed"):
        UORO(layer, readout, "mse", seed=1.5)


def test_bad_model_options_and_target_masks(rng):
    layer, readout = make_layer("gru", rng), make_readout(rng)
    with pytest.raises(TypeError, match="RTRL: expected a loss"):
        RTRL(layer, readout)
    with pytest.raises(ValueError, match="RTRL: teacher forcing .* needs a model whose outputs"):
        RTRL(layer, readout, "mse", teacher_forcing=True)
    with pytest.raises(TypeError, match="SnAp1: expected teacher_forcing to be True or False"):
        SnAp1(layer, readout, "mse", teacher_forcing="yes")
    with pytest.raises(ValueError, match="UORO: expected update_every"):
        UORO(layer, readout, "mse", update_every=0)
    learner = RTRL(layer, readout, "mse")
    learner.reset(2)
    x, y = np.zeros((2, I)), np.zeros((2, O))
    with pytest.raises(TypeError, match=r"RTRL\.step: expected target_mask as a bool array"):
        learner.step(x, y, target_mask=np.ones((2, O)))
    with pytest.raises(ValueError, match=r"RTRL\.step: expected target_mask of shape \(2, 2\)"):
        learner.step(x, y, target_mask=np.ones((2, O + 1), bool))
    with pytest.raises(ValueError, match=r"RTRL\.step: expected target_t of shape \(2, 2\)"):
        learner.step(x, np.zeros(2), target_mask=np.ones((2, O), bool))
    assert learner.steps == 0


class _StateOutputRNN(rnnlab.online.OnlineModel):
    """A model written outside rnnlab.online: a SimpleRNN whose outputs are h itself."""

    state_is_output = True

    def __init__(self, layer):
        self.layer, self.dtype = layer, layer.dtype
        self.units = self.outputs = layer.units
        self.blocks = 1

    who = "StateOutputRNN"
    input_size = property(lambda self: self.layer.params["weight_ih"].shape[1])
    params = property(lambda self: {f"rnn.{k}": v for k, v in self.layer.params.items()})

    def build(self, input_size):
        pass

    def unit_columns(self):
        return J.unit_columns(1, self.units, self.input_size)

    def jacobians(self, x, state):
        return J.local_jacobians(self.layer.cell, self.layer.params, x, state)

    def read(self, state):
        return state.copy()

    def read_backward(self, dy):
        return dy, {}

    def split_gradient(self, flat):
        return {"rnn": J.unflatten(flat, self.layer.params)}


@pytest.mark.parametrize("cls", [RTRL, SnAp1])
def test_a_model_written_outside_the_package(cls, rng):
    """The OnlineModel protocol is enough: RTRL on it equals BPTT through the layer; with the
    units decoupled SnAp-1 does too; teacher forcing is accepted since outputs are states."""
    layer = make_layer("rnn_tanh", rng)
    if cls is SnAp1:
        make_units_independent(layer)
    model = _StateOutputRNN(layer)
    x, y = rng.standard_normal((3, 5, I)), rng.standard_normal((3, 5, H))
    loss = rnnlab.losses.MeanSquaredError()
    learner = cls(model, loss=loss)
    learner.reset(3)
    got = sum(J.flatten_params(learner.step(x[:, t], y[:, t])["grads"]["rnn"]) for t in range(5))
    h = layer.forward(x)  # (B, T, H)
    d_h = np.stack([loss.value_and_grad(y[:, t], h[:, t])[1] for t in range(5)], axis=1)
    layer.backward(d_h)
    np.testing.assert_allclose(got, J.flatten_params(layer.grads), rtol=0, atol=1e-10)
    assert cls(model, loss=loss, teacher_forcing=True).teacher_forcing
