"""The Layer protocol (docs/design.md, "Layers"; exact):

    layer.params   dict[str, ndarray], created by build(); arrays may be modified in place
    layer.grads    dict[str, ndarray], same keys and shapes; overwritten by backward()
    layer.build(input_shape)          input_shape without the batch axis, e.g. (T, I) or (None, I)
    y = layer.forward(x, mask=None, initial_state=None, training=False)   builds lazily
    dx = layer.backward(dy)           gradients of the last forward
    layer.get_config() -> dict        JSON-serialisable; layer_from_config(cfg) rebuilds it

Beyond the protocol, every layer has `compute_mask(mask, inputs=None)` (the mask its output
carries), `snapshot_state()` / `restore_state(s)` (RNG and carried states, used by
rnnlab.gradcheck so that repeated forwards see the same dropout masks), and `count_params()`.

One rule holds for every layer, enforced here and nowhere else: backward() after a forward
that ran under rnnlab.no_grad() raises RuntimeError (such a forward keeps nothing for it).
Every subclass's forward and backward are wrapped once, when the class is defined: forward
notes whether gradients were on, backward refuses if they were not.
"""

from __future__ import annotations

import abc
import functools
import inspect
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from .. import config
from .._validation import describe
from .keras_compat import accepted_arguments, check_arguments, check_input_shape
from .symbolic import call_layer, is_symbolic

_name_counters: defaultdict[str, itertools.count] = defaultdict(itertools.count)


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def unique_name(prefix: str) -> str:
    n = next(_name_counters[prefix])
    return prefix if n == 0 else f"{prefix}_{n}"


def _noting_grad_mode(forward):
    @functools.wraps(forward)
    def wrapped(self, *args, **kwargs):
        out = forward(self, *args, **kwargs)
        self._kept_nothing = not config.is_grad_enabled()
        return out

    return wrapped


def _refusing_after_no_grad(backward):
    @functools.wraps(backward)
    def wrapped(self, *args, **kwargs):
        self.require_gradients_kept("backward()")
        return backward(self, *args, **kwargs)

    return wrapped


