"""Callbacks driven by a fit-like loop over a fake model: when training stops, which weights
come back, which files appear with which content, which learning rates are used, what
TensorBoard's event files hold, and every constructor check."""

from __future__ import annotations

import csv
import json
import math
import os
import struct
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab.callbacks import (
    Callback,
    CallbackList,
    CosineDecay,
    CSVLogger,
    EarlyStopping,
    ExponentialDecay,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
    StepDecay,
    TensorBoard,
    TerminateOnNaN,
)


# -- a fake model and a fit-like loop --------------------------------------------------------
class FakeOptimizer:
    def __init__(self, learning_rate: float):
        self.learning_rate = learning_rate


class FakeModel:
    """Exactly the interface callbacks may use. Its weights after epoch e are all e."""

    def __init__(self, learning_rate: float = 0.1):
        self.name = "fake"
        self.stop_training = False
        self.optimizer = FakeOptimizer(learning_rate)
        self._weights = [np.zeros(3), np.zeros((2, 2))]
        self.saved: list[str] = []

    def get_weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self._weights]

    def set_weights(self, weights) -> None:
        self._weights = [np.array(w, dtype=np.float64) for w in weights]

    def save(self, path: str) -> None:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump([w.tolist() for w in self._weights], f)
        os.replace(tmp, path)
        self.saved.append(path)

    def train_one_epoch(self, epoch: int) -> None:
        self._weights = [np.full_like(w, float(epoch)) for w in self._weights]

    @property
    def weight_value(self) -> float:
        return float(self._weights[0][0])


def fit(model, callbacks, epochs, epoch_logs=None, batches=3, batch_logs=None):
    """A fit loop as the model runs it: hooks in Keras' order, stop_training checked after
    every batch and every epoch. Returns the epoch logs and the lr used in every epoch."""
    epoch_logs = epoch_logs or (lambda e: {"loss": 1.0 / (e + 1)})
    batch_logs = batch_logs or (lambda e, b: {"loss": 1.0 / (e + 1)})
    cbs = CallbackList(callbacks, model)
    cbs.set_params({"epochs": epochs, "steps": batches})
    model.stop_training = False
    history, rates = [], []
    cbs.on_train_begin()
    for epoch in range(epochs):
        cbs.on_epoch_begin(epoch)
        rates.append(model.optimizer.learning_rate)
        for batch in range(batches):
            cbs.on_train_batch_begin(batch)
            cbs.on_train_batch_end(batch, dict(batch_logs(epoch, batch)))
            if model.stop_training:
                break
        model.train_one_epoch(epoch)
        logs = dict(epoch_logs(epoch))
        cbs.on_test_begin()
        cbs.on_test_end({k[4:]: v for k, v in logs.items() if k.startswith("val_")})
        cbs.on_epoch_end(epoch, logs)
        history.append(logs)
        if model.stop_training:
            break
    cbs.on_train_end()
    return history, rates


def from_sequence(key, values, **extra):
    return lambda e: {key: values[e], **extra}


# -- the protocol ----------------------------------------------------------------------------
HOOKS = [
    "on_train_begin",
    "on_train_end",
    "on_test_begin",
    "on_test_end",
    "on_predict_begin",
    "on_predict_end",
]
BATCH_HOOKS = [
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
]


class Recorder(Callback):
    """Writes (tag, hook, arguments) into a shared journal from every hook."""

    def __init__(self, tag, journal, edits=False):
        super().__init__()
        self.tag, self.journal = tag, journal
        self.edits_epoch_logs = edits


def _recording(hook):
    def record(self, *args):
        self.journal.append((self.tag, hook, args))

    return record


for _hook in HOOKS + BATCH_HOOKS:
    setattr(Recorder, _hook, _recording(_hook))


def test_callback_list_dispatches_every_hook_in_order():
    journal = []
    model = FakeModel()
    cbs = CallbackList([Recorder("a", journal), Recorder("b", journal)], model)
    assert all(c.model is model for c in cbs) and len(cbs) == 2
    for hook in HOOKS:
        getattr(cbs, hook)({"x": 1.0})
    for hook in BATCH_HOOKS:
        getattr(cbs, hook)(4)
    expected = [(t, h, ({"x": 1.0},)) for h in HOOKS for t in "ab"]
    expected += [(t, h, (4, {})) for h in BATCH_HOOKS for t in "ab"]
    assert journal == expected


