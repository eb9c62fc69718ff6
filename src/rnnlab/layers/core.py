"""Feed-forward layers: Dense, Activation, Dropout. They act on the last axis, so (B, I) and
(B, T, I) inputs both work, and they pass an incoming (B, T) mask through unchanged."""

from __future__ import annotations

import numpy as np

from .. import activations, config, initializers, native
from .._validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_last_dim,
    check_positive_int,
    check_rate,
)
from .base import Layer


def _check_rank_at_least_2(x: np.ndarray, who: str) -> None:
    if x.ndim < 2:
        raise ValueError(
            f"{who}: expected input of rank ≥ 2 (batch, ..., features), got shape {x.shape}"
        )


class Dense(Layer):
    """Fully connected layer on the last axis: y = act(x Wᵀ + b).

    Arguments: units O, activation (tanh | sigmoid | relu | linear | softmax | None), use_bias.
    Params: weight (O, I), bias (O) (torch.nn.Linear's layout). Input (..., I) -> (..., O).
    Backward: δ = act'(dy); ∂L/∂W = δᵀ x, ∂L/∂b = Σ δ, ∂L/∂x = δ W.
    """

    config_keys = ("units", "activation", "use_bias", "kernel_initializer", "bias_initializer")

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        bias_initializer: str = "zeros",
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self.units = check_positive_int(units, self.who, "units")
        self.activation = "linear" if activation is None else activation
        self._act, self._act_backward = activations.get(self.activation, self.who)
        self.use_bias = check_bool(use_bias, self.who, "use_bias")
        check_choice(kernel_initializer, self.who, "kernel_initializer", initializers.INITIALIZERS)
        check_choice(bias_initializer, self.who, "bias_initializer", initializers.INITIALIZERS)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._cache = None

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        if not shape:
            raise ValueError(f"{self.who}: expected input_shape with a feature axis, got {shape}")
        input_dim = check_positive_int(shape[-1], self.who, "the number of input features")
        init = initializers.get(self.kernel_initializer, self.who)
        self._add_param(
            "weight", init((self.units, input_dim), self.rng, self.dtype, hidden_size=input_dim)
        )
        if self.use_bias:
            init_b = initializers.get(self.bias_initializer, self.who)
            self._add_param(
                "bias", init_b((self.units,), self.rng, self.dtype, hidden_size=input_dim)
            )
        super().build(shape)

    def compute_output_shape(self, input_shape) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        _check_rank_at_least_2(x, self.who)
        if not self.built:
            self.build(x.shape[1:])
        check_last_dim(x, self.who, self.params["weight"].shape[1])
        z = native.matmul(x, self.params["weight"].T)  # (..., O)
        if self.use_bias:
            z += self.params["bias"]
        y = self._act(z)
        self._cache = (x, y) if config.is_grad_enabled() else None  # none under no_grad()
        return y

    def backward(self, dy, *dstates):
        self._require_forward(self._cache)
        x, y = self._cache
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != y.shape:
            raise ValueError(f"{self.who}: expected dy of shape {y.shape}, got {dy.shape}")
        delta = self._act_backward(y, dy)  # (..., O)
        O, I = self.params["weight"].shape
        self.grads["weight"][...] = native.matmul(delta.reshape(-1, O).T, x.reshape(-1, I))
        if self.use_bias:
            self.grads["bias"][...] = delta.reshape(-1, O).sum(axis=0)
        return native.matmul(delta, self.params["weight"])

    def get_weights(self) -> list[np.ndarray]:
        """Keras' order and shapes: [kernel (I, O) = weightᵀ, bias (O)] (bias with use_bias)."""
        return [p.T.copy() if k == "weight" else p.copy() for k, p in self.params.items()]

    def set_weights(self, weights) -> None:
        """From Keras' [kernel (I, O), bias (O)]."""
        if isinstance(weights, (list, tuple)) and weights and self.built:
            want = self.params["weight"].T.shape
            if np.shape(weights[0]) != want:
                raise ValueError(
                    f"{self.who}: expected kernel of shape {want} (Keras' layout), "
                    f"got {np.shape(weights[0])}"
                )
        self._set_params(weights, list(self.params), {"weight": np.transpose})


class Activation(Layer):
    """Applies an activation elementwise (softmax: over the last axis)."""

    config_keys = ("activation",)

    def __init__(
        self,
        activation: str,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self._act, self._act_backward = activations.get(activation, self.who)
        self.activation = activation
        self._y = None

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        self._y = self._act(x)
        return self._y

    def backward(self, dy, *dstates):
        self._require_forward(self._y)
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != self._y.shape:
            raise ValueError(f"{self.who}: expected dy of shape {self._y.shape}, got {dy.shape}")
        return self._act_backward(self._y, dy)


class Dropout(Layer):
    """Inverted dropout (training only): y = x ⊙ m / (1 - rate), m ~ Bernoulli(1 - rate).

    noise_shape: optional shape with 1 where the mask is shared, e.g. (None, 1, None) shares
    one mask over time for (B, T, F) input. At inference (training=False) y = x.
    """

    config_keys = ("rate", "noise_shape")

    def __init__(
        self,
        rate: float,
        noise_shape: tuple | None = None,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed, **kwargs)
        self.rate = check_rate(rate, self.who, "rate")
        self.noise_shape = None if noise_shape is None else list(noise_shape)
        self._mask: np.ndarray | None = None
        self._shape = None

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = as_float_array(x, self.who, self.dtype)
        if not self.built:
            self.build(x.shape[1:])
        self._shape = x.shape
        if not training or self.rate == 0.0:
            self._mask = None
            return x.copy()
        shape = self._noise_shape(x.shape)
        keep = self.rng.random(shape) >= self.rate
        self._mask = keep.astype(self.dtype) / self.dtype.type(1.0 - self.rate)
        return x * self._mask

    def backward(self, dy, *dstates):
        self._require_forward(self._shape)
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        if dy.shape != self._shape:
            raise ValueError(f"{self.who}: expected dy of shape {self._shape}, got {dy.shape}")
        return dy.copy() if self._mask is None else dy * self._mask

    def _noise_shape(self, shape) -> tuple:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"{self.who}: noise_shape {tuple(self.noise_shape)} has rank "
                f"{len(self.noise_shape)}, input has shape {shape}"
            )
        out = []
        for n, s in zip(self.noise_shape, shape, strict=True):
            if n is not None and n not in (1, s):
                raise ValueError(
                    f"{self.who}: noise_shape {tuple(self.noise_shape)} does not "
                    f"broadcast to input shape {shape}"
                )
            out.append(s if n is None else n)
        return tuple(out)
