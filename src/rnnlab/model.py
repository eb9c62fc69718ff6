"""Sequential: a stack of layers with Keras' compile / fit / evaluate / predict / summary.

    model = rnnlab.Sequential([
        rnnlab.Embedding(vocab_size, 32, mask_zero=True),
        rnnlab.LSTM(64, return_sequences=True),
        rnnlab.Dense(vocab_size),
    ])
    model.compile(optimizer="adam", loss=rnnlab.losses.SparseCategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    history = model.fit(x, y, epochs=5, batch_size=32, validation_split=0.1)

Forward runs the layers in order, passing each layer's output mask (`compute_mask`) to the
next: a mask made by `Embedding(mask_zero=True)` reaches the recurrent layers and, when the
output is a sequence, the loss. Backward runs them in reverse. Parameters are named
"<layer name>.<param name>" (`named_params()`), the names used in saved files.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import callbacks as callbacks_module
from . import config, losses, native, optimizers
from . import metrics as metrics_module
from ._validation import describe
from .io import register_model_class, save_model
from .layers.base import Layer, layer_from_config, unique_name
from .layers.embedding import Embedding
from .layers.recurrent import Recurrent
from .summary import SEQUENTIAL_WIDTHS, param_totals, render_table


class NonFiniteError(FloatingPointError):
    """A layer produced NaN or Inf; `where` names the layer (and the batch when training)."""

    def __init__(self, where: str):
        super().__init__(f"first non-finite value in {where}")
        self.where = where


class History(callbacks_module.Callback):
    """Records the logs of every epoch: history.history["loss"] is a list, one value per epoch."""

    def __init__(self):
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


@register_model_class
class Sequential:
    """A linear stack of layers.

    Arguments: layers (list of Layer), name, seed (for shuffling in fit; layers keep their own).
    """

    def __init__(
        self,
        layers: Iterable[Layer] | None = None,
        name: str | None = None,
        seed: int | None = None,
    ):
        self.name = name or unique_name("sequential")
        self.layers: list[Layer] = []
        self.seed = seed
        self.rng = config.spawn_rng(seed)
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.metrics: list[metrics_module.Metric] = []
        self.stop_training = False
        self.nonfinite_report: str | None = None
        self.input_shape: tuple | None = None
        self._output_mask: np.ndarray | None = None
        self._last_weight = 0
        #: JSON-serialisable facts saved with the model (e.g. {"vocab": [...]} for text models)
        self.metadata: dict[str, Any] = {}
        for layer in layers or []:
            self.add(layer)

    # -- structure --------------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential {self.name!r}: expected a Layer, got {describe(layer)}")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(
                f"Sequential {self.name!r}: two layers named {layer.name!r}; "
                f"layer names must be unique within a model"
            )
        self.layers.append(layer)
        if len(self.layers) == 1 and layer.declared_input_shape is not None:
            self.input_shape = layer.declared_input_shape  # Keras' input_shape= on the first
        if self.input_shape is not None:
            self.build(self.input_shape)  # as in Keras, a model with an input shape is built

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(layer.built for layer in self.layers)

    def build(self, input_shape) -> None:
        """Build every layer for inputs of `input_shape` (without the batch axis)."""
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r}: the model has no layers")
        shape = tuple(input_shape)
        self.input_shape = shape
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = tuple(layer.compute_output_shape(shape))

    @property
    def input_is_ids(self) -> bool:
        return bool(self.layers) and isinstance(self.layers[0], Embedding)

    def recurrent_layers(self) -> list[Recurrent]:
        """The recurrent layers, including the two inside each Bidirectional."""
        found = []
        for layer in self.layers:
            stack = [layer]
            while stack:
                current = stack.pop(0)
                if isinstance(current, Recurrent):
                    found.append(current)
                stack.extend(current.sublayers())
        return found

    def named_params(self) -> dict[str, np.ndarray]:
        """The live parameter arrays, named "<layer>.<param>", in layer order."""
        return {f"{layer.name}.{k}": v for layer in self.layers for k, v in layer.params.items()}

    def named_grads(self) -> dict[str, np.ndarray]:
        return {f"{layer.name}.{k}": v for layer in self.layers for k, v in layer.grads.items()}

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    def get_weights(self) -> list[np.ndarray]:
        """Every layer's get_weights(), one after another (Keras' order and shapes)."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list[np.ndarray]) -> None:
        """From a list like get_weights() returns; each layer checks its shapes."""
        counts = [len(layer.get_weights()) for layer in self.layers]
        if not isinstance(weights, (list, tuple)) or len(weights) != sum(counts):
            raise ValueError(
                f"Sequential {self.name!r}: expected {sum(counts)} arrays, got {describe(weights)}"
            )
        start = 0
        for layer, n in zip(self.layers, counts, strict=True):
            layer.set_weights(list(weights[start : start + n]))
            start += n

    def reset_states(self) -> None:
        for layer in self.recurrent_layers():
            layer.reset_states()

    # -- forward / backward -----------------------------------------------------------------------
    def forward(self, x, mask=None, training: bool = False):
        """Run every layer; returns the last layer's output. Builds lazily."""
        if not self.layers:
            raise ValueError(f"Sequential {self.name!r}: the model has no layers")
        if self.input_shape is None and isinstance(x, np.ndarray) and x.ndim >= 2:
            self.input_shape = tuple(x.shape[1:])
        y = x
        for layer in self.layers:
            try:
                out = layer.forward(y, mask=mask, training=training)
            except FloatingPointError as err:  # np.seterr(all="raise") in the caller
                raise NonFiniteError(f"the output of {layer.who} ({err})") from None
            mask = layer.compute_mask(mask, inputs=y)
            if isinstance(out, np.ndarray) and out.dtype.kind == "f" and not np.isfinite(out).all():
                raise NonFiniteError(f"the output of {layer.who}")
            y = out
        self._output_mask = mask
        return y

    __call__ = forward

    @property
    def output_mask(self) -> np.ndarray | None:
        """The mask that came out of the last forward (e.g. from Embedding(mask_zero=True))."""
        return self._output_mask

    def backward(self, dy):
        """Backpropagate dL/dy through every layer (reverse order); fills every layer's grads."""
        for layer in reversed(self.layers):
            try:
                dy = layer.backward(dy)
            except FloatingPointError as err:
                raise NonFiniteError(f"the backward pass of {layer.who} ({err})") from None
            if dy is None:
                break
        return dy

    # -- training ---------------------------------------------------------------------------------
    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "adam",
        loss: str | losses.Loss = "mse",
        metrics: list | None = None,
    ) -> None:
        """Choose the optimizer, the loss and the metrics (Keras names or objects)."""
        self.optimizer = optimizers.get(optimizer)
        self.loss = losses.get(loss)
        from_logits = bool(getattr(self.loss, "from_logits", False))
        self.metrics = [metrics_module.get(m, from_logits=from_logits) for m in (metrics or [])]

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"Sequential {self.name!r}: call compile() before {what}()")

    def _loss_mask(self, y_pred: np.ndarray, sample_mask: np.ndarray | None):
        """The mask the loss sees: the model's output mask combined with a user mask."""
        mask = self._output_mask
        positions = y_pred.shape[:-1]
        if mask is not None and mask.shape != positions:
            mask = None  # e.g. a sequence mask after a layer that returned the last step only
        if sample_mask is not None:
            mask = sample_mask if mask is None else (mask & sample_mask)
        return mask

    def _apply_gradients(self) -> None:
        """One optimizer step with the layers' gradients, after the backward pass. Raises
        NonFiniteError naming the first gradient that is not finite (nothing updated)."""
        grads = self.named_grads()
        for key, g in grads.items():
            if not native.all_finite(g):
                raise NonFiniteError(f"the gradient of {key}")
        self.optimizer.step(self.named_params(), grads)

    def train_on_batch(
        self, x, y, sample_mask=None, reset_metrics: bool = True
    ) -> dict[str, float]:
        """One optimizer step on one batch; returns {"loss": ..., metric names: ...}.

        With reset_metrics=False the metrics accumulate across calls (fit uses this so that an
        epoch's metric is computed over all its batches, not averaged from batch values).
        Nothing is updated when the loss or a gradient is not finite: the returned loss is then
        NaN and `nonfinite_report` says where it first appeared.
        """
        self._require_compiled("train_on_batch")
        try:
            y_pred = self.forward(x, training=True)
        except NonFiniteError as err:
            self.nonfinite_report = str(err)
            return {"loss": math.nan}
        mask = self._loss_mask(y_pred, sample_mask)
        self._last_weight = int(np.prod(y_pred.shape[:-1])) if mask is None else int(mask.sum())
        try:
            value, dy = self.loss.value_and_grad(y, y_pred, mask)
        except FloatingPointError:
            value = math.nan
        if not math.isfinite(value):
            self.nonfinite_report = "first non-finite value in the loss"
            return {"loss": math.nan}
        try:
            self.backward(dy)
            self._apply_gradients()
        except NonFiniteError as err:
            self.nonfinite_report = str(err)
            return {"loss": math.nan}
        logs = {"loss": value}
        for m in self.metrics:
            if reset_metrics:
                m.reset()
            m.update(y, y_pred, mask)
            logs[m.name] = m.result()
        return logs

    def fit(
        self,
        x,
        y,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data=None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        callbacks: list | None = None,
        verbose: int = 1,
        initial_epoch: int = 0,
        sample_mask=None,
    ) -> History:
        """Train for `epochs` passes over (x, y), Keras style. Returns a History.

        x: (N, T, I) floats or (N, T) token ids; y: targets for the loss; sample_mask:
        optional (N, T) bool mask of the positions that count. validation_data: (x, y) or
        (x, y, mask); validation_split takes the last fraction of the data (before shuffling),
        as Keras does. A TerminateOnNaN callback is always active.
        """
        self._require_compiled("fit")
        x, y = self._check_xy(x, y, "fit")
        _check_positive_int(epochs, "fit", "epochs")
        _check_positive_int(batch_size, "fit", "batch_size")
        if not isinstance(validation_split, numbers.Real) or not 0 <= validation_split < 1:
            raise ValueError(f"fit: expected validation_split in [0, 1), got {validation_split!r}")
        if sample_mask is not None:
            sample_mask = _check_sample_mask(sample_mask, x, "fit")
        if validation_data is None and validation_split > 0:
            n_val = round(len(x) * validation_split)
            if n_val == 0 or n_val == len(x):
                raise ValueError(
                    f"fit: validation_split={validation_split} of {len(x)} samples "
                    f"leaves an empty training or validation set"
                )
            validation_data = (x[-n_val:], y[-n_val:]) + (
                () if sample_mask is None else (sample_mask[-n_val:],)
            )
            x, y = x[:-n_val], y[:-n_val]
            sample_mask = None if sample_mask is None else sample_mask[:-n_val]

        history = History()
        cb_list = list(callbacks or [])
        if not any(isinstance(c, callbacks_module.TerminateOnNaN) for c in cb_list):
            cb_list.append(callbacks_module.TerminateOnNaN())
        cbs = callbacks_module.CallbackList([*cb_list, history], model=self)
        self.stop_training = False
        self.nonfinite_report = None
        n = len(x)
        steps = math.ceil(n / batch_size)
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            totals = _RunningMeans()
            for m in self.metrics:
                m.reset()
            bar = _progress(steps, f"epoch {epoch + 1}/{epochs}", verbose)
            for step in range(steps):
                idx = order[step * batch_size : (step + 1) * batch_size]
                cbs.on_train_batch_begin(step)
                m = None if sample_mask is None else sample_mask[idx]
                logs = self.train_on_batch(x[idx], y[idx], m, reset_metrics=False)
                totals.add({"loss": logs["loss"]}, self._last_weight)
                cbs.on_train_batch_end(step, dict(logs))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{totals.mean('loss'):.4f}")
                if self.stop_training:
                    break
            if bar is not None:
                bar.close()
            epoch_logs = {"loss": totals.mean("loss")}
            epoch_logs.update({m.name: m.result() for m in self.metrics})
            if validation_data is not None and not self.stop_training:
                val = self.evaluate(
                    *validation_data[:2],
                    batch_size=batch_size,
                    sample_mask=(validation_data[2] if len(validation_data) > 2 else None),
                    return_dict=True,
                    callbacks=cbs,
                )
                epoch_logs.update({f"val_{k}": v for k, v in val.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if verbose:
                print(
                    f"epoch {epoch + 1}/{epochs}: "
                    + ", ".join(f"{k} {v:.4f}" for k, v in epoch_logs.items())
                )
            if self.stop_training:
                if self.nonfinite_report and verbose:
                    print(f"training stopped: {self.nonfinite_report}")
                break
        cbs.on_train_end()
        return history

    def evaluate(
        self,
        x,
        y,
        batch_size: int = 32,
        sample_mask=None,
        verbose: int = 0,
        return_dict: bool = False,
        callbacks: list | None = None,
    ):
        """Loss (and metrics) over (x, y), weighted by valid positions. Keras' return shape:
        the loss alone, or [loss, *metrics]; a dict with return_dict=True.

        callbacks get on_test_begin, on_test_batch_begin/end (running logs) and on_test_end
        (the results); fit passes its own, so its validation runs these hooks too.
        """
        self._require_compiled("evaluate")
        x, y = self._check_xy(x, y, "evaluate")
        _check_positive_int(batch_size, "evaluate", "batch_size")
        if sample_mask is not None:
            sample_mask = _check_sample_mask(sample_mask, x, "evaluate")
        cbs = _callback_list(callbacks, self)
        cbs.on_test_begin()
        totals = _RunningMeans()
        for m in self.metrics:
            m.reset()
        for batch, start in enumerate(range(0, len(x), batch_size)):
            cbs.on_test_batch_begin(batch)
            sl = slice(start, start + batch_size)
            with config.no_grad():
                y_pred = self.forward(x[sl], training=False)
            mask = self._loss_mask(y_pred, None if sample_mask is None else sample_mask[sl])
            value = self.loss(y[sl], y_pred, mask)
            weight = int(np.prod(y_pred.shape[:-1])) if mask is None else int(mask.sum())
            totals.add({"loss": value}, weight)
            for m in self.metrics:
                m.update(y[sl], y_pred, mask)
            cbs.on_test_batch_end(
                batch, {"loss": totals.mean("loss"), **{m.name: m.result() for m in self.metrics}}
            )
        result = {"loss": totals.mean("loss")}
        result.update({m.name: m.result() for m in self.metrics})
        cbs.on_test_end(dict(result))
        if verbose:
            print(", ".join(f"{k} {v:.4f}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if not self.metrics else list(result.values())

    def predict(self, x, batch_size: int = 32, callbacks: list | None = None) -> np.ndarray:
        """The model's output for x, computed in batches (builds lazily). callbacks get
        on_predict_begin, on_predict_batch_begin/end ({"outputs": the batch's output}) and
        on_predict_end."""
        x = self._check_x(x, "predict")
        _check_positive_int(batch_size, "predict", "batch_size")
        cbs = _callback_list(callbacks, self)
        cbs.on_predict_begin()
        outs = []
        for batch, start in enumerate(range(0, len(x), batch_size)):
            cbs.on_predict_batch_begin(batch)
            with config.no_grad():
                outs.append(self.forward(x[start : start + batch_size]))
            cbs.on_predict_batch_end(batch, {"outputs": outs[-1]})
        cbs.on_predict_end()
        return np.concatenate(outs, axis=0)

    # -- description and files --------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """Keras' table of layers, output shapes and parameter counts (also returned as text)."""
        rows = [("Layer (type)", "Output shape", "Params")]
        shape = self.input_shape
        for layer in self.layers:
            if shape is not None and layer.built:
                shape = tuple(layer.compute_output_shape(shape))
                shown = str((None, *shape))
            else:
                shape, shown = None, "(unbuilt)"
            rows.append(
                (f"{layer.name} ({type(layer).__name__})", shown, f"{layer.count_params():,}")
            )
        header = ("Layer (type)", "Output Shape", "Param #")
        totals = param_totals(self.named_params().values())
        out = render_table(
            self.name, header, rows[1:], (False, False, True), SEQUENTIAL_WIDTHS, totals
        )
        if print_fn is not None:
            print_fn(out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": "Sequential",
            "name": self.name,
            "seed": self.seed,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "layers": [layer.get_config() for layer in self.layers],
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Sequential:
        """Rebuild (and build, when the config has an input_shape) a model from get_config()."""
        if not isinstance(cfg, dict) or cfg.get("class_name") != "Sequential":
            raise ValueError(
                f"Sequential.from_config: expected a Sequential config, got {describe(cfg)}"
            )
        layers = cfg.get("layers")
        if not isinstance(layers, list):
            raise ValueError("Sequential.from_config: expected 'layers' to be a list")
        model = cls(
            [layer_from_config(c) for c in layers], name=cfg.get("name"), seed=cfg.get("seed")
        )
        metadata = cfg.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError(
                f"Sequential.from_config: expected 'metadata' to be a dict, "
                f"got {describe(metadata)}"
            )
        model.metadata = metadata
        shape = cfg.get("input_shape")
        if shape is not None:
            if not isinstance(shape, list) or not all(
                s is None or (isinstance(s, int) and s > 0) for s in shape
            ):
                raise ValueError(f"Sequential.from_config: bad input_shape {shape!r}")
            model.build(tuple(shape))
        return model

    def save(self, path) -> None:
        """Write the model (config + weights) to one safetensors file, atomically."""
        save_model(self, path)

    # -- validation -------------------------------------------------------------------------------
    def _check_x(self, x, where: str) -> np.ndarray:
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{where}: expected x as a NumPy array, got {describe(x)}")
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"{where}: expected a non-empty batch of samples, got shape {x.shape}")
        return x

    def _check_xy(self, x, y, where: str):
        x = self._check_x(x, where)
        if isinstance(y, (list, tuple)):
            y = np.asarray(y)
        if not isinstance(y, np.ndarray):
            raise TypeError(f"{where}: expected y as a NumPy array, got {describe(y)}")
        if len(y) != len(x):
            raise ValueError(f"{where}: x has {len(x)} samples but y has {len(y)}")
        return x, y


def _check_positive_int(value, where: str, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{where}: expected {name} to be a positive int, got {value!r}")


def _callback_list(callbacks, model: Sequential) -> callbacks_module.CallbackList:
    """callbacks (None, a list, or fit's own CallbackList) as a CallbackList bound to model."""
    if isinstance(callbacks, callbacks_module.CallbackList):
        return callbacks
    return callbacks_module.CallbackList(callbacks, model=model)


def _check_sample_mask(mask, x: np.ndarray, where: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise TypeError(f"{where}: expected sample_mask as a bool array, got {describe(mask)}")
    if len(mask) != len(x):
        raise ValueError(f"{where}: sample_mask has {len(mask)} rows, x has {len(x)}")
    return mask


class _RunningMeans:
    """Means of logged values weighted by the number of valid positions of each batch."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.weight = 0

    def add(self, logs: dict[str, float], weight: int) -> None:
        self.weight += weight
        for k, v in logs.items():
            self.sums[k] = self.sums.get(k, 0.0) + float(v) * weight

    def mean(self, key: str) -> float:
        return self.sums.get(key, math.nan) / max(self.weight, 1)


def _progress(total: int, desc: str, verbose: int):
    if verbose != 1:
        return None
    from tqdm.auto import tqdm

    # disable=None: no bar when stderr is not a terminal (the epoch lines are printed anyway)
    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True, disable=None)