def test_callback_list_runs_log_editing_callbacks_first_at_epoch_end():
    journal = []
    cbs = CallbackList([Recorder("logger", journal), Recorder("scheduler", journal, edits=True)])
    cbs.on_epoch_end(0, {})
    assert [tag for tag, _, _ in journal] == ["scheduler", "logger"]


def test_callback_list_errors_and_late_model():
    with pytest.raises(TypeError, match="CallbackList: expected a Callback instance, got str"):
        CallbackList(["EarlyStopping"])
    with pytest.raises(TypeError, match="expected a list of Callback instances"):
        CallbackList(TerminateOnNaN())
    with pytest.raises(TypeError, match=r"expected logs as a dict or None"):
        CallbackList([]).on_epoch_end(0, [1.0])
    cbs = CallbackList()
    model = FakeModel()
    cbs.set_model(model)
    cbs.append(TerminateOnNaN())
    assert cbs[0].model is model


def test_base_callback_does_nothing():
    callback = Callback()
    callback.set_params({"epochs": 3})
    assert callback.params == {"epochs": 3} and callback.model is None
    history, _ = fit(FakeModel(), [callback], epochs=2)
    assert len(history) == 2


# -- EarlyStopping ---------------------------------------------------------------------------
def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = FakeModel()
    losses = [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 2.0]
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history, _ = fit(model, [stopper], epochs=7, epoch_logs=from_sequence("val_loss", losses))
    assert len(history) == 5  # epochs 3 and 4 did not improve on 3.0
    assert stopper.stopped_epoch == 4 and model.stop_training
    assert stopper.best == 3.0 and stopper.best_epoch == 2
    assert model.weight_value == 2.0  # the weights at the end of epoch 2


def test_early_stopping_without_restore_keeps_the_last_weights():
    model = FakeModel()
    stopper = EarlyStopping(monitor="loss", patience=1)
    fit(model, [stopper], epochs=5, epoch_logs=from_sequence("loss", [1.0, 2.0, 3.0, 0.0, 0.0]))
    assert stopper.stopped_epoch == 1 and model.weight_value == 1.0


def test_early_stopping_patience_zero_and_min_delta():
    stopper = EarlyStopping(patience=0)
    history, _ = fit(
        FakeModel(),
        [stopper],
        epochs=5,
        epoch_logs=from_sequence("val_loss", [3.0, 2.0, 2.0, 1.0, 0.0]),
    )
    assert len(history) == 3 and stopper.stopped_epoch == 2
    # improvements smaller than min_delta do not count
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    history, _ = fit(
        FakeModel(),
        [stopper],
        epochs=6,
        epoch_logs=from_sequence("val_loss", [1.0, 0.95, 0.91, 0.5, 0.5, 0.5]),
    )
    assert stopper.stopped_epoch == 2 and stopper.best == 1.0


def test_early_stopping_maximises_accuracies_in_auto_mode():
    model = FakeModel()
    stopper = EarlyStopping(monitor="val_accuracy", patience=1, restore_best_weights=True)
    fit(
        model,
        [stopper],
        epochs=6,
        epoch_logs=from_sequence("val_accuracy", [0.1, 0.5, 0.4, 0.45, 0.9, 0.9]),
    )
    assert stopper.stopped_epoch == 2 and stopper.best == 0.5 and model.weight_value == 1.0
    stopper = EarlyStopping(monitor="val_loss", mode="max", patience=1)
    fit(FakeModel(), [stopper], epochs=4, epoch_logs=from_sequence("val_loss", [1, 2, 3, 1]))
    assert stopper.stopped_epoch == 3 and stopper.best == 3


def test_early_stopping_baseline():
    model = FakeModel()
    stopper = EarlyStopping(patience=3, baseline=1.0, restore_best_weights=True)
    fit(
        model,
        [stopper],
        epochs=10,
        epoch_logs=from_sequence("val_loss", [3.0, 2.0, 1.5, 1.8, 0.5] + [0.5] * 5),
    )
    # never beats the baseline within `patience` epochs: stops, restores the best seen
    assert stopper.stopped_epoch == 3 and model.weight_value == 2.0
    stopper = EarlyStopping(patience=2, baseline=2.5)
    fit(
        FakeModel(),
        [stopper],
        epochs=10,
        epoch_logs=from_sequence("val_loss", [3.0, 2.0, 1.5, 1.8, 1.7] + [0.5] * 5),
    )
    assert stopper.stopped_epoch == 4


