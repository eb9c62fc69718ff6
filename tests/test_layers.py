"""Semantics of the layer options: masks, go_backwards, stateful, dropout, configs, params."""

import json

import numpy as np
import pytest

import rnnlab
from helpers import RECURRENT, ragged_mask
from rnnlab.layers import known_layer_types, layer_from_config

B, T, I, H = 4, 6, 3, 5
KINDS = list(RECURRENT)


def _twin(layer, **overrides):
    """A layer of the same config (plus overrides) sharing a copy of the weights."""
    if not layer.built:
        layer.build((None, I))
    cfg = layer.get_config()
    cfg.update(overrides, name=None)
    twin = layer_from_config(cfg)
    twin.build(layer.input_shape)
    for k, v in layer.params.items():
        twin.params[k][...] = v
    return twin


@pytest.mark.parametrize("kind", KINDS)
def test_mask_equals_running_each_row_on_its_valid_steps(kind, rng):
    layer = RECURRENT[kind](H, dtype="float64", seed=0, return_sequences=True)
    x = rng.standard_normal((B, T, I))
    mask = ragged_mask(B, T, rng, holes=True)
    y = layer.forward(x, mask=mask)
    last = _twin(layer, return_sequences=False)
    for b in range(B):
        valid = np.flatnonzero(mask[b])
        y_row = layer.forward(x[b : b + 1, valid].copy())
        np.testing.assert_allclose(y[b, valid], y_row[0], rtol=1e-12, atol=1e-14)
        assert np.all(y[b, ~mask[b]] == 0.0)
        np.testing.assert_allclose(last.forward(x, mask=mask)[b], y_row[0, -1], rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_reads_from_last_valid_step(kind, rng):
    layer = RECURRENT[kind](H, dtype="float64", seed=0, return_sequences=True, go_backwards=True)
    forward_twin = _twin(layer, go_backwards=False)
    x = rng.standard_normal((B, T, I))
    mask = ragged_mask(B, T, rng)
    y = layer.forward(x, mask=mask)
    final = _twin(layer, return_sequences=False).forward(x, mask=mask)
    for b in range(B):
        L = mask[b].sum()
        reversed_row = forward_twin.forward(x[b : b + 1, :L][:, ::-1].copy())[0]
        np.testing.assert_allclose(y[b, :L], reversed_row[::-1], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(final[b], reversed_row[-1], rtol=1e-12)  # after position 0


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_two_halves_equal_one_call(kind, rng):
    full = RECURRENT[kind](H, dtype="float64", seed=0, return_sequences=True)
    x = rng.standard_normal((B, T, I))
    y = full.forward(x)
    halves = _twin(full, stateful=True)
    y1 = halves.forward(x[:, :3])
    y2 = halves.forward(x[:, 3:])
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), y, rtol=1e-12, atol=1e-14)


def test_reset_states_rows_and_all(rng):
    layer = rnnlab.LSTM(H, dtype="float64", seed=0, stateful=True)
    x = rng.standard_normal((B, T, I))
    layer.forward(x)
    fresh = _twin(layer, stateful=False)
    layer.reset_states(indices=[1, 3])
    for s in layer.states:
        assert np.all(s[[1, 3]] == 0) and np.all(s[[0, 2]] != 0)
    y = layer.forward(x)
    y_fresh = fresh.forward(x)
    np.testing.assert_allclose(y[[1, 3]], y_fresh[[1, 3]], rtol=1e-12)
    assert not np.allclose(y[[0, 2]], y_fresh[[0, 2]])
    layer.reset_states(np.array([True, False, False, False]))
    assert np.all(layer.states[1][0] == 0)
    layer.reset_states()
    np.testing.assert_allclose(layer.forward(x), y_fresh, rtol=1e-12)
    with pytest.raises(ValueError, match="batch size 4"):
        layer.forward(x[:2])
    with pytest.raises(ValueError, match="indices must lie"):
        layer.reset_states([7])


def test_stateful_backward_does_not_reach_previous_call(rng):
    layer = rnnlab.GRU(H, dtype="float64", seed=0, stateful=True, return_sequences=True)
    layer.forward(rng.standard_normal((B, T, I)))
    y = layer.forward(rng.standard_normal((B, T, I)))
    layer.backward(np.ones_like(y))
    assert layer.initial_state_grads[0].shape == (B, H)  # gradient w.r.t. the carried state


@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru", "jordan"])
def test_dropout_masks_are_per_sequence_and_training_only(kind, rng):
    layer = RECURRENT[kind](
        H, dtype="float64", seed=0, return_sequences=True, dropout=0.5, recurrent_dropout=0.5
    )
    plain = _twin(layer, dropout=0.0, recurrent_dropout=0.0)
    x = rng.standard_normal((B, T, I))
    np.testing.assert_array_equal(layer.forward(x), plain.forward(x))  # inference: no dropout
    y = layer.forward(x, training=True)
    assert not np.allclose(y, plain.forward(x))
    dx = layer.backward(np.ones_like(y))
    dropped = dx == 0.0
    # the input mask is one draw per sequence: a dropped feature is dropped at every step
    assert dropped.any()
    np.testing.assert_array_equal(dropped, np.broadcast_to(dropped[:, :1], dropped.shape))


