"""Metrics: values against NumPy and PyTorch, masks, streaming over batches equal to one pass
over the whole data (bit for bit), names and configs, and every error message."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _torch import requires_torch, torch
from rnnlab import metrics
from rnnlab.metrics import (
    Accuracy,
    BitsPerCharacter,
    MeanAbsoluteError,
    Metric,
    Perplexity,
    _ExactSum,
)

TORCH_TOL = 1e-12  # float64 parity with torch.nn.functional


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def make_mask(shape, seed=1) -> np.ndarray:
    """A random bool mask with valid and masked positions."""
    mask = np.random.default_rng(seed).random(shape) < 0.6
    mask.flat[0], mask.flat[-1] = True, False
    return mask


def sparse_data(shape=(4, 6, 5), seed=0):
    """(labels (B, T), logits (B, T, C))."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, shape[-1], size=shape[:-1]), rng.normal(0.0, 2.0, size=shape)


def full_mask(shape) -> np.ndarray:
    return np.ones(shape, dtype=bool)


def evaluate(metric: Metric, y_true, y_pred, mask=None) -> float:
    metric.reset()
    metric.update(y_true, y_pred, mask)
    return metric.result()


# -- accuracy --------------------------------------------------------------------------------
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
def test_sparse_categorical_accuracy_matches_numpy(masked):
    labels, logits = sparse_data()
    mask = make_mask(labels.shape) if masked else full_mask(labels.shape)
    expected = (logits.argmax(-1) == labels)[mask].mean()
    for kind in ("auto", "sparse_categorical"):
        got = evaluate(Accuracy(kind), labels, logits, mask if masked else None)
        assert got == expected
    # probabilities give the same argmax
    assert evaluate(Accuracy(), labels, softmax(logits), mask if masked else None) == expected


def test_sparse_accuracy_accepts_trailing_axis_and_lists():
    labels, logits = sparse_data((3, 4))  # (B,) labels, (B, C) predictions
    expected = (logits.argmax(-1) == labels).mean()
    assert evaluate(Accuracy(), labels[:, None], logits) == expected
    assert evaluate(Accuracy(), labels.tolist(), logits.tolist()) == expected


@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
def test_categorical_accuracy_matches_numpy(masked):
    labels, logits = sparse_data()
    one_hot = np.eye(logits.shape[-1])[labels]
    mask = make_mask(labels.shape) if masked else full_mask(labels.shape)
    expected = (logits.argmax(-1) == labels)[mask].mean()
    for kind in ("auto", "categorical"):
        assert evaluate(Accuracy(kind), one_hot, logits, mask if masked else None) == expected


def test_accuracy_ties_go_to_the_first_class():
    y_pred = np.array([[0.4, 0.4, 0.2], [0.2, 0.4, 0.4]])
    assert evaluate(Accuracy(), np.array([0, 1]), y_pred) == 1.0
    assert evaluate(Accuracy(), np.array([1, 2]), y_pred) == 0.0


@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
def test_binary_accuracy_probabilities_and_logits(masked):
    rng = np.random.default_rng(3)
    shape = (5, 7, 1)
    targets = (rng.random(shape) < 0.5).astype(np.float64)
    logits = rng.normal(0.0, 2.0, size=shape)
    probabilities = 1.0 / (1.0 + np.exp(-logits))
    mask = make_mask(shape[:-1]) if masked else full_mask(shape[:-1])
    expected = ((probabilities > 0.5) == (targets > 0.5))[..., 0][mask].mean()
    m = mask if masked else None
    assert evaluate(Accuracy(), targets, probabilities, m) == expected
    assert evaluate(Accuracy("binary"), targets, probabilities, m) == expected
    assert evaluate(Accuracy(from_logits=True), targets, logits, m) == expected
    # a threshold on probabilities is the same as its logit on logits
    expected_07 = ((probabilities > 0.7) == (targets > 0.5))[..., 0][mask].mean()
    assert evaluate(Accuracy(threshold=0.7), targets, probabilities, m) == expected_07
    assert evaluate(Accuracy(threshold=0.7, from_logits=True), targets, logits, m) == expected_07


