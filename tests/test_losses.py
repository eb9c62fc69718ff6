"""Losses: gradients against finite differences, values and gradients against PyTorch, masks,
numerical stability, configuration and every error message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _torch import requires_torch, torch
from rnnlab import config, losses
from rnnlab.gradcheck import TOLERANCE, numerical_gradient, relative_error
from rnnlab.losses import (
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Huber,
    Loss,
    MeanAbsoluteError,
    MeanSquaredError,
    SparseCategoricalCrossentropy,
)

TORCH_TOL = 1e-12  # float64 parity with torch.nn.functional

LOSSES = [
    MeanSquaredError(),
    MeanAbsoluteError(),
    Huber(delta=0.5),
    BinaryCrossentropy(from_logits=True),
    BinaryCrossentropy(from_logits=False),
    CategoricalCrossentropy(from_logits=True),
    CategoricalCrossentropy(from_logits=False),
    SparseCategoricalCrossentropy(from_logits=True),
    SparseCategoricalCrossentropy(from_logits=False),
]
SHAPES = [(4, 3), (3, 4, 5)]  # (B, O) and (B, T, O)


def loss_id(loss: Loss) -> str:
    return repr(loss)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def make_data(loss: Loss, shape: tuple[int, ...], seed: int = 0):
    """(y_true, y_pred) in float64 suited to the loss; probabilities stay clear of the clip."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.0, size=shape)
    if isinstance(loss, SparseCategoricalCrossentropy):
        y_true = rng.integers(0, shape[-1], size=shape[:-1])
    elif isinstance(loss, CategoricalCrossentropy):
        y_true = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])  # soft targets
    elif isinstance(loss, BinaryCrossentropy):
        y_true = rng.uniform(0.0, 1.0, size=shape)
    else:
        y_true = rng.normal(size=shape)
    if not getattr(loss, "from_logits", True):
        if isinstance(loss, BinaryCrossentropy):
            return y_true, rng.uniform(0.1, 0.9, size=shape)
        return y_true, softmax(logits / 2.0)
    return y_true, logits


