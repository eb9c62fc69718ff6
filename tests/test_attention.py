"""Attention layers (rnnlab.layers.attention): finite differences in float64, PyTorch parity
with copied weights, masks, Keras' input conventions, configs and error paths."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from _keras import keras, requires_keras
from _torch import requires_torch, torch
from rnnlab.gradcheck import TOLERANCE, numerical_gradient, relative_error
from rnnlab.layers import (
    AdditiveAttention,
    Attention,
    BahdanauAttention,
    LuongAttention,
    layer_from_config,
)

B, T, S, D = 3, 4, 5, 6


def _mask() -> np.ndarray:
    mask = np.ones((B, S), dtype=bool)
    mask[1, 3:] = False
    mask[2, 1:] = False  # a row with one valid position
    return mask


def _layers(dtype="float64", scores=False):
    """(layer, query size) for every attention type."""
    kw = {"dtype": dtype, "return_attention_scores": scores}
    return [
        (BahdanauAttention(7, **kw), 4),
        (LuongAttention("dot", **kw), D),
        (LuongAttention("general", **kw), 4),
        (Attention(use_scale=True, **kw), D),
        (Attention(score_mode="concat", use_scale=True, **kw), D),
        (AdditiveAttention(**kw), D),
    ]


IDS = ["bahdanau", "luong_dot", "luong_general", "keras_dot", "keras_concat", "keras_additive"]


def _gradcheck(layer, xs, mask, seed=0):
    """Max relative error of backward against central differences, for every param and input."""
    rng = np.random.default_rng(seed)
    for p in layer.params.values():
        p[...] = rng.standard_normal(p.shape)  # away from the initial values (scale = 1 etc.)

    def outs():
        o = layer.forward(xs, mask=mask)
        return o if isinstance(o, list) else [o]

    probes = [rng.standard_normal(o.shape) for o in outs()]

    def loss():
        return sum(float(np.sum(a * b)) for a, b in zip(outs(), probes, strict=True))

    outs()
    d = layer.backward(probes if len(probes) == 2 else probes[0])
    errors = {
        k: relative_error(layer.grads[k].copy(), numerical_gradient(loss, p))
        for k, p in layer.params.items()
    }
    for i, x in enumerate(xs):
        errors[f"input{i}"] = relative_error(d[i], numerical_gradient(loss, x))
    return errors


@pytest.mark.parametrize("scores", [False, True])
@pytest.mark.parametrize("index", range(6), ids=IDS)
def test_gradients_with_masks(index, scores):
    layer, dq = _layers(scores=scores)[index]
    rng = np.random.default_rng(index)
    xs = [
        rng.standard_normal((B, T, dq)),
        rng.standard_normal((B, S, 3)),
        rng.standard_normal((B, S, D)),
    ]
    errors = _gradcheck(layer, xs, _mask(), seed=index)
    assert max(errors.values()) <= TOLERANCE, errors


@pytest.mark.parametrize("index", range(6), ids=IDS)
def test_gradients_single_query_value_as_key_and_query_mask(index):
    layer, dq = _layers()[index]
    rng = np.random.default_rng(10 + index)
    xs = [rng.standard_normal((B, dq)), rng.standard_normal((B, S, D))]
    errors = _gradcheck(layer, xs, _mask(), seed=index)
    assert max(errors.values()) <= TOLERANCE, errors
    # Keras' [query_mask, value_mask]: masked query rows give zero context and zero dq
    xs = [rng.standard_normal((B, T, dq)), rng.standard_normal((B, S, D))]
    qmask = np.ones((B, T), dtype=bool)
    qmask[0, 2:] = False
    errors = _gradcheck(layer, xs, [qmask, _mask()], seed=index)
    assert max(errors.values()) <= TOLERANCE, errors
    out = layer.forward(xs, mask=[qmask, _mask()])
    assert np.all(out[0, 2:] == 0.0)


def test_masked_positions_get_zero_weight_and_padding_is_ignored():
    rng = np.random.default_rng(1)
    layer = BahdanauAttention(5, dtype="float64", return_attention_scores=True)
    q, v = rng.standard_normal((B, T, 4)), rng.standard_normal((B, S, D))
    ctx, w = layer.forward([q, v], mask=_mask())
    assert np.all(w[~np.broadcast_to(_mask()[:, None], w.shape)] == 0.0)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ctx[2], np.broadcast_to(v[2, 0], (T, D)), atol=1e-12)
    v2 = v.copy()
    v2[1, 3:] = 1e3  # padding content must not matter
    ctx2, _ = layer.forward([q, v2], mask=_mask())
    np.testing.assert_allclose(ctx2, ctx, atol=1e-12)


def test_dot_attention_by_hand():
    q = np.array([[[1.0, 0.0]]])
    k = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    v = np.array([[[10.0], [20.0]]])
    ctx, w = LuongAttention("dot", dtype="float64", return_attention_scores=True).forward([q, v, k])
    e = np.exp([1.0, 0.0])
    np.testing.assert_allclose(w[0, 0], e / e.sum(), rtol=1e-14)
    np.testing.assert_allclose(ctx[0, 0, 0], (10 * e[0] + 20 * e[1]) / e.sum(), rtol=1e-14)


@pytest.mark.parametrize("index", range(6), ids=IDS)
def test_config_round_trip(index):
    layer, dq = _layers(scores=True)[index]
    rng = np.random.default_rng(0)
    xs = [
        rng.standard_normal((B, T, dq)),
        rng.standard_normal((B, S, 3)),
        rng.standard_normal((B, S, D)),
    ]
    out = layer.forward(xs, mask=_mask())
    clone = layer_from_config(layer.get_config())
    clone.build([x.shape[1:] for x in xs])
    clone.set_weights(layer.get_weights())
    for a, b in zip(clone.forward(xs, mask=_mask()), out, strict=True):
        np.testing.assert_array_equal(a, b)


def test_errors_are_clear():
    rng = np.random.default_rng(0)
    q, v = rng.standard_normal((B, T, D)), rng.standard_normal((B, S, D))
    with pytest.raises(ValueError, match=r"\[query, value\]"):
        LuongAttention("dot").forward(q)
    with pytest.raises(ValueError, match="score"):
        LuongAttention("cosine")
    with pytest.raises(ValueError, match="one size"):
        LuongAttention("dot").forward([rng.standard_normal((B, T, 4)), v])
    with pytest.raises(ValueError, match="no valid position"):
        LuongAttention("dot").forward([q, v], mask=np.zeros((B, S), dtype=bool))
    with pytest.raises(ValueError, match="source mask of shape"):
        LuongAttention("dot").forward([q, v], mask=np.ones((B, S + 1), dtype=bool))
    with pytest.raises(ValueError, match="non-empty"):
        LuongAttention("dot").forward([q, v[:, :0]])
    with pytest.raises(ValueError, match="disagree"):
        LuongAttention("dot").forward([q, v[:2]])
    with pytest.raises(ValueError, match="units"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="dropout"):
        Attention(dropout=0.1)
    layer = BahdanauAttention(4)
    layer.forward([q, v])
    with pytest.raises(ValueError, match="built for query size"):
        layer.forward([rng.standard_normal((B, T, 3)), v])
    with pytest.raises(RuntimeError, match="before forward"):
        BahdanauAttention(4).backward(q)
    with pytest.raises(ValueError, match="d_context of shape"):
        layer.backward(np.zeros((B, T, D + 1)))


# -- PyTorch reference -------------------------------------------------------------------------
def _torch_reference(layer, q, v, k, mask, dtype):
    """context and weights from torch.nn modules holding the layer's weights."""
    nn, F = torch.nn, torch.nn.functional
    p = {key: torch.tensor(val, dtype=dtype) for key, val in layer.params.items()}
    if isinstance(layer, BahdanauAttention):
        W_q = nn.Linear(q.shape[-1], layer.units, bias=False, dtype=dtype)
        W_k = nn.Linear(k.shape[-1], layer.units, bias=False, dtype=dtype)
        v_a = nn.Linear(layer.units, 1, bias=False, dtype=dtype)
        with torch.no_grad():
            W_q.weight.copy_(p["query_weight"])
            W_k.weight.copy_(p["key_weight"])
            v_a.weight.copy_(p["v"][None])
        e = v_a(torch.tanh(W_q(q)[:, :, None] + W_k(k)[:, None]))[..., 0]
        params = [W_q.weight, W_k.weight, v_a.weight]
    elif isinstance(layer, LuongAttention) and layer.score == "general":
        W = nn.Linear(k.shape[-1], q.shape[-1], bias=False, dtype=dtype)
        with torch.no_grad():
            W.weight.copy_(p["weight"])
        e = q @ W(k).transpose(1, 2)
        params = [W.weight]
    else:  # Keras Attention, dot with a scale
        scale = nn.Parameter(p["scale"].clone())
        e = scale * (q @ k.transpose(1, 2))
        params = [scale]
    e = e.masked_fill(~torch.tensor(mask)[:, None, :], float("-inf"))
    w = F.softmax(e, dim=-1)
    return w @ v, w, params


