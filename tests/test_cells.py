"""The plain one-step functions, looped in Python, equal the fast whole-sequence paths."""

import numpy as np
import pytest

from rnnlab.cells import gru, jordan, lstm, simple

T, B, I, H, O = 6, 3, 4, 5, 3


def _params(rng, shapes):
    return {k: 0.5 * rng.standard_normal(s) for k, s in shapes.items()}


def _gated(rng, gates):
    return _params(rng, {"weight_ih": (gates * H, I), "weight_hh": (gates * H, H),
                         "bias_ih": (gates * H,), "bias_hh": (gates * H,)})


def _carry(m, new, old):
    return np.where(m[:, None], new, old)


FAMILIES = {
    "simple_tanh": dict(
        params=lambda rng: _gated(rng, 1), states=1, size=H, module=simple,
        kwargs={"activation": "tanh"},
        step=lambda x, s, p, r: (simple.simple_rnn_step(x, s[0] * r, p, "tanh"),)),
    "simple_relu": dict(
        params=lambda rng: _gated(rng, 1), states=1, size=H, module=simple,
        kwargs={"activation": "relu"},
        step=lambda x, s, p, r: (simple.simple_rnn_step(x, s[0] * r, p, "relu"),)),
    "lstm": dict(
        params=lambda rng: _gated(rng, 4), states=2, size=H, module=lstm, kwargs={},
        step=None),
    "gru": dict(params=lambda rng: _gated(rng, 3), states=1, size=H, module=gru, kwargs={},
                step=None),
    "jordan": dict(
        params=lambda rng: _params(rng, {"weight_ih": (H, I), "weight_ch": (H, O),
                                         "bias_h": (H,), "weight_ho": (O, H), "bias_o": (O,)}),
        states=1, size=O, module=jordan, kwargs={"activation": "tanh",
                                                 "output_activation": "softmax"},
        step=lambda x, s, p, r: (jordan.jordan_step(x, s[0] * r, p, "tanh", "softmax")[0],)),
}


def _lstm_step(x, s, p, r):
    # recurrent dropout multiplies the h read by the gates, not the carried c
    return lstm.lstm_step(x, s[0] * r, s[1], p)


def _gru_step(x, s, p, r):
    # the dropped h feeds the matmuls; z ⊙ h uses the undropped h: split the step accordingly
    h, h_read = s[0], s[0] * r
    rows = [slice(k * H, (k + 1) * H) for k in range(3)]
    w_ih, w_hh, b_ih, b_hh = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    rr = sig(x @ w_ih[rows[0]].T + b_ih[rows[0]] + h_read @ w_hh[rows[0]].T + b_hh[rows[0]])
    z = sig(x @ w_ih[rows[1]].T + b_ih[rows[1]] + h_read @ w_hh[rows[1]].T + b_hh[rows[1]])
    n = np.tanh(x @ w_ih[rows[2]].T + b_ih[rows[2]]
                + rr * (h_read @ w_hh[rows[2]].T + b_hh[rows[2]]))
    return ((1 - z) * n + z * h,)


FAMILIES["lstm"]["step"] = lambda x, s, p, r: _lstm_step(x, s, p, r)
FAMILIES["gru"]["step"] = lambda x, s, p, r: _gru_step(x, s, p, r)


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("with_dropout", [False, True])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_fast_path_equals_plain_steps(family, with_mask, with_dropout, rng):
    fam = FAMILIES[family]
    p = fam["params"](rng)
    x = rng.standard_normal((T, B, I))
    states = tuple(0.3 * rng.standard_normal((B, fam["size"])) for _ in range(fam["states"]))
    mask = rng.random((T, B)) > 0.3 if with_mask else None
    rmask = (rng.random((B, fam["size"])) > 0.5) * 2.0 if with_dropout else None

    outputs, finals, _ = fam["module"].forward(p, x, states, mask, rmask, **fam["kwargs"])

    s = states
    r = np.ones((B, fam["size"])) if rmask is None else rmask
    for t in range(T):
        new = fam["step"](x[t], s, p, r)
        s = tuple(new) if mask is None else tuple(_carry(mask[t], n, o)
                                                  for n, o in zip(new, s, strict=True))
        np.testing.assert_allclose(outputs[t], s[0], rtol=1e-12, atol=1e-13)
    for a, b in zip(finals, s, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_lstm_step_matches_equations_written_out(rng):
    """Independent of the package's sigmoid: the gate equations with np.exp."""
    p = _gated(rng, 4)
    x, h, c = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    pre = x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = np.split(pre, 4, axis=1)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    c_new = sig(f) * c + sig(i) * np.tanh(g)
    h_new, c_out = lstm.lstm_step(x, h, c, p)
    np.testing.assert_allclose(c_out, c_new, rtol=1e-13)
    np.testing.assert_allclose(h_new, sig(o) * np.tanh(c_new), rtol=1e-13)


def test_fast_path_float32_stays_float32(rng):
    p = {k: v.astype(np.float32) for k, v in _gated(rng, 4).items()}
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    h0 = np.zeros((B, H), np.float32)
    hs, (h, c), cache = lstm.forward(p, x, (h0, h0))
    assert hs.dtype == h.dtype == c.dtype == np.float32
    dx, (dh, _dc), grads = lstm.backward(cache, np.ones_like(hs), (None, None))
    assert dx.dtype == dh.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
