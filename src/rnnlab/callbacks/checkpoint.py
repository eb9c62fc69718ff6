"""ModelCheckpoint: save the model every epoch (or every N batches) or when a monitor improves."""

from __future__ import annotations

import math
import os
import string
import warnings
from collections.abc import Mapping

from .._validation import check_bool, check_choice
from .base import Callback
from .checks import (
    MODES,
    check_int,
    check_monitor,
    check_path,
    check_verbose,
    is_finite,
    missing_monitor_message,
    monitor_value,
    plain,
    resolve_mode,
)


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
        self.filepath = check_path(filepath, who, "filepath")
        try:
            list(string.Formatter().parse(self.filepath))  # a malformed format string raises
        except ValueError as err:
            raise ValueError(
                f"{who}: expected filepath to be a valid format string such as "
                f"'model-{{epoch:02d}}.safetensors', got {self.filepath!r} ({err})"
            ) from None
        self.monitor = check_monitor(monitor, who)
        self.save_best_only = check_bool(save_best_only, who, "save_best_only")
        self.mode = check_choice(mode, who, "mode", MODES)
        if save_freq != "epoch":
            if isinstance(save_freq, str):
                raise ValueError(
                    f"{who}: expected save_freq to be 'epoch' or a positive int (batches), "
                    f"got {save_freq!r}"
                )
            save_freq = check_int(save_freq, who, "save_freq", minimum=1)
        self.save_freq = save_freq
        self.verbose = check_verbose(verbose, who)
        # the direction matters only when comparing; resolve it now so errors come early
        self._mode = resolve_mode(self.monitor, mode, who) if self.save_best_only else "min"
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
        values = {k: plain(v) for k, v in logs.items()}
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
        if report or (loss is not None and not is_finite(loss)):
            self._warn_once(
                "nonfinite",
                f"{who}: not saving: {report or f'the loss is {loss}'}",
            )
            return
        if self.save_best_only:
            current = monitor_value(logs, self.monitor, who)
            if current is None:
                self._warn_once(
                    "monitor",
                    missing_monitor_message(
                        who, self.monitor, logs, "save_best_only cannot compare, nothing saved"
                    ),
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
            detail = (
                f" ({self.monitor} improved from {previous:.5g} to {current:.5g})"
                if self.save_best_only
                else ""
            )
            print(f"Epoch {epoch + 1}: saving model to {path}{detail}")
        self.model.save(path)
        self.last_saved = path