def test_early_stopping_start_from_epoch_and_restore_when_epochs_run_out():
    model = FakeModel()
    stopper = EarlyStopping(patience=2, start_from_epoch=3, restore_best_weights=True)
    history, _ = fit(
        model,
        [stopper],
        epochs=6,
        epoch_logs=from_sequence("val_loss", [0.1, 9.0, 9.0, 5.0, 4.0, 4.5]),
    )
    assert len(history) == 6 and stopper.stopped_epoch == 0  # warm-up epochs are ignored
    assert stopper.best == 4.0 and model.weight_value == 4.0  # restored at train end


def test_early_stopping_missing_monitor_warns_once_and_never_stops():
    stopper = EarlyStopping(patience=0)
    with pytest.warns(
        UserWarning,
        match=r"EarlyStopping: 'val_loss' is not in the logs "
        r"\(available: \['loss'\]\)",
    ) as record:
        history, _ = fit(FakeModel(), [stopper], epochs=4)
    assert len(history) == 4 and len(record) == 1


def test_early_stopping_verbose_messages(capsys):
    stopper = EarlyStopping(patience=1, restore_best_weights=True, verbose=1)
    fit(FakeModel(), [stopper], epochs=5, epoch_logs=from_sequence("val_loss", [2, 1, 3, 3, 3]))
    assert capsys.readouterr().out.splitlines() == [
        "Epoch 3: early stopping",
        "Restoring model weights from the end of the best epoch: 2.",
    ]


def test_early_stopping_instances_are_reusable():
    stopper = EarlyStopping(patience=0)
    fit(FakeModel(), [stopper], epochs=3, epoch_logs=from_sequence("val_loss", [1.0, 2.0, 3.0]))
    assert stopper.stopped_epoch == 1
    history, _ = fit(
        FakeModel(), [stopper], epochs=3, epoch_logs=from_sequence("val_loss", [5.0, 4.0, 3.0])
    )
    assert len(history) == 3 and stopper.stopped_epoch == 0 and stopper.best == 3.0


@given(losses=st.lists(st.integers(0, 5), min_size=1, max_size=12), patience=st.integers(0, 4))
def test_early_stopping_matches_a_plain_reference(losses, patience):
    best, best_epoch, stop = math.inf, 0, None
    for epoch, value in enumerate(losses):
        if value < best:
            best, best_epoch = value, epoch
        elif epoch - best_epoch >= max(patience, 1):
            stop = epoch
            break
    model = FakeModel()
    stopper = EarlyStopping(patience=patience, restore_best_weights=True)
    history, _ = fit(
        model,
        [stopper],
        epochs=len(losses),
        epoch_logs=from_sequence("val_loss", [float(v) for v in losses]),
    )
    assert len(history) == (len(losses) if stop is None else stop + 1)
    assert stopper.stopped_epoch == (stop or 0)
    assert model.weight_value == best_epoch


def test_early_stopping_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"^EarlyStopping: expected mode in "
        r"\['auto', 'min', 'max'\], got 'up'$",
    ):
        EarlyStopping(mode="up")
    with pytest.raises(ValueError, match="expected patience to be an int >= 0, got -1"):
        EarlyStopping(patience=-1)
    with pytest.raises(TypeError, match="expected patience to be an int >= 0, got 2.5"):
        EarlyStopping(patience=2.5)
    with pytest.raises(ValueError, match="expected min_delta to be a finite number >= 0"):
        EarlyStopping(min_delta=-0.1)
    with pytest.raises(ValueError, match="expected baseline to be a finite number, got nan"):
        EarlyStopping(baseline=float("nan"))
    with pytest.raises(TypeError, match="restore_best_weights to be True or False"):
        EarlyStopping(restore_best_weights="yes")
    with pytest.raises(TypeError, match="expected monitor to be a logs key"):
        EarlyStopping(monitor=None)
    with pytest.raises(
        ValueError,
        match=r"cannot tell whether 'val_foo' should decrease or "
        r"increase; pass mode='min' or mode='max'",
    ):
        EarlyStopping(monitor="val_foo")
    EarlyStopping(monitor="val_foo", mode="min")
    for name in ("val_perplexity", "bpc", "val_mae", "val_sparse_categorical_accuracy"):
        EarlyStopping(monitor=name)
    with pytest.raises(TypeError):
        EarlyStopping("val_loss", 0.1)  # keyword-only after monitor