def make_mask(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    """A random bool mask over positions with valid and masked entries."""
    mask = np.random.default_rng(seed).random(shape) < 0.6
    mask.flat[0], mask.flat[-1] = True, False
    return mask


# -- gradients: finite differences -----------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("shape", SHAPES, ids=["rank2", "rank3"])
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_gradient_matches_finite_differences(loss, shape, masked):
    y_true, y_pred = make_data(loss, shape)
    mask = make_mask(shape[:-1]) if masked else None
    value, grad = loss.value_and_grad(y_true, y_pred, mask)
    x = y_pred.copy()  # perturbed in place
    numeric = numerical_gradient(lambda: loss(y_true, x, mask), x)
    assert grad.shape == y_pred.shape and grad.dtype == np.float64
    assert relative_error(grad, numeric) <= TOLERANCE
    assert value == loss(y_true, y_pred, mask)
    np.testing.assert_array_equal(grad, loss.gradient(y_true, y_pred, mask))
    if masked:
        assert not grad[~mask].any()


def test_huber_gradient_on_both_sides_of_delta():
    """The data mixes |e| < δ and |e| > δ, so both branches are checked."""
    y_true, y_pred = make_data(Huber(0.5), (3, 4, 5))
    e = np.abs(y_pred - y_true)
    assert (e < 0.5).any() and (e > 0.5).any()


# -- values and gradients: PyTorch -----------------------------------------------------------
def torch_loss(loss: Loss, y_true: np.ndarray, y_pred):
    """The same loss from torch.nn.functional (mean over all given positions)."""
    F = torch.nn.functional
    t = torch.from_numpy(np.ascontiguousarray(y_true))
    classes = y_pred.shape[-1]
    if isinstance(loss, MeanSquaredError):
        return F.mse_loss(y_pred, t)
    if isinstance(loss, MeanAbsoluteError):
        return F.l1_loss(y_pred, t)
    if isinstance(loss, Huber):
        return F.huber_loss(y_pred, t, delta=loss.delta)
    if isinstance(loss, BinaryCrossentropy):
        if loss.from_logits:
            return F.binary_cross_entropy_with_logits(y_pred, t)
        return F.binary_cross_entropy(y_pred, t)
    if isinstance(loss, SparseCategoricalCrossentropy):
        if loss.from_logits:
            return F.cross_entropy(y_pred.reshape(-1, classes), t.reshape(-1))
        return F.nll_loss(torch.log(y_pred).reshape(-1, classes), t.reshape(-1))
    if loss.from_logits:
        return F.cross_entropy(y_pred.reshape(-1, classes), t.reshape(-1, classes))  # soft targets
    # torch has no cross-entropy on probabilities with soft targets; −Σ t log p, autograd.
    return -(t * torch.log(y_pred)).sum(dim=-1).mean()


@requires_torch
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("shape", SHAPES, ids=["rank2", "rank3"])
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_value_and_gradient_match_torch(loss, shape, masked):
    y_true, y_pred = make_data(loss, shape, seed=3)
    mask = make_mask(shape[:-1], seed=4) if masked else np.ones(shape[:-1], dtype=bool)
    value, grad = loss.value_and_grad(y_true, y_pred, mask if masked else None)

    pred = torch.from_numpy(y_pred).requires_grad_(True)
    reference = torch_loss(loss, y_true[mask], pred[torch.from_numpy(mask)])
    reference.backward()
    assert abs(value - reference.item()) <= TORCH_TOL * max(1.0, abs(reference.item()))
    np.testing.assert_allclose(grad, pred.grad.numpy(), rtol=TORCH_TOL, atol=1e-15)


@requires_torch
def test_one_hot_categorical_matches_torch_class_indices():
    shape = (3, 4, 6)
    labels, logits = make_data(SparseCategoricalCrossentropy(True), shape, seed=5)
    one_hot = np.eye(shape[-1])[labels]
    value = CategoricalCrossentropy(from_logits=True)(one_hot, logits)
    reference = torch.nn.functional.cross_entropy(
        torch.from_numpy(logits).reshape(-1, shape[-1]), torch.from_numpy(labels).reshape(-1)
    )
    assert abs(value - reference.item()) <= TORCH_TOL


# -- masks -----------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    index=st.integers(0, len(LOSSES) - 1),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
)
def test_mask_equals_loss_on_selected_positions(index, shape, seed):
    """Masked loss = unmasked loss of the valid positions; masked positions get no gradient."""
    loss = LOSSES[index]
    y_true, y_pred = make_data(loss, tuple(shape), seed)
    mask = np.asarray(np.random.default_rng(seed).random(shape[:-1]) < 0.5)  # 0-d for rank 1
    value, grad = loss.value_and_grad(y_true, y_pred, mask)
    if not mask.any():
        assert value == 0.0 and not grad.any()
        return
    sub_value, sub_grad = loss.value_and_grad(y_true[mask], y_pred[mask])
    assert value == pytest.approx(sub_value, rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(grad[mask], sub_grad, rtol=1e-12, atol=1e-15)
    assert not grad[~mask].any()


@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_empty_mask_gives_zero_loss_and_gradient(loss):
    y_true, y_pred = make_data(loss, (2, 3, 4))
    value, grad = loss.value_and_grad(y_true, y_pred, np.zeros((2, 3), dtype=bool))
    assert value == 0.0 and isinstance(value, float)
    assert grad.shape == y_pred.shape and not grad.any()


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_labels_at_masked_positions_are_ignored(from_logits):
    loss = SparseCategoricalCrossentropy(from_logits=from_logits)
    labels, y_pred = make_data(loss, (2, 3, 4))
    mask = np.array([[True, True, False], [True, False, False]])
    padded = np.where(mask, labels, -1)  # -1 padding at masked positions
    assert loss(padded, y_pred, mask) == loss(labels, y_pred, mask)


def test_sparse_labels_with_trailing_unit_axis():
    loss = SparseCategoricalCrossentropy(from_logits=True)
    labels, logits = make_data(loss, (5, 3))
    assert loss(labels[:, None], logits) == loss(labels, logits)


# -- stability, dtypes, shapes ---------------------------------------------------------------
def test_binary_crossentropy_is_stable_for_huge_logits():
    x = np.array([[1000.0, -1000.0, 1000.0, -1000.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    with np.errstate(all="raise"):
        value, grad = BinaryCrossentropy(from_logits=True).value_and_grad(y, x)
    assert value == 500.0  # element losses 0, 0, 1000, 1000
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 0.25, -0.25]])


@pytest.mark.parametrize("sparse", [False, True])
def test_categorical_crossentropy_is_stable_for_huge_logits(sparse):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0]])
    labels = np.array([1, 2])
    loss = SparseCategoricalCrossentropy(True) if sparse else CategoricalCrossentropy(True)
    y = labels if sparse else np.eye(3)[labels]
    with np.errstate(all="raise"):
        value, grad = loss.value_and_grad(y, x)
    assert value == pytest.approx((2000.0 + np.log(2.0)) / 2, rel=1e-15)
    np.testing.assert_allclose(grad, [[0.5, -0.5, 0.0], [0.0, 0.25, -0.25]], atol=1e-15)


