"""Sequential: Keras-style build, compile, fit, evaluate, predict, summary; masks into the loss."""

import numpy as np
import pytest

import rnnlab
from rnnlab.gradcheck import numerical_gradient, relative_error


def _classifier(seed=0, dtype="float64"):
    return rnnlab.Sequential(
        [
            rnnlab.Embedding(12, 6, mask_zero=True, dtype=dtype, seed=seed),
            rnnlab.LSTM(8, dtype=dtype, seed=seed + 1),
            rnnlab.Dense(2, dtype=dtype, seed=seed + 2),
        ],
        seed=seed,
    )


def _toy_sentiment(rng, n=200, T=9):
    """Label 1 iff token 3 occurs; right-padded with 0."""
    x = rng.integers(1, 12, size=(n, T))
    lengths = rng.integers(2, T + 1, size=n)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0
    y = (x == 3).any(axis=1).astype(np.int64)
    return x, y


def test_keras_course_example_runs(rng):
    """The seed course's model: SimpleRNN(32, return_sequences=True) ... Dense(10, softmax)."""
    model = rnnlab.Sequential(
        [
            rnnlab.SimpleRNN(32, return_sequences=True),
            rnnlab.SimpleRNN(32),
            rnnlab.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((64, 5, 3)).astype(np.float32)
    y = rng.integers(0, 10, size=64)
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert len(history.history["loss"]) == 2 and "accuracy" in history.history
    assert model.predict(x[:3]).shape == (3, 10)
    text = model.summary(print_fn=None)
    assert "simple_rnn" in text and f"Total params: {model.count_params():,}" in text
    assert "(None, 5, 32)" in text and "(None, 10)" in text


def test_fit_learns_and_mask_flows_from_embedding(rng):
    x, y = _toy_sentiment(rng)
    model = _classifier()
    model.compile(
        optimizer=rnnlab.optimizers.Adam(0.02),
        loss=rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, epochs=12, batch_size=32, validation_split=0.2, verbose=0)
    assert history.history["val_accuracy"][-1] > 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    # padding content does not matter: the mask reached the LSTM
    x2 = x.copy()
    pad = x2 == 0
    probe = model.predict(x2[:10])
    model.layers[0].params["weight"][0] += 5.0  # change the padding embedding
    np.testing.assert_allclose(model.predict(x2[:10]), probe, rtol=1e-12)
    assert pad.any()


def test_model_gradient_matches_finite_differences(rng):
    model = rnnlab.Sequential(
        [
            rnnlab.Embedding(6, 3, mask_zero=True, dtype="float64", seed=1),
            rnnlab.GRU(4, return_sequences=True, dtype="float64", seed=2),
            rnnlab.Bidirectional(rnnlab.LSTM(3, return_sequences=True, dtype="float64", seed=3)),
            rnnlab.Dense(6, dtype="float64", seed=4),
        ]
    )
    model.compile("sgd", rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.integers(1, 6, size=(3, 5))
    x[1, 3:] = 0
    y = rng.integers(0, 6, size=(3, 5))

    def loss():
        out = model.forward(x)
        return model.loss(y, out, model.output_mask)

    out = model.forward(x)
    assert model.output_mask.shape == (3, 5) and not model.output_mask[1, 4]
    _, dy = model.loss.value_and_grad(y, out, model.output_mask)
    model.backward(dy)
    for key, p in model.named_params().items():
        numeric = numerical_gradient(loss, p, eps=1e-5)  # some gradients are ~1e-7: less noise
        assert relative_error(model.named_grads()[key], numeric) < 1e-6, key


def test_evaluate_weights_by_valid_positions(rng):
    model = rnnlab.Sequential([rnnlab.Dense(3, dtype="float64")])
    model.compile("sgd", "mse")
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 3))
    whole = model.evaluate(x, y, batch_size=10)
    batched = model.evaluate(x, y, batch_size=3)
    assert batched == pytest.approx(whole, rel=1e-12)


class _Journal(rnnlab.callbacks.Callback):
    """Records (hook, batch or epoch, logs) from the hooks fit, evaluate and predict run."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            return lambda *args: self.calls.append((name, *args))
        return super().__getattribute__(name)


def test_fit_validation_evaluate_and_predict_run_the_test_and_predict_hooks(rng):
    model = rnnlab.Sequential([rnnlab.Dense(3, dtype="float64")])
    model.compile("sgd", "mse")
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 3))
    journal = _Journal()
    model.fit(
        x[:6],
        y[:6],
        epochs=1,
        batch_size=3,
        validation_data=(x[6:], y[6:]),
        callbacks=[journal],
        verbose=0,
    )
    hooks = [c[0] for c in journal.calls]
    assert hooks == [
        "on_train_begin",
        "on_epoch_begin",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_begin",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_test_end",
        "on_epoch_end",
        "on_train_end",
    ]
    val_loss = model.evaluate(x[6:], y[6:], batch_size=3)
    assert journal.calls[11] == ("on_test_end", {"loss": pytest.approx(val_loss, rel=1e-12)})
    journal.calls.clear()
    out = model.predict(x, batch_size=4, callbacks=[journal])
    assert [c[0] for c in journal.calls] == ["on_predict_begin"] + [
        "on_predict_batch_begin",
        "on_predict_batch_end",
    ] * 3 + ["on_predict_end"]
    np.testing.assert_array_equal(journal.calls[2][2]["outputs"], out[:4])
    journal.calls.clear()
    model.evaluate(x, y, batch_size=5, callbacks=[journal])
    assert [c[0] for c in journal.calls] == ["on_test_begin"] + [
        "on_test_batch_begin",
        "on_test_batch_end",
    ] * 2 + ["on_test_end"]
    with pytest.raises(TypeError, match="expected a list of Callback"):
        model.predict(x, callbacks=journal)


def test_train_on_batch_refuses_non_finite_and_keeps_weights(rng):
    model = rnnlab.Sequential([rnnlab.Dense(2, dtype="float64")])
    model.compile("sgd", "mse")
    x = rng.standard_normal((4, 3))
    model.forward(x)
    model.layers[0].params["weight"][0, 0] = 1e200
    before = model.get_weights()
    logs = model.train_on_batch(x * 1e200, np.zeros((4, 2)))
    assert np.isnan(logs["loss"])
    assert "first non-finite value in the output of Dense" in model.nonfinite_report
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fit_stops_cleanly_on_nan(rng):
    model = rnnlab.Sequential([rnnlab.Dense(2, dtype="float64")])
    model.compile(rnnlab.optimizers.SGD(1e30), "mse")
    x = rng.standard_normal((64, 3)) * 1e5
    history = model.fit(x, rng.standard_normal((64, 2)), epochs=5, batch_size=8, verbose=0)
    assert model.stop_training and model.nonfinite_report
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert len(history.epoch) < 5


def test_config_round_trip_and_weights(rng):
    model = _classifier()
    model.build((9,))
    clone = rnnlab.Sequential.from_config(model.get_config())
    assert [type(a) for a in clone.layers] == [type(b) for b in model.layers]
    clone.set_weights(model.get_weights())
    x, _ = _toy_sentiment(rng, n=5)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


def test_model_errors(rng):
    model = rnnlab.Sequential([rnnlab.Dense(2)])
    with pytest.raises(RuntimeError, match="call compile\\(\\) before fit\\(\\)"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)))
    model.compile("adam", "mse")
    with pytest.raises(ValueError, match="x has 2 samples but y has 3"):
        model.fit(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="expected epochs to be a positive int, got 0"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), epochs=0)
    with pytest.raises(ValueError, match="validation_split in \\[0, 1\\)"):
        model.fit(np.zeros((2, 3)), np.zeros((2, 2)), validation_split=1.5)
    with pytest.raises(TypeError, match="expected a Layer, got int"):
        model.add(3)
    with pytest.raises(ValueError, match="two layers named 'dup'"):
        rnnlab.Sequential([rnnlab.Dense(2, name="dup"), rnnlab.Dense(2, name="dup")])
    with pytest.raises(ValueError, match="unknown layer type"):
        rnnlab.Sequential.from_config(
            {"class_name": "Sequential", "layers": [{"class_name": "Evil"}]}
        )
