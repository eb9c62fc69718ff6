"""rnnlab.layers.keras_compat: Keras' argument rules and the weight-order conversions."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.layers.keras_compat import (
    accepted_arguments,
    check_arguments,
    check_input_shape,
    gated_from_keras,
    gated_to_keras,
    permute_blocks,
)


class _Base:
    def __init__(self, *, name=None, dtype=None, **extra):
        pass


class _Layer(_Base):
    def __init__(self, units, activation="tanh", *, return_sequences=False, **kwargs):
        super().__init__(**kwargs)


def test_accepted_arguments_walk_the_constructors():
    assert accepted_arguments(_Layer) == [
        "units",
        "activation",
        "return_sequences",
        "name",
        "dtype",
    ]


def test_unknown_arguments_suggest_the_nearest_known_one():
    known = accepted_arguments(_Layer)
    with pytest.raises(
        TypeError,
        match=r"LSTM 'x': unknown argument 'unit'; did you mean "
        r"'units'\?",
    ):
        check_arguments("LSTM 'x'", {"unit": 3}, known)
    with pytest.raises(TypeError, match=r"did you mean 'return_sequences'\?"):
        check_arguments("L", {"return_sequence": True}, known)
    with pytest.raises(TypeError, match="known arguments"):
        check_arguments("L", {"zzz": 1}, known)


def test_keras_features_without_rnnlab_support_raise_not_implemented():
    with pytest.raises(NotImplementedError, match="kernel_regularizer='l2' is a Keras feature"):
        check_arguments("Dense 'd'", {"kernel_regularizer": "l2"}, [])
    with pytest.raises(NotImplementedError, match="trainable=False"):
        check_arguments("Dense 'd'", {"trainable": False}, [])
    check_arguments(
        "LSTM 'l'",
        {
            "kernel_regularizer": None,
            "trainable": True,
            "unroll": True,
            "use_cudnn": "auto",
            "zero_output_for_mask": True,
        },
        [],
    )


def test_input_shape():
    assert check_input_shape((None, 100), "L") == (None, 100)
    assert check_input_shape(None, "L") is None
    with pytest.raises(ValueError, match="expected input_shape as a tuple"):
        check_input_shape((0, 3), "L")
    with pytest.raises(ValueError, match="expected input_shape as a tuple"):
        check_input_shape(100, "L")


@pytest.mark.parametrize(
    ("order", "n_bias"),
    [((0,), 1), ((0, 1, 2, 3), 1), ((1, 0, 2), 2), ((1, 0, 2), 1), ((1, 0, 2), 0)],
)
def test_gated_weights_round_trip_and_keras_layout(order, n_bias, rng):
    G, H, I = len(order), 3, 5
    params = {
        "weight_ih": rng.standard_normal((G * H, I)),
        "weight_hh": rng.standard_normal((G * H, H)),
    }
    biases = [rng.standard_normal(G * H) for _ in range(n_bias)]
    keras = gated_to_keras(params, order, biases)
    assert keras[0].shape == (I, G * H) and keras[1].shape == (H, G * H)
    if n_bias:
        assert keras[2].shape == ((G * H,) if n_bias == 1 else (2, G * H))
    for k, src in enumerate(order):  # Keras' block k is PyTorch's block order[k]
        np.testing.assert_array_equal(
            keras[0][:, k * H : (k + 1) * H], params["weight_ih"][src * H : (src + 1) * H].T
        )
    shapes = {name: a.shape for name, a in params.items()}
    w_ih, w_hh, back = gated_from_keras(keras, order, n_bias, "L", shapes)
    np.testing.assert_array_equal(w_ih, params["weight_ih"])
    np.testing.assert_array_equal(w_hh, params["weight_hh"])
    for a, b in zip(back, biases, strict=True):
        np.testing.assert_array_equal(a, b)


def test_gated_from_keras_errors(rng):
    shapes = {"weight_ih": (6, 4), "weight_hh": (6, 2)}
    good = [rng.standard_normal((4, 6)), rng.standard_normal((2, 6)), rng.standard_normal(6)]
    with pytest.raises(ValueError, match=r"expected 3 arrays \(kernel, recurrent_kernel, bias\)"):
        gated_from_keras(good[:2], (0, 1, 2), 1, "GRU 'g'", shapes)
    with pytest.raises(
        ValueError,
        match=r"expected recurrent_kernel of shape \(2, 6\) "
        r"\(Keras' layout\), got \(6, 2\)",
    ):
        gated_from_keras([good[0], good[1].T, good[2]], (0, 1, 2), 1, "GRU 'g'", shapes)
    assert permute_blocks(np.arange(6), (2, 0, 1)).tolist() == [4, 5, 0, 1, 2, 3]
