"""The Keras-facing layers added for functional models: merge layers, RepeatVector, Masking,
InputLayer — values, float64 finite differences, masks, configs and errors."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from rnnlab import layers
from rnnlab.gradcheck import TOLERANCE, assert_layer_gradients, numerical_gradient, relative_error


def check_list_layer(layer, xs: list[np.ndarray], seed: int = 0) -> dict[str, float]:
    """Finite differences for a layer taking a list of float64 arrays (gradcheck takes one)."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    probe = np.random.default_rng(seed).standard_normal(layer.forward(xs).shape)

    def loss() -> float:
        return float(np.sum(probe * layer.forward(xs)))

    layer.forward(xs)
    analytic = layer.backward(probe)
    return {
        f"input {i}": relative_error(a, numerical_gradient(loss, x))
        for i, (a, x) in enumerate(zip(analytic, xs, strict=True))
    }


MERGES = {
    "add": (layers.Add, lambda xs: xs[0] + xs[1] + xs[2]),
    "multiply": (layers.Multiply, lambda xs: xs[0] * xs[1] * xs[2]),
    "average": (layers.Average, lambda xs: (xs[0] + xs[1] + xs[2]) / 3),
    "concatenate": (layers.Concatenate, lambda xs: np.concatenate(xs, axis=-1)),
}


@pytest.mark.parametrize("kind", sorted(MERGES))
def test_merge_layers_values_and_gradients(kind, rng):
    cls, reference = MERGES[kind]
    xs = [rng.standard_normal((3, 4, 5)) for _ in range(3)]
    layer = cls(dtype="float64")
    np.testing.assert_allclose(layer.forward(xs), reference(xs), rtol=1e-12)
    errors = check_list_layer(layer, xs)
    assert max(errors.values()) <= TOLERANCE, errors


def test_subtract_and_concatenate_on_time_axis(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))
    sub = layers.Subtract(dtype="float64")
    np.testing.assert_allclose(sub.forward([a, a * 2]), -a)
    assert max(check_list_layer(sub, [a, a * 2]).values()) <= TOLERANCE
    cat = layers.Concatenate(axis=1, dtype="float64")
    assert cat.forward([a, b]).shape == (2, 8, 4)
    assert max(check_list_layer(cat, [a, b]).values()) <= TOLERANCE
    with pytest.raises(ValueError, match="expected 2 inputs, got 3"):
        layers.Subtract().forward([a, a, a])


def test_merge_masks(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 6))
    m1 = np.array([[True, True, False], [True, False, False]])
    m2 = np.array([[True, False, True], [True, True, False]])
    assert layers.Add().compute_mask([m1, m2], inputs=[a, a]).tolist() == (m1 & m2).tolist()
    assert layers.Add().compute_mask([m1, None], inputs=[a, a]).tolist() == m1.tolist()
    assert layers.Add().compute_mask(None, inputs=[a, a]) is None
    assert layers.Concatenate().compute_mask([m1, m2], inputs=[a, b]).tolist() == (m1 & m2).tolist()
    time_mask = layers.Concatenate(axis=1).compute_mask([m1, None], inputs=[a, a])
    assert time_mask.tolist() == np.concatenate([m1, np.ones_like(m1)], axis=1).tolist()
    with pytest.raises(ValueError, match="expected 2 masks, got 1"):
        layers.Add().compute_mask([m1], inputs=[a, a])


def test_merge_shape_errors_name_the_layer_and_the_shapes(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    with pytest.raises(
        ValueError,
        match=r"Add 'bad_add': expected inputs of equal shapes, "
        r"found shapes \(None, 3\), \(None, 4\)",
    ):
        layers.Add(name="bad_add").forward([a, b])
    with pytest.raises(ValueError, match="equal shapes except on the concatenation axis"):
        layers.Concatenate().forward(
            [rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 5, 4))]
        )
    with pytest.raises(ValueError, match="one batch size"):
        layers.Add().forward([a, a[:1]])
    with pytest.raises(TypeError, match="expected a list of arrays"):
        layers.Add().forward(a)
    with pytest.raises(ValueError, match="non-zero int"):
        layers.Concatenate(axis=0)
    with pytest.raises(ValueError, match="out of range"):
        layers.Concatenate(axis=3).forward([a, a])


