"""Optimizers: PyTorch's update rules, Keras' defaults and names, NumPy in place.

An optimizer updates a dict of parameter arrays from a dict of gradients with the same keys:

    >>> opt = Adam(learning_rate=1e-3, global_clipnorm=1.0)
    >>> opt.step(model_params, model_grads)   # arrays updated in place, never rebound

Each step: validate (keys, shapes, finite gradients) → clip (value, then norm; the functions
live in `rnnlab.clipping` and are re-exported here) → update. The
update formulas are torch.optim's (SGD, RMSprop, Adagrad, Adam, AdamW), so a run matches
PyTorch to rounding; default learning rates and epsilons are Keras'. State lives per parameter
key and round-trips through get_state()/set_state() bit-exactly (for checkpoints).
The caller's gradient arrays are never modified.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from . import native
from ._validation import (
    check_bool,
    check_non_negative_float,
    check_positive_float,
    check_rate,
    describe,
)
from .clipping import (
    check_finite_gradient,
    clip,
    clip_by_global_norm,
    clip_by_norm,
    clip_by_value,
)

Array = np.ndarray


def _check_optional_positive(value, who: str, name: str) -> float | None:
    return None if value is None else check_positive_float(value, who, name)


# -- base class ------------------------------------------------------------------------------
class Optimizer(abc.ABC):
    """Base class: validation, clipping, per-key state, iterations, config and checkpoints.

    Arguments:
        learning_rate: step size η > 0; a plain attribute that schedules may change between
            steps (any finite value ≥ 0 is accepted then, so a schedule may reach 0).
        clipvalue: clamp every gradient element to [−clipvalue, clipvalue] (applied first).
        clipnorm: rescale each gradient tensor whose L2 norm exceeds clipnorm (Keras).
        global_clipnorm: rescale all gradients together so that their global L2 norm is at
            most global_clipnorm (torch.nn.utils.clip_grad_norm_). At most one of clipnorm and
            global_clipnorm.
    Subclasses name their per-parameter state arrays ("slots") and implement `_update`.
    """

    #: names of the per-parameter state arrays; get_state() keys are "<slot>/<param key>"
    slots: tuple[str, ...] = ()
    #: constructor arguments recorded by get_config, besides learning_rate and the clipping
    config_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        learning_rate: float,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        who = self.who
        self._learning_rate = check_positive_float(learning_rate, who, "learning_rate")
        self.clipnorm = _check_optional_positive(clipnorm, who, "clipnorm")
        self.global_clipnorm = _check_optional_positive(global_clipnorm, who, "global_clipnorm")
        self.clipvalue = _check_optional_positive(clipvalue, who, "clipvalue")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError(f"{who}: expected at most one of clipnorm and global_clipnorm")
        self._iterations = 0
        self._keys: tuple[str, ...] | None = None  # fixed by the first step or set_state
        self._state: dict[str, dict[str, Array]] = {}  # param key → slot → array

    @property
    def who(self) -> str:
        """How error messages name this optimizer."""
        return type(self).__name__

    @property
    def learning_rate(self) -> float:
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = check_non_negative_float(value, self.who, "learning_rate")

    @property
    def iterations(self) -> int:
        """Number of steps taken (restored by set_state)."""
        return self._iterations

    # -- the step ---------------------------------------------------------------------------
    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array]) -> None:
        """Update every params[k] in place from grads[k] (same keys, shapes).

        Raises before touching anything if keys or shapes disagree or a gradient is not finite.
        """
        who = f"{self.who}.step"
        keys = self._check_keys(params, grads, who)
        grads = {k: self._check_pair(k, params[k], grads[k], who) for k in keys}
        states = {k: self._state_for(k, params[k], who) for k in keys}
        grads = self._clip(grads, who)
        t = self._iterations + 1
        # Squares and decays of tiny values may underflow to 0 (or subnormals): far below the
        # resolution of ε and of the params they join, so the rounded result is the exact one.
        with np.errstate(under="ignore"):
            for k in keys:
                self._update(params[k], grads[k], states[k], t)
        self._iterations = t
        self._keys = keys
        self._state.update(states)

    @abc.abstractmethod
    def _update(self, p: Array, g: Array, state: dict[str, Array], t: int) -> None:
        """Apply step t (1-based) to p in place; g must not be modified."""

    def _init_slot(self, slot: str, p: Array) -> Array:
        return np.zeros_like(p)

    def _clip(self, grads: dict[str, Array], who: str) -> dict[str, Array]:
        return clip(
            grads,
            clipvalue=self.clipvalue,
            clipnorm=self.clipnorm,
            global_clipnorm=self.global_clipnorm,
            who=who,
        )

    # -- validation -------------------------------------------------------------------------
    def _check_keys(self, params, grads, who: str) -> tuple[str, ...]:
        for name, d in (("params", params), ("grads", grads)):
            if not isinstance(d, Mapping):
                raise TypeError(f"{who}: expected {name} as a dict of arrays, got {describe(d)}")
        if set(params) != set(grads):
            raise ValueError(
                f"{who}: expected grads with the same keys as params; missing "
                f"{sorted(set(params) - set(grads), key=str)}, unexpected "
                f"{sorted(set(grads) - set(params), key=str)}"
            )
        if not params:
            raise ValueError(f"{who}: expected at least one parameter, got empty dicts")
        if not all(isinstance(k, str) for k in params):
            raise TypeError(f"{who}: expected str keys, got {sorted(map(repr, params))}")
        keys = tuple(sorted(params))
        if self._keys is not None and keys != self._keys:
            raise ValueError(
                f"{who}: expected the same parameter keys as in earlier steps; missing "
                f"{sorted(set(self._keys) - set(keys))}, unexpected "
                f"{sorted(set(keys) - set(self._keys))} (use a new optimizer for other params)"
            )
        return keys

    def _check_pair(self, key: str, p, g, who: str) -> Array:
        """Check params[key] and grads[key]; return the gradient in the param's dtype."""
        if not isinstance(p, np.ndarray) or p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"{who}: expected param {key!r} as a float32 or float64 array, got {describe(p)}"
            )
        if not p.flags.writeable:
            raise ValueError(f"{who}: param {key!r} is read-only; it must be updated in place")
        if not isinstance(g, np.ndarray) or g.dtype.kind != "f":
            raise TypeError(
                f"{who}: expected gradient {key!r} as a floating-point array, got {describe(g)}"
            )
        if g.shape != p.shape:
            raise ValueError(
                f"{who}: expected gradient {key!r} of shape {p.shape} (like the param), "
                f"got {g.shape}"
            )
        check_finite_gradient(g, who, key)
        return g.astype(p.dtype, copy=False)

    def _state_for(self, key: str, p: Array, who: str) -> dict[str, Array]:
        """The slots of params[key]: existing ones checked against p, missing ones created."""
        state = self._state.get(key)
        if state is None:
            return {slot: self._init_slot(slot, p) for slot in self.slots}
        for slot, arr in state.items():
            if arr.shape != p.shape or arr.dtype != p.dtype:
                raise ValueError(
                    f"{who}: state {slot}/{key} has shape {arr.shape} and dtype {arr.dtype}, "
                    f"but param {key!r} has shape {p.shape} and dtype {p.dtype}"
                )
        return state

    # -- state and config -------------------------------------------------------------------
    def get_state(self) -> dict[str, Array]:
        """Copies of all state arrays: "<slot>/<param key>", plus "iterations" (0-d int64)."""
        state = {"iterations": np.array(self._iterations, dtype=np.int64)}
        for key in sorted(self._state):
            for slot, arr in self._state[key].items():
                state[f"{slot}/{key}"] = arr.copy()
        return state

    def set_state(self, state: Mapping[str, Array]) -> None:
        """Restore get_state() exactly (copies are taken); the next step continues bit-exactly."""
        who = f"{self.who}.set_state"
        if not isinstance(state, Mapping):
            raise TypeError(f"{who}: expected a dict of arrays, got {describe(state)}")
        iterations = self._check_iterations(state.get("iterations"), who)
        restored: dict[str, dict[str, Array]] = {}
        for name, arr in state.items():
            if name == "iterations":
                continue
            slot, _, key = str(name).partition("/")
            if slot not in self.slots or not key:
                raise ValueError(
                    f"{who}: unexpected entry {name!r}; expected 'iterations' and "
                    f"'<slot>/<param key>' with slot in {list(self.slots)}"
                )
            if not isinstance(arr, np.ndarray) or arr.dtype not in (np.float32, np.float64):
                raise TypeError(
                    f"{who}: expected {name!r} as a float32 or float64 array, got {describe(arr)}"
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"{who}: {name!r} contains NaN or Inf")
            restored.setdefault(key, {})[slot] = arr.copy()
        for key, slots in restored.items():
            self._check_restored_slots(key, slots, who)
        self._iterations = iterations
        self._state = {key: {s: restored[key][s] for s in self.slots} for key in restored}
        self._keys = tuple(sorted(restored)) if restored else None

    def _check_iterations(self, value, who: str) -> int:
        if value is None:
            raise ValueError(f"{who}: expected an 'iterations' entry")
        arr = np.asarray(value)
        if arr.shape != () or arr.dtype.kind not in "iu" or int(arr) < 0:
            raise ValueError(
                f"{who}: expected 'iterations' as a 0-d integer array ≥ 0, got {describe(value)}"
            )
        return int(arr)

    def _check_restored_slots(self, key: str, slots: dict[str, Array], who: str) -> None:
        missing = [f"{s}/{key}" for s in self.slots if s not in slots]
        if missing:
            raise ValueError(f"{who}: missing state entries {missing}")
        first = slots[self.slots[0]]
        for slot, arr in slots.items():
            if arr.shape != first.shape or arr.dtype != first.dtype:
                raise ValueError(
                    f"{who}: state arrays of {key!r} disagree: {self.slots[0]}/{key} is "
                    f"{describe(first)}, {slot}/{key} is {describe(arr)}"
                )

    def get_config(self) -> dict:
        """{"class_name", "learning_rate", the optimizer's arguments, the clipping}."""
        return {
            "class_name": type(self).__name__,
            "learning_rate": self.learning_rate,
            **{k: getattr(self, k) for k in self.config_keys},
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config: Mapping) -> Optimizer:
        """Rebuild from get_config(); Optimizer.from_config dispatches on "class_name"."""
        who = f"{cls.__name__}.from_config"
        if not isinstance(config, Mapping):
            raise TypeError(f"{who}: expected a dict, got {describe(config)}")
        name = config.get("class_name")
        target = _CLASSES.get(name.lower()) if isinstance(name, str) else None
        if target is None or not issubclass(target, cls):
            known = [c.__name__ for c in _CLASSES.values() if issubclass(c, cls)]
            raise ValueError(f"{who}: expected class_name in {known}, got {name!r}")
        args = {k: v for k, v in config.items() if k != "class_name"}
        allowed = ("learning_rate", *target.config_keys, "clipnorm", "global_clipnorm", "clipvalue")
        unexpected = sorted(set(args) - set(allowed))
        if unexpected:
            raise ValueError(
                f"{who}: unexpected keys {unexpected} for {target.__name__} "
                f"(expected {list(allowed)})"
            )
        return target(**args)

    def __repr__(self) -> str:
        config = self.get_config()
        del config["class_name"]
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


