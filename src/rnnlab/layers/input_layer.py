"""Input() and InputLayer: where data enters a functional model.

    tokens = rnnlab.models.Input(shape=(None,), dtype="int32", name="tokens")   # (None, None)
    frames = rnnlab.models.Input(shape=(None, 100))                             # (None, None, 100)

`Input` returns a SymbolicTensor (batch axis first, None where the length may vary) made by an
InputLayer, the first layer of every functional model. At run time the InputLayer checks the
data against the declared shape and dtype (Keras' message: the expected and the found shape),
casts it to that dtype and passes it on; its backward passes the gradient through (None for
integer inputs, which have none).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .. import config
from .._validation import as_float_array, check_positive_int, describe
from ..summary import shape_text
from .base import Layer
from .symbolic import SymbolicTensor, make_input

#: dtypes an Input may declare: floats for features, integers for token ids
INPUT_DTYPES = ("float32", "float64", "int32", "int64")


def _check_shape(shape, who: str) -> tuple:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or not all(
        d is None or (isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0)
        for d in shape
    ):
        raise ValueError(
            f"{who}: expected shape as a tuple of positive ints or None (without "
            f"the batch axis), e.g. (None, 100), got {describe(shape)}"
        )
    return tuple(None if d is None else int(d) for d in shape)


def _check_dtype(dtype, who: str) -> np.dtype:
    try:
        kind = np.dtype(config.floatx() if dtype is None else dtype)
    except TypeError:
        kind = None
    if kind is None or kind.name not in INPUT_DTYPES:
        raise TypeError(f"{who}: expected dtype in {list(INPUT_DTYPES)}, got {dtype!r}")
    return kind


class InputLayer(Layer):
    """The layer behind Input(): checks and casts the data, holds no parameters.

    Arguments: shape (without the batch axis, None where any length is allowed), dtype
    ("float32" | "float64" for features, "int32" | "int64" for token ids; default floatx),
    batch_size (None: any).
    """

    def __init__(
        self,
        shape,
        dtype=None,
        batch_size: int | None = None,
        *,
        name: str | None = None,
        seed: int | None = None,
        **kwargs,
    ):
        kind = _check_dtype(dtype, "InputLayer")
        float_dtype = kind.name if kind.kind == "f" else None
        super().__init__(name=name, dtype=float_dtype, seed=seed, **kwargs)
        self.shape = _check_shape(shape, self.who)
        self.input_dtype = kind
        self.batch_size = (
            None if batch_size is None else check_positive_int(batch_size, self.who, "batch_size")
        )
        self.build(self.shape)
        self._shape: tuple | None = None

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(shape=list(self.shape), dtype=self.input_dtype.name, batch_size=self.batch_size)
        return cfg

    def compute_output_shape(self, input_shape) -> tuple:
        return self.shape

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        if self.input_dtype.kind == "f":
            x = as_float_array(x, self.who, self.input_dtype)
        else:
            x = np.asarray(x) if isinstance(x, (list, tuple)) else x
            if not isinstance(x, np.ndarray) or x.dtype.kind not in "iu":
                raise TypeError(
                    f"{self.who}: expected integer token ids "
                    f"({self.input_dtype.name}), got {describe(x)}"
                )
            x = x.astype(self.input_dtype, copy=False)
        expected = (self.batch_size, *self.shape)
        if x.ndim != len(expected) or any(
            e is not None and e != d for e, d in zip(expected, x.shape, strict=True)
        ):
            raise ValueError(
                f"Input {self.name!r} is incompatible with the data: expected "
                f"shape={shape_text(expected)}, found shape={shape_text(x.shape)}"
            )
        self._shape = x.shape
        return x

    def backward(self, dy, *dstates):
        self._require_forward(self._shape)
        if self.input_dtype.kind != "f":
            return None
        dy = as_float_array(dy, self.who, self.input_dtype, what="dy")
        if dy.shape != self._shape:
            raise ValueError(f"{self.who}: expected dy of shape {self._shape}, got {dy.shape}")
        return dy


def Input(
    shape=None,
    batch_size: int | None = None,
    dtype=None,
    name: str | None = None,
    batch_shape=None,
    sparse: bool | None = None,
    tensor=None,
    optional: bool = False,
) -> SymbolicTensor:
    """A symbolic input of a functional model (keras.Input's arguments).

    shape: without the batch axis, e.g. (None, 100) for sequences of any length with 100
    features, (None,) for token-id sequences (with dtype="int32"); or batch_shape with the
    batch axis. Not supported (NotImplementedError): sparse=True, tensor=, optional=True.
    """
    for flag, what in (
        (sparse, "sparse inputs (sparse=True)"),
        (tensor is not None, "wrapping an existing tensor (tensor=)"),
        (optional, "optional inputs (optional=True)"),
    ):
        if flag:
            raise NotImplementedError(f"Input: {what} are not supported by rnnlab")
    if batch_shape is not None:
        if shape is not None:
            raise ValueError("Input: give shape or batch_shape, not both")
        full = _check_shape(batch_shape, "Input") if batch_shape else ()
        if not full:
            raise ValueError(
                f"Input: expected batch_shape with the batch axis first, got {batch_shape!r}"
            )
        batch_size, shape = full[0], full[1:]
    if shape is None:
        raise ValueError("Input: expected shape=(...) without the batch axis, e.g. (None, 100)")
    layer = InputLayer(shape, dtype=dtype, batch_size=batch_size, name=name)
    return input_tensor(layer)


def input_tensor(layer: InputLayer) -> SymbolicTensor:
    """The symbolic tensor of an InputLayer (what Input returns; used when models reload)."""
    if not isinstance(layer, InputLayer):
        raise TypeError(f"input_tensor: expected an InputLayer, got {describe(layer)}")
    return make_input(layer, (layer.batch_size, *layer.shape), layer.input_dtype, layer.name)
