"""Losses: the value and its gradient with respect to the prediction, computed together.

Shapes: y_pred is (..., O) with any rank ≥ 1, e.g. (B, O) or (B, T, O); the last axis holds the
features (regression, binary) or the classes (categorical). A loss reduces in two steps, as Keras
does:

    1. one loss per position n (shape y_pred.shape[:-1]):
         MeanSquaredError, MeanAbsoluteError, Huber, BinaryCrossentropy:
             ℓ_n = (1/O) Σ_o e(y_true[n, o], y_pred[n, o])        (mean over features)
         CategoricalCrossentropy, SparseCategoricalCrossentropy:
             ℓ_n = −Σ_c y_true[n, c] log p[n, c]                   (one distribution per n)
    2. the mean over the valid positions, m = mask (all True when mask is None):
             L = Σ_n m_n ℓ_n / Σ_n m_n
             dL/dy_pred[n] = (m_n / Σ m) · dℓ_n/dy_pred[n]          (zero where m_n is False)

With no valid position at all (mask.sum() == 0, or an empty batch) the loss is 0.0 and the
gradient is zero. Computation happens in y_pred's dtype (float32 or float64; any other input is
converted to rnnlab.config.floatx()) and the gradient has y_pred's shape and that dtype.

    >>> loss = SparseCategoricalCrossentropy(from_logits=True)
    >>> value, dlogits = loss.value_and_grad(labels, logits, mask=mask)   # (B, T), (B, T, C)
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from numbers import Real
from typing import ClassVar

import numpy as np

from . import config, native
from ._validation import (
    as_float_array,
    check_bool,
    check_class_ids,
    check_in_range,
    check_position_mask,
    check_prediction,
    describe,
)
from .activations import sigmoid

Array = np.ndarray

#: probabilities are clipped to [EPSILON, 1 − EPSILON] before the log (Keras' backend epsilon)
EPSILON = 1e-7


class Loss(abc.ABC):
    """Base class: validation and the masked mean; subclasses give the per-position loss."""

    #: the Keras string name of the loss
    name: ClassVar[str] = ""
    #: constructor arguments recorded by get_config
    config_keys: ClassVar[tuple[str, ...]] = ()

    @property
    def who(self) -> str:
        """How error messages name this loss."""
        return type(self).__name__

    # -- public API -------------------------------------------------------------------------
    def __call__(self, y_true, y_pred, mask: Array | None = None) -> float:
        """The loss value L (a Python float)."""
        return self.value_and_grad(y_true, y_pred, mask)[0]

    def gradient(self, y_true, y_pred, mask: Array | None = None) -> Array:
        """dL/dy_pred, same shape and dtype as y_pred."""
        return self.value_and_grad(y_true, y_pred, mask)[1]

    def value_and_grad(self, y_true, y_pred, mask: Array | None = None) -> tuple[float, Array]:
        """(L, dL/dy_pred) in one pass over the data.

        Arguments:
            y_true: targets, (..., O), or integer class ids (...) for the sparse loss.
            y_pred: predictions (..., O): values, probabilities or logits.
            mask: optional bool array of shape y_pred.shape[:-1], True = position counts.
        Returns:
            the loss (float) and its gradient (..., O) in y_pred's dtype.
        """
        y_pred = self._check_pred(y_pred)  # (..., O)
        mask = self._check_mask(mask, y_pred.shape[:-1])  # (...) or None
        y_true = self._check_true(y_true, y_pred, mask)
        # e^(very negative), squares of tiny errors and the like may underflow to 0: their
        # contributions are below the resolution of the sums they join, so that is exact.
        fused = self._fused(y_true, y_pred, mask)
        if fused is not None:
            return fused
        with np.errstate(under="ignore"):
            losses, grad = self._per_position(y_true, y_pred)  # (...), (..., O)
            return _masked_mean(losses, grad, mask)

    def get_config(self) -> dict:
        """{"class_name": ..., plus the constructor arguments}; JSON-serialisable."""
        return {
            "class_name": type(self).__name__,
            **{k: getattr(self, k) for k in self.config_keys},
        }

    @classmethod
    def from_config(cls, config: Mapping) -> Loss:
        """Rebuild a loss from get_config(); Loss.from_config dispatches on "class_name"."""
        who = f"{cls.__name__}.from_config"
        if not isinstance(config, Mapping):
            raise TypeError(f"{who}: expected a dict, got {describe(config)}")
        name = config.get("class_name")
        target = _CLASSES.get(name) if isinstance(name, str) else None
        if target is None or not issubclass(target, cls):
            known = [n for n, c in _CLASSES.items() if issubclass(c, cls)]
            raise ValueError(f"{who}: expected class_name in {known}, got {name!r}")
        args = {k: v for k, v in config.items() if k != "class_name"}
        unexpected = sorted(set(args) - set(target.config_keys))
        if unexpected:
            raise ValueError(
                f"{who}: unexpected keys {unexpected} for {target.__name__} "
                f"(expected {list(target.config_keys)})"
            )
        return target(**args)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.config_keys)
        return f"{type(self).__name__}({args})"

    # -- subclass hooks ---------------------------------------------------------------------
    @abc.abstractmethod
    def _per_position(self, y_true: Array, y_pred: Array) -> tuple[Array, Array]:
        """(ℓ, dℓ/dy_pred): per-position losses (...) and their gradients (..., O)."""

    def _fused(self, y_true: Array, y_pred: Array, mask: Array | None):
        """(L, dL/dy_pred) from a compiled kernel, or None where none applies."""
        return None

    # -- validation -------------------------------------------------------------------------
    def _check_pred(self, y_pred) -> Array:
        known = isinstance(y_pred, np.ndarray) and y_pred.dtype in (np.float32, np.float64)
        dtype = y_pred.dtype if known else np.dtype(config.floatx())
        return check_prediction(y_pred, self.who, dtype)

    def _check_true(self, y_true, y_pred: Array, mask: Array | None) -> Array:
        y_true = as_float_array(y_true, self.who, y_pred.dtype, "y_true")
        if y_true.shape != y_pred.shape:
            raise ValueError(
                f"{self.who}: expected y_true of shape {y_pred.shape} (like y_pred), "
                f"got {y_true.shape}"
            )
        return y_true

    def _check_mask(self, mask, shape: tuple[int, ...]) -> Array | None:
        return check_position_mask(mask, self.who, shape)


def _masked_mean(losses: Array, grad: Array, mask: Array | None) -> tuple[float, Array]:
    """L = Σ m ℓ / Σ m and dL/dy_pred = (m / Σ m) dℓ/dy_pred; (0.0, zeros) when Σ m = 0."""
    count = losses.size if mask is None else int(np.count_nonzero(mask))
    if count == 0:
        return 0.0, np.zeros_like(grad)
    if mask is None:
        value = losses.sum()
    else:
        value = losses[mask].sum()
        grad *= mask[..., None]  # (..., O): masked positions get no gradient
    grad /= count
    return float(value / count), grad


# -- regression losses -----------------------------------------------------------------------
class MeanSquaredError(Loss):
    """ℓ_n = (1/O) Σ_o e², e = y_pred − y_true;  dℓ/dy_pred = 2e / O."""

    name = "mean_squared_error"

    def _per_position(self, y_true, y_pred):
        e = y_pred - y_true  # (..., O)
        features = e.shape[-1]
        return np.square(e).mean(axis=-1), e * (2.0 / features)


class MeanAbsoluteError(Loss):
    """ℓ_n = (1/O) Σ_o |e|, e = y_pred − y_true;  dℓ/dy_pred = sign(e) / O (0 at e = 0)."""

    name = "mean_absolute_error"

    def _per_position(self, y_true, y_pred):
        e = y_pred - y_true  # (..., O)
        features = e.shape[-1]
        return np.abs(e).mean(axis=-1), np.sign(e) / features


class Huber(Loss):
    """Quadratic near zero, linear beyond delta (torch.nn.functional.huber_loss, Keras Huber):

        h(e) = ½ e²              if |e| ≤ δ
               δ (|e| − ½ δ)     otherwise          e = y_pred − y_true
        ℓ_n = (1/O) Σ_o h(e);   dℓ/dy_pred = clip(e, −δ, δ) / O
    The gradient is continuous; its derivative jumps at |e| = δ.
    """

    name = "huber"
    config_keys = ("delta",)

    def __init__(self, delta: float = 1.0):
        if isinstance(delta, bool) or not isinstance(delta, Real) or not 0 < delta < np.inf:
            raise ValueError(f"Huber: expected delta > 0 and finite, got {delta!r}")
        self.delta = float(delta)

    def _per_position(self, y_true, y_pred):
        delta = self.delta
        e = y_pred - y_true  # (..., O)
        a = np.abs(e)
        h = np.where(a <= delta, 0.5 * e * e, delta * (a - 0.5 * delta))
        return h.mean(axis=-1), np.clip(e, -delta, delta) / e.shape[-1]


# -- cross-entropies -------------------------------------------------------------------------
class _Crossentropy(Loss):
    """Shared by the cross-entropies: the from_logits switch and its checks."""

    config_keys = ("from_logits",)

    def __init__(self, from_logits: bool = False):
        self.from_logits = check_bool(from_logits, self.who, "from_logits")

    def _check_pred(self, y_pred) -> Array:
        y_pred = super()._check_pred(y_pred)
        if not self.from_logits:
            hint = " (pass from_logits=True for logits)"
            check_in_range(y_pred, 0.0, 1.0, self.who, "probabilities in y_pred", hint)
        return y_pred

    def _check_true(self, y_true, y_pred, mask):
        y_true = super()._check_true(y_true, y_pred, mask)
        check_in_range(y_true, 0.0, 1.0, self.who, "targets in y_true")
        return y_true


class BinaryCrossentropy(_Crossentropy):
    """Independent binary targets y ∈ [0, 1] per feature; ℓ_n = (1/O) Σ_o b(y, ·).

    from_logits=True (x = y_pred, the stable form of −y log σ(x) − (1−y) log(1−σ(x))):
        b = max(x, 0) − x y + log(1 + e^−|x|);     db/dx = σ(x) − y
    from_logits=False (y_pred a probability, p = clip(y_pred, ε, 1−ε), ε = 1e-7):
        b = −y log p − (1−y) log(1−p);             db/dy_pred = (p − y) / (p (1−p)),
                                                   0 where the clip is active
    """

    name = "binary_crossentropy"

    def _per_position(self, y_true, y_pred):
        features = y_pred.shape[-1]
        if self.from_logits:
            x = y_pred  # (..., O)
            softplus = np.log1p(np.exp(-np.abs(x)))  # e^−|x| → 0 for large |x|
            b = np.maximum(x, 0.0) - x * y_true + softplus
            db = sigmoid(x) - y_true
        else:
            p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)  # (..., O)
            b = -(y_true * np.log(p) + (1.0 - y_true) * np.log1p(-p))
            db = (p - y_true) / (p * (1.0 - p))
            db *= p == y_pred  # the clip passes no gradient
        db /= features
        return b.mean(axis=-1), db


def log_softmax(x: Array) -> tuple[Array, Array]:
    """(z, p): z = x − max − log Σ e^(x − max) = log softmax(x) and p = softmax(x), last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)  # (..., C), ≤ 0
    e = np.exp(shifted)  # underflows to 0 for very negative entries (caller's errstate)
    total = e.sum(axis=-1, keepdims=True)  # (..., 1), ≥ 1
    return shifted - np.log(total), e / total


