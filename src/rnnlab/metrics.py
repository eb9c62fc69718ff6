"""Streaming metrics: accumulate over the batches of an epoch, report one number.

A metric sees the same arrays as a loss: y_pred (..., O) with the features or classes on the
last axis, y_true like y_pred (or integer class ids of shape y_pred.shape[:-1]), and an optional
bool mask of shape y_pred.shape[:-1] (True = the position counts; e.g. (B, T) or (B,)).

    >>> acc = Accuracy()
    >>> for labels, logits, mask in batches:
    ...     acc.update(labels, logits, mask)      # (B, T), (B, T, C), (B, T)
    >>> acc.result()                              # over every valid position of every batch
    >>> acc.reset()                               # before the next epoch

Every metric is a mean over the valid positions n of all batches seen since reset():

    result = F( Σ_n v_n / N ),   N = the number of valid positions

  Accuracy           v_n = fraction of correct predictions at n, F = identity
  MeanAbsoluteError  v_n = (1/O) Σ_o |y_pred − y_true|,        F = identity
  Perplexity         v_n = −Σ_c y_c log p_c (nats),             F = exp
  BitsPerCharacter   v_n = −Σ_c y_c log p_c (nats),             F = x / ln 2

The sum Σ_n v_n is kept exactly (as an integer multiple of 2^−1126, see _ExactSum), so the result
does not depend on how the data was split into batches: the epoch result is bit-for-bit the
result of one update() on the concatenated data. With no valid position yet, result() is 0.0
(as Keras returns, and as losses.py returns for an all-masked batch).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from numbers import Real
from typing import ClassVar

import numpy as np

from ._validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_class_ids,
    check_in_range,
    check_position_mask,
    check_prediction,
    describe,
)
from .losses import EPSILON, log_softmax

Array = np.ndarray

__all__ = [
    "Accuracy",
    "BitsPerCharacter",
    "MeanAbsoluteError",
    "Metric",
    "Perplexity",
    "direction_of",
    "get",
]


class _ExactSum:
    """The sum of any number of finite float64 values, without rounding.

    Every finite float64 is v = M · 2^(e−53) with integers |M| < 2^53 and e ≥ −1073 (frexp),
    so it is an integer multiple of 2^−1126. The running total is kept as that integer, a
    Python int; values are grouped by exponent and their mantissas summed exactly in float64
    (integers below 2^53), so the cost is a few vectorised passes plus one small Python loop
    over the distinct exponents of a batch.
    """

    _BITS = 1126  # total = self._scaled · 2^−_BITS
    _CHUNK = 1 << 24  # per chunk, |Σ mantissa halves| < 2^24 · 2^27 < 2^53: exact in float64

    def __init__(self) -> None:
        self._scaled = 0

    def add(self, values: Array) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        for start in range(0, values.size, self._CHUNK):
            self._add_chunk(values[start : start + self._CHUNK])

    def _add_chunk(self, values: Array) -> None:
        if values.size == 0:
            return
        mantissa, exponent = np.frexp(values)  # values = mantissa · 2^exponent, |mantissa| < 1
        m = np.ldexp(mantissa, 53).astype(np.int64)  # exact integers, |m| < 2^53
        high = (m >> 26).astype(np.float64)  # m = high · 2^26 + low, |high| ≤ 2^27
        low = (m & ((1 << 26) - 1)).astype(np.float64)  # 0 ≤ low < 2^26
        base = int(exponent.min())
        bins = exponent - base
        high_sums = np.bincount(bins, weights=high)  # exact: integer sums below 2^53
        low_sums = np.bincount(bins, weights=low)
        for k in np.flatnonzero((high_sums != 0) | (low_sums != 0)).tolist():
            group = (int(high_sums[k]) << 26) + int(low_sums[k])  # Σ m over exponent base + k
            self._scaled += group << (base + k - 53 + self._BITS)

    def mean(self, count: int) -> float:
        """total / count, correctly rounded (Python's int division rounds correctly)."""
        return self._scaled / (count << self._BITS)


class Metric(abc.ABC):
    """Base class: validation, masking and the exact streaming mean over valid positions.

    Subclasses give `_values(y_true, y_pred)` over the valid positions only — y_pred (N, O)
    float64, y_true (N, O) float64 or (N,) integer class ids — returning (terms, count): the
    result is F(Σ terms / Σ count) with F = `_finish`.
    """

    #: the metric's name in the logs unless the constructor is given one
    default_name: ClassVar[str] = ""
    #: "up" if larger is better, "down" otherwise (callbacks with mode="auto" use it)
    direction: ClassVar[str] = "down"
    #: constructor arguments recorded by get_config (besides name)
    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str | None = None):
        if name is None:
            name = self.default_name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.who}: expected name to be a non-empty str, got {name!r}")
        self.name = name
        self.reset()

    @property
    def who(self) -> str:
        """How error messages name this metric."""
        return type(self).__name__

    # -- public API -------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every batch seen so far (call at the start of each epoch)."""
        self._total = _ExactSum()
        self._count = 0

    def update(self, y_true, y_pred, mask: Array | None = None) -> None:
        """Add one batch.

        Arguments:
            y_true: targets like y_pred (..., O), or integer class ids (...) where they apply.
            y_pred: predictions (..., O): values, probabilities or logits.
            mask: optional bool array of shape y_pred.shape[:-1], True = position counts.
        """
        y_pred = self._check_pred(y_pred)  # (..., O) float64
        positions = y_pred.shape[:-1]
        mask = self._check_mask(mask, positions)
        y_true = self._check_true(y_true, y_pred, mask)  # (..., O) float64 or (...) ids
        if mask is None:
            n = math.prod(positions)
            y_pred = y_pred.reshape(n, y_pred.shape[-1])  # (N, O)
            y_true = y_true.reshape(n, *y_true.shape[len(positions) :])  # (N, O) or (N,)
        else:
            y_pred, y_true = y_pred[mask], y_true[mask]
        with np.errstate(under="ignore"):  # e^(very negative) → 0 is below any resolution here
            terms, count = self._values(y_true, y_pred)
        self._total.add(terms)
        self._count += count

    def result(self) -> float:
        """The metric over every valid position since reset(); 0.0 before any."""
        if self._count == 0:
            return 0.0
        return self._finish(self._total.mean(self._count))

    def get_config(self) -> dict:
        """{"class_name", "name", plus the constructor arguments}; JSON-serialisable."""
        return {
            "class_name": type(self).__name__,
            "name": self.name,
            **{k: getattr(self, k) for k in self.config_keys},
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in ("name", *self.config_keys))
        return f"{type(self).__name__}({args})"

    # -- subclass hooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def _values(self, y_true: Array, y_pred: Array) -> tuple[Array, int]:
        """(terms, count) over the valid positions."""

    def _finish(self, mean: float) -> float:
        return mean

    # -- validation -------------------------------------------------------------------------
    def _check_pred(self, y_pred) -> Array:
        return check_prediction(y_pred, self.who, np.dtype(np.float64))

    def _check_mask(self, mask, shape: tuple[int, ...]) -> Array | None:
        return check_position_mask(mask, self.who, shape)

    def _check_true(self, y_true, y_pred: Array, mask: Array | None) -> Array:
        """Targets of y_pred's shape (the default; metrics taking class ids override)."""
        return _dense_targets(y_true, y_pred, self.who)

    def _check_probabilities(self, y_pred: Array) -> None:
        hint = " (pass from_logits=True for logits)"
        check_in_range(y_pred, 0.0, 1.0, self.who, "probabilities in y_pred", hint)


