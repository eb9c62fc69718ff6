"""Callbacks: code the fit loop runs at fixed points of training (the Keras protocol).

    >>> model.fit(x, y, epochs=50, validation_data=(xv, yv), callbacks=[
    ...     EarlyStopping(patience=5, restore_best_weights=True),
    ...     ModelCheckpoint("ckpt/model-{epoch:02d}-{val_loss:.3f}.safetensors",
    ...                     save_best_only=True),
    ...     CSVLogger("runs/log.csv"),
    ...     LearningRateScheduler(CosineDecay(1e-3, total_epochs=50)),
    ... ])

The fit loop calls, through a CallbackList:

    on_train_begin
      on_epoch_begin(epoch)                      epoch: 0-based index
        on_train_batch_begin(batch) / on_train_batch_end(batch, logs)   batch: 0-based in the epoch
        on_test_begin ... on_test_batch_* ... on_test_end                (validation)
      on_epoch_end(epoch, logs)
    on_train_end

and checks `model.stop_training` after each batch and each epoch. `logs` is a dict of floats:
batch logs hold the running training values ({"loss": 1.23, "accuracy": 0.5}); epoch logs add
the validation values ("val_loss", "val_accuracy", ...) and, with a learning-rate callback,
"lr" (the rate used during that epoch). Callbacks may add keys to the epoch logs; a
CallbackList runs those that do (the learning-rate callbacks) before the others, so loggers
and monitors see the added keys whatever the order of the list.

Callbacks use this much of the model: `stop_training` (bool), `optimizer.learning_rate` (a
settable float), `save(path)`, `get_weights()` / `set_weights(list)` and `name`.

Keyword arguments: in EarlyStopping, ModelCheckpoint, ReduceLROnPlateau and TensorBoard every
argument after the first is keyword-only, because Keras' positional order includes arguments
(verbose, save_weights_only, ...) that are elsewhere or absent here; CSVLogger and
LearningRateScheduler keep Keras' positional order.
"""

from __future__ import annotations

import abc
import csv
import inspect
import io
import math
import os
import string
import warnings
from collections.abc import Callable, Iterable, Mapping
from numbers import Integral, Real
from typing import ClassVar

import numpy as np

from ._validation import check_bool, check_choice, describe
from .metrics import _direction_of

__all__ = [
    "CSVLogger",
    "Callback",
    "CallbackList",
    "CosineDecay",
    "EarlyStopping",
    "ExponentialDecay",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "StepDecay",
    "TensorBoard",
    "TerminateOnNaN",
]


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


