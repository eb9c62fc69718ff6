"""Loggers: CSVLogger (one row per epoch) and TensorBoard event files (tensorboardX)."""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Mapping
from numbers import Real

import numpy as np

from .._validation import check_bool, check_choice
from .base import Callback
from .checks import (
    check_int,
    check_path,
    plain,
)


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
        self.filename = check_path(filename, who, "filename")
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
        self._file = open(self.filename, "a" if self.append else "w", encoding="utf-8", newline="")

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
    value = plain(value)
    if isinstance(value, float):
        return repr(value)  # shortest round-trip form: 0.1, nan, inf
    if isinstance(value, np.ndarray):
        return "[" + ", ".join(repr(plain(v)) for v in value.ravel()) + "]"
    return str(value)


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

    def __init__(
        self, log_dir="logs", *, update_freq: str | int = "epoch", histogram_freq: int = 0
    ):
        super().__init__()
        who = "TensorBoard"
        self._writer_class = _summary_writer_class()  # fail now if tensorboardX is missing
        self.log_dir = check_path(log_dir, who, "log_dir")
        if isinstance(update_freq, str):
            check_choice(update_freq, who, "update_freq", ("epoch", "batch"))
        else:
            update_freq = check_int(update_freq, who, "update_freq", minimum=1)
        self.update_freq = update_freq
        self.histogram_freq = check_int(histogram_freq, who, "histogram_freq")
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
        value = plain(logs[key])
        if isinstance(value, Real) and not isinstance(value, bool):
            yield key, float(value)
