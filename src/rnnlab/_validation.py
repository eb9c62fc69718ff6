"""Input checks for every public entry point: messages say who, what was expected, what came."""

from __future__ import annotations

import numbers

import numpy as np

from . import native


def describe(x) -> str:
    if isinstance(x, np.ndarray):
        return f"array of shape {x.shape} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def as_float_array(x, who: str, dtype: np.dtype, what: str = "input") -> np.ndarray:
    """Convert to an array of `dtype`; reject non-numeric, complex and non-finite data."""
    if isinstance(x, (list, tuple)):
        try:
            x = np.asarray(x)
        except ValueError as err:  # ragged nested lists
            raise ValueError(f"{who}: expected a rectangular numeric {what}, got {err}") from None
    if not isinstance(x, np.ndarray):
        if isinstance(x, numbers.Real):
            x = np.asarray(x)
        else:
            raise TypeError(f"{who}: expected a NumPy array as {what}, got {describe(x)}")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{who}: expected a real numeric {what}, got dtype {x.dtype}")
    x = x.astype(dtype, copy=False)
    if x.dtype.kind == "f" and not native.all_finite(x):
        bad = np.argwhere(~np.isfinite(x))[0]
        raise ValueError(
            f"{who}: {what} contains NaN or Inf (first at index {tuple(int(i) for i in bad)})"
        )
    return x


def check_ndim(x: np.ndarray, who: str, ndim: int, layout: str, what: str = "input") -> None:
    if x.ndim != ndim:
        raise ValueError(
            f"{who}: expected {what} of rank {ndim} {layout}, got shape {x.shape} (rank {x.ndim})"
        )


def check_last_dim(x: np.ndarray, who: str, expected: int, what: str = "input") -> None:
    if x.shape[-1] != expected:
        raise ValueError(
            f"{who}: expected {what} with last dimension {expected} (as when the layer was "
            f"built), got shape {x.shape}"
        )


def check_mask(mask, who: str, shape: tuple[int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray):
        raise TypeError(
            f"{who}: expected mask as a bool NumPy array of shape {shape}, got {describe(mask)}"
        )
    if mask.dtype != np.bool_:
        raise TypeError(
            f"{who}: expected mask of dtype bool (True = valid step), got dtype {mask.dtype}"
        )
    if mask.shape != shape:
        raise ValueError(f"{who}: expected mask of shape (batch, time) = {shape}, got {mask.shape}")
    return mask


def check_prediction(y_pred, who: str, dtype: np.dtype) -> np.ndarray:
    """A loss or metric prediction: real, finite, shape (..., features) with ≥ 1 feature."""
    y_pred = as_float_array(y_pred, who, dtype, "y_pred")
    if y_pred.ndim == 0 or y_pred.shape[-1] == 0:
        raise ValueError(
            f"{who}: expected y_pred of shape (..., features) with at least one "
            f"feature, got shape {y_pred.shape}"
        )
    return y_pred


def check_class_ids(y_true: np.ndarray, classes: int, mask: np.ndarray | None, who: str) -> None:
    """Sparse targets lie in [0, classes) wherever the mask counts (padding ids may not)."""
    bad = (y_true < 0) | (y_true >= classes)
    if mask is not None:
        bad &= mask
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{who}: expected class ids in [0, {classes}) in y_true, "
            f"got {int(y_true[index])} at index {index}"
        )


def check_position_mask(mask, who: str, shape: tuple[int, ...]) -> np.ndarray | None:
    """A loss or metric mask: bool, of shape y_pred.shape[:-1], True = the position counts."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(
            f"{who}: expected mask as a bool array of shape {shape} "
            f"(True = position counts), got {describe(mask)}"
        )
    if mask.shape != shape:
        raise ValueError(
            f"{who}: expected mask of shape y_pred.shape[:-1] = {shape}, got {mask.shape}"
        )
    return mask


def check_positive_int(value, who: str, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{who}: expected {name} to be a positive int, got {value!r}")
    return int(value)


def check_rate(value, who: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{who}: expected {name} in [0, 1), got {value!r}")
    return float(value)


def check_seed(seed, who: str) -> None:
    """A seed is an int or None."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"{who}: expected seed to be an int or None, got {describe(seed)}")


def check_bool(value, who: str, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{who}: expected {name} to be True or False, got {value!r}")
    return bool(value)


def check_choice(value, who: str, name: str, choices) -> object:
    if value not in choices:
        raise ValueError(f"{who}: expected {name} in {list(choices)}, got {value!r}")
    return value


def check_in_range(
    x: np.ndarray, low: float, high: float, who: str, what: str, hint: str = ""
) -> None:
    """Raise ValueError naming the first element of x outside [low, high]."""
    bad = (x < low) | (x > high)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{who}: expected {what} in [{low:g}, {high:g}]{hint}, "
            f"got {float(x[index])!r} at index {index}"
        )


def check_positive_float(value, who: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < np.inf:
        raise ValueError(f"{who}: expected {name} > 0 and finite, got {value!r}")
    return float(value)


def check_non_negative_float(value, who: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value < np.inf:
        raise ValueError(f"{who}: expected {name} ≥ 0 and finite, got {value!r}")
    return float(value)
