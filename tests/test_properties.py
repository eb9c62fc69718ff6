"""Property tests: batch rows are independent, padding content under a mask does not matter,
float32 agrees with float64 to float32 precision."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import rnnlab
from helpers import RECURRENT

kinds = st.sampled_from(list(RECURRENT))
dims = st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(1, 4), st.integers(1, 6))
options = st.fixed_dictionaries({"return_sequences": st.booleans(), "go_backwards": st.booleans()})
seeds = st.integers(0, 2**32 - 1)


def _run(layer, x, mask, dy_seed):
    """Forward and backward with a fixed upstream gradient; returns (y, dx, grads)."""
    y = layer.forward(x, mask=mask)
    dy = np.random.default_rng(dy_seed).standard_normal(y.shape)
    dx = layer.backward(dy)
    return y, dx, {k: g.copy() for k, g in layer.grads.items()}, dy


@given(kind=kinds, dims=dims, opts=options, seed=seeds)
def test_batch_rows_are_independent(kind, dims, opts, seed):
    B, T, I, H = dims
    rng = np.random.default_rng(seed)
    layer = RECURRENT[kind](H, dtype="float64", seed=seed, **opts)
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) > 0.3
    y, dx, _grads, dy = _run(layer, x, mask, seed)
    other = rng.standard_normal((B, T, I))  # change every row but row 0
    other[0] = x[0]
    other_mask = rng.random((B, T)) > 0.3
    other_mask[0] = mask[0]
    y2 = layer.forward(other, mask=other_mask)
    np.testing.assert_allclose(y2[0], y[0], rtol=1e-12, atol=1e-14)
    # row 0 alone gives the same output and input gradient
    y1 = layer.forward(x[:1], mask=mask[:1])
    dx1 = layer.backward(dy[:1])
    np.testing.assert_allclose(y1[0], y[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx1[0], dx[0], rtol=1e-10, atol=1e-12)


@given(kind=kinds, dims=dims, opts=options, seed=seeds)
def test_padding_content_under_mask_does_not_matter(kind, dims, opts, seed):
    B, T, I, H = dims
    rng = np.random.default_rng(seed)
    layer = RECURRENT[kind](H, dtype="float64", seed=seed, **opts)
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) > 0.4
    y, dx, grads, _ = _run(layer, x, mask, seed)
    garbage = x.copy()
    garbage[~mask] = 1e3 * rng.standard_normal(garbage[~mask].shape)
    y2, dx2, grads2, _ = _run(layer, garbage, mask, seed)
    np.testing.assert_allclose(y2, y, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx2[mask], dx[mask], rtol=1e-10, atol=1e-12)
    assert np.all(dx2[~mask] == 0.0)
    for k in grads:
        np.testing.assert_allclose(grads2[k], grads[k], rtol=1e-10, atol=1e-12)


@given(kind=kinds, dims=dims, opts=options, seed=seeds)
def test_float32_agrees_with_float64(kind, dims, opts, seed):
    B, T, I, H = dims
    rng = np.random.default_rng(seed)
    l64 = RECURRENT[kind](H, dtype="float64", seed=seed, **opts)
    l32 = RECURRENT[kind](H, dtype="float32", seed=seed, **opts)
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) > 0.3
    l64.build((T, I))
    l32.build((T, I))
    for k, v in l64.params.items():
        l32.params[k][...] = v
    y64, dx64, g64, dy = _run(l64, x, mask, seed)
    y32 = l32.forward(x.astype(np.float32), mask=mask)
    dx32 = l32.backward(dy.astype(np.float32))
    assert y32.dtype == dx32.dtype == np.float32
    tol = dict(rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(y32, y64, **tol)
    np.testing.assert_allclose(dx32, dx64, **tol)
    for k in g64:
        assert l32.grads[k].dtype == np.float32
        scale = max(np.abs(g64[k]).max(), 1.0)
        np.testing.assert_allclose(l32.grads[k] / scale, g64[k] / scale, **tol)


@given(merge=st.sampled_from(["concat", "sum", "mul", "ave"]), dims=dims, seed=seeds)
def test_bidirectional_rows_independent(merge, dims, seed):
    B, T, I, H = dims
    rng = np.random.default_rng(seed)
    bi = rnnlab.Bidirectional(
        rnnlab.LSTM(H, return_sequences=True, dtype="float64", seed=seed), merge_mode=merge
    )
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) > 0.3
    y = bi.forward(x, mask=mask)
    np.testing.assert_allclose(bi.forward(x[-1:], mask=mask[-1:])[0], y[-1], rtol=1e-12, atol=1e-14)
