"""The callback protocol and the list that dispatches it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import ClassVar

from .._validation import describe


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
            raise TypeError(f"CallbackList: expected a Callback instance, got {describe(callback)}")
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
