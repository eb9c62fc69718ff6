"""to_categorical: class ids -> one-hot rows (keras.utils.to_categorical)."""

from __future__ import annotations

import numbers

import numpy as np

from .. import config
from .._validation import describe


def to_categorical(x, num_classes: int | None = None, dtype=None) -> np.ndarray:
    """One-hot encode integer class ids: shape (*x.shape, num_classes).

    A trailing axis of length 1 is dropped first, as Keras does ((N, 1) ids give (N, C)).
    num_classes: None = max(x) + 1. dtype: default rnnlab.config.floatx() ("float32"; Keras
    returns float64). Ids outside [0, num_classes) raise ValueError (Keras would wrap negative
    ids around silently).
    """
    who = "to_categorical"
    ids = np.asarray(x)
    if ids.dtype.kind == "f" and ids.size and np.all(ids == np.round(ids)):
        ids = ids.astype(np.int64)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected integer class ids, got {describe(x)}")
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if num_classes is None:
        if ids.size == 0:
            raise ValueError(f"{who}: cannot infer num_classes from no ids; pass num_classes")
        num_classes = int(ids.max()) + 1
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, numbers.Integral)
        or num_classes <= 0
    ):
        raise ValueError(f"{who}: expected num_classes to be a positive int, got {num_classes!r}")
    bad = (ids < 0) | (ids >= num_classes)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{who}: expected class ids in [0, {num_classes}), got {ids[index]} at index {index}"
        )
    out = np.zeros(
        (*ids.shape, int(num_classes)), dtype=np.dtype(config.floatx() if dtype is None else dtype)
    )
    np.put_along_axis(out, ids[..., None].astype(np.intp), 1, axis=-1)
    return out
