"""Functional models: symbolic tensors, graphs with several inputs/outputs, state passing,
gradient accumulation (float64 finite differences), fit/evaluate/predict, files, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import rnnlab
from rnnlab import layers, models
from rnnlab.gradcheck import TOLERANCE, numerical_gradient, relative_error

F64 = {"dtype": "float64"}


def model_gradcheck(model, xs, seed: int = 0) -> dict[str, float]:
    """Relative errors of model.backward against central differences, for every parameter
    and every float input, with L = Σ_k Σ r_k ⊙ output_k (fixed random probes r_k)."""
    outs = model.forward(xs)
    many = isinstance(outs, list)
    outs = outs if many else [outs]
    rng = np.random.default_rng(seed)
    probes = [rng.standard_normal(o.shape) for o in outs]

    def loss() -> float:
        got = model.forward(xs)
        return float(
            sum(np.sum(p * o) for p, o in zip(probes, got if many else [got], strict=True))
        )

    model.forward(xs)
    dx = model.backward(probes if many else probes[0])
    errors = {}
    analytic = {k: g.copy() for k, g in model.named_grads().items()}
    for key, p in model.named_params().items():
        errors[key] = relative_error(analytic[key], numerical_gradient(loss, p))
    arrays = xs if isinstance(xs, list) else [xs]
    grads = dx if isinstance(dx, list) else [dx]
    for k, (x, g) in enumerate(zip(arrays, grads, strict=True)):
        if x.dtype.kind == "f":
            errors[f"input {k}"] = relative_error(g, numerical_gradient(loss, x))
    return errors


def seq2seq(units: int, features: int, dtype: str = "float32", seed: int = 0):
    """The Keras seq2seq tutorial's training model: encoder states start the decoder."""
    enc_in = models.Input(shape=(None, features), dtype=dtype, name="encoder_inputs")
    _, h, c = layers.LSTM(units, return_state=True, dtype=dtype, seed=seed)(enc_in)
    dec_in = models.Input(shape=(None, features), dtype=dtype, name="decoder_inputs")
    decoder = layers.LSTM(
        units, return_sequences=True, return_state=True, dtype=dtype, seed=seed + 1
    )
    seq, _, _ = decoder(dec_in, initial_state=[h, c])
    dense = layers.Dense(features, activation="softmax", dtype=dtype, seed=seed + 2)
    return models.Model([enc_in, dec_in], dense(seq)), (enc_in, h, c, decoder, dense)


# -- graph building -------------------------------------------------------------------------------
def test_symbolic_shapes_follow_the_layers():
    x = models.Input(shape=(None, 100))
    y, h, c = layers.LSTM(64, return_sequences=True, return_state=True)(x)
    assert (y.shape, h.shape, c.shape) == ((None, None, 64), (None, 64), (None, 64))
    assert layers.Dense(10)(y).shape == (None, None, 10)
    fixed = models.Input(shape=(7, 3))
    assert layers.GRU(5, return_sequences=True)(fixed).shape == (None, 7, 5)
    ids = models.Input(shape=(None,), dtype="int32")
    assert layers.Embedding(20, 8, mask_zero=True)(ids).shape == (None, None, 8)
    both = rnnlab.Bidirectional(layers.LSTM(4, return_sequences=True), merge_mode=None)(x)
    assert [t.shape for t in both] == [(None, None, 4), (None, None, 4)]
    assert layers.RepeatVector(6)(h).shape == (None, 6, 64)
    assert layers.concatenate([h, c]).shape == (None, 128)


def test_symbolic_tensors_have_no_values():
    x = models.Input(shape=(3,))
    with pytest.raises(TypeError, match="placeholder without values"):
        np.asarray(x)
    with pytest.raises(TypeError, match="use the layers"):
        x + x
    with pytest.raises(NotImplementedError, match="mask= on a call with symbolic tensors"):
        layers.Dense(2)(x, mask=np.ones((1,), bool))
    with pytest.raises(TypeError, match="expected the inputs as symbolic tensors"):
        layers.Add()([x, np.ones((1, 3))])


