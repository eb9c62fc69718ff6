"""RepeatVector: one vector per sample, repeated n times into a sequence (Keras' RepeatVector).

context = rnnlab.layers.LSTM(64)(encoder_inputs)          # (None, 64)
repeated = rnnlab.layers.RepeatVector(10)(context)        # (None, 10, 64): a decoder's input
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_ndim, check_positive_int
from .base import Layer


class RepeatVector(Layer):
    """y[b, t] = x[b] for t = 0..n−1: input (B, F) -> output (B, n, F).

    Backward: ∂L/∂x[b] = Σ_t dy[b, t]. The output carries no mask (Keras: the same).
    """

    config_keys = ("n",)

    def __init__(
        self, n: int, *, name: str | None = None, dtype=None, seed: int | None = None, **kwargs
    ):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self.n = check_positive_int(n, self.who, "n")
        self._shape: tuple | None = None

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        if len(shape) != 1:
            raise ValueError(
                f"{self.who}: expected input_shape (features,) without the batch axis, got {shape}"
            )
        super().build(shape)

    def compute_output_shape(self, input_shape) -> tuple:
        return (self.n, *tuple(input_shape))

    def compute_mask(self, mask, inputs=None):
        return None

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        check_ndim(x, self.who, 2, "(batch, features)")
        if not self.built:
            self.build(x.shape[1:])
        self._shape = x.shape
        return np.repeat(x[:, None, :], self.n, axis=1)  # (B, n, F)

    def backward(self, dy, *dstates):
        self._require_forward(self._shape)
        B, F = self._shape
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != (B, self.n, F):
            raise ValueError(f"{self.who}: expected dy of shape {(B, self.n, F)}, got {dy.shape}")
        return dy.sum(axis=1)  # (B, F)