# -- targets: class ids or arrays like y_pred ------------------------------------------------
def _to_array(y_true, who: str) -> Array:
    if isinstance(y_true, (list, tuple, Real)):
        y_true = np.asarray(y_true)
    if not isinstance(y_true, np.ndarray):
        raise TypeError(f"{who}: expected a NumPy array as y_true, got {describe(y_true)}")
    return y_true


def _dense_targets(y_true, y_pred: Array, who: str) -> Array:
    y_true = as_float_array(y_true, who, np.dtype(np.float64), "y_true")
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{who}: expected y_true of shape {y_pred.shape} (like y_pred), got {y_true.shape}"
        )
    return y_true


def _is_sparse(y_true: Array, pred_shape: tuple[int, ...]) -> bool:
    """Whether y_true's shape is that of class ids: pred_shape[:-1], or with a trailing axis of
    1 when there are ≥ 2 classes (a shape equal to y_pred's means targets like y_pred)."""
    positions = pred_shape[:-1]
    return y_true.shape != pred_shape and y_true.shape in (positions, (*positions, 1))


def _class_ids(y_true: Array, y_pred: Array, mask: Array | None, who: str) -> Array:
    """Integer class ids of shape y_pred.shape[:-1], in [0, C) at the valid positions (ids at
    masked positions are ignored, so padding ids such as −1 are allowed there)."""
    if y_true.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected integer class ids in y_true, got {describe(y_true)}")
    positions, classes = y_pred.shape[:-1], y_pred.shape[-1]
    y_true = y_true.reshape(positions)
    check_class_ids(y_true, classes, mask, who)
    return y_true.astype(np.intp, copy=False)