def test_a_wrong_input_names_the_layer_and_both_shapes():
    x = models.Input(shape=(None, 100))
    lstm = layers.LSTM(8, name="enc")
    lstm(x)
    with pytest.raises(
        ValueError,
        match=r"Input 0 of layer 'enc' \(LSTM\) is incompatible with "
        r"the layer: expected shape=\(None, None, 100\), found "
        r"shape=\(None, None, 50\)",
    ):
        lstm(models.Input(shape=(None, 50)))
    with pytest.raises(
        ValueError,
        match=r"layer 'flat' \(GRU\) cannot be called on an input "
        r"of shape \(None, 100\)",
    ):
        layers.GRU(4, name="flat")(models.Input(shape=(100,)))


def test_graph_errors():
    a, b = models.Input(shape=(3,)), models.Input(shape=(3,))
    out = layers.Dense(2)(a)
    with pytest.raises(ValueError, match="graph disconnected"):
        models.Model(b, layers.Dense(2)(layers.add([a, b])))
    with pytest.raises(ValueError, match="not used to compute any output"):
        models.Model([a, b], out)
    with pytest.raises(ValueError, match="must come from rnnlab.models.Input"):
        models.Model(out, layers.Dense(1)(out))
    with pytest.raises(NotImplementedError, match="subclassed models"):
        models.Model()
    with pytest.raises(NotImplementedError, match="outputs given as a dict"):
        models.Model(a, {"o": out})
    with pytest.raises(TypeError, match="unexpected arguments"):
        models.Model(a, out, trainable=False)
    model = models.Model(a, out)
    with pytest.raises(TypeError, match="layers come from its graph"):
        model.add(layers.Dense(3))
    with pytest.raises(NotImplementedError, match="a model as a layer"):
        model(models.Input(shape=(3,)))


# -- forward / backward ---------------------------------------------------------------------------
def test_a_chain_equals_the_sequential_of_the_same_layers(rng):
    ids = models.Input(shape=(None,), dtype="int64")
    emb = layers.Embedding(12, 6, mask_zero=True, seed=1)
    lstm = layers.LSTM(7, return_sequences=True, seed=2)
    dense = layers.Dense(12, seed=3)
    model = models.Model(ids, dense(lstm(emb(ids))))
    seq = rnnlab.Sequential([emb, lstm, dense])
    x = rng.integers(1, 12, (5, 9))
    x[1, 6:] = 0  # padding, masked through the graph
    y = rng.integers(0, 12, (5, 9))
    np.testing.assert_array_equal(model.predict(x), seq.predict(x))
    loss = rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True)
    for m in (model, seq):
        m.compile("sgd", loss, metrics=["accuracy"])
    assert model.evaluate(x, y) == seq.evaluate(x, y)
    assert model.output_mask.tolist() == (x != 0).tolist()
    model.forward(x, training=True)
    _, dy = loss.value_and_grad(y, model.forward(x, training=True), model.output_mask)
    model.backward(dy)
    grads = {k: g.copy() for k, g in model.named_grads().items()}
    seq.forward(x, training=True)
    seq.backward(dy)
    for key, g in seq.named_grads().items():
        np.testing.assert_array_equal(grads[key], g)


def test_encoder_decoder_state_passing_gradients_float64(rng):
    model, _ = seq2seq(units=4, features=3, dtype="float64")
    xs = [rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 3))]
    errors = model_gradcheck(model, xs)
    assert max(errors.values()) <= TOLERANCE, errors
    assert "lstm.weight_ih" in errors or any("weight_ih" in k for k in errors)