def test_binary_accuracy_flat_targets_soft_labels_and_multilabel():
    y_pred = np.array([[0.9], [0.2], [0.6], [0.4]])  # (B, 1)
    assert evaluate(Accuracy(), np.array([1, 0, 0, 0]), y_pred) == 0.75  # (B,) targets
    assert evaluate(Accuracy(), np.array([[0.9], [0.1], [0.1], [0.1]]), y_pred) == 0.75
    # multi-label: every feature is one prediction, positions weighted equally
    y_true = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    y_pred = np.array([[0.8, 0.3, 0.1], [0.2, 0.9, 0.7]])
    assert evaluate(Accuracy("binary"), y_true, y_pred) == 4 / 6


def test_accuracy_auto_kind_from_shapes():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(size=(2, 3, 4)))
    ids = np.array([[0, 1, 2], [3, 0, 1]])
    ones = np.eye(4)[ids]
    assert evaluate(Accuracy(), ids, probs) == evaluate(Accuracy("sparse_categorical"), ids, probs)
    assert evaluate(Accuracy(), ones, probs) == evaluate(Accuracy("categorical"), ones, probs)
    p1 = probs[..., :1]
    t1 = (ids[..., None] > 1).astype(float)
    assert evaluate(Accuracy(), t1, p1) == evaluate(Accuracy("binary"), t1, p1)


# -- cross-entropy metrics against PyTorch ---------------------------------------------------
@requires_torch
@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probabilities"])
def test_perplexity_and_bpc_match_torch_cross_entropy(masked, from_logits):
    labels, logits = sparse_data((3, 7, 6), seed=5)
    mask = make_mask(labels.shape) if masked else full_mask(labels.shape)
    ce = (
        torch.nn.functional.cross_entropy(
            torch.from_numpy(logits.reshape(-1, 6)),
            torch.from_numpy(labels.reshape(-1)),
            reduction="none",
        )
        .numpy()
        .reshape(labels.shape)
    )
    mean = ce[mask].mean()
    y_pred = logits if from_logits else softmax(logits)
    m = mask if masked else None
    ppl = evaluate(Perplexity(from_logits=from_logits), labels, y_pred, m)
    bpc = evaluate(BitsPerCharacter(from_logits=from_logits), labels, y_pred, m)
    assert ppl == pytest.approx(math.exp(mean), rel=TORCH_TOL)
    assert bpc == pytest.approx(mean / math.log(2.0), rel=TORCH_TOL)


@requires_torch
@pytest.mark.parametrize("from_logits", [True, False], ids=["logits", "probabilities"])
def test_perplexity_with_one_hot_and_soft_targets_matches_torch(from_logits):
    rng = np.random.default_rng(8)
    labels, logits = sparse_data((4, 5, 3), seed=8)
    mask = make_mask(labels.shape)
    for targets in (np.eye(3)[labels], rng.dirichlet(np.ones(3), size=labels.shape)):
        ce = (
            torch.nn.functional.cross_entropy(
                torch.from_numpy(logits.reshape(-1, 3)),
                torch.from_numpy(targets.reshape(-1, 3)),
                reduction="none",
            )
            .numpy()
            .reshape(labels.shape)
        )
        y_pred = logits if from_logits else softmax(logits)
        got = evaluate(Perplexity(from_logits=from_logits), targets, y_pred, mask)
        assert got == pytest.approx(math.exp(ce[mask].mean()), rel=TORCH_TOL)


def test_probabilities_are_clipped_like_the_loss():
    y_pred = np.array([[1.0, 0.0], [0.5, 0.5]])  # a certain mistake at position 0
    labels = np.array([1, 0])
    expected = (-math.log(1e-7) - math.log(0.5)) / 2
    assert evaluate(BitsPerCharacter(), labels, y_pred) * math.log(2) == pytest.approx(expected)