@requires_torch
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-5)])
@pytest.mark.parametrize("kind", ["bahdanau", "general", "keras_dot"])
def test_matches_torch(kind, dtype, tol):
    rng = np.random.default_rng(3)
    layer = {
        "bahdanau": BahdanauAttention(7, dtype=dtype, return_attention_scores=True),
        "general": LuongAttention("general", dtype=dtype, return_attention_scores=True),
        "keras_dot": Attention(use_scale=True, dtype=dtype, return_attention_scores=True),
    }[kind]
    dq = D if kind == "keras_dot" else 4
    xs = [
        rng.standard_normal((B, T, dq)),
        rng.standard_normal((B, S, 3)),
        rng.standard_normal((B, S, D)),
    ]
    xs = [x.astype(dtype) for x in xs]
    mask = _mask()
    ctx, w = layer.forward(xs, mask=mask)
    if "scale" in layer.params:
        layer.params["scale"][...] = 0.7
        ctx, w = layer.forward(xs, mask=mask)
    d_ctx = rng.standard_normal(ctx.shape).astype(dtype)
    d_w = rng.standard_normal(w.shape).astype(dtype)
    grads_in = layer.backward([d_ctx, d_w])

    tdt = torch.float64 if dtype == "float64" else torch.float32
    tq, tv, tk = (torch.tensor(x, requires_grad=True) for x in xs)
    t_ctx, t_w, t_params = _torch_reference(layer, tq, tv, tk, mask, tdt)
    ((t_ctx * torch.tensor(d_ctx)).sum() + (t_w * torch.tensor(d_w)).sum()).backward()

    def close(a, b):
        b = b.detach().numpy()
        assert np.max(np.abs(a - b)) <= tol * max(1.0, np.max(np.abs(b)))

    close(ctx, t_ctx)
    close(w, t_w)
    for a, t in zip(grads_in, (tq, tv, tk), strict=True):
        close(a, t.grad)
    for key, t in zip(layer.grads, t_params, strict=True):
        close(layer.grads[key], t.grad.reshape(layer.grads[key].shape))