def test_a_tensor_read_by_several_layers_sums_its_gradients_float64(rng):
    x = models.Input(shape=(None, 3), **F64)
    rnn = layers.SimpleRNN(4, return_sequences=True, **F64)(x)
    a = layers.Dense(4, activation="tanh", **F64)(rnn)  # rnn feeds a, b and add
    b = layers.GRU(4, return_sequences=True, **F64)(rnn)
    merged = layers.Add(**F64)
    total = merged([a, b, rnn])
    joined = layers.Concatenate(**F64)([total, x])  # x is read twice too
    last = layers.LSTM(2, **F64)(joined)
    summary = layers.Dense(1, **F64)(layers.RepeatVector(2, **F64)(last))
    model = models.Model(x, [joined, summary])
    errors = model_gradcheck(model, rng.standard_normal((3, 5, 3)))
    assert max(errors.values()) <= TOLERANCE, errors


def test_masks_flow_through_masking_and_bidirectional_states_float64(rng):
    x = models.Input(shape=(None, 3), **F64)
    masked = layers.Masking(**F64)(x)
    bi = rnnlab.Bidirectional(layers.GRU(3, return_sequences=True, return_state=True, **F64))
    seq, hf, hb = bi(masked)
    out = layers.Dense(2, **F64)(layers.concatenate([hf, hb], dtype="float64"))
    model = models.Model(x, [seq, out])
    data = rng.standard_normal((3, 6, 3)) + 2.0  # no step is all zeros by chance
    data[0, 4:] = 0.0
    got_seq, _ = model.predict(data)
    assert np.all(got_seq[0, 4:] == 0.0)  # masked steps output 0
    f = rnnlab.Sequential([layers.Masking(**F64)])  # same result with the mask given directly
    mask = np.any(f.forward(data) != 0, axis=-1)
    ref = bi.forward(data, mask=mask)
    np.testing.assert_allclose(got_seq, ref[0], rtol=1e-12)
    errors = model_gradcheck(model, data[1:])  # rows without masked steps: differentiable
    assert max(errors.values()) <= TOLERANCE, errors


def test_training_true_node_runs_dropout_at_predict(rng):
    x = models.Input(shape=(50,))
    always = models.Model(x, layers.Dropout(0.5, seed=0)(x, training=True))
    never = models.Model(x, layers.Dropout(0.5, seed=0)(x))
    data = rng.standard_normal((4, 50)) + 3.0
    assert np.mean(always.predict(data) == 0.0) > 0.2
    np.testing.assert_array_equal(never.predict(data), data.astype(np.float32))


# -- training -------------------------------------------------------------------------------------
def reversal_data(n: int, steps: int, symbols: int, rng) -> tuple:
    """One-hot sequences of symbols 1..V−1; the target is the sequence reversed; the decoder
    reads the target shifted right by one step (teacher forcing, start symbol 0)."""
    ids = rng.integers(1, symbols, (n, steps))
    eye = np.eye(symbols, dtype=np.float32)
    target = eye[ids[:, ::-1]]
    decoder_in = np.concatenate([np.zeros((n, 1, symbols), np.float32), target[:, :-1]], axis=1)
    decoder_in[:, 0, 0] = 1.0
    return eye[ids], decoder_in, target


def test_encoder_decoder_learns_to_reverse_sequences():
    rng = np.random.default_rng(0)
    rnnlab.config.set_seed(0)
    x_enc, x_dec, y = reversal_data(384, 4, 5, rng)
    model, _ = seq2seq(units=32, features=5)
    model.compile(
        optimizer=rnnlab.optimizers.Adam(0.01),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        [x_enc, x_dec], y, epochs=12, batch_size=32, verbose=0, validation_split=0.125
    )
    loss, acc = history.history["loss"], history.history["val_accuracy"]
    assert loss[-1] < 0.5 * loss[0]
    assert acc[-1] > 0.6  # chance: 1/4 of the symbols 1..4