def test_perplexity_is_stable_for_huge_logits_and_overflows_to_inf():
    logits = np.array([[1e4, -1e4, 0.0], [0.0, 1e4, 0.0]])
    assert evaluate(Perplexity(from_logits=True), np.array([0, 1]), logits) == 1.0
    assert evaluate(Perplexity(from_logits=True), np.array([1, 0]), logits) == math.inf
    assert evaluate(BitsPerCharacter(from_logits=True), np.array([1, 0]), logits) == (
        pytest.approx(1.5e4 / math.log(2))
    )


def test_float32_inputs_are_measured_in_float64():
    labels, logits = sparse_data()
    x32 = logits.astype(np.float32)
    expected = evaluate(Perplexity(from_logits=True), labels, x32.astype(np.float64))
    assert evaluate(Perplexity(from_logits=True), labels, x32) == expected


@pytest.mark.parametrize("masked", [False, True], ids=["no_mask", "mask"])
def test_mean_absolute_error_matches_numpy(masked):
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.normal(size=(2, 2, 5, 3))
    mask = make_mask((2, 5)) if masked else full_mask((2, 5))
    expected = np.abs(y_pred - y_true).mean(-1)[mask].mean()
    got = evaluate(MeanAbsoluteError(), y_true, y_pred, mask if masked else None)
    assert got == pytest.approx(expected, rel=1e-15)


# -- streaming -------------------------------------------------------------------------------
def all_metrics(from_logits=True):
    return [
        Accuracy(from_logits=from_logits),
        Perplexity(from_logits=from_logits),
        BitsPerCharacter(from_logits=from_logits),
    ]


@given(
    cuts=st.lists(st.integers(0, 12), max_size=4),
    seed=st.integers(0, 2**16),
    masked=st.booleans(),
)
def test_streaming_equals_the_whole_data_exactly(cuts, seed, masked):
    labels, logits = sparse_data((12, 5, 4), seed=seed)
    mask = make_mask(labels.shape, seed=seed) if masked else None
    y_true = np.random.default_rng(seed).normal(size=logits.shape)
    bounds = [0, *sorted(cuts), 12]
    for metric, target in [(m, labels) for m in all_metrics()] + [(MeanAbsoluteError(), y_true)]:
        whole = evaluate(metric, target, logits, mask)
        metric.reset()
        for lo, hi in itertools.pairwise(bounds):
            metric.update(target[lo:hi], logits[lo:hi], None if mask is None else mask[lo:hi])
        assert metric.result() == whole, metric


def test_epoch_result_weights_by_valid_positions_not_batch_means():
    labels, logits = sparse_data((2, 10, 3), seed=4)
    mask = np.zeros((2, 10), dtype=bool)
    mask[0, :1] = True  # one valid position in the first batch
    mask[1, :] = True  # ten in the second
    metric = Perplexity(from_logits=True)
    ce = -np.take_along_axis(log_softmax(logits), labels[..., None], -1)[..., 0]
    batch_results = []
    for i in range(2):
        metric.update(labels[i : i + 1], logits[i : i + 1], mask[i : i + 1])
        batch_results.append(
            evaluate(
                Perplexity(from_logits=True), labels[i : i + 1], logits[i : i + 1], mask[i : i + 1]
            )
        )
    assert metric.result() == pytest.approx(math.exp(ce[mask].mean()), rel=1e-14)
    assert metric.result() != pytest.approx(np.mean(batch_results), rel=1e-3)


def test_masked_positions_are_ignored_entirely():
    labels, logits = sparse_data()
    mask = make_mask(labels.shape)
    other_labels = np.where(mask, labels, -1)  # padding ids, out of range but masked
    other_logits = np.where(mask[..., None], logits, 1e3)
    for metric in all_metrics():
        assert evaluate(metric, labels, logits, mask) == evaluate(
            metric, other_labels, other_logits, mask
        )