# -- Keras reference ---------------------------------------------------------------------------
@requires_keras
@pytest.mark.parametrize(
    "options",
    [
        {"use_scale": True},
        {"use_scale": True, "score_mode": "concat"},
        {"score_mode": "concat"},
        {},
        {"additive": True},
        {"additive": True, "use_scale": False},
    ],
    ids=["dot_scale", "concat_scale", "concat", "dot", "additive", "additive_no_scale"],
)
def test_keras_layers_match_keras(options):
    """Keras' Attention / AdditiveAttention with copied weights (get_weights order and shapes),
    query and value masks, a separate key, the returned scores: equal within float32 rounding."""
    options = dict(options)
    additive = options.pop("additive", False)
    rng = np.random.default_rng(7)
    q, v, k = (rng.standard_normal((B, n, D)).astype("float32") for n in (T, S, S))
    qmask = np.ones((B, T), dtype=bool)
    qmask[0, 2] = False
    masks = [qmask, _mask()]
    theirs = (keras.layers.AdditiveAttention if additive else keras.layers.Attention)(**options)
    ours = (AdditiveAttention if additive else Attention)(return_attention_scores=True, **options)
    theirs([q, v, k], mask=masks)
    ours.forward([q, v, k], mask=masks)
    weights = [rng.standard_normal(np.shape(w)).astype("float32") + 1 for w in theirs.get_weights()]
    assert len(weights) == len(ours.get_weights())
    if weights:
        theirs.set_weights(weights)
        ours.set_weights(weights)
    for a, b in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    out, scores = theirs([q, v, k], mask=masks, return_attention_scores=True)
    context, weights_ours = ours.forward([q, v, k], mask=masks)
    np.testing.assert_allclose(context, keras.ops.convert_to_numpy(out), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        weights_ours, keras.ops.convert_to_numpy(scores), rtol=1e-5, atol=1e-6
    )


def test_attention_in_a_functional_model():
    """The layers take part in rnnlab.models graphs (two inputs, list backward): the model's
    output is the layer's, and fit lowers the loss."""
    from rnnlab.layers import Dense, Input
    from rnnlab.models import Model

    rnnlab.config.set_seed(0)  # the layers' initial weights
    rng = np.random.default_rng(0)
    query, value = Input((T, 4)), Input((S, D))
    attention = BahdanauAttention(6, dtype="float64")
    model = Model([query, value], Dense(1, dtype="float64")(attention([query, value])))
    model.compile("adam", "mse")
    x = [rng.standard_normal((16, T, 4)), rng.standard_normal((16, S, D))]
    target = rng.standard_normal((16, T, 1))
    model.predict(x)
    context = attention.forward(x)
    dense = model.layers[-1]
    np.testing.assert_allclose(
        model.predict(x), context @ dense.params["weight"].T + dense.params["bias"], rtol=1e-5
    )
    history = model.fit(x, target, epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
