"""Finite-difference gradient checks (float64, relative error ≤ rnnlab.gradcheck.TOLERANCE) for
every layer and option: masks, go_backwards, states in and out, stateful, dropout, merges."""

import numpy as np
import pytest

import rnnlab
from helpers import RECURRENT, ragged_mask
from rnnlab.gradcheck import assert_layer_gradients, check_layer

B, T, I, H = 3, 5, 4, 5

OPTIONS = {
    "last": dict(layer={}),
    "sequences": dict(layer={"return_sequences": True}),
    "mask": dict(layer={"return_sequences": True}, mask="padded"),
    "mask_holes_last": dict(layer={}, mask="holes"),
    "go_backwards": dict(layer={"return_sequences": True, "go_backwards": True}),
    "go_backwards_mask": dict(
        layer={"go_backwards": True, "return_sequences": True}, mask="padded"
    ),
    "go_backwards_mask_last": dict(layer={"go_backwards": True}, mask="holes"),
    "states_in_out": dict(layer={"return_sequences": True, "return_state": True}, init=True),
    "states_out_last": dict(layer={"return_state": True}, mask="padded"),
    "stateful": dict(layer={"return_sequences": True, "stateful": True}, warmup=True),
    "dropout": dict(
        layer={"return_sequences": True, "dropout": 0.3, "recurrent_dropout": 0.4}, training=True
    ),
    "everything": dict(
        layer={
            "return_sequences": True,
            "return_state": True,
            "go_backwards": True,
            "dropout": 0.2,
            "recurrent_dropout": 0.3,
        },
        mask="holes",
        init=True,
        training=True,
    ),
}


def _inputs(rng, layer, case):
    x = rng.standard_normal((B, T, I))
    mask = None
    if case.get("mask"):
        mask = ragged_mask(B, T, rng, holes=case["mask"] == "holes")
    init = None
    if case.get("init"):
        init = [0.5 * rng.standard_normal((B, layer.state_size)) for _ in layer.state_names]
    return x, mask, init


@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("kind", list(RECURRENT))
def test_recurrent_gradients(kind, option, rng):
    case = OPTIONS[option]
    layer = RECURRENT[kind](H, dtype="float64", seed=3, **case["layer"])
    x, mask, init = _inputs(rng, layer, case)
    training = case.get("training", False)
    if case.get("warmup"):  # a first call leaves non-zero carried states
        layer.forward(rng.standard_normal((B, T, I)), training=training)
        assert layer.states is not None and np.abs(layer.states[0]).max() > 0
    report = assert_layer_gradients(layer, x, mask=mask, initial_state=init, training=training)
    expected = {"input", *(f"param:{k}" for k in layer.params)}
    if init is not None:
        expected |= {f"initial_state:{k}" for k in range(len(init))}
    assert set(report.errors) == expected


@pytest.mark.parametrize("kind", list(RECURRENT))
def test_batch_of_one_with_mask(kind, rng):
    """Regression: with B = 1 the output was a view of the cached states, and masking the
    output in place corrupted the cache (found by test_properties)."""
    layer = RECURRENT[kind](H, dtype="float64", seed=0, return_sequences=True)
    mask = np.array([[True, False, True, True, False]])
    assert_layer_gradients(layer, rng.standard_normal((1, T, I)), mask=mask)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru", "jordan"])
def test_bidirectional_gradients(kind, merge_mode, rng):
    layer = rnnlab.Bidirectional(
        RECURRENT[kind](H, dtype="float64", seed=5, return_sequences=True), merge_mode=merge_mode
    )
    x = rng.standard_normal((B, T, I))
    mask = ragged_mask(B, T, rng)
    report = assert_layer_gradients(layer, x, mask=mask)
    assert any(k.startswith("param:backward_layer.") for k in report.errors)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bidirectional_states_in_out(kind, rng):
    layer = rnnlab.Bidirectional(RECURRENT[kind](H, dtype="float64", seed=5, return_state=True))
    n = len(layer.forward_layer.state_names)
    init = [rng.standard_normal((B, H)) for _ in range(2 * n)]
    x = rng.standard_normal((B, T, I))
    report = assert_layer_gradients(layer, x, mask=ragged_mask(B, T, rng), initial_state=init)
    assert sum(k.startswith("initial_state") for k in report.errors) == 2 * n


@pytest.mark.parametrize("activation", ["linear", "tanh", "sigmoid", "relu", "softmax"])
def test_dense_gradients(activation, rng):
    layer = rnnlab.Dense(3, activation=activation, dtype="float64", seed=0)
    assert_layer_gradients(layer, rng.standard_normal((B, T, I)))
    assert_layer_gradients(
        rnnlab.Dense(3, use_bias=False, dtype="float64"), rng.standard_normal((B, I))
    )


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "softmax", "linear"])
def test_activation_gradients(activation, rng):
    assert_layer_gradients(
        rnnlab.Activation(activation, dtype="float64"), rng.standard_normal((B, T, I))
    )


def test_dropout_and_time_distributed_gradients(rng):
    x = rng.standard_normal((B, T, I))
    assert_layer_gradients(rnnlab.Dropout(0.4, dtype="float64", seed=1), x, training=True)
    assert_layer_gradients(
        rnnlab.Dropout(0.4, noise_shape=(None, 1, None), dtype="float64", seed=1), x, training=True
    )
    td = rnnlab.TimeDistributed(rnnlab.Dense(2, activation="tanh", dtype="float64"))
    report = assert_layer_gradients(td, x)
    assert set(report.errors) == {"input", "param:weight", "param:bias"}


def test_embedding_gradients(rng):
    ids = rng.integers(0, 6, size=(B, T))
    ids[0, :3] = 2  # repeated ids must accumulate
    layer = rnnlab.Embedding(6, 4, dtype="float64")
    report = assert_layer_gradients(layer, ids)
    assert set(report.errors) == {"param:weight"}


def test_gradcheck_detects_a_wrong_gradient(rng):
    """The checker itself must be able to fail: corrupt one gradient and watch it."""

    class BrokenDense(rnnlab.Dense):
        def backward(self, dy, *dstates):
            dx = super().backward(dy)
            self.grads["weight"][0, 0] += 1e-3
            return dx

    report = check_layer(BrokenDense(3, dtype="float64"), rng.standard_normal((B, I)))
    assert not report.ok
    assert report.errors["param:weight"] > 1e-6
    assert report.errors["input"] < 1e-6
    with pytest.raises(AssertionError, match="param:weight"):
        assert_layer_gradients(BrokenDense(3, dtype="float64"), rng.standard_normal((B, I)))


def test_gradcheck_rejects_float32(rng):
    with pytest.raises(ValueError, match="float64"):
        check_layer(rnnlab.LSTM(3), rng.standard_normal((B, T, I)))


def test_gradcheck_leaves_stateful_layer_unchanged(rng):
    layer = rnnlab.GRU(H, stateful=True, dtype="float64", seed=0)
    layer.forward(rng.standard_normal((B, T, I)))
    before = [s.copy() for s in layer.states]
    check_layer(layer, rng.standard_normal((B, T, I)))
    for a, b in zip(before, layer.states, strict=True):
        np.testing.assert_array_equal(a, b)
