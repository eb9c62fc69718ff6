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

and checks `model.stop_training` after each batch and each epoch. `evaluate(...,
callbacks=...)` runs the on_test_* hooks (fit's validation is such a call) and
`predict(..., callbacks=...)` the on_predict_* ones. `logs` is a dict of floats:
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

from .base import Callback, CallbackList
from .checkpoint import ModelCheckpoint
from .loggers import CSVLogger, TensorBoard
from .schedules import (
    CosineDecay,
    ExponentialDecay,
    LearningRateScheduler,
    ReduceLROnPlateau,
    StepDecay,
)
from .stopping import EarlyStopping, TerminateOnNaN

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
