"""Issue 13's Keras code runs with only the import changed; Keras' argument names, input_shape,
the bias convention and parameter counts, get/set_weights in Keras' order, error messages."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnlab
from rnnlab import layers, models
from rnnlab.gradcheck import assert_layer_gradients


def issue_data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X_train = rng.standard_normal((256, 10, 100)).astype("float32")
    y_train = np.eye(10, dtype="float32")[rng.integers(0, 10, 256)]
    X_test = rng.standard_normal((64, 10, 100)).astype("float32")
    y_test = np.eye(10, dtype="float32")[rng.integers(0, 10, 64)]
    return X_train, y_train, X_test, y_test


def test_the_issue_code_runs_and_the_lstm_learns(capsys):
    rnnlab.config.set_seed(0)
    X_train, y_train, X_test, y_test = issue_data()
    # -- the issue's code, only the import changed ----------------------------------------------
    # fmt: off
    model_rnn = models.Sequential([
        layers.SimpleRNN(units=32, return_sequences=True, input_shape=(None, 100)),
        layers.SimpleRNN(units=32),
        layers.Dense(10, activation='softmax'),
    ])
    model_lstm = models.Sequential([
        layers.LSTM(units=64, return_sequences=True, input_shape=(None, 100)),
        layers.LSTM(units=64),
        layers.Dense(10, activation='softmax'),
    ])
    model_lstm.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    history = model_lstm.fit(X_train, y_train, epochs=10, validation_data=(X_test, y_test))
    model_rnn.summary(); model_lstm.summary()  # noqa: E702
    # fmt: on
    # -------------------------------------------------------------------------------------------
    accuracy = history.history["accuracy"]
    assert len(accuracy) == 10 and "val_accuracy" in history.history
    assert max(accuracy) > 0.3  # chance is 0.1 (10 balanced random classes)
    out = capsys.readouterr().out
    assert out.count("epoch ") >= 10  # a plain line per epoch when not on a terminal
    assert re.search(r"simple_rnn(_\d+)? \(SimpleRNN\)", out) and "(None, None, 32)" in out
    assert f"{32 * 100 + 32 * 32 + 2 * 32:,}" in out  # built by input_shape, PyTorch biases
    assert f"{4 * 64 * (100 + 64) + 2 * 4 * 64:,}" in out


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: layers.SimpleRNN(32, bias="keras"), 4_256),
        (lambda: layers.LSTM(64, bias="keras"), 42_240),
        (lambda: layers.GRU(16, bias="keras"), 3 * 16 * (100 + 16) + 2 * 3 * 16),
        (lambda: layers.GRU(16, bias="keras", reset_after=False), 3 * 16 * (100 + 16) + 3 * 16),
        (lambda: layers.SimpleRNN(32), 4_288),
        (lambda: layers.LSTM(64), 42_496),
        (lambda: layers.LSTM(8, use_bias=False), 4 * 8 * 108),
        (lambda: layers.Dense(10, use_bias=False), 1_000),
    ],
)
def test_parameter_counts_by_bias_convention(make, expected):
    layer = make()
    layer.build((None, 100))
    assert layer.count_params() == expected


GATED = {
    "simple_rnn": lambda **kw: layers.SimpleRNN(4, **kw),
    "lstm": lambda **kw: layers.LSTM(4, **kw),
    "gru": lambda **kw: layers.GRU(4, **kw),
    "gru_reset_before": lambda **kw: layers.GRU(4, reset_after=False, **kw),
}


@pytest.mark.parametrize("kind", sorted(GATED))
@pytest.mark.parametrize("bias", ["keras", "none"])
def test_keras_bias_conventions_pass_gradient_checks(kind, bias, rng):
    kw = {"use_bias": False} if bias == "none" else {"bias": "keras"}
    layer = GATED[kind](
        dtype="float64", return_sequences=True, seed=3, bias_initializer="random_uniform", **kw
    )
    x = rng.standard_normal((3, 5, 2))
    mask = np.ones((3, 5), bool)
    mask[1, 3:] = False
    report = assert_layer_gradients(layer, x, mask=mask)
    assert ("param:bias" in report.errors) == (
        bias == "keras" and not (kind == "gru")
    )  # reset_after keeps two


@pytest.mark.parametrize("kind", sorted(GATED))
def test_one_keras_bias_equals_pytorch_biases_that_sum_to_it(kind, rng):
    keras_layer = GATED[kind](bias="keras", seed=1, bias_initializer="random_uniform")
    torch_layer = GATED[kind](seed=1)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    keras_layer.build((None, 3))
    torch_layer.build((None, 3))
    for key in ("weight_ih", "weight_hh"):
        torch_layer.params[key][...] = keras_layer.params[key]
    if keras_layer.one_bias:
        torch_layer.params["bias_ih"][...] = 0.25 * keras_layer.params["bias"]
        torch_layer.params["bias_hh"][...] = 0.75 * keras_layer.params["bias"]
    else:  # the GRU with reset_after keeps both vectors in both conventions
        assert set(keras_layer.params) == set(torch_layer.params)
        for key in ("bias_ih", "bias_hh"):
            torch_layer.params[key][...] = keras_layer.params[key]
    np.testing.assert_allclose(keras_layer.forward(x), torch_layer.forward(x), rtol=1e-5, atol=1e-6)


def test_get_and_set_weights_use_keras_order_and_shapes(rng):
    gru = layers.GRU(3, bias="keras", reset_after=False)
    gru.build((None, 5))
    kernel, recurrent, bias = gru.get_weights()
    assert (kernel.shape, recurrent.shape, bias.shape) == ((5, 9), (3, 9), (9,))
    w = gru.params["weight_ih"]  # rows r, z, n; Keras' columns z, r, h
    np.testing.assert_array_equal(kernel[:, :3], w[3:6].T)
    np.testing.assert_array_equal(kernel[:, 3:6], w[:3].T)
    new = [rng.standard_normal(a.shape) for a in gru.get_weights()]
    gru.set_weights(new)
    for a, b in zip(gru.get_weights(), new, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    assert layers.GRU(3).get_weights() == []  # unbuilt, as in Keras
    both = layers.GRU(3, bias="keras")
    both.build((None, 5))
    assert both.get_weights()[2].shape == (2, 9)
    dense = layers.Dense(4)
    dense.build((6,))
    assert [a.shape for a in dense.get_weights()] == [(6, 4), (4,)]
    model = models.Sequential([layers.LSTM(3, bias="keras", input_shape=(None, 2)), dense])
    assert [a.shape for a in model.get_weights()] == [(2, 12), (3, 12), (12,), (6, 4), (4,)]
    with pytest.raises(ValueError, match="expected 5 arrays"):
        model.set_weights(model.get_weights()[:4])


def test_set_weights_errors_name_the_layer_and_the_shapes(rng):
    pytorch = layers.LSTM(3, name="pt")
    pytorch.build((None, 2))
    keras_weights = [np.zeros((2, 12)), np.zeros((3, 12)), np.zeros(12)]
    with pytest.raises(
        ValueError,
        match="LSTM 'pt': has PyTorch's two bias vectors \\(bias='pytorch'\\).*bias='keras'",
    ):
        pytorch.set_weights(keras_weights)
    ours = layers.LSTM(3, bias="keras", name="k")
    ours.build((None, 2))
    with pytest.raises(
        ValueError,
        match=r"LSTM 'k': expected kernel of shape \(2, 12\) "
        r"\(Keras' layout\), got \(12, 2\)",
    ):
        ours.set_weights([np.zeros((12, 2)), np.zeros((3, 12)), np.zeros(12)])
    dense = layers.Dense(2, name="d")
    dense.build((3,))
    with pytest.raises(
        ValueError,
        match=r"Dense 'd': expected kernel of shape \(3, 2\) "
        r"\(Keras' layout\), got \(2, 3\)",
    ):
        dense.set_weights([np.zeros((2, 3)), np.zeros(2)])
    with pytest.raises(ValueError, match=r"Dense 'd': expected bias of shape \(2,\), got \(3,\)"):
        dense.set_weights([np.zeros((3, 2)), np.zeros(3)])
    with pytest.raises(ValueError, match="expected a list of 2 arrays"):
        dense.set_weights([np.zeros((3, 2))])


def test_keras_argument_names_and_errors():
    lstm = layers.LSTM(
        4,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        unroll=True,
        kernel_regularizer=None,
        input_shape=(None, 3),
    )
    assert lstm.declared_input_shape == (None, 3)
    with pytest.raises(
        TypeError,
        match=r"LSTM 'x': unknown argument 'return_sequence'; did "
        r"you mean 'return_sequences'\?",
    ):
        layers.LSTM(4, return_sequence=True, name="x")
    with pytest.raises(TypeError, match=r"did you mean 'reset_after'\?"):
        layers.GRU(4, reset_afters=False)
    with pytest.raises(TypeError, match=r"did you mean 'mask_zero'\?"):
        layers.Embedding(10, 3, mask_zeros=True)
    with pytest.raises(TypeError, match=r"did you mean 'activation'\?"):
        layers.SimpleRNN(4, activaton="relu")
    with pytest.raises(NotImplementedError, match="recurrent_activation='hard_sigmoid'"):
        layers.LSTM(4, recurrent_activation="hard_sigmoid")
    with pytest.raises(NotImplementedError, match="activation='relu' is not supported"):
        layers.GRU(4, activation="relu")
    with pytest.raises(NotImplementedError, match="kernel_regularizer='l2'"):
        layers.Dense(4, kernel_regularizer="l2")
    with pytest.raises(NotImplementedError, match="trainable=False"):
        layers.Embedding(10, 3, trainable=False)
    with pytest.raises(NotImplementedError, match="bias_pair|PyTorch's bias pair"):
        layers.Jordan(4, output_units=2, bias="keras")
    with pytest.raises(ValueError, match=r"expected bias in \['pytorch', 'keras'\]"):
        layers.LSTM(4, bias="tf")
    with pytest.raises(ValueError, match="expected input_shape as a tuple"):
        layers.Dense(3, input_shape=5)


def test_input_shape_builds_the_sequential_at_once():
    model = models.Sequential(
        [
            layers.GRU(
                5, return_sequences=True, input_shape=(None, 3), bias="keras", reset_after=False
            ),
            layers.Dense(2),
        ]
    )
    assert model.built and model.count_params() == 3 * 5 * (3 + 5) + 3 * 5 + 5 * 2 + 2
    model.add(layers.Dense(4))
    assert model.layers[-1].built
    text = model.summary(print_fn=None)
    assert "(None, None, 5)" in text and "(None, None, 4)" in text


def test_keras_options_survive_save_and_load(tmp_path, rng):
    model = models.Sequential(
        [
            layers.GRU(
                4, reset_after=False, bias="keras", return_sequences=True, input_shape=(None, 3)
            ),
            layers.LSTM(3, use_bias=False, return_sequences=True),
            layers.Bidirectional(layers.SimpleRNN(2, bias="keras")),
        ]
    )
    path = tmp_path / "keras_options.safetensors"
    model.save(path)
    again = rnnlab.load_model(path)
    assert [type(layer.cell).__name__ for layer in again.recurrent_layers()] == [
        "ResetBeforeGRUCell",
        "LSTMCell",
        "SimpleRNNCell",
        "SimpleRNNCell",
    ]
    x = rng.standard_normal((2, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(again.predict(x), model.predict(x))
    for a, b in zip(again.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_reset_before_gru_cell_step_equals_its_sequence_loop(rng):
    cell = rnnlab.cells.ResetBeforeGRUCell()
    layer = layers.GRU(4, reset_after=False, dtype="float64", bias_initializer="random_uniform")
    x = rng.standard_normal((2, 6, 3))
    layer.build((None, 3))
    outputs, finals, _ = cell.forward(layer.params, x, (np.zeros((2, 4)),), layout="batch")
    h = np.zeros((2, 4))
    for t in range(6):
        (h,) = cell.step(layer.params, x[:, t], (h,))
        np.testing.assert_allclose(outputs[:, t], h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(finals[0], h, rtol=1e-12)
    report = assert_layer_gradients(
        layers.GRU(
            4,
            reset_after=False,
            dtype="float64",
            recurrent_dropout=0.3,
            dropout=0.2,
            go_backwards=True,
            seed=2,
        ),
        x,
        training=True,
        initial_state=[rng.standard_normal((2, 4))],
    )
    assert report.ok