# -- accuracy --------------------------------------------------------------------------------
_ACCURACY_KINDS = ("auto", "sparse_categorical", "categorical", "binary")


class Accuracy(Metric):
    """The fraction of correct predictions over the valid positions.

    kind:
      "sparse_categorical": y_true integer ids (...); correct if argmax(y_pred) = y_true.
      "categorical": y_true one-hot or distributions (..., C); argmax(y_pred) = argmax(y_true).
      "binary": y_true (..., O) in [0, 1], rounded at 0.5 (soft labels 0.9/0.1 count as 1/0);
          predicted 1 where y_pred > threshold, or, with from_logits, where
          y_pred > log(threshold / (1 − threshold)) (that is 0 for 0.5). With O > 1 features
          (multi-label) each feature counts as one prediction.
      "auto": binary if y_pred's last axis is 1 (y_true then (..., 1) or (...)); else
          sparse_categorical if y_true has one fewer axis than y_pred (or a trailing axis of
          1), else categorical. Decided on each update from the shapes.
    Ties in argmax go to the first class (as in NumPy and Keras).
    """

    direction = "up"
    config_keys = ("kind", "threshold", "from_logits")

    def __init__(
        self,
        kind: str = "auto",
        threshold: float = 0.5,
        from_logits: bool = False,
        name: str | None = None,
    ):
        self.kind = check_choice(kind, "Accuracy", "kind", _ACCURACY_KINDS)
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, Real)
            or not 0.0 < threshold < 1.0
        ):
            raise ValueError(f"Accuracy: expected threshold in (0, 1), got {threshold!r}")
        self.threshold = float(threshold)
        self.from_logits = check_bool(from_logits, "Accuracy", "from_logits")
        if name is None:
            name = "accuracy" if kind == "auto" else f"{kind}_accuracy"
        super().__init__(name)

    def _kind_for(self, y_true: Array, pred_shape: tuple[int, ...]) -> str:
        if self.kind != "auto":
            return self.kind
        if pred_shape[-1] == 1:
            return "binary"
        return "sparse_categorical" if _is_sparse(y_true, pred_shape) else "categorical"

    def _check_true(self, y_true, y_pred, mask):
        y_true = _to_array(y_true, self.who)
        kind = self._kind_for(y_true, y_pred.shape)
        if kind == "sparse_categorical":
            if not _is_sparse(y_true, y_pred.shape):
                raise ValueError(
                    f"{self.who}: expected integer class ids in y_true of shape "
                    f"y_pred.shape[:-1] = {y_pred.shape[:-1]}, got {y_true.shape}"
                )
            return _class_ids(y_true, y_pred, mask, self.who)
        if kind == "binary" and y_pred.shape[-1] == 1 and y_true.shape == y_pred.shape[:-1]:
            y_true = y_true[..., None]  # (B,) targets for a (B, 1) output, as Keras accepts
        y_true = _dense_targets(y_true, y_pred, self.who)
        if kind == "binary":
            check_in_range(y_true, 0.0, 1.0, self.who, "binary targets in y_true")
            if not self.from_logits:
                self._check_probabilities(y_pred)
            return y_true > 0.5  # bool marks the binary case for _values
        return y_true

    def _values(self, y_true, y_pred):
        if y_true.dtype == np.bool_:  # binary: each feature is one prediction
            if self.from_logits:
                cut = math.log(self.threshold) - math.log1p(-self.threshold)  # 0.0 for 0.5
            else:
                cut = self.threshold
            correct = (y_pred > cut) == y_true  # (N, O)
            return correct.astype(np.float64), correct.size
        predicted = y_pred.argmax(axis=-1)  # (N,)
        target = y_true if y_true.ndim == 1 else y_true.argmax(axis=-1)
        return (predicted == target).astype(np.float64), predicted.size