def test_seq2seq_inference_models_reuse_the_trained_layers():
    """The tutorial's second half: an encoder model and a one-step decoder model, built from the
    trained layers, decode greedily; the result equals the training model's teacher-forced
    prediction when fed the right inputs."""
    rng = np.random.default_rng(1)
    model, (enc_in, h, c, decoder, dense) = seq2seq(units=8, features=4)
    encoder_model = models.Model(enc_in, [h, c])
    state_h, state_c = models.Input(shape=(8,)), models.Input(shape=(8,))
    step_in = models.Input(shape=(None, 4))
    seq, h2, c2 = decoder(step_in, initial_state=[state_h, state_c])
    decoder_model = models.Model([step_in, state_h, state_c], [dense(seq), h2, c2])
    x_enc, x_dec, _ = reversal_data(3, 5, 4, rng)
    states = encoder_model.predict(x_enc)
    steps = []
    for t in range(5):
        out, *states = decoder_model.predict([x_dec[:, t : t + 1], *states])
        steps.append(out)
    np.testing.assert_allclose(
        np.concatenate(steps, axis=1), model.predict([x_enc, x_dec]), rtol=1e-5, atol=1e-6
    )
    assert decoder_model.graph.shared == []  # each model calls the decoder once


def test_shared_layers_predict_but_refuse_to_train(rng):
    x = models.Input(shape=(3,))
    dense = layers.Dense(3)
    model = models.Model(x, dense(dense(x)))
    data = rng.standard_normal((4, 3)).astype(np.float32)
    w, b = dense.params["weight"], dense.params["bias"]
    np.testing.assert_allclose(model.predict(data), (data @ w.T + b) @ w.T + b, rtol=1e-5)
    model.compile("sgd", "mse")
    with pytest.raises(NotImplementedError, match="called at several places"):
        model.fit(data, data, verbose=0)


def test_several_outputs_losses_weights_metrics_and_logs(rng):
    x = models.Input(shape=(None, 4), name="x")
    h = layers.GRU(8, seed=0)(x)
    cls = layers.Dense(3, activation="softmax", name="cls", seed=1)(h)
    reg = layers.Dense(1, name="reg", seed=2)(h)
    model = models.Model({"x": x}, [cls, reg])
    model.compile(
        "adam",
        loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
        loss_weights={"cls": 1.0, "reg": 0.5},
        metrics={"cls": ["accuracy"]},
    )
    data = rng.standard_normal((40, 5, 4)).astype(np.float32)
    y_cls = rng.integers(0, 3, 40)
    y_reg = data.sum(axis=(1, 2))[:, None]
    history = model.fit(
        {"x": data},
        {"cls": y_cls, "reg": y_reg},
        epochs=2,
        batch_size=8,
        verbose=0,
        validation_data=({"x": data}, [y_cls, y_reg]),
    )
    assert set(history.history) == {
        "loss",
        "cls_loss",
        "reg_loss",
        "cls_accuracy",
        "val_loss",
        "val_cls_loss",
        "val_reg_loss",
        "val_cls_accuracy",
    }
    result = model.evaluate([data], [y_cls, y_reg], return_dict=True)
    assert result["loss"] == pytest.approx(result["cls_loss"] + 0.5 * result["reg_loss"], rel=1e-6)
    p_cls, p_reg = model.predict(data)
    assert p_cls.shape == (40, 3) and p_reg.shape == (40, 1)
    with pytest.raises(ValueError, match="names unknown outputs"):
        model.compile("adam", loss={"nope": "mse"})
    with pytest.raises(ValueError, match="as a list of 2"):
        model.compile("adam", loss=["mse"])
    with pytest.raises(ValueError, match=r"keyed by \['x'\]"):
        model.predict({"y": data})


def test_bad_data_names_the_input_and_the_shapes(rng):
    model, _ = seq2seq(units=4, features=3)
    with pytest.raises(
        ValueError,
        match=r"as a list of 2 arrays \(for \['encoder_inputs', "
        r"'decoder_inputs'\]\)",
    ):
        model.predict(rng.standard_normal((2, 5, 3)))
    with pytest.raises(
        ValueError,
        match=r"Input 'decoder_inputs' is incompatible with the data: "
        r"expected shape=\(None, None, 3\), found shape="
        r"\(2, 5, 2\)",
    ):
        model.predict([rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 5, 2))])
    with pytest.raises(ValueError, match="different numbers of samples"):
        model.predict([rng.standard_normal((2, 5, 3)), rng.standard_normal((3, 5, 3))])


