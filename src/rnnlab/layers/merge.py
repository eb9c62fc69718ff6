"""Merge layers: several tensors in, one out (Keras' Concatenate, Add, Subtract, Multiply, Average).

    merged = rnnlab.layers.Concatenate()([forward_h, backward_h])      # (None, 2H)
    total = rnnlab.layers.add([a, b])                                   # the function form

They take a LIST of arrays as x (forward(x=[x_1, ..., x_n])) and their backward returns the list
[∂L/∂x_1, ..., ∂L/∂x_n]. The mask of the output is the AND of the inputs' masks (inputs without a
mask count as all valid); Concatenate along the time axis joins the masks along time instead.
Values at masked positions are computed like the others (the layers downstream ignore them).
"""

from __future__ import annotations

import abc
import numbers

import numpy as np

from .._validation import as_float_array, check_mask, describe
from ..summary import shape_text
from .base import Layer
from .symbolic import call_layer, is_symbolic


class Merge(Layer):
    """Base of the merge layers: input checks, masks, the list protocol."""

    #: how many inputs the layer takes: (least, most); most None = any number
    arity: tuple[int, int | None] = (2, None)

    def __init__(self, *, name: str | None = None, dtype=None, seed: int | None = None, **kwargs):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self._cache: tuple | None = None

    # -- what subclasses provide ------------------------------------------------------------------
    @abc.abstractmethod
    def _merge(self, xs: list[np.ndarray]) -> np.ndarray:
        """The output for the inputs xs (checked, cast to the layer's dtype)."""

    @abc.abstractmethod
    def _split(self, dy: np.ndarray, xs: list[np.ndarray]) -> list[np.ndarray]:
        """∂L/∂x_i for every input, given dy = ∂L/∂y."""

    def _output_shape(self, shapes: list[tuple]) -> tuple:
        """Shapes must agree on every axis (None agrees with anything)."""
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != len(out) or any(
                a is not None and b is not None and a != b for a, b in zip(out, shape, strict=True)
            ):
                raise ValueError(self._shape_error(shapes, "equal shapes"))
            out = [b if a is None else a for a, b in zip(out, shape, strict=True)]
        return tuple(out)

    # -- protocol ---------------------------------------------------------------------------------
    def _check_shapes(self, shapes) -> list[tuple]:
        least, most = self.arity
        if not isinstance(shapes, (list, tuple)) or not all(
            isinstance(s, (list, tuple)) for s in shapes
        ):
            raise ValueError(f"{self.who}: expected a list of input shapes, got {describe(shapes)}")
        if len(shapes) < least or (most is not None and len(shapes) > most):
            count = str(least) if least == most else f"at least {least}"
            raise ValueError(f"{self.who}: expected {count} inputs, got {len(shapes)}")
        return [tuple(s) for s in shapes]

    def _shape_error(self, shapes, what: str) -> str:
        found = ", ".join(shape_text((None, *s)) for s in shapes)
        return f"{self.who}: expected inputs of {what}, found shapes {found}"

    def build(self, input_shape) -> None:
        shapes = self._check_shapes(input_shape)
        self._output_shape(shapes)
        super().build(shapes)

    def compute_output_shape(self, input_shape) -> tuple:
        return self._output_shape(self._check_shapes(input_shape))

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"{self.who}: expected a list of arrays, got {describe(x)}")
        xs = [as_float_array(a, self.who, self.dtype, what=f"input {i}") for i, a in enumerate(x)]
        shapes = self._check_shapes([a.shape[1:] for a in xs])
        if len({a.shape[0] for a in xs}) > 1:
            raise ValueError(
                self._shape_error([a.shape for a in xs], "one batch size")
                + " (batch axis included)"
            )
        if not self.built:
            self.build(shapes)
        y = self._merge(xs)
        self._cache = (xs, y.shape)
        return y

    def backward(self, dy, *dstates):
        self._require_forward(self._cache)
        xs, shape = self._cache
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != shape:
            raise ValueError(f"{self.who}: expected dy of shape {shape}, got {dy.shape}")
        return self._split(dy, xs)

    def compute_mask(self, mask, inputs=None):
        """AND of the inputs' masks; None when no input has one."""
        masks = self._masks(mask, inputs)
        present = [m for m in masks if m is not None]
        if not present:
            return None
        return np.logical_and.reduce(present)

    def _masks(self, mask, inputs) -> list:
        if mask is None:
            return []
        if not isinstance(mask, (list, tuple)):
            raise TypeError(
                f"{self.who}: expected mask as a list (one entry per input, None "
                f"for none), got {describe(mask)}"
            )
        if inputs is not None and len(mask) != len(inputs):
            raise ValueError(f"{self.who}: expected {len(inputs)} masks, got {len(mask)}")
        if inputs is None:
            return list(mask)
        return [
            None if m is None else check_mask(m, self.who, np.shape(a)[:-1])
            for m, a in zip(mask, inputs, strict=True)
        ]