def test_merge_function_forms_on_arrays(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(layers.add([a, b]), a + b, rtol=1e-6)
    np.testing.assert_allclose(layers.concatenate([a, b]), np.concatenate([a, b], -1), rtol=1e-6)
    np.testing.assert_allclose(layers.multiply([a, b]), a * b, rtol=1e-6)
    np.testing.assert_allclose(layers.average([a, b]), (a + b) / 2, rtol=1e-6)
    np.testing.assert_allclose(layers.subtract([a, b]), a - b, rtol=1e-6)


def test_repeat_vector(rng):
    x = rng.standard_normal((3, 5))
    layer = layers.RepeatVector(4, dtype="float64")
    y = layer.forward(x)
    assert y.shape == (3, 4, 5) and all(np.array_equal(y[:, t], x) for t in range(4))
    assert layer.compute_output_shape((5,)) == (4, 5)
    assert layer.compute_mask(np.ones((3, 2), bool)) is None
    assert_layer_gradients(layer, x)
    with pytest.raises(ValueError, match=r"expected input of rank 2 \(batch, features\)"):
        layers.RepeatVector(2).forward(rng.standard_normal((3, 4, 5)))
    with pytest.raises(ValueError, match="n to be a positive int"):
        layers.RepeatVector(0)


def test_masking_masks_steps_of_mask_value_and_recurrent_layers_skip_them(rng):
    x = rng.standard_normal((3, 6, 4))
    x[0, 4:] = 0.0
    x[1, 2] = 0.0  # a hole
    masking = layers.Masking(mask_value=0.0, dtype="float64")
    y = masking.forward(x)
    mask = masking.compute_mask(None, inputs=x)
    expected = np.ones((3, 6), bool)
    expected[0, 4:] = False
    expected[1, 2] = False
    assert mask.tolist() == expected.tolist()
    np.testing.assert_array_equal(y, x * expected[..., None])
    # y is x at valid steps and 0 at masked ones (a step whose features all equal mask_value:
    # any perturbation unmasks it, so finite differences do not apply there)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(masking.backward(dy), dy * expected[..., None])
    rnn = layers.SimpleRNN(5, dtype="float64", seed=1)
    via_masking = rnnlab.Sequential([masking, rnn]).forward(x)
    direct = rnn.forward(x, mask=expected)
    np.testing.assert_allclose(via_masking, direct, rtol=1e-12)
    with pytest.raises(ValueError, match="finite number"):
        layers.Masking(mask_value=float("nan"))
    with pytest.raises(ValueError, match="rank ≥ 3"):
        layers.Masking().forward(rng.standard_normal((3, 4)))


def test_input_layer_checks_shape_and_dtype():
    layer = layers.InputLayer((None, 5), name="frames")
    x = np.ones((2, 7, 5))
    out = layer.forward(x)
    assert out.dtype == np.float32 and out.shape == (2, 7, 5)
    assert layer.backward(np.ones((2, 7, 5))).shape == (2, 7, 5)
    with pytest.raises(
        ValueError,
        match=r"Input 'frames' is incompatible with the data: "
        r"expected shape=\(None, None, 5\), found shape="
        r"\(2, 7, 4\)",
    ):
        layer.forward(np.ones((2, 7, 4)))
    ids = layers.InputLayer((None,), dtype="int32")
    assert ids.forward(np.array([[1, 2]])).dtype == np.int32
    assert ids.backward(np.ones((1, 2))) is None
    with pytest.raises(TypeError, match="integer token ids"):
        ids.forward(np.ones((1, 2)))
    with pytest.raises(TypeError, match="expected dtype in"):
        layers.InputLayer((3,), dtype="complex64")
    with pytest.raises(ValueError, match="positive ints or None"):
        layers.InputLayer((0, 3))


def test_input_function_arguments():
    x = layers.Input(shape=(None, 8), name="x")
    assert x.shape == (None, None, 8) and x.dtype == np.float32 and x.name == "x"
    y = layers.Input(batch_shape=(4, 10), dtype="int64")
    assert y.shape == (4, 10) and y.dtype == np.int64
    for kwargs, what in (
        ({"sparse": True}, "sparse"),
        ({"tensor": object()}, "tensor="),
        ({"optional": True}, "optional"),
    ):
        with pytest.raises(NotImplementedError, match=what):
            layers.Input(shape=(3,), **kwargs)
    with pytest.raises(ValueError, match="shape or batch_shape, not both"):
        layers.Input(shape=(3,), batch_shape=(None, 3))
    with pytest.raises(ValueError, match="expected shape="):
        layers.Input()


@pytest.mark.parametrize(
    "layer",
    [
        layers.Concatenate(axis=1, name="c1"),
        layers.Add(name="a1"),
        layers.RepeatVector(3),
        layers.Masking(mask_value=-1.0),
        layers.InputLayer((None, 4), dtype="int64", batch_size=2),
    ],
)
def test_configs_round_trip(layer):
    cfg = layer.get_config()
    again = rnnlab.layer_from_config(cfg)
    assert type(again) is type(layer) and again.get_config() == cfg