# -- ModelCheckpoint -------------------------------------------------------------------------
def test_checkpoint_file_names_from_epoch_and_logs(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "deep" / "model-{epoch:02d}-{val_loss:.3f}.safetensors")
    checkpoint = ModelCheckpoint(pattern)
    fit(
        model,
        [checkpoint],
        epochs=3,
        epoch_logs=from_sequence("val_loss", [np.float32(0.5), 0.25, 0.75], loss=1.0),
    )
    names = sorted(os.listdir(tmp_path / "ckpt" / "deep"))
    assert names == [
        "model-01-0.500.safetensors",
        "model-02-0.250.safetensors",
        "model-03-0.750.safetensors",
    ]
    assert checkpoint.last_saved == str(tmp_path / "ckpt/deep/model-03-0.750.safetensors")
    with open(checkpoint.last_saved) as f:
        assert json.load(f)[0] == [2.0, 2.0, 2.0]


def test_checkpoint_save_best_only(tmp_path):
    model = FakeModel()
    checkpoint = ModelCheckpoint(tmp_path / "m-{epoch}.st", save_best_only=True)
    fit(
        model,
        [checkpoint],
        epochs=5,
        epoch_logs=from_sequence("val_loss", [3.0, 2.0, 2.5, 2.0, 1.0]),
    )
    assert sorted(os.listdir(tmp_path)) == ["m-1.st", "m-2.st", "m-5.st"]
    assert checkpoint.best == 1.0
    # one fixed name: always the best model
    model = FakeModel()
    path = tmp_path / "best.st"
    fit(
        model,
        [ModelCheckpoint(path, monitor="val_accuracy", save_best_only=True)],
        epochs=4,
        epoch_logs=from_sequence("val_accuracy", [0.2, 0.6, 0.5, 0.55]),
    )
    assert model.saved == [str(path)] * 2
    with open(path) as f:
        assert json.load(f)[0] == [1.0, 1.0, 1.0]


def test_checkpoint_missing_monitor_warns_once_and_saves_nothing(tmp_path):
    model = FakeModel()
    with pytest.warns(
        UserWarning,
        match=r"ModelCheckpoint: 'val_loss' is not in the logs.*"
        r"nothing saved",
    ) as record:
        fit(model, [ModelCheckpoint(tmp_path / "m.st", save_best_only=True)], epochs=3)
    assert len(record) == 1 and model.saved == [] and os.listdir(tmp_path) == []


def test_checkpoint_every_n_batches(tmp_path):
    model = FakeModel()
    fit(
        model,
        [ModelCheckpoint(tmp_path / "m-{epoch}-{batch}-{loss:.2f}.st", save_freq=2)],
        epochs=2,
        batches=3,
    )
    # batches seen 2, 4, 6 → epoch 1 batch 2, epoch 2 batch 1, epoch 2 batch 3
    assert sorted(os.listdir(tmp_path)) == ["m-1-2-1.00.st", "m-2-1-0.50.st", "m-2-3-0.50.st"]


def test_checkpoint_skips_non_finite_losses(tmp_path):
    model = FakeModel()
    with pytest.warns(UserWarning, match="ModelCheckpoint: not saving: the loss is nan"):
        fit(
            model,
            [ModelCheckpoint(tmp_path / "m.st")],
            epochs=2,
            epoch_logs=lambda e: {"loss": float("nan")},
        )
    assert model.saved == []


def test_checkpoint_format_errors(tmp_path):
    checkpoint = ModelCheckpoint(tmp_path / "m-{val_acc:.2f}.st")
    with pytest.raises(
        KeyError,
        match=r"uses the field 'val_acc', which is neither 'epoch' "
        r"nor a key of the logs \['loss'\]",
    ):
        fit(FakeModel(), [checkpoint], epochs=1)
    with pytest.raises(ValueError, match="expected filepath to be a valid format string"):
        ModelCheckpoint(tmp_path / "m-{epoch.st")
    with pytest.raises(ValueError, match=r"cannot format filepath .* epoch=1"):
        fit(FakeModel(), [ModelCheckpoint(tmp_path / "m-{loss:d}.st")], epochs=1)


def test_checkpoint_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"save_freq to be 'epoch' or a positive int"):
        ModelCheckpoint("m.st", save_freq="batch")
    with pytest.raises(ValueError, match="save_freq to be an int >= 1, got 0"):
        ModelCheckpoint("m.st", save_freq=0)
    with pytest.raises(TypeError, match="expected filepath to be a str or os.PathLike"):
        ModelCheckpoint(3)
    with pytest.raises(ValueError, match=r"ModelCheckpoint: expected mode in \['auto'"):
        ModelCheckpoint("m.st", mode="best")
    with pytest.raises(ValueError, match="cannot tell whether 'score'"):
        ModelCheckpoint("m.st", monitor="score", save_best_only=True)
    ModelCheckpoint("m.st", monitor="score")  # no comparison, no direction needed