class Add(Merge):
    """y = x_1 + x_2 + ... + x_n (equal shapes). Backward: ∂L/∂x_i = dy."""

    def _merge(self, xs):
        return np.sum(xs, axis=0)

    def _split(self, dy, xs):
        return [dy.copy() for _ in xs]


class Subtract(Merge):
    """y = x_1 − x_2 (two inputs of equal shapes). Backward: dy, −dy."""

    arity = (2, 2)

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _split(self, dy, xs):
        return [dy.copy(), -dy]


class Multiply(Merge):
    """y = x_1 ⊙ x_2 ⊙ ... ⊙ x_n (equal shapes). Backward: ∂L/∂x_i = dy ⊙ Π_{j≠i} x_j."""

    def _merge(self, xs):
        return np.prod(xs, axis=0)

    def _split(self, dy, xs):
        out = []
        for i in range(len(xs)):
            g = dy.copy()
            for j, x in enumerate(xs):
                if j != i:
                    g *= x
            out.append(g)
        return out


class Average(Merge):
    """y = (x_1 + ... + x_n) / n (equal shapes). Backward: ∂L/∂x_i = dy / n."""

    def _merge(self, xs):
        return np.sum(xs, axis=0) / self.dtype.type(len(xs))

    def _split(self, dy, xs):
        return [dy / self.dtype.type(len(xs)) for _ in xs]


class Concatenate(Merge):
    """Joins the inputs along `axis` (default −1, the features; 1 joins (B, T, F) along time).

    Shapes must agree on every other axis. Backward splits dy at the same boundaries.
    Masks: along the feature axis the AND of the inputs' masks; along another axis the masks
    are joined along it (an input without a mask counts as all valid).
    """

    config_keys = ("axis",)

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or axis == 0:
            raise ValueError(
                f"{self.who}: expected axis to be a non-zero int (axis 0 is the "
                f"batch), got {axis!r}"
            )
        self.axis = int(axis)

    def _axis(self, ndim: int) -> int:
        """The axis within shapes that include the batch axis."""
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(
                f"{self.who}: axis {self.axis} is out of range for inputs of rank "
                f"{ndim} (batch axis included)"
            )
        return axis

    def _output_shape(self, shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ValueError(self._shape_error(shapes, "one rank"))
        axis = self._axis(ranks.pop() + 1) - 1  # within shapes without the batch axis
        out = list(shapes[0])
        for shape in shapes[1:]:
            for k, (a, b) in enumerate(zip(out, shape, strict=True)):
                if k == axis:
                    out[k] = None if a is None or b is None else a + b
                elif a is not None and b is not None and a != b:
                    raise ValueError(
                        self._shape_error(
                            shapes, f"equal shapes except on the concatenation axis {self.axis}"
                        )
                    )
                else:
                    out[k] = b if a is None else a
        return tuple(out)

    def _merge(self, xs):
        return np.concatenate(xs, axis=self._axis(xs[0].ndim))

    def _split(self, dy, xs):
        axis = self._axis(dy.ndim)
        bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return [np.ascontiguousarray(part) for part in np.split(dy, bounds, axis=axis)]

    def compute_mask(self, mask, inputs=None):
        masks = self._masks(mask, inputs)
        if not any(m is not None for m in masks):
            return None
        if inputs is None:
            raise ValueError(f"{self.who}: compute_mask needs the inputs to join the masks")
        axis = self._axis(np.ndim(inputs[0]))
        if axis == np.ndim(inputs[0]) - 1:
            return super().compute_mask(mask, inputs)
        full = [
            np.ones(np.shape(a)[:-1], dtype=bool) if m is None else m
            for m, a in zip(masks, inputs, strict=True)
        ]
        return np.concatenate(full, axis=axis)


def _functional(cls: type[Merge], inputs, **kwargs):
    layer = cls(**kwargs)
    if is_symbolic(inputs):
        return call_layer(layer, inputs)
    return layer.forward(inputs)


def add(inputs, **kwargs):
    """Add()(inputs): on symbolic tensors a new graph node, on arrays the sum."""
    return _functional(Add, inputs, **kwargs)


def subtract(inputs, **kwargs):
    """Subtract()(inputs)."""
    return _functional(Subtract, inputs, **kwargs)


def multiply(inputs, **kwargs):
    """Multiply()(inputs)."""
    return _functional(Multiply, inputs, **kwargs)


def average(inputs, **kwargs):
    """Average()(inputs)."""
    return _functional(Average, inputs, **kwargs)


def concatenate(inputs, axis: int = -1, **kwargs):
    """Concatenate(axis)(inputs)."""
    return _functional(Concatenate, inputs, axis=axis, **kwargs)