class CategoricalCrossentropy(_Crossentropy):
    """Targets are distributions over the C classes (one-hot or soft); ℓ_n = −Σ_c y_c log p_c.

    from_logits=True (x = y_pred, log p = x − max − log Σ e^(x − max)):
        dℓ/dx = softmax(x) Σ_c y_c − y             (= softmax(x) − y for one-hot y)
    from_logits=False (y_pred probabilities, p = clip(y_pred, ε, 1−ε), ε = 1e-7):
        dℓ/dy_pred = −y / p, 0 where the clip is active.
        Unlike Keras, y_pred is NOT renormalised to sum to 1 first: pass a softmax output.
    """

    name = "categorical_crossentropy"

    def _per_position(self, y_true, y_pred):
        if self.from_logits:
            log_p, p = log_softmax(y_pred)  # (..., C)
            grad = p * y_true.sum(axis=-1, keepdims=True) - y_true
        else:
            p = np.clip(y_pred, EPSILON, 1.0 - EPSILON)  # (..., C)
            log_p = np.log(p)
            grad = -y_true / p
            grad *= p == y_pred  # the clip passes no gradient
        return -(y_true * log_p).sum(axis=-1), grad


class SparseCategoricalCrossentropy(_Crossentropy):
    """CategoricalCrossentropy with integer class ids k ∈ [0, C): ℓ_n = −log p[n, k_n].

    y_true has shape y_pred.shape[:-1] (a trailing axis of size 1 is accepted, as in Keras).
    Class ids at masked-out positions are ignored, so padding ids such as −1 are allowed there.
    from_logits=True:  dℓ/dx = softmax(x) − onehot(k)
    from_logits=False: p_k = clip(y_pred[k], ε, 1−ε); dℓ/dy_pred = −onehot(k) / p_k, 0 where
                       the clip is active.
    """

    name = "sparse_categorical_crossentropy"

    def _check_true(self, y_true, y_pred, mask):
        if isinstance(y_true, (list, tuple, int, np.integer)):
            y_true = np.asarray(y_true)
        if not isinstance(y_true, np.ndarray) or y_true.dtype.kind not in "iu":
            raise TypeError(
                f"{self.who}: expected integer class ids in y_true, got {describe(y_true)}"
            )
        positions, classes = y_pred.shape[:-1], y_pred.shape[-1]
        if y_true.shape == (*positions, 1) and y_true.shape != positions:
            y_true = y_true[..., 0]
        if y_true.shape != positions:
            raise ValueError(
                f"{self.who}: expected y_true of shape y_pred.shape[:-1] = {positions}, "
                f"got {y_true.shape}"
            )
        check_class_ids(y_true, classes, mask, self.who)
        if mask is not None:
            y_true = np.where(mask, y_true, 0)  # ignored ids become a safe index
        return y_true.astype(np.intp, copy=False)

    def _fused(self, y_true, y_pred, mask):
        """float32 logits on the kernels: max, Σ e^(x − max), log, the gradient with the mask
        and the 1/count folded in, one pass per row (a dozen NumPy passes otherwise)."""
        if not (self.from_logits and native.serves("sparse_xent", dtype=y_pred.dtype)):
            return None
        C = y_pred.shape[-1]
        x = np.ascontiguousarray(y_pred).reshape(-1, C)
        count = x.shape[0] if mask is None else int(np.count_nonzero(mask))
        if count == 0 or C == 0:
            return None  # the NumPy path's (0.0, zeros) or its error
        grad = np.empty_like(x)
        m = None if mask is None else mask.reshape(-1)
        total = native.sparse_xent(x, y_true.reshape(-1), m, count, grad)
        return total / count, grad.reshape(y_pred.shape)

    def _per_position(self, y_true, y_pred):
        k = y_true[..., None]  # (..., 1)
        if self.from_logits:
            log_p, grad = log_softmax(y_pred)  # (..., C); grad starts as softmax(x)
            picked = np.take_along_axis(grad, k, axis=-1)
            np.put_along_axis(grad, k, picked - 1.0, axis=-1)
            return -np.take_along_axis(log_p, k, axis=-1)[..., 0], grad
        picked = np.take_along_axis(y_pred, k, axis=-1)  # (..., 1)
        p = np.clip(picked, EPSILON, 1.0 - EPSILON)
        grad = np.zeros_like(y_pred)
        np.put_along_axis(grad, k, (-1.0 / p) * (p == picked), axis=-1)
        return -np.log(p)[..., 0], grad


# -- lookup ----------------------------------------------------------------------------------
_CLASSES: dict[str, type[Loss]] = {
    c.__name__: c
    for c in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
    )
}

_NAMES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    **{c.name: c for c in _CLASSES.values()},
    **_CLASSES,
}


def get(identifier: str | Loss | Mapping) -> Loss:
    """Resolve a Keras loss name ("mse", "sparse_categorical_crossentropy", ...), a class name
    or a get_config() dict to a Loss; a Loss instance passes through unchanged."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, Mapping):
        return Loss.from_config(identifier)
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    raise ValueError(
        f"rnnlab.losses.get: expected a Loss, a config dict or one of {list(_NAMES)}, "
        f"got {describe(identifier)}"
    )