# -- cross-entropy based ---------------------------------------------------------------------
class _Crossentropy(Metric):
    """Per position the cross-entropy in nats: −log p_k for integer class ids k (shape
    y_pred.shape[:-1]), −Σ_c y_c log p_c for one-hot or soft targets shaped like y_pred.

    from_logits=True: log p = log_softmax(y_pred), shifted by the max (stable for any logits).
    from_logits=False: y_pred are probabilities, clipped to [ε, 1 − ε] with ε = 1e-7 before
    the log, as in losses.py (one confident mistake costs at most −log 1e-7 ≈ 16.1 nats).
    """

    config_keys = ("from_logits",)

    def __init__(self, from_logits: bool = False, name: str | None = None):
        self.from_logits = check_bool(from_logits, self.who, "from_logits")
        super().__init__(name)

    def _check_pred(self, y_pred):
        y_pred = super()._check_pred(y_pred)
        if not self.from_logits:
            self._check_probabilities(y_pred)
        return y_pred

    def _check_true(self, y_true, y_pred, mask):
        y_true = _to_array(y_true, self.who)
        if _is_sparse(y_true, y_pred.shape):
            return _class_ids(y_true, y_pred, mask, self.who)
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.who}: expected y_true of shape {y_pred.shape} (like y_pred) or "
                f"{y_pred.shape[:-1]} (integer class ids), got {y_true.shape}"
            )
        y_true = _dense_targets(y_true, y_pred, self.who)
        check_in_range(y_true, 0.0, 1.0, self.who, "targets in y_true")
        return y_true

    def _values(self, y_true, y_pred):
        if y_true.ndim == 1:  # class ids: only p_k is needed
            k = y_true[:, None]  # (N, 1)
            if self.from_logits:  # log p_k = x_k − logsumexp(x), without the whole softmax
                top = y_pred.max(axis=-1, keepdims=True)  # (N, 1)
                total = np.exp(y_pred - top).sum(axis=-1, keepdims=True)  # (N, 1), ≥ 1
                log_p = np.take_along_axis(y_pred, k, axis=-1) - top - np.log(total)
            else:
                picked = np.take_along_axis(y_pred, k, axis=-1)
                log_p = np.log(np.clip(picked, EPSILON, 1.0 - EPSILON))
            return -log_p[:, 0], y_pred.shape[0]
        if self.from_logits:
            log_p = log_softmax(y_pred)[0]  # (N, C)
        else:
            log_p = np.log(np.clip(y_pred, EPSILON, 1.0 - EPSILON))
        return -(y_true * log_p).sum(axis=-1), y_pred.shape[0]