@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_float32_stays_float32(loss):
    y_true, y_pred = make_data(loss, (3, 4, 5))
    value64, grad64 = loss.value_and_grad(y_true, y_pred)
    y_true32 = y_true if y_true.dtype.kind == "i" else y_true.astype(np.float32)
    value32, grad32 = loss.value_and_grad(y_true32, y_pred.astype(np.float32))
    assert grad32.dtype == np.float32 and isinstance(value32, float)
    assert value32 == pytest.approx(value64, rel=1e-5)
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-7)


def test_tiny_float32_errors_do_not_trip_underflow():
    """Regression: e² of tiny float32 errors underflows; that must not raise under seterr."""
    y_pred = np.full((2, 3), 1e-30, dtype=np.float32)
    with np.errstate(all="raise"):
        value, grad = MeanSquaredError().value_and_grad(np.zeros((2, 3)), y_pred)
    assert value == 0.0 and grad.dtype == np.float32


def test_probabilities_are_clipped_and_clipped_entries_get_no_gradient():
    loss = BinaryCrossentropy()
    value, grad = loss.value_and_grad(np.array([[1.0, 0.0]]), np.array([[0.0, 0.5]]))
    assert value == pytest.approx((-np.log(losses.EPSILON) + np.log(2.0)) / 2, rel=1e-12)
    assert grad[0, 0] == 0.0 and grad[0, 1] == pytest.approx(0.5 / (0.25 * 2))
    value, grad = CategoricalCrossentropy().value_and_grad(
        np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])
    )
    assert value == pytest.approx(-np.log1p(-losses.EPSILON)) and not grad.any()


def test_rank_one_prediction_is_one_position():
    value = MeanSquaredError()([0.0, 1.0], [1.0, 3.0])
    assert value == pytest.approx(2.5)
    assert SparseCategoricalCrossentropy()(1, np.array([0.25, 0.75])) == pytest.approx(
        -np.log(0.75)
    )


def test_lists_are_accepted_and_computed_in_floatx():
    value, grad = MeanAbsoluteError().value_and_grad([[0.0, 1.0]], [[1.0, -1.0]])
    assert value == pytest.approx(1.5) and grad.dtype == np.dtype(config.floatx())


# -- configuration and lookup ----------------------------------------------------------------
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_config_round_trip(loss):
    config = loss.get_config()
    assert config["class_name"] == type(loss).__name__
    rebuilt = Loss.from_config(json.loads(json.dumps(config)))
    assert type(rebuilt) is type(loss) and rebuilt.get_config() == config
    assert losses.get(config).get_config() == config


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mse", MeanSquaredError),
        ("mean_squared_error", MeanSquaredError),
        ("mae", MeanAbsoluteError),
        ("mean_absolute_error", MeanAbsoluteError),
        ("huber", Huber),
        ("binary_crossentropy", BinaryCrossentropy),
        ("categorical_crossentropy", CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", SparseCategoricalCrossentropy),
        ("Huber", Huber),
    ],
)
def test_get_resolves_keras_names(name, cls):
    loss = losses.get(name)
    assert type(loss) is cls
    assert getattr(loss, "from_logits", False) is False


def test_get_passes_instances_through():
    loss = Huber(2.0)
    assert losses.get(loss) is loss


@pytest.mark.parametrize("bad", ["cross_entropy", 3, None])
def test_get_rejects_unknown_names(bad):
    with pytest.raises(ValueError, match=r"expected a Loss, a config dict or one of .*'mse'"):
        losses.get(bad)


def test_from_config_errors():
    with pytest.raises(ValueError, match=r"Loss.from_config: expected class_name in .*'Nope'"):
        Loss.from_config({"class_name": "Nope"})
    with pytest.raises(ValueError, match=r"Huber.from_config: expected class_name in \['Huber'\]"):
        Huber.from_config({"class_name": "MeanSquaredError"})
    with pytest.raises(ValueError, match=r"unexpected keys \['from_logits'\] for Huber"):
        Loss.from_config({"class_name": "Huber", "from_logits": True})
    with pytest.raises(TypeError, match=r"Loss.from_config: expected a dict, got str"):
        Loss.from_config("Huber")


# -- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("delta", [0.0, -1.0, np.nan, np.inf, True, "1"])
def test_huber_rejects_bad_delta(delta):
    with pytest.raises(ValueError, match=r"Huber: expected delta > 0 and finite"):
        Huber(delta)


