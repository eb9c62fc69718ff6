"""Masking: marks time steps whose features all equal `mask_value` as padding (Keras' Masking).

    x = rnnlab.layers.Masking(mask_value=0.0)(inputs)    # steps of all zeros are skipped
    y = rnnlab.layers.LSTM(32)(x)                         # the state after the last valid step

mask[b, t] = any_f(x[b, t, f] ≠ mask_value); the output is x with the masked steps set to 0,
y = x ⊙ mask[..., None], and every layer downstream receives the mask (recurrent layers carry
their state across masked steps, losses ignore them).
"""

from __future__ import annotations

import numbers

import numpy as np

from .._validation import as_float_array, describe
from .base import Layer


class Masking(Layer):
    """Masks the steps of (B, T, F) input whose features all equal mask_value.

    Backward: ∂L/∂x = dy ⊙ mask[..., None] (a masked step's features do not reach the output).
    """

    config_keys = ("mask_value",)

    def __init__(
        self,
        mask_value: float = 0.0,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        if (
            isinstance(mask_value, bool)
            or not isinstance(mask_value, numbers.Real)
            or not np.isfinite(mask_value)
        ):
            raise ValueError(
                f"{self.who}: expected mask_value to be a finite number, got {describe(mask_value)}"
            )
        self.mask_value = float(mask_value)
        self._keep: np.ndarray | None = None
        self._shape: tuple | None = None

    def _mask(self, x: np.ndarray) -> np.ndarray:
        return np.any(x != self.dtype.type(self.mask_value), axis=-1)  # (B, T)

    def compute_mask(self, mask, inputs=None):
        """The steps whose features are not all mask_value (the incoming mask is replaced)."""
        if inputs is None:
            raise ValueError(f"{self.who}: compute_mask needs the inputs")
        x = as_float_array(inputs, self.who, self.dtype)
        return self._mask(x)

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        if x.ndim < 3:
            raise ValueError(
                f"{self.who}: expected input of rank ≥ 3 (batch, time, features), "
                f"got shape {x.shape}"
            )
        if not self.built:
            self.build(x.shape[1:])
        self._keep = self._mask(x)[..., None].astype(self.dtype)  # (B, T, 1)
        self._shape = x.shape
        return x * self._keep

    def backward(self, dy, *dstates):
        self._require_forward(self._keep)
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != self._shape:
            raise ValueError(f"{self.who}: expected dy of shape {self._shape}, got {dy.shape}")
        return dy * self._keep
