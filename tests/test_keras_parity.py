"""Keras parity: weights copied from Keras 3 (torch backend) give Keras' outputs within 1e-5 in
float32; parameter counts equal Keras' for every layer; Keras files load and predict the same.
Skipped with a reason without keras; RNNLAB_REQUIRE_KERAS=1 (CI) makes a missing keras fail."""

from __future__ import annotations

import numpy as np
import pytest

from _keras import keras, keras_marks
from rnnlab import keras_files, layers, models

TOL = 1e-5
pytestmark = keras_marks(__name__)


def run_keras(model, x):
    out = model(x)
    if isinstance(out, (list, tuple)):
        return [keras.ops.convert_to_numpy(o) for o in out]
    return keras.ops.convert_to_numpy(out)


def max_diff(a, b) -> float:
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        return max(max_diff(p, q) for p, q in zip(a, b, strict=True))
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.abs(a - b).max())


def random_biases(k_model, seed: int = 0) -> None:
    """Keras initialises biases to zero; nonzero ones test their order and placement."""
    rng = np.random.default_rng(seed)
    k_model.set_weights(
        [
            w
            if w.ndim > 1 and w.shape[0] != 2
            else rng.uniform(-0.5, 0.5, w.shape).astype(np.float32)
            for w in k_model.get_weights()
        ]
    )


def recurrent(kind: str, K, **kw):
    """The same recurrent layer in Keras (K = keras.layers) and rnnlab (K = rnnlab.layers)."""
    extra = {"bias": "keras"} if K is layers else {}
    if kind == "simple_rnn":
        return K.SimpleRNN(7, **kw, **extra)
    if kind == "simple_rnn_relu":
        return K.SimpleRNN(7, activation="relu", **kw, **extra)
    if kind == "lstm":
        return K.LSTM(7, **kw, **extra)
    if kind == "gru_reset_after":
        return K.GRU(7, reset_after=True, **kw, **extra)
    return K.GRU(7, reset_after=False, **kw, **extra)