# -- description and files ------------------------------------------------------------------------
def test_summary_is_the_keras_table():
    model, _ = seq2seq(units=16, features=8)
    text = model.summary(print_fn=None)
    lines = text.splitlines()
    assert lines[0] == f'Model: "{model.name}"'
    assert "┃ Layer (type)" in lines[2] and "Connected to" in lines[2]
    assert any("encoder_inputs (InputLayer)" in ln and "(None, None, 8)" in ln for ln in lines)
    lstm_rows = [ln for ln in lines if "(LSTM)" in ln]
    assert any(f"{4 * 16 * (8 + 16) + 2 * 4 * 16:,}" in ln for ln in lstm_rows)  # two biases
    assert any("decoder_inputs[0][0]," in ln for ln in lines)
    assert (
        lines[-3].startswith(" Total params: ") and lines[-1] == " Non-trainable params: 0 (0.00 B)"
    )
    count = model.count_params()
    assert f"{count:,} ({count * 4 / 1024:.2f} KB)" in lines[-3]


def test_save_and_load_round_trip(tmp_path, rng):
    ids = models.Input(shape=(None,), dtype="int32", name="ids")
    frames = models.Input(shape=(None, 3), name="frames")
    e = layers.Embedding(9, 4, mask_zero=True)(ids)
    joined = layers.concatenate([e, frames])
    seq, h = layers.GRU(5, return_sequences=True, return_state=True)(joined)
    out = layers.Dense(2)(layers.LSTM(3)(seq, initial_state=None))
    model = models.Model({"ids": ids, "frames": frames}, [out, h], name="two_in")
    model.metadata["note"] = "kept"
    path = tmp_path / "model.safetensors"
    model.save(path)
    again = models.load_model(path)
    assert isinstance(again, models.Model) and again.name == "two_in"
    assert again.metadata == {"note": "kept"}
    assert json.dumps(again.get_config()) == json.dumps(model.get_config())
    x = {"ids": rng.integers(0, 9, (4, 6)), "frames": rng.standard_normal((4, 6, 3))}
    for a, b in zip(model.predict(x), again.predict(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_from_config_rejects_bad_graphs():
    model, _ = seq2seq(units=2, features=2)
    cfg = model.get_config()
    cfg["graph"]["nodes"][2]["inputs"] = [[9, 0]]
    with pytest.raises(ValueError, match=r"bad tensor reference \[9, 0\]"):
        models.Model.from_config(cfg)
    cfg = model.get_config()
    cfg["graph"]["nodes"][1]["layer"] = "missing"
    with pytest.raises(ValueError, match="names no layer of the model"):
        models.Model.from_config(cfg)


def test_callbacks_work_on_functional_models(tmp_path, rng):
    """EarlyStopping restores the best weights and ModelCheckpoint writes a loadable Model."""
    rnnlab.config.set_seed(1)
    model, _ = seq2seq(units=8, features=3)
    model.compile(optimizer=rnnlab.optimizers.Adam(0.02), loss="categorical_crossentropy")
    x_enc, x_dec, y = reversal_data(64, 3, 3, rng)
    path = tmp_path / "best.safetensors"
    stop = rnnlab.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    save = rnnlab.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = model.fit(
        [x_enc, x_dec],
        y,
        epochs=30,
        batch_size=16,
        verbose=0,
        validation_split=0.25,
        callbacks=[stop, save],
    )
    assert path.exists()
    best = models.load_model(path)
    with pytest.raises(RuntimeError, match="Model 'functional.*call compile"):
        best.evaluate([x_enc, x_dec], y)
    best.compile(loss="categorical_crossentropy")
    val = [x_enc[-16:], x_dec[-16:]]
    np.testing.assert_allclose(
        best.evaluate(val, y[-16:]), min(history.history["val_loss"]), rtol=1e-5
    )