# -- the optimizers --------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent with momentum (torch.optim.SGD, dampening 0).

    g ← g + λ p                          (weight_decay λ: L2 on the gradient, as PyTorch;
                                          Keras 3 decays the weights instead)
    b ← μ b + g                          (momentum μ > 0; b starts at 0, so b₁ = g₁)
    g ← g + μ b  if nesterov, else b
    p ← p − η g
    """

    config_keys = ("momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm, global_clipnorm, clipvalue)
        self.momentum = check_rate(momentum, self.who, "momentum")
        self.nesterov = check_bool(nesterov, self.who, "nesterov")
        self.weight_decay = check_non_negative_float(weight_decay, self.who, "weight_decay")
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(f"{self.who}: nesterov=True needs momentum > 0, got momentum=0")
        self.slots = ("momentum",) if self.momentum > 0.0 else ()

    def _update(self, p, g, state, t):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += g
            g = g + self.momentum * buf if self.nesterov else buf
        p -= self.learning_rate * g


class RMSprop(Optimizer):
    """Divide by a running RMS of the gradient (torch.optim.RMSprop with alpha = rho).

        v ← ρ v + (1−ρ) g²
        ḡ ← ρ ḡ + (1−ρ) g;  d = √(max(v − ḡ², 0)) + ε     (centered)
                             d = √v + ε                    (otherwise)
        b ← μ b + g/d;  p ← p − η b                        (momentum μ > 0)
        p ← p − η g/d                                      (otherwise)
    The max(·, 0) only guards rounding: v ≥ ḡ² holds exactly for the running averages.
    """

    config_keys = ("rho", "epsilon", "momentum", "centered")

    def __init__(
        self,
        learning_rate: float = 0.001,
        rho: float = 0.9,
        epsilon: float = 1e-7,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm, global_clipnorm, clipvalue)
        self.rho = check_rate(rho, self.who, "rho")
        self.epsilon = check_positive_float(epsilon, self.who, "epsilon")
        self.momentum = check_rate(momentum, self.who, "momentum")
        self.centered = check_bool(centered, self.who, "centered")
        self.slots = (
            "square_avg",
            *(("grad_avg",) if self.centered else ()),
            *(("momentum",) if self.momentum > 0.0 else ()),
        )

    def _update(self, p, g, state, t):
        rho = self.rho
        v = state["square_avg"]
        v *= rho
        v += (1.0 - rho) * np.square(g)
        if self.centered:
            mean = state["grad_avg"]
            mean += (1.0 - rho) * (g - mean)
            denom = v - np.square(mean)
            np.maximum(denom, 0.0, out=denom)
            np.sqrt(denom, out=denom)
        else:
            denom = np.sqrt(v)
        denom += self.epsilon
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += g / denom
            p -= self.learning_rate * buf
        else:
            p -= self.learning_rate * (g / denom)


class Adagrad(Optimizer):
    """Per-element rates from the sum of squared gradients (torch.optim.Adagrad, lr_decay 0).

    s ← s + g²                  (s starts at initial_accumulator_value)
    p ← p − η g / (√s + ε)
    """

    slots = ("accumulator",)
    config_keys = ("initial_accumulator_value", "epsilon")

    def __init__(
        self,
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        *,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm, global_clipnorm, clipvalue)
        self.initial_accumulator_value = check_non_negative_float(
            initial_accumulator_value, self.who, "initial_accumulator_value"
        )
        self.epsilon = check_positive_float(epsilon, self.who, "epsilon")

    def _init_slot(self, slot, p):
        return np.full_like(p, self.initial_accumulator_value)

    def _update(self, p, g, state, t):
        s = state["accumulator"]
        s += np.square(g)
        denom = np.sqrt(s)
        denom += self.epsilon
        p -= self.learning_rate * (g / denom)


class Adam(Optimizer):
    """Adaptive moments (torch.optim.Adam: bias-corrected, ε outside the square root).

    m ← β₁ m + (1−β₁) g;   v ← β₂ v + (1−β₂) g²
    v̂ ← max(v̂, v) and use v̂ for v below           (amsgrad)
    p ← p − η/(1−β₁ᵗ) · m / (√v / √(1−β₂ᵗ) + ε)
    """

    config_keys = ("beta_1", "beta_2", "epsilon", "amsgrad")

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        *,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(learning_rate, clipnorm, global_clipnorm, clipvalue)
        self.beta_1 = check_rate(beta_1, self.who, "beta_1")
        self.beta_2 = check_rate(beta_2, self.who, "beta_2")
        self.epsilon = check_positive_float(epsilon, self.who, "epsilon")
        self.amsgrad = check_bool(amsgrad, self.who, "amsgrad")
        self.slots = ("m", "v", "vhat") if self.amsgrad else ("m", "v")

    def _update(self, p, g, state, t):
        b1, b2 = self.beta_1, self.beta_2
        m, v = state["m"], state["v"]
        vhat = state["vhat"] if self.amsgrad else None
        # on the kernels where they serve: the same float32 operations in the same order, in
        # one pass (bit-identical)
        if native.adam_step(
            p,
            g,
            m,
            v,
            vhat,
            b1=b1,
            b2=b2,
            bias_correction2=math.sqrt(1.0 - b2**t),
            eps=self.epsilon,
            step=self.learning_rate / (1.0 - b1**t),
        ):
            return
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * np.square(g)
        if self.amsgrad:
            np.maximum(state["vhat"], v, out=state["vhat"])
            v = state["vhat"]
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - b2**t)
        denom += self.epsilon
        p -= (self.learning_rate / (1.0 - b1**t)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay λ (torch.optim.AdamW): p ← (1 − η λ) p, then Adam."""

    config_keys = ("weight_decay", *Adam.config_keys)

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        *,
        clipnorm: float | None = None,
        global_clipnorm: float | None = None,
        clipvalue: float | None = None,
    ):
        super().__init__(
            learning_rate,
            beta_1,
            beta_2,
            epsilon,
            amsgrad,
            clipnorm=clipnorm,
            global_clipnorm=global_clipnorm,
            clipvalue=clipvalue,
        )
        self.weight_decay = check_non_negative_float(weight_decay, self.who, "weight_decay")

    def _update(self, p, g, state, t):
        p *= 1.0 - self.learning_rate * self.weight_decay
        super()._update(p, g, state, t)


# -- lookup ----------------------------------------------------------------------------------
_CLASSES: dict[str, type[Optimizer]] = {
    c.__name__.lower(): c for c in (SGD, RMSprop, Adagrad, Adam, AdamW)
}


def get(identifier: str | Optimizer | Mapping) -> Optimizer:
    """Resolve "sgd", "rmsprop", "adagrad", "adam", "adamw" (any case) to a default instance,
    or a get_config() dict to its optimizer; an Optimizer instance passes through unchanged."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, Mapping):
        return Optimizer.from_config(identifier)
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    raise ValueError(
        f"rnnlab.optimizers.get: expected an Optimizer, a config dict or one of "
        f"{list(_CLASSES)}, got {describe(identifier)}"
    )


__all__ = [
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "get",
]