# -- TerminateOnNaN --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, text", [(float("nan"), "nan"), (np.float32("inf"), "inf"), (-math.inf, "-inf")]
)
def test_terminate_on_nan_stops_and_reports_where(bad, text):
    model = FakeModel()
    seen = []

    class Watch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append((self.model.stop_training, batch))

    guard = TerminateOnNaN()
    batch_logs = lambda e, b: {"loss": bad if (e, b) == (2, 1) else 0.5}  # noqa: E731
    history, _ = fit(model, [guard, Watch()], epochs=5, batches=4, batch_logs=batch_logs)
    assert len(history) == 3 and model.stop_training
    assert seen[-1] == (True, 1)  # the loop ends the epoch after that batch
    assert guard.report == f"non-finite loss {text} at epoch 3, batch 2"
    assert model.nonfinite_report == guard.report
    assert (guard.epoch, guard.batch) == (2, 1)


def test_terminate_on_nan_keeps_the_models_own_detail():
    model = FakeModel()
    model.nonfinite_report = None

    class Model(Callback):  # stands for the model noting where the NaN came from
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:
                self.model.nonfinite_report = "first non-finite value in the gradient of w"

    guard = TerminateOnNaN()
    fit(
        model,
        [Model(), guard],
        epochs=2,
        batches=4,
        batch_logs=lambda e, b: {"loss": math.nan if b == 2 else 1.0},
    )
    assert (
        guard.report
        == model.nonfinite_report
        == ("non-finite loss nan at epoch 1, batch 3 (first non-finite value in the gradient of w)")
    )


def test_terminate_on_nan_then_a_clean_fit_saves_checkpoints_again(tmp_path):
    model = FakeModel()
    guard, checkpoint = TerminateOnNaN(), ModelCheckpoint(tmp_path / "m-{epoch}.st")
    with pytest.warns(UserWarning, match=r"not saving: non-finite loss nan at epoch 1, batch 1"):
        fit(model, [guard, checkpoint], epochs=2, batch_logs=lambda e, b: {"loss": math.nan})
    assert model.saved == []
    fit(model, [guard, checkpoint], epochs=2)
    assert guard.report is None and model.nonfinite_report is None
    assert sorted(os.listdir(tmp_path)) == ["m-1.st", "m-2.st"]


def test_terminate_on_nan_ignores_finite_and_missing_losses():
    model = FakeModel()
    guard = TerminateOnNaN()
    history, _ = fit(model, [guard], epochs=3, batch_logs=lambda e, b: {"accuracy": math.nan})
    assert len(history) == 3 and guard.report is None
    assert not hasattr(model, "nonfinite_report")


# -- CSVLogger -------------------------------------------------------------------------------
def read_csv(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def epoch_logs_with_validation(e):
    return {
        "val_loss": 2.0 / (e + 1),
        "loss": 1.0 / (e + 1),
        "accuracy": 0.25 * e,
        "val_accuracy": np.float64(0.1),
    }


def test_csv_logger_header_and_rows(tmp_path):
    path = tmp_path / "logs" / "run.csv"
    fit(FakeModel(), [CSVLogger(path)], epochs=3, epoch_logs=epoch_logs_with_validation)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert rows[1:] == [
        ["0", "0.0", "1.0", "0.1", "2.0"],
        ["1", "0.25", "0.5", "0.1", "1.0"],
        ["2", "0.5", repr(1 / 3), "0.1", repr(2 / 3)],
    ]


def test_csv_logger_separator_missing_and_new_keys(tmp_path):
    path = tmp_path / "run.tsv"
    logs = [{"loss": 1.0, "mae": 3.0}, {"loss": 0.5}, {"loss": 0.25, "new": 1.0}]
    with pytest.warns(UserWarning, match=r"CSVLogger: logs keys \['new'\] appeared"):
        fit(FakeModel(), [CSVLogger(path, separator="\t")], epochs=3, epoch_logs=lambda e: logs[e])
    assert read_csv(path, "\t") == [
        ["epoch", "loss", "mae"],
        ["0", "1.0", "3.0"],
        ["1", "0.5", "NA"],
        ["2", "0.25", "NA"],
    ]


def test_csv_logger_append_and_overwrite(tmp_path):
    path = tmp_path / "run.csv"
    fit(FakeModel(), [CSVLogger(path)], epochs=2)
    fit(FakeModel(), [CSVLogger(path, append=True)], epochs=2)
    assert read_csv(path) == [
        ["epoch", "loss"],
        ["0", "1.0"],
        ["1", "0.5"],
        ["0", "1.0"],
        ["1", "0.5"],
    ]
    fit(FakeModel(), [CSVLogger(path, append=False)], epochs=1)
    assert read_csv(path) == [["epoch", "loss"], ["0", "1.0"]]
    fresh = tmp_path / "fresh.csv"
    fit(FakeModel(), [CSVLogger(fresh, append=True)], epochs=1)  # append to nothing: a header
    assert read_csv(fresh) == [["epoch", "loss"], ["0", "1.0"]]


def test_csv_logger_append_follows_the_existing_columns_and_drops_a_partial_row(tmp_path):
    path = tmp_path / "run.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,2.0\n1,0.5,1.")  # killed mid-row
    fit(
        FakeModel(),
        [CSVLogger(path, append=True)],
        epochs=1,
        epoch_logs=lambda e: {"val_loss": 0.75, "loss": 0.25},
    )
    assert path.read_text() == "epoch,loss,val_loss\n0,1.0,2.0\n0,0.25,0.75\n"


