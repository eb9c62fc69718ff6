"""Callbacks that stop training: EarlyStopping (no more improvement) and TerminateOnNaN."""

from __future__ import annotations

import math
import warnings

from .._validation import check_bool, check_choice
from .base import Callback
from .checks import (
    MODES,
    check_float,
    check_int,
    check_monitor,
    check_verbose,
    is_finite,
    missing_monitor_message,
    monitor_value,
    resolve_mode,
)


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
        self.monitor = check_monitor(monitor, who)
        self.min_delta = check_float(min_delta, who, "min_delta", low=0.0)
        self.patience = check_int(patience, who, "patience")
        self.mode = check_choice(mode, who, "mode", MODES)
        self.baseline = None if baseline is None else check_float(baseline, who, "baseline")
        self.restore_best_weights = check_bool(restore_best_weights, who, "restore_best_weights")
        self.start_from_epoch = check_int(start_from_epoch, who, "start_from_epoch")
        self.verbose = check_verbose(verbose, who)
        self._mode = resolve_mode(self.monitor, self.mode, who)
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
        current = monitor_value(logs, self.monitor, "EarlyStopping")
        if current is None:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    missing_monitor_message(
                        "EarlyStopping", self.monitor, logs, "early stopping is inactive"
                    ),
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
                print(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)


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
        if is_finite(loss):
            return
        self.epoch, self.batch = self._epoch, batch
        self.report = f"non-finite loss {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}"
        detail = getattr(self.model, "nonfinite_report", None)
        if isinstance(detail, str) and detail:  # the model's own account of this batch
            self.report += f" ({detail})"
        self.model.stop_training = True
        self.model.nonfinite_report = self.report
