"""Learning-rate callbacks: LearningRateScheduler, ready-made schedules, ReduceLROnPlateau."""

from __future__ import annotations

import abc
import inspect
import math
import warnings
from collections.abc import Callable
from numbers import Integral, Real
from typing import ClassVar

from .._validation import check_bool, check_choice, describe
from .base import Callback
from .checks import (
    MODES,
    check_float,
    check_int,
    check_monitor,
    check_verbose,
    get_lr,
    missing_monitor_message,
    monitor_value,
    plain,
    resolve_mode,
)


# -- learning rate ---------------------------------------------------------------------------
def _takes_lr(schedule: Callable) -> bool:
    """Whether schedule is called as schedule(epoch, lr) (True) or schedule(epoch) (False)."""
    try:
        signature = inspect.signature(schedule)
    except (TypeError, ValueError):  # some builtins have none: assume the documented form
        return True
    positional = 0
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            return True
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional += 1
    if positional == 0:
        raise TypeError(
            f"LearningRateScheduler: expected schedule(epoch, lr) or schedule(epoch), "
            f"got {schedule!r} with signature {signature}"
        )
    return positional >= 2


class LearningRateScheduler(Callback):
    """At the beginning of every epoch, set the learning rate to schedule(epoch, lr).

    epoch is 0-based and lr the current rate; schedule(epoch) with one argument works too.
    The returned value must be a finite number ≥ 0. The rate used during each epoch is
    written into the epoch's logs as "lr". Ready-made schedules: ExponentialDecay,
    StepDecay, CosineDecay.
    """

    edits_epoch_logs = True

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(
                f"LearningRateScheduler: expected schedule to be a callable "
                f"schedule(epoch, lr) -> float, got {describe(schedule)}"
            )
        self.schedule = schedule
        self._with_lr = _takes_lr(schedule)
        self.verbose = check_verbose(verbose, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        who = "LearningRateScheduler"
        lr = get_lr(self.model, who)
        new = self.schedule(epoch, lr) if self._with_lr else self.schedule(epoch)
        call = f"schedule(epoch={epoch}, lr={lr!r})" if self._with_lr else f"schedule({epoch})"
        new = plain(new)
        if isinstance(new, bool) or not isinstance(new, Real):
            raise TypeError(f"{who}: {call} returned {describe(new)}; expected a float >= 0")
        if not (math.isfinite(new) and new >= 0):
            raise ValueError(f"{who}: {call} returned {new!r}; expected a finite float >= 0")
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = get_lr(self.model, "LearningRateScheduler")


class _Schedule(abc.ABC):
    """Base of the ready-made schedules: schedule(epoch, lr=None) -> float (lr is ignored)."""

    config_keys: ClassVar[tuple[str, ...]] = ()

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        if isinstance(epoch, bool) or not isinstance(epoch, Integral) or epoch < 0:
            raise ValueError(
                f"{type(self).__name__}: expected epoch to be an int >= 0, got {epoch!r}"
            )
        return float(self._rate(int(epoch)))

    @abc.abstractmethod
    def _rate(self, epoch: int) -> float:
        """Subclasses implement this."""

    def get_config(self) -> dict:
        return {
            "class_name": type(self).__name__,
            **{k: getattr(self, k) for k in self.config_keys},
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.config_keys)
        return f"{type(self).__name__}({args})"


class ExponentialDecay(_Schedule):
    """lr(epoch) = initial · decay_rate^(epoch / decay_epochs); with staircase=True the
    exponent is ⌊epoch / decay_epochs⌋ (one step every decay_epochs epochs)."""

    config_keys = ("initial", "decay_rate", "decay_epochs", "staircase")

    def __init__(
        self, initial: float, decay_rate: float, decay_epochs: float, *, staircase: bool = False
    ):
        who = "ExponentialDecay"
        self.initial = check_float(initial, who, "initial", low=0.0, low_open=True)
        self.decay_rate = check_float(
            decay_rate, who, "decay_rate", low=0.0, high=1.0, low_open=True
        )
        self.decay_epochs = check_float(decay_epochs, who, "decay_epochs", low=0.0, low_open=True)
        self.staircase = check_bool(staircase, who, "staircase")

    def _rate(self, epoch):
        exponent = epoch / self.decay_epochs
        if self.staircase:
            exponent = math.floor(exponent)
        return self.initial * self.decay_rate**exponent


class StepDecay(_Schedule):
    """lr(epoch) = initial · factor^⌊epoch / every⌋: multiply by factor every `every` epochs."""

    config_keys = ("initial", "factor", "every")

    def __init__(self, initial: float, factor: float, every: int):
        who = "StepDecay"
        self.initial = check_float(initial, who, "initial", low=0.0, low_open=True)
        self.factor = check_float(factor, who, "factor", low=0.0, high=1.0, low_open=True)
        self.every = check_int(every, who, "every", minimum=1)

    def _rate(self, epoch):
        return self.initial * self.factor ** (epoch // self.every)


class CosineDecay(_Schedule):
    """lr(epoch) = minimum + (initial − minimum) · ½ (1 + cos(π · min(epoch, T) / T)),
    T = total_epochs: from initial at epoch 0 down to minimum at epoch T (and after)."""

    config_keys = ("initial", "total_epochs", "minimum")

    def __init__(self, initial: float, total_epochs: int, minimum: float = 0.0):
        who = "CosineDecay"
        self.initial = check_float(initial, who, "initial", low=0.0, low_open=True)
        self.total_epochs = check_int(total_epochs, who, "total_epochs", minimum=1)
        self.minimum = check_float(minimum, who, "minimum", low=0.0, high=self.initial)

    def _rate(self, epoch):
        progress = min(epoch, self.total_epochs) / self.total_epochs
        return self.minimum + (self.initial - self.minimum) * 0.5 * (
            1.0 + math.cos(math.pi * progress)
        )


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when the monitored value stops improving.

    Keras semantics: an epoch improves when value < best − min_delta ("min"; "max":
    value > best + min_delta). After `patience` epochs in a row without improvement the rate
    becomes max(lr · factor, min_lr) (if lr > min_lr), then `cooldown` epochs pass before
    epochs without improvement count again. The rate used during the epoch is written into
    the logs as "lr" (before any reduction at its end).
    """

    edits_epoch_logs = True

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        factor: float = 0.1,
        patience: int = 10,
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        mode: str = "auto",
        verbose: int = 0,
    ):
        super().__init__()
        who = "ReduceLROnPlateau"
        self.monitor = check_monitor(monitor, who)
        self.factor = check_float(
            factor, who, "factor", low=0.0, high=1.0, low_open=True, high_open=True
        )
        self.patience = check_int(patience, who, "patience")
        self.min_delta = check_float(min_delta, who, "min_delta", low=0.0)
        self.cooldown = check_int(cooldown, who, "cooldown")
        self.min_lr = check_float(min_lr, who, "min_lr", low=0.0)
        self.mode = check_choice(mode, who, "mode", MODES)
        self.verbose = check_verbose(verbose, who)
        self._mode = resolve_mode(self.monitor, mode, who)
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self._mode == "min" else -math.inf
        self.wait = 0
        self.cooldown_counter = 0
        self._warned = False

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _is_improvement(self, value: float) -> bool:
        if self._mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        who = "ReduceLROnPlateau"
        lr = get_lr(self.model, who)
        if logs is not None:
            logs["lr"] = lr
        current = monitor_value(logs, self.monitor, who)
        if current is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    missing_monitor_message(
                        who, self.monitor, logs, "the learning rate is not adjusted"
                    ),
                    stacklevel=2,
                )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and lr > self.min_lr:
                new_lr = max(lr * self.factor, self.min_lr)
                self.model.optimizer.learning_rate = new_lr
                if self.verbose:
                    print(
                        f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
                    )
                self.cooldown_counter = self.cooldown
                self.wait = 0