class Layer(abc.ABC):
    """Base class: parameters, gradients, lazy build, configuration, unique names, and the
    no_grad rule (module docstring)."""

    #: constructor arguments that get_config records (subclasses extend)
    config_keys: ClassVar[tuple[str, ...]] = ()
    #: True when forward returns [y, *states] and backward takes (dy, *d_states) (the
    #: recurrent layers' option; False for every other layer)
    return_state: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = _noting_grad_mode(cls.__dict__["forward"])
        if "backward" in cls.__dict__:
            cls.backward = _refusing_after_no_grad(cls.__dict__["backward"])

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        input_shape: tuple | None = None,
        **keras_arguments: Any,
    ):
        if name is not None and (not isinstance(name, str) or not name or "." in name):
            raise ValueError(
                f"{type(self).__name__}: expected name to be a non-empty str without '.', "
                f"got {name!r}"
            )
        self.name = name or unique_name(_snake(type(self).__name__))
        self.dtype = config.resolve_dtype(dtype, f"{type(self).__name__} {self.name!r}")
        self.seed = seed
        self.rng = config.spawn_rng(seed)
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self.built = False
        self.input_shape: tuple | None = None
        self._kept_nothing = False  # the last forward ran under no_grad()
        #: Keras' input_shape= (one sample, no batch axis): a Sequential builds from it at once
        self.declared_input_shape = check_input_shape(input_shape, self.who)
        check_arguments(self.who, keras_arguments, self.known_arguments())

    # -- identity -----------------------------------------------------------------------------
    @property
    def who(self) -> str:
        """How error messages name this layer, e.g. "LSTM 'lstm_1'"."""
        return f"{type(self).__name__} {self.name!r}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"

    # -- protocol -----------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        """The parameters by name (created by build()); edit the arrays in place."""
        return self._params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last backward, same keys and shapes as params."""
        return self._grads

    def build(self, input_shape) -> None:
        self.input_shape = tuple(input_shape)
        self.built = True

    @abc.abstractmethod
    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        """Compute the output of the layer for input x."""

    @abc.abstractmethod
    def backward(self, dy, *dstates):
        """Gradient with respect to the input of the last forward; fills self.grads."""

    def __call__(self, x, mask=None, initial_state=None, training: bool = False):
        """forward() on arrays; on symbolic tensors (rnnlab.models.Input and what layers make
        of them) a node of a functional model's graph (rnnlab.layers.symbolic.call_layer)."""
        if is_symbolic(x) or is_symbolic(initial_state):
            return call_layer(
                self, x, mask=mask, initial_state=initial_state, training=training or None
            )
        return self.forward(x, mask=mask, initial_state=initial_state, training=training)

    def known_arguments(self) -> list[str]:
        """The constructor's keyword arguments (what an unknown one is compared with)."""
        return accepted_arguments(type(self))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters in Keras' order and shapes (layers Keras does not have:
        rnnlab's params, in order)."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights) -> None:
        """Set the parameters from a list like get_weights() returns (shapes checked)."""
        self._set_params(weights, list(self.params))

    def _set_params(self, weights, keys: list[str], transform: dict | None = None) -> None:
        """Copy a list of arrays into params[keys] (shapes checked), each through
        transform[key] when given (e.g. a transpose from Keras' layout)."""
        if not isinstance(weights, (list, tuple)) or len(weights) != len(keys):
            raise ValueError(
                f"{self.who}: expected a list of {len(keys)} arrays, got {describe(weights)}"
            )
        for key, value in zip(keys, weights, strict=True):
            value = np.asarray(value)
            if transform and key in transform:
                value = transform[key](value)
            if value.shape != self.params[key].shape:
                raise ValueError(
                    f"{self.who}: expected {key} of shape "
                    f"{self.params[key].shape}, got {value.shape}"
                )
            self.params[key][...] = value

    def compute_mask(self, mask, inputs=None):
        """The mask carried by this layer's output, given its input mask (default: unchanged)."""
        return mask

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "class_name": type(self).__name__,
            "name": self.name,
            "dtype": self.dtype.name,
            "seed": self.seed,
        }
        for key in self.config_keys:
            cfg[key] = getattr(self, key)
        return cfg

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Layer:
        cfg = dict(cfg)
        cfg.pop("class_name", None)
        return cls(**cfg)

    # -- helpers ------------------------------------------------------------------------------
    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def sublayers(self) -> list[Layer]:
        return []

    def snapshot_state(self) -> dict[str, Any]:
        """Everything a forward call reads besides params and inputs (RNG, carried states)."""
        return {
            "rng": self.rng.bit_generator.state,
            "sub": [s.snapshot_state() for s in self.sublayers()],
        }

    def restore_state(self, snapshot: dict[str, Any]) -> None:
        self.rng.bit_generator.state = snapshot["rng"]
        for sub, snap in zip(self.sublayers(), snapshot["sub"], strict=True):
            sub.restore_state(snap)

    def require_gradients_kept(self, what: str) -> None:
        """Raise the one error for `what` (e.g. "backward()") after a no_grad() forward."""
        if self._kept_nothing:
            raise RuntimeError(
                f"{self.who}: the last forward ran under rnnlab.no_grad(), which "
                f"keeps nothing for {what}; run that forward outside no_grad()"
            )

    def _add_param(self, key: str, value: np.ndarray) -> np.ndarray:
        value = np.ascontiguousarray(value, dtype=self.dtype)
        self._params[key] = value
        self._grads[key] = np.zeros_like(value)
        return value

    def _require_forward(self, cache) -> None:
        if cache is None:
            raise RuntimeError(f"{self.who}: backward() called before forward()")

    def _check_no_state(self, initial_state) -> None:
        if initial_state is not None:
            raise ValueError(
                f"{self.who}: this layer takes no initial_state, got {describe(initial_state)}"
            )


# -- layer types by name -----------------------------------------------------------------------
#: functions that make layer classes which exist only on demand (the layers of registered cell
#: families: rnnlab.layers.recurrent adds one), called before every lookup by name
_LAYER_SOURCES: list[Callable[[], object]] = []


def add_layer_source(make_layers: Callable[[], object]) -> None:
    """Have `make_layers()` run before layer types are looked up by name (layer_from_config),
    so that the layer classes it makes on demand are found."""
    _LAYER_SOURCES.append(make_layers)


def _layer_types() -> dict[str, type[Layer]]:
    """Every concrete Layer subclass by class name (defined anywhere, user layers included)."""
    for make_layers in _LAYER_SOURCES:
        make_layers()
    found: dict[str, type[Layer]] = {}
    todo = [Layer]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if not inspect.isabstract(cls) and not cls.__name__.startswith("_"):
            found[cls.__name__] = cls
    return found


def layer_from_config(cfg: dict[str, Any]) -> Layer:
    """Rebuild an (unbuilt) layer from get_config() output; only known layer types."""
    if not isinstance(cfg, dict) or "class_name" not in cfg:
        raise ValueError(f"layer_from_config: expected a dict with 'class_name', got {cfg!r:.120}")
    kind = cfg["class_name"]
    types = _layer_types()
    if kind not in types:
        raise ValueError(f"layer_from_config: unknown layer type {kind!r}; known: {sorted(types)}")
    try:
        return types[kind].from_config(cfg)
    except TypeError as err:
        raise ValueError(f"layer_from_config: bad config for {kind}: {err}") from None


def known_layer_types() -> list[str]:
    """The class names layer_from_config accepts."""
    return sorted(_layer_types())
