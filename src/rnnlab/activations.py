"""Elementwise activations with their derivatives, written in terms of the output y = f(x).

Every activation here except softmax has a derivative that is a function of its output, so the
backward pass never needs the pre-activation:

    tanh:     y = tanh x                 dy/dx = 1 - y²
    sigmoid:  y = 1 / (1 + e^-x)         dy/dx = y (1 - y)
    relu:     y = max(x, 0)              dy/dx = [y > 0]
    linear:   y = x                      dy/dx = 1
    softmax:  y = e^x / Σ e^x (last axis)  J·v = y ⊙ (v - Σ y⊙v)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Array = np.ndarray


def sigmoid(x: Array, out: Array | None = None) -> Array:
    """Logistic function as 0.5·(1 + tanh(x/2)): one tanh, no overflow for large |x|."""
    out = np.multiply(x, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


def tanh(x: Array) -> Array:
    return np.tanh(x)


def relu(x: Array) -> Array:
    return np.maximum(x, 0.0)


def linear(x: Array) -> Array:
    return x


def softmax(x: Array) -> Array:
    """Softmax over the last axis, shifted by the max for stability."""
    z = x - x.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def tanh_backward(y: Array, dy: Array) -> Array:
    return dy * (1.0 - y * y)


def sigmoid_backward(y: Array, dy: Array) -> Array:
    return dy * y * (1.0 - y)


def relu_backward(y: Array, dy: Array) -> Array:
    return dy * (y > 0)


def linear_backward(y: Array, dy: Array) -> Array:
    return dy


def softmax_backward(y: Array, dy: Array) -> Array:
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, tuple[Callable[[Array], Array], Callable[[Array, Array], Array]]] = {
    "tanh": (tanh, tanh_backward),
    "sigmoid": (sigmoid, sigmoid_backward),
    "relu": (relu, relu_backward),
    "linear": (linear, linear_backward),
    "softmax": (softmax, softmax_backward),
}


def get(name: str | None, where: str, allowed: tuple[str, ...] | None = None):
    """(forward, backward) for an activation name; None means "linear"."""
    name = "linear" if name is None else name
    choices = allowed if allowed is not None else tuple(ACTIVATIONS)
    if not isinstance(name, str) or name not in choices:
        raise ValueError(f"{where}: expected activation in {list(choices)}, got {name!r}")
    return ACTIVATIONS[name]
