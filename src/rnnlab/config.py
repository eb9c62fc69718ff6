"""Global defaults: the float type of new layers and the seed of the global generator.

>>> import rnnlab
>>> rnnlab.config.set_floatx("float64")   # new layers are float64 from now on
>>> rnnlab.config.set_seed(0)             # layers built without a seed draw from here
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import numpy as np

_ALLOWED_FLOATX = ("float32", "float64")
_floatx = "float32"
_rng = np.random.default_rng()


def floatx() -> str:
    """The default dtype name of new layers: "float32" unless set_floatx changed it."""
    return _floatx


def set_floatx(name: str) -> None:
    """Set the default dtype of new layers ("float32" or "float64")."""
    global _floatx
    _floatx = resolve_dtype(name, "rnnlab.config.set_floatx").name


def resolve_dtype(dtype, where: str) -> np.dtype:
    """Turn None / "float32" / np.float64 ... into a NumPy dtype, or raise TypeError."""
    if dtype is None:
        return np.dtype(_floatx)
    try:
        resolved = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{where}: expected dtype 'float32' or 'float64', got {dtype!r}") from err
    if resolved.name not in _ALLOWED_FLOATX:
        raise TypeError(f"{where}: expected dtype 'float32' or 'float64', got {resolved.name!r}")
    return resolved


def set_seed(seed: int) -> None:
    """Reseed the global generator that layers without their own `seed` draw from."""
    global _rng
    _rng = np.random.default_rng(seed)


def spawn_rng(seed: int | None = None) -> np.random.Generator:
    """A generator for one layer: from `seed` if given, else a child of the global generator."""
    if seed is not None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"seed: expected an int or None, got {seed!r}")
        return np.random.default_rng(int(seed))
    return np.random.default_rng(_rng.integers(0, 2**63 - 1))


_grad_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("rnnlab_grad", default=True)


def is_grad_enabled() -> bool:
    """False inside `no_grad()`: layers then keep no caches and backward is refused."""
    return _grad_enabled.get()


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Run forwards without keeping what backward needs (like torch.no_grad).

    Recurrent layers run their cells with keep_cache=False: the LSTM and GRU loops then reuse
    one slot of gate buffers instead of storing every step's activations, the same outputs in
    O(B·H) working memory instead of O(T·B·4H). Every layer then refuses backward() (and a
    recurrent layer state_at()) with one RuntimeError until a forward outside no_grad()
    (rnnlab.layers.base enforces it for every Layer subclass). `predict`, `evaluate`, text
    generation and TBPTT evaluation use it.
    """
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)