def test_csv_logger_rows_are_complete_after_every_epoch(tmp_path):
    path = tmp_path / "run.csv"
    contents = []

    class Peek(Callback):  # runs after the logger: what would a crash leave now?
        def on_epoch_end(self, epoch, logs=None):
            contents.append(path.read_text())

    fit(FakeModel(), [CSVLogger(path), Peek()], epochs=3)
    assert [c.count("\n") for c in contents] == [2, 3, 4]
    assert all(c.endswith("\n") for c in contents)


def test_csv_logger_sees_lr_even_when_listed_before_the_scheduler(tmp_path):
    path = tmp_path / "run.csv"
    fit(FakeModel(0.5), [CSVLogger(path), LearningRateScheduler(lambda e, lr: lr / 2)], epochs=2)
    assert read_csv(path) == [["epoch", "loss", "lr"], ["0", "1.0", "0.25"], ["1", "0.5", "0.125"]]


def test_csv_logger_argument_errors():
    for separator in ("", ";;", '"', "\n", 1):
        with pytest.raises(ValueError, match="expected separator to be one character"):
            CSVLogger("x.csv", separator=separator)
    with pytest.raises(TypeError, match="append to be True or False"):
        CSVLogger("x.csv", append=1)
    with pytest.raises(ValueError, match="expected filename to be a non-empty path"):
        CSVLogger("")


# -- learning-rate schedules -----------------------------------------------------------------
def test_learning_rate_scheduler_sets_the_rate_at_epoch_begin_and_logs_it():
    model = FakeModel(1.0)
    history, rates = fit(model, [LearningRateScheduler(lambda epoch, lr: lr * 0.5)], epochs=4)
    assert rates == [0.5, 0.25, 0.125, 0.0625]
    assert [logs["lr"] for logs in history] == rates
    _, rates = fit(FakeModel(), [LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))], epochs=3)
    assert rates == [0.1, 0.2, pytest.approx(0.3)]


@pytest.mark.parametrize(
    "value, error, text",
    [
        (float("nan"), ValueError, r"returned nan; expected a finite float >= 0"),
        (-0.1, ValueError, r"returned -0.1; expected a finite float >= 0"),
        (math.inf, ValueError, r"returned inf"),
        ("0.1", TypeError, r"returned str '0.1'; expected a float >= 0"),
        (None, TypeError, r"returned NoneType None"),
    ],
)
def test_learning_rate_scheduler_validates_the_schedule(value, error, text):
    scheduler = LearningRateScheduler(lambda epoch, lr: value if epoch == 1 else lr)
    with pytest.raises(error, match=r"LearningRateScheduler: schedule\(epoch=1, lr=0.1\) " + text):
        fit(FakeModel(), [scheduler], epochs=3)


def test_learning_rate_scheduler_errors():
    with pytest.raises(TypeError, match="expected schedule to be a callable"):
        LearningRateScheduler(0.1)
    with pytest.raises(TypeError, match=r"expected schedule\(epoch, lr\) or schedule\(epoch\)"):
        LearningRateScheduler(lambda: 0.1)

    class NoOptimizer:
        stop_training = False
        optimizer = None

    with pytest.raises(RuntimeError, match="needs a model with an optimizer"):
        fit(NoOptimizer(), [LearningRateScheduler(lambda e, lr: lr)], epochs=1)


