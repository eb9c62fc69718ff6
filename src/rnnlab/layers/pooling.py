"""Pooling over time: (B, T, F) sequences to (B, F) vectors, padding (the mask) left out.

    x = rnnlab.layers.LSTM(64, return_sequences=True)(embedded)
    v = rnnlab.layers.GlobalAveragePooling1D()(x)        # or GlobalMaxPooling1D()

With m[b, t] = 1 for a valid step (mask True, or every step without a mask) and
n_b = Σ_t m[b, t]:

    mean:  y[b] = Σ_t m[b, t] x[b, t] / n_b               ∂L/∂x[b, t] = m[b, t] dy[b] / n_b
    max:   y[b, f] = max_{t: m[b,t]=1} x[b, t, f]          ∂L/∂x[b, t, f] = dy[b, f] at the first
                                                          maximising step, 0 elsewhere

A row with no valid step gives y = 0 (and no gradient). The output carries no mask.
Keras' names; the same results as Keras' layers given the same mask.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, describe
from .base import Layer


class _GlobalPooling1D(Layer):
    """Shared checks of the two poolings: (B, T, F) input, an optional (B, T) bool mask."""

    def __init__(self, *, name: str | None = None, dtype=None, seed: int | None = None, **kwargs):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self._keep: np.ndarray | None = None  # (B, T, 1) float 0/1
        self._shape: tuple | None = None

    def compute_mask(self, mask, inputs=None):
        return None

    def compute_output_shape(self, input_shape) -> tuple:
        return (input_shape[0], input_shape[-1])

    def _inputs(self, x, mask, initial_state) -> np.ndarray:
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        if x.ndim != 3:
            raise ValueError(
                f"{self.who}: expected input of shape (batch, time, features), got {x.shape}"
            )
        if not self.built:
            self.build(x.shape[1:])
        if mask is None:
            keep = np.ones(x.shape[:2], dtype=bool)
        else:
            keep = np.asarray(mask)
            if keep.dtype != np.bool_ or keep.shape != x.shape[:2]:
                raise ValueError(
                    f"{self.who}: expected a bool mask of shape {x.shape[:2]}, got {describe(mask)}"
                )
        self._keep = keep[..., None].astype(self.dtype)  # (B, T, 1)
        self._shape = x.shape
        return x

    def _dy(self, dy) -> np.ndarray:
        self._require_forward(self._shape)
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        want = (self._shape[0], self._shape[2])
        if dy.shape != want:
            raise ValueError(f"{self.who}: expected dy of shape {want}, got {dy.shape}")
        return dy


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean of each sequence's valid steps: (B, T, F) → (B, F) (module docstring)."""

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        x = self._inputs(x, mask, initial_state)
        n = np.maximum(self._keep.sum(axis=1), 1)  # (B, 1)
        self._n = n
        return (x * self._keep).sum(axis=1) / n  # (B, F)

    def backward(self, dy, *dstates):
        dy = self._dy(dy)
        return (dy / self._n)[:, None, :] * self._keep  # (B, T, F)


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The largest value of each feature over each sequence's valid steps: (B, T, F) → (B, F)
    (module docstring)."""

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        x = self._inputs(x, mask, initial_state)
        masked = np.where(self._keep > 0, x, -np.inf)  # (B, T, F)
        self._arg = masked.argmax(axis=1)  # (B, F): the first maximising step
        self._any = self._keep[:, :, 0].any(axis=1)  # (B,)
        y = np.take_along_axis(x, self._arg[:, None, :], axis=1)[:, 0, :]  # (B, F)
        return np.where(self._any[:, None], y, 0).astype(self.dtype)

    def backward(self, dy, *dstates):
        dy = self._dy(dy)
        dx = np.zeros(self._shape, dtype=self.dtype)  # (B, T, F)
        np.put_along_axis(dx, self._arg[:, None, :], (dy * self._any[:, None])[:, None, :], 1)
        return dx


__all__ = ["GlobalAveragePooling1D", "GlobalMaxPooling1D"]