def test_recurrent_dropout_reuses_one_mask_at_every_step(rng):
    layer = rnnlab.SimpleRNN(
        H, dtype="float64", seed=0, return_sequences=True, recurrent_dropout=0.5
    )
    x = rng.standard_normal((B, T, I))
    layer.build((T, I))
    replay = np.random.default_rng()
    replay.bit_generator.state = layer.rng.bit_generator.state
    r = (replay.random((B, H)) >= 0.5) * 2.0  # the one draw the layer will make
    y = layer.forward(x, training=True)
    h = np.zeros((B, H))
    for t in range(T):
        (h,) = layer.cell.step(layer.params, x[:, t], (h * r,))
        np.testing.assert_allclose(y[:, t], h, rtol=1e-12)


def test_params_edits_take_effect(rng):
    layer = rnnlab.LSTM(H, dtype="float64", seed=0)
    x = rng.standard_normal((B, T, I))
    y0 = layer.forward(x)
    layer.params["weight_hh"][...] = 0.0
    layer.params["bias_ih"][...] = 0.0
    y1 = layer.forward(x)
    assert not np.allclose(y0, y1)
    ref = rnnlab.LSTM(H, dtype="float64", seed=1)
    ref.build((T, I))
    ref.params["weight_ih"][...] = layer.params["weight_ih"]
    for k in ("weight_hh", "bias_ih", "bias_hh"):
        ref.params[k][...] = layer.params[k]
    np.testing.assert_allclose(ref.forward(x), y1, rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_return_state_and_initial_state_shapes(kind, rng):
    layer = RECURRENT[kind](H, dtype="float64", return_state=True, return_sequences=True)
    x = rng.standard_normal((B, T, I))
    out = layer.forward(x)
    assert len(out) == 1 + len(layer.state_names)
    assert out[0].shape == (B, T, layer.output_size)
    assert all(s.shape == (B, layer.state_size) for s in out[1:])
    np.testing.assert_allclose(out[0][:, -1], out[1])
    again = layer.forward(x, initial_state=out[1:])
    assert not np.allclose(again[0], out[0])
    dx = layer.backward(np.ones_like(out[0]), *[np.ones_like(s) for s in out[1:]])
    assert dx.shape == x.shape
    assert layer.compute_output_shape((T, I)) == (T, layer.output_size)


def test_single_state_initial_state_may_be_an_array(rng):
    layer = rnnlab.GRU(H, dtype="float64")
    x, h0 = rng.standard_normal((B, T, I)), rng.standard_normal((B, H))
    np.testing.assert_array_equal(
        layer.forward(x, initial_state=h0), layer.forward(x, initial_state=[h0])
    )


ALL_LAYERS = [
    lambda: rnnlab.SimpleRNN(4, activation="relu", return_sequences=True, dropout=0.1, seed=3),
    lambda: rnnlab.LSTM(4, unit_forget_bias=False, go_backwards=True, dtype="float64"),
    lambda: rnnlab.GRU(4, stateful=True, recurrent_dropout=0.2),
    lambda: rnnlab.Jordan(4, output_units=2, output_activation="softmax"),
    lambda: rnnlab.Bidirectional(rnnlab.LSTM(4, return_sequences=True), merge_mode="ave"),
    lambda: rnnlab.TimeDistributed(rnnlab.Dense(3, activation="softmax")),
    lambda: rnnlab.Dense(3, activation="tanh", use_bias=False),
    lambda: rnnlab.Embedding(10, 4, mask_zero=True),
    lambda: rnnlab.Dropout(0.3, noise_shape=(None, 1, None)),
    lambda: rnnlab.Activation("sigmoid"),
]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_config_round_trip(make):
    layer = make()
    cfg = layer.get_config()
    text = json.dumps(cfg)  # JSON-serialisable
    rebuilt = layer_from_config(json.loads(text))
    assert type(rebuilt) is type(layer)
    assert rebuilt.get_config() == cfg


def test_layer_from_config_rejects_unknown_types():
    assert "LSTM" in known_layer_types() and "Layer" not in known_layer_types()
    with pytest.raises(ValueError, match="unknown layer type 'Pickle'"):
        layer_from_config({"class_name": "Pickle"})
    with pytest.raises(ValueError, match="bad config for LSTM"):
        layer_from_config({"class_name": "LSTM", "units": 3, "evil": 1})


def test_bidirectional_structure(rng):
    bi = rnnlab.Bidirectional(rnnlab.LSTM(H, return_sequences=True, dtype="float64"))
    y = bi.forward(rng.standard_normal((B, T, I)))
    assert y.shape == (B, T, 2 * H)
    assert not bi.forward_layer.go_backwards and bi.backward_layer.go_backwards
    assert bi.params["forward_layer.weight_ih"] is bi.forward_layer.params["weight_ih"]
    assert bi.count_params() == 2 * bi.forward_layer.count_params()
    assert bi.compute_output_shape((T, I)) == (T, 2 * H)


def test_embedding_mask_zero_and_lookup(rng):
    emb = rnnlab.Embedding(7, 3, mask_zero=True, dtype="float64")
    ids = np.array([[1, 2, 0, 0], [3, 3, 3, 0]])
    y = emb.forward(ids)
    np.testing.assert_array_equal(y[1, 0], emb.params["weight"][3])
    np.testing.assert_array_equal(emb.compute_mask(None, ids), ids != 0)


def test_initializers(rng):
    lstm = rnnlab.LSTM(H, dtype="float64", seed=0)
    lstm.build((T, I))
    w = lstm.params["weight_hh"]
    for k in range(4):  # one orthogonal block per gate
        block = w[k * H : (k + 1) * H]
        np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)
    np.testing.assert_array_equal(lstm.params["bias_ih"][H : 2 * H], 1.0)
    assert np.all(lstm.params["bias_hh"] == 0)
    limit = np.sqrt(6 / (I + 4 * H))
    assert np.abs(lstm.params["weight_ih"]).max() <= limit
    torchlike = rnnlab.GRU(
        H,
        kernel_initializer="pytorch_uniform",
        recurrent_initializer="pytorch_uniform",
        bias_initializer="pytorch_uniform",
        seed=0,
    )
    torchlike.build((T, I))
    for v in torchlike.params.values():
        assert np.abs(v).max() <= 1 / np.sqrt(H) and np.abs(v).max() > 0.5 / np.sqrt(H)