class Perplexity(_Crossentropy):
    """exp(mean cross-entropy in nats) over the valid positions (inf if that overflows)."""

    default_name = "perplexity"

    def _finish(self, mean):
        try:
            return math.exp(mean)
        except OverflowError:
            return math.inf


class BitsPerCharacter(_Crossentropy):
    """Mean cross-entropy in bits, (mean nats) / ln 2, over the valid positions."""

    default_name = "bpc"

    def _finish(self, mean):
        return mean / math.log(2.0)


class MeanAbsoluteError(Metric):
    """Mean over the valid positions of (1/O) Σ_o |y_pred − y_true| (Keras' reduction)."""

    default_name = "mae"

    def _values(self, y_true, y_pred):
        return np.abs(y_pred - y_true).mean(axis=-1), y_pred.shape[0]


# -- lookup ----------------------------------------------------------------------------------
_CLASSES: dict[str, type[Metric]] = {
    c.__name__: c for c in (Accuracy, Perplexity, BitsPerCharacter, MeanAbsoluteError)
}

#: Keras names → (class, fixed constructor arguments)
_NAMES: dict[str, tuple[type[Metric], dict]] = {
    "accuracy": (Accuracy, {}),
    "acc": (Accuracy, {}),
    "sparse_categorical_accuracy": (Accuracy, {"kind": "sparse_categorical"}),
    "categorical_accuracy": (Accuracy, {"kind": "categorical"}),
    "binary_accuracy": (Accuracy, {"kind": "binary"}),
    "perplexity": (Perplexity, {}),
    "bpc": (BitsPerCharacter, {}),
    "bits_per_character": (BitsPerCharacter, {}),
    "mae": (MeanAbsoluteError, {}),
    "mean_absolute_error": (MeanAbsoluteError, {}),
}


def _takes_from_logits(cls: type[Metric]) -> bool:
    return "from_logits" in cls.config_keys


def get(identifier, *, from_logits: bool = False) -> Metric:
    """Resolve a metric.

    Arguments:
        identifier: a Metric (returned unchanged), a Keras name ("accuracy", "acc",
            "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
            "perplexity", "bpc", "bits_per_character", "mae", "mean_absolute_error"; the
            metric is named as asked, so "acc" appears as "acc" in the logs), a class name
            ("Perplexity") or a get_config() dict.
        from_logits: whether the model's predictions are logits (pass the loss's setting);
            used by the metrics that care (accuracy, perplexity, bpc) when built from a name.
    """
    from_logits = check_bool(from_logits, "rnnlab.metrics.get", "from_logits")
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, Mapping):
        return _from_config(identifier)
    if isinstance(identifier, str):
        if identifier in _NAMES:
            cls, fixed = _NAMES[identifier]
            kwargs = dict(fixed, name=identifier)
        elif identifier in _CLASSES:
            cls, kwargs = _CLASSES[identifier], {}
        else:
            cls = None
        if cls is not None:
            if _takes_from_logits(cls):
                kwargs["from_logits"] = from_logits
            return cls(**kwargs)
    raise ValueError(
        f"rnnlab.metrics.get: expected a Metric, a config dict or one of "
        f"{[*_NAMES, *_CLASSES]}, got {describe(identifier)}"
    )


def _from_config(config: Mapping) -> Metric:
    who = "rnnlab.metrics.get"
    name = config.get("class_name")
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{who}: expected class_name in {list(_CLASSES)}, got {name!r}")
    args = {k: v for k, v in config.items() if k != "class_name"}
    allowed = ("name", *cls.config_keys)
    unexpected = sorted(set(args) - set(allowed))
    if unexpected:
        raise ValueError(
            f"{who}: unexpected keys {unexpected} for {cls.__name__} (expected {list(allowed)})"
        )
    return cls(**args)


def direction_of(name: str) -> str | None:
    """ "up"/"down" for the names get() knows (larger is better or not), else None."""
    if name in _NAMES:
        return _NAMES[name][0].direction
    return None