def test_reset_empty_and_all_masked():
    labels, logits = sparse_data()
    for metric in [*all_metrics(), MeanAbsoluteError()]:
        assert metric.result() == 0.0
        target = logits + 1.0 if isinstance(metric, MeanAbsoluteError) else labels
        metric.update(target, logits, np.zeros(labels.shape, dtype=bool))
        assert metric.result() == 0.0
        metric.update(target, logits)
        assert metric.result() > 0.0
        metric.reset()
        assert metric.result() == 0.0


def test_one_position_with_a_rank_one_prediction():
    assert evaluate(Accuracy(), np.array(2), np.array([0.1, 0.2, 0.7])) == 1.0
    assert evaluate(Accuracy(), 2, np.array([0.1, 0.2, 0.7]), np.array(False)) == 0.0


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=40), st.integers(1, 5))
def test_exact_sum_is_the_correctly_rounded_sum_in_any_split(values, parts):
    total = _ExactSum()
    for chunk in np.array_split(np.array(values, dtype=np.float64), parts):
        total.add(chunk)
    try:
        expected = math.fsum(values)
    except OverflowError:  # the exact sum exceeds the float range
        return
    assert total.mean(1) == expected


# -- names, get() and configs ----------------------------------------------------------------
@pytest.mark.parametrize(
    "name, cls, kind",
    [
        ("accuracy", Accuracy, "auto"),
        ("acc", Accuracy, "auto"),
        ("sparse_categorical_accuracy", Accuracy, "sparse_categorical"),
        ("categorical_accuracy", Accuracy, "categorical"),
        ("binary_accuracy", Accuracy, "binary"),
        ("perplexity", Perplexity, None),
        ("bpc", BitsPerCharacter, None),
        ("bits_per_character", BitsPerCharacter, None),
        ("mae", MeanAbsoluteError, None),
        ("mean_absolute_error", MeanAbsoluteError, None),
        ("Perplexity", Perplexity, None),
    ],
)
def test_get_resolves_keras_names(name, cls, kind):
    metric = metrics.get(name, from_logits=True)
    assert type(metric) is cls
    if name[0].islower():
        assert metric.name == name  # the logs key is the name asked for
    if kind is not None:
        assert metric.kind == kind
    if "from_logits" in cls.config_keys:
        assert metric.from_logits is True
        assert metrics.get(name).from_logits is False


def test_default_names_and_directions():
    assert Accuracy().name == "accuracy"
    assert Accuracy("binary").name == "binary_accuracy"
    assert Perplexity().name == "perplexity"
    assert BitsPerCharacter().name == "bpc"
    assert MeanAbsoluteError(name="val_mae_custom").name == "val_mae_custom"
    assert Accuracy.direction == "up" and Perplexity.direction == "down"


def test_get_passes_instances_and_configs_through():
    metric = Perplexity(from_logits=True, name="ppl")
    assert metrics.get(metric) is metric
    for original in [
        metric,
        Accuracy("binary", threshold=0.3),
        BitsPerCharacter(),
        MeanAbsoluteError(),
    ]:
        config = json.loads(json.dumps(original.get_config()))
        rebuilt = metrics.get(config)
        assert type(rebuilt) is type(original)
        assert rebuilt.get_config() == original.get_config()
    assert repr(metric) == "Perplexity(name='ppl', from_logits=True)"


def test_get_errors():
    with pytest.raises(ValueError, match=r"rnnlab.metrics.get: expected .*'accuracy'.*'bpc'"):
        metrics.get("f1")
    with pytest.raises(ValueError, match="expected a Metric"):
        metrics.get(3)
    with pytest.raises(TypeError, match="from_logits to be True or False"):
        metrics.get("accuracy", from_logits="yes")
    with pytest.raises(ValueError, match="expected class_name in"):
        metrics.get({"class_name": "Nope"})
    with pytest.raises(ValueError, match=r"unexpected keys \['kind'\] for Perplexity"):
        metrics.get({"class_name": "Perplexity", "kind": "auto"})