def test_from_logits_must_be_bool():
    with pytest.raises(TypeError, match=r"BinaryCrossentropy: expected from_logits to be True"):
        BinaryCrossentropy(from_logits="yes")


def test_shape_mismatch():
    with pytest.raises(
        ValueError,
        match=r"MeanSquaredError: expected y_true of shape \(4, 2\) \(like y_pred\), got \(4, 3\)",
    ):
        MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 2)))


@pytest.mark.parametrize("y_pred", [np.float64(1.0), np.zeros((3, 0))])
def test_prediction_needs_a_feature_axis(y_pred):
    with pytest.raises(ValueError, match=r"MeanAbsoluteError: expected y_pred of shape \(\.\.\."):
        MeanAbsoluteError()(y_pred, y_pred)


def test_non_numeric_prediction():
    with pytest.raises(TypeError, match=r"MeanSquaredError: expected a real numeric y_pred"):
        MeanSquaredError()(np.zeros(2), np.array(["a", "b"]))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("loss", LOSSES, ids=loss_id)
def test_non_finite_prediction(loss, bad):
    y_true, y_pred = make_data(loss, (2, 3, 4))
    y_pred[1, 2, 3] = bad
    with pytest.raises(
        ValueError, match=rf"{type(loss).__name__}: y_pred contains NaN or Inf .*\(1, 2, 3\)"
    ):
        loss(y_true, y_pred)


def test_non_finite_target():
    with pytest.raises(ValueError, match=r"Huber: y_true contains NaN or Inf"):
        Huber()(np.array([[np.nan]]), np.array([[0.0]]))


@pytest.mark.parametrize(
    "mask", [np.ones((4, 3)).astype(np.float64), [True] * 4, np.ones(4, dtype=np.int64)]
)
def test_mask_must_be_a_bool_array(mask):
    with pytest.raises(TypeError, match=r"MeanSquaredError: expected mask as a bool array"):
        MeanSquaredError()(np.zeros((4, 3)), np.zeros((4, 3)), mask)


def test_mask_shape():
    with pytest.raises(
        ValueError,
        match=r"Huber: expected mask of shape y_pred.shape\[:-1\] = \(2, 5\), got \(2, 5, 3\)",
    ):
        Huber()(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)), np.ones((2, 5, 3), dtype=bool))


@pytest.mark.parametrize("labels", [np.array([0.0, 1.0]), np.array([True, False])])
def test_sparse_labels_must_be_integers(labels):
    with pytest.raises(
        TypeError, match=r"SparseCategoricalCrossentropy: expected integer class ids in y_true"
    ):
        SparseCategoricalCrossentropy(from_logits=True)(labels, np.zeros((2, 3)))


@pytest.mark.parametrize(("bad", "index"), [(3, r"\(1,\)"), (-1, r"\(1,\)")])
def test_sparse_labels_must_be_in_range(bad, index):
    with pytest.raises(
        ValueError,
        match=rf"SparseCategoricalCrossentropy: expected class ids in \[0, 3\) in y_true, "
        rf"got {bad} at index {index}",
    ):
        SparseCategoricalCrossentropy(from_logits=True)(np.array([0, bad]), np.zeros((2, 3)))


def test_sparse_labels_shape():
    with pytest.raises(
        ValueError,
        match=r"SparseCategoricalCrossentropy: expected y_true of shape y_pred.shape\[:-1\] = "
        r"\(2, 4\), got \(4, 2\)",
    ):
        SparseCategoricalCrossentropy(True)(np.zeros((4, 2), dtype=int), np.zeros((2, 4, 3)))


@pytest.mark.parametrize("cls", [BinaryCrossentropy, CategoricalCrossentropy])
def test_targets_must_be_in_unit_interval(cls):
    with pytest.raises(
        ValueError, match=rf"{cls.__name__}: expected targets in y_true in \[0, 1\], got 1.5"
    ):
        cls(from_logits=True)(np.array([[0.5, 1.5]]), np.zeros((1, 2)))


@pytest.mark.parametrize(
    "cls", [BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy]
)
def test_probabilities_must_be_in_unit_interval(cls):
    y_true = np.array([1]) if cls is SparseCategoricalCrossentropy else np.array([[0.0, 1.0]])
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: expected probabilities in y_pred in \[0, 1\] \(pass "
        r"from_logits=True for logits\), got 2.5 at index \(0, 1\)",
    ):
        cls()(y_true, np.array([[0.1, 2.5]]))