def test_seeds_make_layers_reproducible(rng):
    a, b = rnnlab.LSTM(H, seed=7), rnnlab.LSTM(H, seed=7)
    x = rng.standard_normal((B, T, I))
    np.testing.assert_array_equal(a.forward(x), b.forward(x))
    rnnlab.config.set_seed(11)
    c = rnnlab.GRU(H)
    rnnlab.config.set_seed(11)
    d = rnnlab.GRU(H)
    np.testing.assert_array_equal(c.forward(x), d.forward(x))


def test_set_floatx(rng):
    try:
        rnnlab.config.set_floatx("float64")
        assert rnnlab.LSTM(2).dtype == np.float64
    finally:
        rnnlab.config.set_floatx("float32")
    layer = rnnlab.LSTM(2)
    assert layer.forward(rng.standard_normal((1, 2, 3))).dtype == np.float32
    with pytest.raises(TypeError, match="expected dtype 'float32' or 'float64', got 'int32'"):
        rnnlab.config.set_floatx("int32")


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward\\(\\)"):
        rnnlab.LSTM(3).backward(np.zeros((1, 3)))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "jordan"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_no_grad_gives_the_same_outputs_and_refuses_backward(kind, go_backwards, rng):
    layer = RECURRENT[kind](
        H,
        dtype="float64",
        seed=0,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    x = rng.standard_normal((B, T, I))
    mask = ragged_mask(B, T, rng, holes=True)
    init = [rng.standard_normal((B, layer.state_size)) for _ in layer.state_names]
    expected = layer.forward(x, mask=mask, initial_state=init)
    with rnnlab.no_grad():
        assert not rnnlab.config.is_grad_enabled()
        got = layer.forward(x, mask=mask, initial_state=init)
    assert rnnlab.config.is_grad_enabled()
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    with pytest.raises(RuntimeError, match="ran under rnnlab.no_grad"):
        layer.backward(np.ones_like(got[0]))
    if not go_backwards:
        with pytest.raises(RuntimeError, match="ran under rnnlab.no_grad"):
            layer.state_at(0)
    layer.forward(x, mask=mask)  # with gradients again: backward works
    layer.backward(np.ones((B, T, layer.output_size)), *[None] * len(layer.state_names))


def test_no_grad_does_not_leak_from_a_paused_generator():
    from rnnlab.generate import stream

    class Vocab:
        def encode(self, text):
            return np.array([ord(c) - 97 for c in text])

        def decode(self, ids):
            return "".join(chr(97 + i) for i in ids)

        def __len__(self):
            return 5

    model = rnnlab.Sequential(
        [rnnlab.Embedding(5, 3), rnnlab.LSTM(4, return_sequences=True), rnnlab.Dense(5)]
    )
    it = stream(model, Vocab(), "ab", 10, seed=0)
    next(it)
    assert rnnlab.config.is_grad_enabled()