def test_ready_made_schedules():
    exponential = ExponentialDecay(0.1, 0.5, 2)
    assert [exponential(e) for e in range(4)] == [0.1, 0.1 * 0.5**0.5, 0.05, 0.1 * 0.5**1.5]
    staircase = ExponentialDecay(0.1, 0.5, 2, staircase=True)
    assert [staircase(e) for e in range(5)] == [0.1, 0.1, 0.05, 0.05, 0.025]
    step = StepDecay(1.0, 0.1, every=3)
    assert [step(e) for e in range(7)] == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01])
    cosine = CosineDecay(1.0, total_epochs=4, minimum=0.2)
    expected = [0.2 + 0.8 * 0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    assert [cosine(e) for e in range(6)] == pytest.approx([*expected, 0.2, 0.2])
    assert cosine(0) == 1.0
    _, rates = fit(FakeModel(), [LearningRateScheduler(step)], epochs=4)
    assert rates == pytest.approx([1, 1, 1, 0.1])
    assert repr(step) == "StepDecay(initial=1.0, factor=0.1, every=3)"
    assert cosine.get_config() == {
        "class_name": "CosineDecay",
        "initial": 1.0,
        "total_epochs": 4,
        "minimum": 0.2,
    }


def test_schedule_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"ExponentialDecay: expected decay_rate to be a finite "
        r"number > 0 and <= 1, got 1.5",
    ):
        ExponentialDecay(0.1, 1.5, 2)
    with pytest.raises(ValueError, match=r"expected initial to be a finite number > 0"):
        StepDecay(0.0, 0.5, 2)
    with pytest.raises(ValueError, match=r"StepDecay: expected every to be an int >= 1"):
        StepDecay(0.1, 0.5, 0)
    with pytest.raises(
        ValueError,
        match=r"CosineDecay: expected minimum to be a finite "
        r"number >= 0 and <= 0.1, got 0.2",
    ):
        CosineDecay(0.1, 10, minimum=0.2)
    with pytest.raises(ValueError, match=r"expected epoch to be an int >= 0, got -1"):
        StepDecay(0.1, 0.5, 2)(-1)


# -- ReduceLROnPlateau -----------------------------------------------------------------------
def test_reduce_lr_on_plateau_keras_sequence():
    model = FakeModel(0.1)
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8]
    reducer = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    history, rates = fit(model, [reducer], epochs=10, epoch_logs=from_sequence("val_loss", losses))
    assert rates == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025]
    assert [logs["lr"] for logs in history] == rates  # the rate used during each epoch
    assert model.optimizer.learning_rate == 0.02  # floored at min_lr
    _, rates = fit(model, [reducer], epochs=4, epoch_logs=from_sequence("val_loss", [1.0] * 4))
    assert rates == [0.02] * 4  # already at min_lr: no further reduction


def test_reduce_lr_on_plateau_min_delta_and_max_mode():
    model = FakeModel(1.0)
    fit(
        model,
        [ReduceLROnPlateau(monitor="val_accuracy", patience=1, min_delta=0.01)],
        epochs=4,
        epoch_logs=from_sequence("val_accuracy", [0.5, 0.6, 0.605, 0.7]),
    )
    assert model.optimizer.learning_rate == pytest.approx(0.1)


def test_reduce_lr_on_plateau_missing_monitor_and_errors():
    model = FakeModel(1.0)
    with pytest.warns(UserWarning, match="ReduceLROnPlateau: 'val_loss' is not in the logs"):
        history, _ = fit(model, [ReduceLROnPlateau(patience=0)], epochs=3)
    assert model.optimizer.learning_rate == 1.0 and history[0]["lr"] == 1.0
    for factor in (1.0, 0.0, 2):
        with pytest.raises(
            ValueError,
            match=r"ReduceLROnPlateau: expected factor to be a finite "
            r"number > 0 and < 1",
        ):
            ReduceLROnPlateau(factor=factor)
    with pytest.raises(ValueError, match="expected cooldown to be an int >= 0"):
        ReduceLROnPlateau(cooldown=-1)
    with pytest.raises(ValueError, match="expected min_lr to be a finite number >= 0"):
        ReduceLROnPlateau(min_lr=-1e-3)


# -- TensorBoard -----------------------------------------------------------------------------
def read_events(directory) -> list:
    """Every Event of the event files in directory, checking the TFRecord framing:
    uint64 length, masked crc32c of the length, the Event protobuf, masked crc32c of it."""
    from tensorboardX.crc32c import crc32c
    from tensorboardX.proto.event_pb2 import Event

    def masked(data: bytes) -> int:
        crc = crc32c(data)
        return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    events = []
    files = sorted(f for f in os.listdir(directory) if "tfevents" in f)
    assert files, f"no event file in {directory}"
    for name in files:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
        assert data
        offset = 0
        while offset < len(data):
            header = data[offset : offset + 8]
            (length,) = struct.unpack("<Q", header)
            (header_crc,) = struct.unpack("<I", data[offset + 8 : offset + 12])
            body = data[offset + 12 : offset + 12 + length]
            (body_crc,) = struct.unpack("<I", data[offset + 12 + length : offset + 16 + length])
            assert header_crc == masked(header) and body_crc == masked(body)
            events.append(Event.FromString(body))
            offset += 16 + length
    return events


