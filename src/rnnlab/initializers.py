"""Weight initializers. Each takes (shape, rng, dtype) and returns a new array.

    glorot_uniform   U(±√(6 / (fan_in + fan_out)))             Glorot & Bengio 2010
    orthogonal       Q from the QR decomposition of a Gaussian  Saxe et al. 2014; the recurrent
                     default. Gate-stacked matrices (k·H, H) get one orthogonal H×H block per gate.
    pytorch_uniform  U(±1/√H), H = hidden size                   torch.nn.RNN/LSTM/GRU's default
    random_uniform   U(±0.05)                                    Keras' Embedding default
    normal           N(0, 1)                                     torch.nn.Embedding's default
    zeros, ones
Shapes follow PyTorch: a weight is (fan_out, fan_in).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def glorot_uniform(shape, rng: np.random.Generator, dtype, *, fan_in=None, fan_out=None, **_):
    fan_out = shape[0] if fan_out is None else fan_out
    fan_in = (shape[1] if len(shape) > 1 else shape[0]) if fan_in is None else fan_in
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(shape, rng: np.random.Generator, dtype, *, blocks: int = 1, gain: float = 1.0, **_):
    """Orthogonal rows/columns; with blocks=k the (k·H, N) matrix is k stacked orthogonal blocks."""
    rows, cols = shape
    if rows % blocks:
        raise ValueError(f"orthogonal: {rows} rows do not split into {blocks} blocks")
    parts = []
    for _ in range(blocks):
        r = rows // blocks
        a = rng.standard_normal((max(r, cols), min(r, cols)))
        q, upper = np.linalg.qr(a)
        q *= np.sign(np.diag(upper))  # make the decomposition unique (uniform over O(n))
        parts.append(q if r >= cols else q.T)
    return (gain * np.concatenate(parts, axis=0)).astype(dtype)


def pytorch_uniform(shape, rng: np.random.Generator, dtype, *, hidden_size=None, **_):
    hidden = shape[0] if hidden_size is None else hidden_size
    k = 1.0 / np.sqrt(hidden)
    return rng.uniform(-k, k, size=shape).astype(dtype)


def random_uniform(shape, rng: np.random.Generator, dtype, *, limit: float = 0.05, **_):
    """U(±0.05): Keras' default for embeddings."""
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def normal(shape, rng: np.random.Generator, dtype, *, stddev: float = 1.0, **_):
    """N(0, 1): PyTorch's default for embeddings."""
    return (stddev * rng.standard_normal(shape)).astype(dtype)


def zeros(shape, rng: np.random.Generator, dtype, **_):
    return np.zeros(shape, dtype=dtype)


def ones(shape, rng: np.random.Generator, dtype, **_):
    return np.ones(shape, dtype=dtype)


INITIALIZERS: dict[str, Callable] = {
    "glorot_uniform": glorot_uniform,
    "orthogonal": orthogonal,
    "pytorch_uniform": pytorch_uniform,
    "random_uniform": random_uniform,
    "normal": normal,
    "zeros": zeros,
    "ones": ones,
}


def get(name: str, where: str) -> Callable:
    if not isinstance(name, str) or name not in INITIALIZERS:
        raise ValueError(f"{where}: expected initializer in {list(INITIALIZERS)}, got {name!r}")
    return INITIALIZERS[name]