KINDS = ["simple_rnn", "simple_rnn_relu", "lstm", "gru_reset_after", "gru_reset_before"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("return_sequences", [False, True])
def test_recurrent_layers_match_keras(kind, return_sequences, rng):
    x = rng.standard_normal((4, 9, 5)).astype(np.float32)
    k_layer = recurrent(kind, keras.layers, return_sequences=return_sequences)
    k_model = keras.Sequential([keras.Input((None, 5)), k_layer])
    random_biases(k_model)
    r_layer = recurrent(kind, layers, return_sequences=return_sequences, input_shape=(None, 5))
    r_model = models.Sequential([r_layer])
    assert r_layer.count_params() == k_layer.count_params()
    r_layer.set_weights(k_layer.get_weights())
    for a, b in zip(r_layer.get_weights(), k_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # set then get: Keras' arrays unchanged
    assert max_diff(r_model.predict(x), run_keras(k_model, x)) <= TOL


@pytest.mark.parametrize("kind", ["lstm", "gru_reset_after", "simple_rnn"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave"])
def test_bidirectional_matches_keras(kind, merge_mode, rng):
    x = rng.standard_normal((3, 6, 4)).astype(np.float32)
    k_model = keras.Sequential(
        [
            keras.Input((None, 4)),
            keras.layers.Bidirectional(
                recurrent(kind, keras.layers, return_sequences=True), merge_mode=merge_mode
            ),
        ]
    )
    random_biases(k_model, 1)
    r_model = models.Sequential(
        [
            layers.Bidirectional(
                recurrent(kind, layers, return_sequences=True),
                merge_mode=merge_mode,
                input_shape=(None, 4),
            ),
        ]
    )
    assert r_model.count_params() == k_model.count_params()
    r_model.set_weights(k_model.get_weights())
    assert max_diff(r_model.predict(x), run_keras(k_model, x)) <= TOL


def test_stacked_model_with_masks_matches_keras(rng):
    ids = rng.integers(1, 20, (5, 8))
    ids[1, 5:] = 0  # padding: Embedding(mask_zero=True) masks it for every layer after
    ids[3, 2:] = 0
    k_model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(20, 6, mask_zero=True),
            keras.layers.LSTM(8, return_sequences=True),
            keras.layers.GRU(8, return_sequences=True, reset_after=False),
            keras.layers.SimpleRNN(5),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    random_biases(k_model, 2)
    r_model = models.Sequential(
        [
            layers.Embedding(20, 6, mask_zero=True, input_shape=(None,)),
            layers.LSTM(8, return_sequences=True, bias="keras"),
            layers.GRU(8, return_sequences=True, reset_after=False, bias="keras"),
            layers.SimpleRNN(5, bias="keras"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    assert [layer.count_params() for layer in r_model.layers] == [
        layer.count_params() for layer in k_model.layers
    ]
    r_model.set_weights(k_model.get_weights())  # the model's Keras-order list, as a whole
    assert max_diff(r_model.predict(ids), run_keras(k_model, ids.astype(np.int32))) <= TOL


def test_return_state_encoder_decoder_matches_keras(rng):
    def build(K, In, Model, **extra):
        enc_in = In(shape=(None, 4))
        _, h, c = K.LSTM(6, return_state=True, **extra)(enc_in)
        dec_in = In(shape=(None, 3))
        seq, h2, c2 = K.LSTM(6, return_sequences=True, return_state=True, **extra)(
            dec_in, initial_state=[h, c]
        )
        out = K.Dense(3, activation="softmax")(seq)
        return Model([enc_in, dec_in], [out, h2, c2])

    k_model = build(keras.layers, keras.Input, keras.Model)
    random_biases(k_model, 3)
    r_model = build(layers, models.Input, models.Model, bias="keras")
    assert r_model.count_params() == k_model.count_params()
    r_model.set_weights(k_model.get_weights())
    x = [
        rng.standard_normal((2, 5, 4)).astype(np.float32),
        rng.standard_normal((2, 7, 3)).astype(np.float32),
    ]
    assert max_diff(r_model.predict(x), run_keras(k_model, x)) <= TOL


def test_parameter_counts_equal_keras_for_every_layer():
    def pair(make_k, make_r, shape):
        k = keras.Sequential([keras.Input(shape), make_k()])
        r = models.Sequential([make_r()])
        r.build(shape)
        return r.count_params(), k.count_params()

    K, R = keras.layers, layers
    cases = {
        "SimpleRNN(32) on 100": pair(
            lambda: K.SimpleRNN(32), lambda: R.SimpleRNN(32, bias="keras"), (None, 100)
        ),
        "LSTM(64) on 100": pair(lambda: K.LSTM(64), lambda: R.LSTM(64, bias="keras"), (None, 100)),
        "GRU(16)": pair(lambda: K.GRU(16), lambda: R.GRU(16, bias="keras"), (None, 10)),
        "GRU(16, reset_after=False)": pair(
            lambda: K.GRU(16, reset_after=False),
            lambda: R.GRU(16, reset_after=False, bias="keras"),
            (None, 10),
        ),
        "LSTM(8, use_bias=False)": pair(
            lambda: K.LSTM(8, use_bias=False), lambda: R.LSTM(8, use_bias=False), (None, 10)
        ),
        "Dense(10)": pair(lambda: K.Dense(10), lambda: R.Dense(10), (100,)),
        "Dense(10, use_bias=False)": pair(
            lambda: K.Dense(10, use_bias=False), lambda: R.Dense(10, use_bias=False), (100,)
        ),
        "Embedding(50, 8)": pair(lambda: K.Embedding(50, 8), lambda: R.Embedding(50, 8), (None,)),
        "Bidirectional(LSTM(5))": pair(
            lambda: K.Bidirectional(K.LSTM(5)),
            lambda: R.Bidirectional(R.LSTM(5, bias="keras")),
            (None, 7),
        ),
        "TimeDistributed(Dense(4))": pair(
            lambda: K.TimeDistributed(K.Dense(4)), lambda: R.TimeDistributed(R.Dense(4)), (None, 6)
        ),
        "RepeatVector(3)": pair(lambda: K.RepeatVector(3), lambda: R.RepeatVector(3), (6,)),
        "Masking()": pair(lambda: K.Masking(), lambda: R.Masking(), (None, 6)),
    }
    assert cases["SimpleRNN(32) on 100"][0] == 4_256
    assert cases["LSTM(64) on 100"][0] == 42_240
    unequal = {name: counts for name, counts in cases.items() if counts[0] != counts[1]}
    assert not unequal, unequal


# -- files ----------------------------------------------------------------------------------------
def keras_seq2seq():
    enc_in = keras.Input((None, 4), name="enc_in")
    _, h, c = keras.layers.LSTM(6, return_state=True, name="encoder")(enc_in)
    dec_in = keras.Input((None, 3), name="dec_in")
    seq = keras.layers.LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    seq = keras.layers.Bidirectional(keras.layers.GRU(4, return_sequences=True, reset_after=False))(
        seq
    )
    joined = keras.layers.Concatenate()([seq, keras.layers.RepeatVector(6)(h)])
    out = keras.layers.TimeDistributed(keras.layers.Dense(3, activation="softmax"))(joined)
    return keras.Model([enc_in, dec_in], out, name="tutorial")


def test_a_keras_file_loads_and_predicts_the_same(tmp_path, rng):
    k_model = keras_seq2seq()
    random_biases(k_model, 4)
    path = tmp_path / "tutorial.keras"
    k_model.save(path)
    r_model = keras_files.load_keras_model(path)
    assert isinstance(r_model, models.Model) and r_model.name == "tutorial"
    assert [layer.name for layer in r_model.layers if layer.count_params()] == [
        layer.name for layer in k_model.layers if layer.count_params()
    ]
    assert r_model.count_params() == k_model.count_params()
    x = [
        rng.standard_normal((2, 5, 4)).astype(np.float32),
        rng.standard_normal((2, 6, 3)).astype(np.float32),
    ]
    assert max_diff(r_model.predict(x), run_keras(k_model, x)) <= TOL
    # the same weights through a .weights.h5 file into the rebuilt model
    weights = tmp_path / "tutorial.weights.h5"
    random_biases(k_model, 5)
    k_model.save_weights(weights)
    keras_files.load_weights(r_model, weights)
    assert max_diff(r_model.predict(x), run_keras(k_model, x)) <= TOL


def test_a_keras_sequential_file_loads(tmp_path, rng):
    k_model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(12, 5, mask_zero=True),
            keras.layers.SimpleRNN(4, return_sequences=True),
            keras.layers.Dropout(0.2),
            keras.layers.LSTM(3),
            keras.layers.RepeatVector(2),
            keras.layers.GRU(2, return_sequences=True),
        ]
    )
    random_biases(k_model, 6)
    path = tmp_path / "seq.keras"
    k_model.save(path)
    r_model = keras_files.load_keras_model(path)
    ids = rng.integers(0, 12, (3, 7))
    assert max_diff(r_model.predict(ids), run_keras(k_model, ids.astype(np.int32))) <= TOL


def test_keras_files_refuse_what_rnnlab_lacks(tmp_path):
    k_model = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.LSTM(4, kernel_regularizer="l2")]
    )
    k_model.save(tmp_path / "reg.keras")
    with pytest.raises(NotImplementedError, match="kernel_regularizer"):
        keras_files.load_keras_model(tmp_path / "reg.keras")
    conv = keras.Sequential([keras.Input((8, 3)), keras.layers.Conv1D(2, 3)])
    conv.save(tmp_path / "conv.keras")
    with pytest.raises(NotImplementedError, match="Conv1D"):
        keras_files.load_keras_model(tmp_path / "conv.keras")
    flipped = keras.Sequential(
        [keras.Input((None, 3)), keras.layers.GRU(2, go_backwards=True, return_sequences=True)]
    )
    flipped.save(tmp_path / "flipped.keras")
    with pytest.raises(NotImplementedError, match="go_backwards=True with return_sequences"):
        keras_files.load_keras_model(tmp_path / "flipped.keras")
    (tmp_path / "bad.keras").write_bytes(b"not a zip")
    with pytest.raises(keras_files.KerasFileError, match="not a .keras archive"):
        keras_files.load_keras_model(tmp_path / "bad.keras")
    weights = tmp_path / "w.weights.h5"
    keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4)]).save_weights(weights)
    other = models.Sequential([layers.GRU(4, bias="keras", name="other", input_shape=(None, 3))])
    with pytest.raises(
        keras_files.KerasFileError,
        match=r"the model has \['gru \(other\)'\] "
        r"which the file lacks, the file has "
        r"\['lstm'\]",
    ):
        keras_files.load_weights(other, weights)
    wider = models.Sequential([layers.LSTM(5, bias="keras", input_shape=(None, 3))])
    with pytest.raises(
        ValueError,
        match=r"expected kernel of shape \(3, 20\) \(Keras' layout\), "
        r"got \(3, 16\)",
    ):
        keras_files.load_weights(wider, weights)


def test_sequential_summary_is_keras_table_character_for_character():
    def keras_text(model) -> str:
        lines: list[str] = []
        model.summary(print_fn=lambda text, **kw: lines.append(text))
        return "".join(lines).rstrip("\n")

    k_model = keras.Sequential(
        [
            keras.Input((None, 100)),
            keras.layers.LSTM(64, return_sequences=True, name="lstm_a"),
            keras.layers.LSTM(64, name="lstm_b"),
            keras.layers.Dense(10, activation="softmax", name="out"),
        ],
        name="model_lstm",
    )
    r_model = models.Sequential(
        [
            layers.LSTM(
                64, return_sequences=True, name="lstm_a", bias="keras", input_shape=(None, 100)
            ),
            layers.LSTM(64, name="lstm_b", bias="keras"),
            layers.Dense(10, activation="softmax", name="out"),
        ],
        name="model_lstm",
    )
    assert r_model.summary(print_fn=None) == keras_text(k_model)
