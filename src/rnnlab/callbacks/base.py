"""The callback protocol, the list that dispatches it, and the argument checks callbacks share."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from numbers import Integral, Real
from typing import ClassVar

import numpy as np

from .._validation import check_choice, describe
from ..metrics import _direction_of


# -- protocol --------------------------------------------------------------------------------
class Callback:
    """Base class: every hook does nothing; subclasses override the ones they need.

    `model` is set by set_model() and `params` by set_params() (the fit loop's settings, e.g.
    {"epochs": 10, "steps": 100}) before on_train_begin.
    """

    #: True for callbacks that add keys to the epoch logs: CallbackList runs them first
    edits_epoch_logs: ClassVar[bool] = False
    model = None

    def __init__(self) -> None:
        self.model = None
        self.params: dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: Mapping) -> None:
        self.params = dict(params)

    def on_train_begin(self, logs: dict | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict | None = None) -> None:
        """After the last epoch (also after an early stop)."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        """Before epoch `epoch` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """After epoch `epoch` and its validation; logs hold the epoch's values."""

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before training batch `batch` (0-based within the epoch)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After training batch `batch`; logs hold the running values of the epoch."""

    def on_test_begin(self, logs: dict | None = None) -> None:
        """Before validation or evaluate()."""

    def on_test_end(self, logs: dict | None = None) -> None:
        """After validation or evaluate(); logs hold the results."""

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before one validation/evaluation batch."""

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After one validation/evaluation batch."""

    def on_predict_begin(self, logs: dict | None = None) -> None:
        """Before predict()."""

    def on_predict_end(self, logs: dict | None = None) -> None:
        """After predict()."""

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        """Before one predict() batch."""

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        """After one predict() batch."""


def _check_logs(logs, who: str) -> dict:
    if logs is None:
        return {}
    if not isinstance(logs, dict):
        raise TypeError(f"{who}: expected logs as a dict or None, got {describe(logs)}")
    return logs


class CallbackList(Callback):
    """Dispatches every hook to its callbacks, in order, with the same logs dict.

    on_epoch_end runs the callbacks that add keys to the logs (edits_epoch_logs, e.g. the
    learning-rate ones adding "lr") first, then the rest, each group in list order.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None, model=None):
        super().__init__()
        self.callbacks: list[Callback] = []
        if callbacks is not None:
            if isinstance(callbacks, Callback) or not isinstance(callbacks, Iterable):
                raise TypeError(
                    f"CallbackList: expected a list of Callback instances, got "
                    f"{describe(callbacks)}"
                )
            for callback in callbacks:
                self.append(callback)
        if model is not None:
            self.set_model(model)

    def append(self, callback: Callback) -> None:
        if not isinstance(callback, Callback):
            raise TypeError(
                f"CallbackList: expected a Callback instance, got {describe(callback)}"
            )
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def __getitem__(self, index: int) -> Callback:
        return self.callbacks[index]

    def set_model(self, model) -> None:
        self.model = model
        for callback in self.callbacks:
            callback.set_model(model)

    def set_params(self, params: Mapping) -> None:
        self.params = dict(params)
        for callback in self.callbacks:
            callback.set_params(params)

    def _dispatch(self, hook: str, *args, logs=None) -> None:
        logs = _check_logs(logs, f"CallbackList.{hook}")
        for callback in self.callbacks:
            getattr(callback, hook)(*args, logs)

    def on_train_begin(self, logs=None):
        self._dispatch("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._dispatch("on_train_end", logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._dispatch("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = _check_logs(logs, "CallbackList.on_epoch_end")
        first = [c for c in self.callbacks if c.edits_epoch_logs]
        rest = [c for c in self.callbacks if not c.edits_epoch_logs]
        for callback in first + rest:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._dispatch("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._dispatch("on_train_batch_end", batch, logs=logs)

    def on_test_begin(self, logs=None):
        self._dispatch("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._dispatch("on_test_end", logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._dispatch("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._dispatch("on_test_batch_end", batch, logs=logs)

    def on_predict_begin(self, logs=None):
        self._dispatch("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._dispatch("on_predict_end", logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._dispatch("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._dispatch("on_predict_batch_end", batch, logs=logs)

# -- argument checks -------------------------------------------------------------------------
def _check_int(value, who: str, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{who}: expected {name} to be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{who}: expected {name} to be an int >= {minimum}, got {value!r}")
    return int(value)


def _check_float(
    value, who: str, name: str, low: float | None = None, high: float | None = None,
    low_open: bool = False, high_open: bool = False,
) -> float:
    """A finite real number in the interval given by low/high (open ends when asked)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    expected = f"a finite number{' ' + ' and '.join(parts) if parts else ''}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: expected {name} to be {expected}, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise ValueError(f"{who}: expected {name} to be {expected}, got {value!r}")
    return value


def _check_verbose(value, who: str) -> int:
    return _check_int(int(value) if isinstance(value, bool) else value, who, "verbose")


def _check_monitor(monitor, who: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(f"{who}: expected monitor to be a logs key such as 'val_loss', "
                        f"got {monitor!r}")
    return monitor


def _check_path(path, who: str, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: expected {name} to be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{who}: expected {name} to be a non-empty path, got {path!r}")
    return path


_MODES = ("auto", "min", "max")
#: words in a monitored name that mean "larger is better" (accuracy, val_acc, auc, ...)
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1")
_DOWN_SUFFIXES = ("loss", "error", "crossentropy", "perplexity", "bpc", "mae", "mse", "huber")


def _resolve_mode(monitor: str, mode: str, who: str) -> str:
    """"min" or "max": mode itself, or for "auto" what the monitored name implies."""
    check_choice(mode, who, "mode", _MODES)
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    direction = _direction_of(name)
    if direction is None:
        if name.endswith(_DOWN_SUFFIXES):
            direction = "down"
        elif any(word in name for word in _UP_WORDS):
            direction = "up"
    if direction is None:
        raise ValueError(
            f"{who}: cannot tell whether {monitor!r} should decrease or increase; "
            f"pass mode='min' or mode='max'"
        )
    return "max" if direction == "up" else "min"


def _monitor_value(logs: Mapping | None, monitor: str, who: str) -> float | None:
    """logs[monitor] as a float, or None when it is absent."""
    if not logs or monitor not in logs:
        return None
    value = logs[monitor]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{who}: expected logs[{monitor!r}] to be a number, got {describe(value)}"
        ) from None


def _missing_monitor_message(who: str, monitor: str, logs: Mapping | None, action: str) -> str:
    return (f"{who}: {monitor!r} is not in the logs (available: {sorted(logs or {})}); "
            f"{action}")


def _get_lr(model, who: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    if model is None or optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise RuntimeError(
            f"{who}: needs a model with an optimizer (compile the model before fit), "
            f"got {describe(model)}"
        )
    return float(optimizer.learning_rate)

def _plain(value):
    """NumPy scalars and 0-d arrays as Python numbers (so format specs such as :.3f work)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to say about finiteness