def scalars(events) -> dict:
    found = {}
    for event in events:
        for value in event.summary.value:
            if value.HasField("simple_value"):
                found.setdefault(value.tag, []).append((event.step, value.simple_value))
    return found


def test_tensorboard_writes_epoch_and_batch_scalars_and_histograms(tmp_path):
    board = TensorBoard(tmp_path / "tb", update_freq="batch", histogram_freq=2)
    fit(
        FakeModel(0.5),
        [board, LearningRateScheduler(lambda e, lr: lr)],
        epochs=3,
        batches=2,
        epoch_logs=lambda e: {"loss": 1.0 / (e + 1), "val_loss": 2.0 / (e + 1)},
    )
    train = read_events(tmp_path / "tb" / "train")
    found = scalars(train)
    assert found["epoch_loss"] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert found["epoch_lr"] == [(0, 0.5), (1, 0.5), (2, 0.5)]
    assert [step for step, _ in found["batch_loss"]] == [1, 2, 3, 4, 5, 6]
    assert "epoch_val_loss" not in found
    validation = scalars(read_events(tmp_path / "tb" / "validation"))
    assert validation == {"epoch_loss": [(0, 2.0), (1, 1.0), (2, pytest.approx(2 / 3))]}
    histograms = {(v.tag, e.step) for e in train for v in e.summary.value if v.HasField("histo")}
    assert histograms == {("weights/0", 0), ("weights/1", 0), ("weights/0", 2), ("weights/1", 2)}
    assert board._writers == {}  # closed at train end


def test_tensorboard_every_n_batches_and_epoch_only(tmp_path):
    fit(FakeModel(), [TensorBoard(tmp_path / "n", update_freq=4)], epochs=3, batches=3)
    found = scalars(read_events(tmp_path / "n" / "train"))
    assert [step for step, _ in found["batch_loss"]] == [4, 8]
    fit(FakeModel(), [TensorBoard(tmp_path / "e")], epochs=2)
    found = scalars(read_events(tmp_path / "e" / "train"))
    assert set(found) == {"epoch_loss"}
    assert not os.path.exists(tmp_path / "e" / "validation")


def test_tensorboard_needs_tensorboardx(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r"pip install tensorboardX"):
        TensorBoard("logs")


def test_tensorboard_argument_errors():
    with pytest.raises(
        ValueError,
        match=r"TensorBoard: expected update_freq in \['epoch', "
        r"'batch'\], got 'step'",
    ):
        TensorBoard("logs", update_freq="step")
    with pytest.raises(ValueError, match="expected update_freq to be an int >= 1"):
        TensorBoard("logs", update_freq=0)
    with pytest.raises(ValueError, match="expected histogram_freq to be an int >= 0"):
        TensorBoard("logs", histogram_freq=-1)


def test_everything_together(tmp_path):
    """A realistic list: no warnings, the files agree with each other."""
    model = FakeModel(0.1)
    losses = [1.0, 0.8, 0.7, 0.75, 0.72, 0.74, 0.9, 0.9]
    callbacks = [
        TerminateOnNaN(),
        CSVLogger(tmp_path / "log.csv"),
        ModelCheckpoint(tmp_path / "ckpt" / "best.st", save_best_only=True),
        EarlyStopping(patience=3, restore_best_weights=True),
        ReduceLROnPlateau(factor=0.5, patience=1),
        TensorBoard(tmp_path / "tb"),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history, rates = fit(
            model, callbacks, epochs=8, epoch_logs=from_sequence("val_loss", losses, loss=0.5)
        )
    assert len(history) == 6 and model.weight_value == 2.0
    rows = read_csv(tmp_path / "log.csv")
    assert rows[0] == ["epoch", "loss", "lr", "val_loss"]
    assert [float(r[2]) for r in rows[1:]] == rates == [0.1, 0.1, 0.1, 0.1, 0.05, 0.025]
    with open(tmp_path / "ckpt" / "best.st") as f:
        assert json.load(f)[0] == [2.0, 2.0, 2.0]