# -- validation ------------------------------------------------------------------------------
def test_constructor_errors():
    with pytest.raises(ValueError, match=r"Accuracy: expected kind in \['auto', "):
        Accuracy("top5")
    for threshold in (0.0, 1.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"expected threshold in \(0, 1\)"):
            Accuracy(threshold=threshold)
    with pytest.raises(TypeError, match="Perplexity: expected from_logits to be True or False"):
        Perplexity(from_logits=1)
    with pytest.raises(TypeError, match="expected name to be a non-empty str"):
        MeanAbsoluteError(name="")


def test_shape_errors():
    labels, logits = sparse_data((2, 3, 4))
    with pytest.raises(
        ValueError,
        match=r"Perplexity: expected y_true of shape \(2, 3, 4\) "
        r"\(like y_pred\) or \(2, 3\) \(integer class ids\)",
    ):
        Perplexity(from_logits=True).update(labels[:, :2], logits)
    with pytest.raises(ValueError, match=r"Accuracy: expected y_true of shape \(2, 3, 4\)"):
        Accuracy("categorical").update(labels, logits)
    with pytest.raises(ValueError, match=r"expected integer class ids in y_true of shape"):
        Accuracy("sparse_categorical").update(np.eye(4)[labels][:, :2], logits)
    with pytest.raises(ValueError, match=r"MeanAbsoluteError: expected y_true of shape"):
        MeanAbsoluteError().update(logits[:, :2], logits)
    with pytest.raises(ValueError, match="at least one feature"):
        Accuracy().update(np.zeros((2, 0)), np.zeros((2, 0)))
    with pytest.raises(ValueError, match="at least one feature"):
        MeanAbsoluteError().update(1.0, 1.0)


def test_mask_errors():
    labels, logits = sparse_data((2, 3, 4))
    with pytest.raises(ValueError, match=r"expected mask of shape y_pred.shape\[:-1\] = \(2, 3\)"):
        Accuracy().update(labels, logits, np.ones((3, 2), dtype=bool))
    with pytest.raises(TypeError, match="Perplexity: expected mask as a bool array"):
        Perplexity(from_logits=True).update(labels, logits, np.ones((2, 3)))


def test_label_errors():
    labels, logits = sparse_data((2, 3, 4))
    bad = labels.copy()
    bad[1, 2] = 4
    for metric in all_metrics():
        with pytest.raises(
            ValueError,
            match=r"expected class ids in \[0, 4\) in y_true, "
            r"got 4 at index \(1, 2\)",
        ):
            metric.update(bad, logits)
        with pytest.raises(TypeError, match="expected integer class ids in y_true"):
            metric.update(labels.astype(np.float64), logits)
    with pytest.raises(TypeError, match="expected a NumPy array as y_true"):
        Accuracy().update("labels", logits)


def test_value_errors():
    labels, logits = sparse_data((2, 3, 4))
    nan_logits = logits.copy()
    nan_logits[0, 1, 2] = np.nan
    with pytest.raises(
        ValueError,
        match=r"y_pred contains NaN or Inf \(first at index "
        r"\(0, 1, 2\)\)",
    ):
        Perplexity(from_logits=True).update(labels, nan_logits)
    with pytest.raises(ValueError, match="y_true contains NaN or Inf"):
        MeanAbsoluteError().update(nan_logits, logits)
    with pytest.raises(
        ValueError,
        match=r"expected probabilities in y_pred in \[0, 1\] "
        r"\(pass from_logits=True for logits\)",
    ):
        Perplexity().update(labels, logits)
    with pytest.raises(ValueError, match=r"probabilities in y_pred in \[0, 1\]"):
        Accuracy("binary").update(np.ones((2, 1)), np.array([[0.5], [1.5]]))
    with pytest.raises(ValueError, match=r"binary targets in y_true in \[0, 1\]"):
        Accuracy().update(np.array([[2.0], [0.0]]), np.array([[0.5], [0.5]]))
    with pytest.raises(ValueError, match=r"targets in y_true in \[0, 1\]"):
        BitsPerCharacter(from_logits=True).update(-np.eye(4)[labels], logits)
    with pytest.raises(TypeError, match="expected a real numeric y_pred"):
        Accuracy().update(labels, logits.astype(np.complex128))