# -- early stopping --------------------------------------------------------------------------
class EarlyStopping(Callback):
    """Stop training when the monitored value has stopped improving (Keras semantics).

    An epoch improves when value < best − min_delta (mode "min") or value > best + min_delta
    ("max"); "auto" reads the direction from the name (losses, perplexity, bpc, mae: min;
    accuracies: max). Each monitored epoch that does not improve adds one to `wait`, an
    improvement resets it to 0 (with a baseline, only one that also beats the baseline does);
    training stops (model.stop_training = True) at the end of the epoch where wait ≥ patience
    (never at epoch 0). Epochs before start_from_epoch are not monitored.

    restore_best_weights: keep a copy of the weights of the best epoch and put them back at
    the end of training — after an early stop and also when the epochs simply run out (as
    Keras 3 does).

    Attributes: best (the best value so far), best_epoch (0-based), wait, stopped_epoch (the
    0-based epoch at whose end training was stopped; 0 if it was not), best_weights.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        *,
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
        verbose: int = 0,
    ):
        super().__init__()
        who = "EarlyStopping"
        self.monitor = _check_monitor(monitor, who)
        self.min_delta = _check_float(min_delta, who, "min_delta", low=0.0)
        self.patience = _check_int(patience, who, "patience")
        self.mode = check_choice(mode, who, "mode", _MODES)
        self.baseline = None if baseline is None else _check_float(baseline, who, "baseline")
        self.restore_best_weights = check_bool(restore_best_weights, who, "restore_best_weights")
        self.start_from_epoch = _check_int(start_from_epoch, who, "start_from_epoch")
        self.verbose = _check_verbose(verbose, who)
        self._mode = _resolve_mode(self.monitor, self.mode, who)
        self._reset()

    def _reset(self) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = math.inf if self._mode == "min" else -math.inf
        self.best_epoch = 0
        self.best_weights = None
        self._warned = False

    def _is_improvement(self, value: float, reference: float) -> bool:
        if self._mode == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self._reset()  # an instance may be reused for another fit

    def on_epoch_end(self, epoch, logs=None):
        current = _monitor_value(logs, self.monitor, "EarlyStopping")
        if current is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    _missing_monitor_message("EarlyStopping", self.monitor, logs,
                                             "early stopping is inactive"),
                    stacklevel=2,
                )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first monitored epoch
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: "
                      f"{self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


# -- checkpoints -----------------------------------------------------------------------------
class ModelCheckpoint(Callback):
    """Save the model with model.save(path) every epoch (or every `save_freq` batches).

    filepath may contain format fields: {epoch} (1-based, as Keras), {batch} (1-based within
    the epoch, with an integer save_freq) and any key of the logs, e.g.
    "ckpt/model-{epoch:02d}-{val_loss:.3f}.safetensors". Parent directories are created.

    save_best_only: save only when the monitored value improves on the best so far (strictly;
    direction from `mode` as in EarlyStopping). If the logs lack the monitored key, a warning
    is given (once per training) and nothing is saved.
    Nothing is saved when logs["loss"] is NaN/Inf or the model carries a non-finite report
    (TerminateOnNaN stopped it): a warning says so instead.

    Attributes: best, last_saved (the path of the last file written, or None).
    """

    def __init__(
        self,
        filepath,
        monitor: str = "val_loss",
        *,
        save_best_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        verbose: int = 0,
    ):
        super().__init__()
        who = "ModelCheckpoint"
        self.filepath = _check_path(filepath, who, "filepath")
        try:
            self._fields = [f for _, f, _, _ in string.Formatter().parse(self.filepath) if f]
        except ValueError as err:
            raise ValueError(
                f"{who}: expected filepath to be a valid format string such as "
                f"'model-{{epoch:02d}}.safetensors', got {self.filepath!r} ({err})"
            ) from None
        self.monitor = _check_monitor(monitor, who)
        self.save_best_only = check_bool(save_best_only, who, "save_best_only")
        self.mode = check_choice(mode, who, "mode", _MODES)
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(
                    f"{who}: expected save_freq to be 'epoch' or a positive int (batches), "
                    f"got {save_freq!r}"
                )
            save_freq = _check_int(save_freq, who, "save_freq", minimum=1)
        self.save_freq = save_freq
        self.verbose = _check_verbose(verbose, who)
        # the direction matters only when comparing; resolve it now so errors come early
        self._mode = _resolve_mode(self.monitor, mode, who) if self.save_best_only else "min"
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self._mode == "min" else -math.inf
        self.last_saved: str | None = None
        self._epoch = 0
        self._batches_seen = 0
        self._warned: set[str] = set()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=3)

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_seen += 1
        if self._batches_seen % self.save_freq == 0:
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def format_path(self, epoch: int, logs: Mapping, batch: int | None = None) -> str:
        """The file name for 0-based `epoch` (and `batch`) with these logs."""
        values = {k: _plain(v) for k, v in logs.items()}
        values["epoch"] = epoch + 1
        if batch is not None:
            values["batch"] = batch + 1
        try:
            return self.filepath.format(**values)
        except KeyError as err:
            raise KeyError(
                f"ModelCheckpoint: filepath {self.filepath!r} uses the field {err.args[0]!r}, "
                f"which is neither 'epoch'{', batch' if batch is not None else ''} nor a key of "
                f"the logs {sorted(logs)}"
            ) from None
        except (ValueError, IndexError, AttributeError, TypeError) as err:
            raise ValueError(
                f"ModelCheckpoint: cannot format filepath {self.filepath!r} with "
                f"epoch={epoch + 1} and logs {dict(values)}: {err}"
            ) from None

    def _save(self, epoch: int, batch: int | None, logs: Mapping) -> None:
        who = "ModelCheckpoint"
        loss = logs.get("loss")
        report = getattr(self.model, "nonfinite_report", None)
        if report or (loss is not None and not _is_finite(loss)):
            self._warn_once(
                "nonfinite",
                f"{who}: not saving: {report or f'the loss is {loss}'}",
            )
            return
        if self.save_best_only:
            current = _monitor_value(logs, self.monitor, who)
            if current is None:
                self._warn_once(
                    "monitor",
                    _missing_monitor_message(who, self.monitor, logs,
                                             "save_best_only cannot compare, nothing saved"),
                )
                return
            better = current < self.best if self._mode == "min" else current > self.best
            if not better:
                return
            previous, self.best = self.best, current
        path = self.format_path(epoch, logs, batch)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        if self.verbose:
            detail = (f" ({self.monitor} improved from {previous:.5g} to {current:.5g})"
                      if self.save_best_only else "")
            print(f"Epoch {epoch + 1}: saving model to {path}{detail}")
        self.model.save(path)
        self.last_saved = path


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


# -- non-finite loss -------------------------------------------------------------------------
class TerminateOnNaN(Callback):
    """Stop training cleanly at the first batch whose logs["loss"] is NaN or ±Inf.

    Sets model.stop_training = True and records where it happened in `report`, e.g.
    "non-finite loss nan at epoch 3, batch 17" — epoch and batch counted from 1 there, as a
    progress bar shows them — and the same string in model.nonfinite_report (the fit loop
    prints it). If the model already holds a report of its own for that batch (e.g. "first
    non-finite value in the gradient of ..."), it is kept in parentheses at the end. `epoch`
    and `batch` keep the 0-based indices of the hooks. At train begin a report left on the
    model by an earlier fit is cleared.
    """

    def __init__(self) -> None:
        super().__init__()
        self._reset()

    def _reset(self) -> None:
        self.report: str | None = None
        self.epoch: int | None = None
        self.batch: int | None = None
        self._epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()
        if getattr(self.model, "nonfinite_report", None) is not None:
            self.model.nonfinite_report = None  # from an earlier fit: not about this one

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.report is not None or not logs or "loss" not in logs:
            return
        loss = logs["loss"]
        if _is_finite(loss):
            return
        self.epoch, self.batch = self._epoch, batch
        self.report = f"non-finite loss {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}"
        detail = getattr(self.model, "nonfinite_report", None)
        if isinstance(detail, str) and detail:  # the model's own account of this batch
            self.report += f" ({detail})"
        self.model.stop_training = True
        self.model.nonfinite_report = self.report


# -- CSV log ---------------------------------------------------------------------------------
class CSVLogger(Callback):
    """One CSV row per epoch: "epoch" (0-based, as Keras writes it), then the logs keys sorted.

    The columns are fixed by the first epoch's logs (or, with append=True, by the header of
    the existing file); a key missing later is written "NA", a key that appears later is left
    out (with a warning). Each row is written in one piece, flushed and fsync'ed, so a crash
    leaves only complete rows; with append=True, a partial last line left by a harder crash
    (power loss) is cut off before appending. Parent directories are created.
    """

    def __init__(self, filename, separator: str = ",", append: bool = False):
        super().__init__()
        who = "CSVLogger"
        self.filename = _check_path(filename, who, "filename")
        if not isinstance(separator, str) or len(separator) != 1 or separator in '"\r\n':
            raise ValueError(
                f"{who}: expected separator to be one character other than a quote or a "
                f"newline, got {separator!r}"
            )
        self.separator = separator
        self.append = check_bool(append, who, "append")
        self.keys: list[str] | None = None
        self._file = None

    def _existing_keys(self) -> list[str] | None:
        """The columns of an existing file (after cutting off a partial last line), or None."""
        if not os.path.isfile(self.filename):
            return None
        with open(self.filename, "rb+") as f:
            content = f.read()
            if content and not content.endswith(b"\n"):
                cut = content.rfind(b"\n") + 1  # 0 if even the header is partial
                f.truncate(cut)
                content = content[:cut]
        if not content:
            return None
        header_line = content.split(b"\n", 1)[0].decode("utf-8")
        header = next(csv.reader([header_line], delimiter=self.separator))
        return header[1:] if header and header[0] == "epoch" else header

    def on_train_begin(self, logs=None):
        self._close()
        self.keys = self._existing_keys() if self.append else None
        self._new_keys_warned = False
        parent = os.path.dirname(self.filename)
        if parent:
            os.makedirs(parent, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", encoding="utf-8",
                          newline="")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:  # used without on_train_begin: start now
            self.on_train_begin()
        rows = []
        if self.keys is None:
            self.keys = sorted(k for k in logs if k != "epoch")
            rows.append(["epoch", *self.keys])
        extra = sorted(set(logs) - set(self.keys) - {"epoch"})
        if extra and not self._new_keys_warned:
            self._new_keys_warned = True
            warnings.warn(
                f"CSVLogger: logs keys {extra} appeared after the header was written "
                f"(columns {self.keys}); they are not logged",
                stacklevel=2,
            )
        rows.append([epoch, *(_csv_value(logs.get(k, "NA")) for k in self.keys)])
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.separator, lineterminator="\n").writerows(rows)
        self._file.write(buffer.getvalue())
        self._file.flush()
        os.fsync(self._file.fileno())

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _csv_value(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: 0.1, nan, inf
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(repr(_plain(v)) for v in value.ravel()) + "]"
    return str(value)


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
        self.verbose = _check_verbose(verbose, "LearningRateScheduler")

    def on_epoch_begin(self, epoch, logs=None):
        who = "LearningRateScheduler"
        lr = _get_lr(self.model, who)
        new = self.schedule(epoch, lr) if self._with_lr else self.schedule(epoch)
        call = f"schedule(epoch={epoch}, lr={lr!r})" if self._with_lr else f"schedule({epoch})"
        new = _plain(new)
        if isinstance(new, bool) or not isinstance(new, Real):
            raise TypeError(f"{who}: {call} returned {describe(new)}; expected a float >= 0")
        if not (math.isfinite(new) and new >= 0):
            raise ValueError(f"{who}: {call} returned {new!r}; expected a finite float >= 0")
        self.model.optimizer.learning_rate = float(new)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {new}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = _get_lr(self.model, "LearningRateScheduler")


class _Schedule(abc.ABC):
    """Base of the ready-made schedules: schedule(epoch, lr=None) -> float (lr is ignored)."""

    config_keys: ClassVar[tuple[str, ...]] = ()

    def __call__(self, epoch: int, lr: float | None = None) -> float:
        if isinstance(epoch, bool) or not isinstance(epoch, Integral) or epoch < 0:
            raise ValueError(f"{type(self).__name__}: expected epoch to be an int >= 0, "
                             f"got {epoch!r}")
        return float(self._rate(int(epoch)))

    @abc.abstractmethod
    def _rate(self, epoch: int) -> float:
        """Subclasses implement this."""

    def get_config(self) -> dict:
        return {"class_name": type(self).__name__,
                **{k: getattr(self, k) for k in self.config_keys}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.config_keys)
        return f"{type(self).__name__}({args})"


class ExponentialDecay(_Schedule):
    """lr(epoch) = initial · decay_rate^(epoch / decay_epochs); with staircase=True the
    exponent is ⌊epoch / decay_epochs⌋ (one step every decay_epochs epochs)."""

    config_keys = ("initial", "decay_rate", "decay_epochs", "staircase")

    def __init__(self, initial: float, decay_rate: float, decay_epochs: float, *,
                 staircase: bool = False):
        who = "ExponentialDecay"
        self.initial = _check_float(initial, who, "initial", low=0.0, low_open=True)
        self.decay_rate = _check_float(decay_rate, who, "decay_rate", low=0.0, high=1.0,
                                       low_open=True)
        self.decay_epochs = _check_float(decay_epochs, who, "decay_epochs", low=0.0,
                                         low_open=True)
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
        self.initial = _check_float(initial, who, "initial", low=0.0, low_open=True)
        self.factor = _check_float(factor, who, "factor", low=0.0, high=1.0, low_open=True)
        self.every = _check_int(every, who, "every", minimum=1)

    def _rate(self, epoch):
        return self.initial * self.factor ** (epoch // self.every)


class CosineDecay(_Schedule):
    """lr(epoch) = minimum + (initial − minimum) · ½ (1 + cos(π · min(epoch, T) / T)),
    T = total_epochs: from initial at epoch 0 down to minimum at epoch T (and after)."""

    config_keys = ("initial", "total_epochs", "minimum")

    def __init__(self, initial: float, total_epochs: int, minimum: float = 0.0):
        who = "CosineDecay"
        self.initial = _check_float(initial, who, "initial", low=0.0, low_open=True)
        self.total_epochs = _check_int(total_epochs, who, "total_epochs", minimum=1)
        self.minimum = _check_float(minimum, who, "minimum", low=0.0, high=self.initial)

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
        self.monitor = _check_monitor(monitor, who)
        self.factor = _check_float(factor, who, "factor", low=0.0, high=1.0, low_open=True,
                                   high_open=True)
        self.patience = _check_int(patience, who, "patience")
        self.min_delta = _check_float(min_delta, who, "min_delta", low=0.0)
        self.cooldown = _check_int(cooldown, who, "cooldown")
        self.min_lr = _check_float(min_lr, who, "min_lr", low=0.0)
        self.mode = check_choice(mode, who, "mode", _MODES)
        self.verbose = _check_verbose(verbose, who)
        self._mode = _resolve_mode(self.monitor, mode, who)
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
        lr = _get_lr(self.model, who)
        if logs is not None:
            logs["lr"] = lr
        current = _monitor_value(logs, self.monitor, who)
        if current is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    _missing_monitor_message(who, self.monitor, logs,
                                             "the learning rate is not adjusted"),
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
                    print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                          f"to {new_lr}.")
                self.cooldown_counter = self.cooldown
                self.wait = 0


# -- TensorBoard -----------------------------------------------------------------------------
def _summary_writer_class():
    try:
        from tensorboardX import SummaryWriter
    except ImportError as err:
        raise ImportError(
            f"TensorBoard: needs the tensorboardX package (pip install tensorboardX): {err}"
        ) from err
    return SummaryWriter


class TensorBoard(Callback):
    """Write the logs as TensorBoard scalars with tensorboardX (Keras' layout).

    Two runs under log_dir: "train" (training keys and "lr") and "validation" (the "val_"
    keys, prefix removed), so TensorBoard overlays e.g. the training and validation loss.
    Tags: "epoch_<key>" at step = epoch (0-based), and, with update_freq "batch" or an int N
    (every N batches), "batch_<key>" at step = batches seen since training began.
    histogram_freq=N > 0 adds histograms "weights/<i>" of model.get_weights() every N epochs
    (non-finite arrays are skipped). Writers are flushed at every epoch end, closed at train end.
    """

    def __init__(self, log_dir="logs", *, update_freq: str | int = "epoch",
                 histogram_freq: int = 0):
        super().__init__()
        who = "TensorBoard"
        self._writer_class = _summary_writer_class()  # fail now if tensorboardX is missing
        self.log_dir = _check_path(log_dir, who, "log_dir")
        if isinstance(update_freq, str):
            check_choice(update_freq, who, "update_freq", ("epoch", "batch"))
        else:
            update_freq = _check_int(update_freq, who, "update_freq", minimum=1)
        self.update_freq = update_freq
        self.histogram_freq = _check_int(histogram_freq, who, "histogram_freq")
        self._writers: dict = {}
        self._step = 0

    def _writer(self, run: str):
        if run not in self._writers:
            self._writers[run] = self._writer_class(logdir=os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._close()
        self._step = 0
        self._writer("train")

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.update_freq == "epoch":
            return
        every = 1 if self.update_freq == "batch" else self.update_freq
        if self._step % every == 0:
            for key, value in _scalars(logs):
                self._writer("train").add_scalar(f"batch_{key}", value, self._step)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in _scalars(logs):
            if key.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{key[4:]}", value, epoch)
            else:
                self._writer("train").add_scalar(f"epoch_{key}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            for i, weight in enumerate(self.model.get_weights()):
                weight = np.asarray(weight)
                if weight.size and np.isfinite(weight).all():
                    self._writer("train").add_histogram(f"weights/{i}", weight, epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _scalars(logs: Mapping | None):
    """(key, float) for every numeric entry of logs, in sorted key order."""
    for key in sorted(logs or {}):
        value = _plain(logs[key])
        if isinstance(value, Real) and not isinstance(value, bool):
            yield key, float(value)
