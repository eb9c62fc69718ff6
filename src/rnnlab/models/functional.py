"""Model(inputs, outputs): Keras' functional models — several inputs and outputs, shared tensors,
states passed between layers — with Sequential's compile / fit / evaluate / predict / save.

    encoder_inputs = Input(shape=(None, n_in))
    _, h, c = layers.LSTM(64, return_state=True)(encoder_inputs)
    decoder_inputs = Input(shape=(None, n_out))
    seq = layers.LSTM(64, return_sequences=True)(decoder_inputs, initial_state=[h, c])
    outputs = layers.Dense(n_out, activation="softmax")(seq)
    model = Model([encoder_inputs, decoder_inputs], outputs)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit([x_enc, x_dec], y, epochs=10, validation_split=0.1)

Model is a Sequential whose layers run as a graph (rnnlab.models.graph): `fit`'s epoch loop
(shuffling, validation_split, callbacks, History, the progress bar) is Sequential's own; this
class supplies what differs — data as one array per input and per output (a list in the order
of `inputs` / `outputs`, or a dict by Input name / output name), a loss per output,

    loss = Σ_k loss_weights[k] · loss_k(y_k, ŷ_k)          (outputs without a loss add nothing)

metrics per output (named "<output>_<metric>" when there are several outputs, with
"<output>_loss" too, as Keras logs them), the graph's forward and backward, its summary and its
config. A model with one output weighs its epoch mean by valid positions as Sequential does;
with several, by samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import callbacks as callbacks_module
from .. import config, losses, optimizers
from .. import metrics as metrics_module
from .._validation import describe
from ..io import register_model_class
from ..layers.base import layer_from_config, unique_name
from ..layers.symbolic import SymbolicTensor, is_symbolic
from ..model import NonFiniteError, Sequential
from ..summary import FUNCTIONAL_WIDTHS, param_totals, render_table, shape_text
from .graph import Graph


class Batch:
    """Several arrays of one length (a model's inputs or targets), indexed together:
    len(b), b[idx] (a slice, ints or a bool mask) -> Batch. What fit shuffles and slices."""

    def __init__(self, arrays: list[np.ndarray]):
        self.arrays = list(arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index) -> Batch:
        return Batch([a[index] for a in self.arrays])

    def __repr__(self) -> str:
        return f"Batch({[a.shape for a in self.arrays]})"


class _OutputMetric:
    """A metric of output k under its log name (fit reads name, reset(), result())."""

    def __init__(self, metric, index: int, name: str):
        self.metric, self.index, self.name = metric, index, name

    def reset(self) -> None:
        self.metric.reset()

    def update(self, ys: list, preds: list, masks: list) -> None:
        k = self.index
        self.metric.update(ys[k], preds[k], masks[k])

    def result(self) -> float:
        return self.metric.result()


class _Mean:
    """A weighted running mean (the epoch's loss, or one output's loss, under `name`)."""

    def __init__(self, name: str = "loss"):
        self.name = name
        self.reset()

    def reset(self) -> None:
        self.total, self.weight = 0.0, 0

    def add(self, value: float, weight: int) -> None:
        self.total += float(value) * weight
        self.weight += weight

    def result(self) -> float:
        return self.total / self.weight if self.weight else math.nan


def _as_list(value, who: str, what: str) -> tuple[list, str, list[str] | None]:
    """(tensors, "single" | "list" | "dict", dict keys) of a model's inputs or outputs."""
    if isinstance(value, SymbolicTensor):
        return [value], "single", None
    if isinstance(value, Mapping):
        if what == "outputs":
            raise NotImplementedError(
                f"{who}: outputs given as a dict are not supported; "
                f"give a list (losses and metrics may still be dicts "
                f"keyed by the output layers' names)"
            )
        return list(value.values()), "dict", [str(k) for k in value]
    if isinstance(value, (list, tuple)) and value:
        return list(value), "list", None
    raise TypeError(
        f"{who}: expected {what} as a symbolic tensor, a non-empty list of them "
        f"or a dict, got {describe(value)}"
    )


@register_model_class
class Model(Sequential):
    """A graph of layers from Input() tensors to output tensors (Keras' functional Model).

    Arguments: inputs (an Input tensor, a list of them, or a dict name -> tensor), outputs (a
    tensor or a list), name, seed (for shuffling in fit).
    Data: one array per input (a list in the order of `inputs`, or a dict by name); predict()
    returns one array per output (a list when there are several).
    """

    def __init__(
        self, inputs=None, outputs=None, name: str | None = None, seed: int | None = None, **kwargs
    ):
        if inputs is None or outputs is None:
            raise NotImplementedError(
                "Model: subclassed models (Model() without inputs and outputs) are not "
                "supported; build one from rnnlab.models.Input() and layers called on it"
            )
        if kwargs:
            raise TypeError(
                f"Model: unexpected arguments {sorted(kwargs)} (expected inputs, "
                f"outputs, name, seed)"
            )
        who = f"Model {name!r}" if name else "Model"
        in_list, self.input_structure, keys = _as_list(inputs, who, "inputs")
        out_list, self.output_structure, _ = _as_list(outputs, who, "outputs")
        graph = Graph(in_list, out_list, who)
        super().__init__(None, name=name or unique_name("functional"), seed=seed)
        for layer in graph.layers:
            Sequential.add(self, layer)
        self.graph = graph
        self.input_names = keys or [t.node.layer.name for t in in_list]
        names = [t.node.layer.name for t in out_list]
        self.output_names = [
            n if names.count(n) == 1 else f"{n}_{t.index}"
            for n, t in zip(names, out_list, strict=True)
        ]
        self.input_shape = in_list[0].shape[1:] if len(in_list) == 1 else None
        self.loss_functions: list[losses.Loss | None] = []
        self.loss_weights: list[float] = []
        self._output_masks: list = []

    @property
    def inputs(self) -> list[SymbolicTensor]:
        return list(self.graph.inputs)

    @property
    def outputs(self) -> list[SymbolicTensor]:
        return list(self.graph.outputs)

    # -- structure --------------------------------------------------------------------------------
    def add(self, layer) -> None:
        raise TypeError(
            f"{self.who}: a functional model's layers come from its graph; call "
            f"the layer on a tensor and build a new Model instead of add()"
        )

    @property
    def who(self) -> str:
        return f"Model {self.name!r}"

    def _require_compiled(self, what: str) -> None:
        if self.optimizer is None or self.loss is None:
            raise RuntimeError(f"{self.who}: call compile() before {what}()")

    def build(self, input_shape=None) -> None:
        """A functional model is built when it is made (its Input shapes); nothing to do."""

    # -- forward / backward -----------------------------------------------------------------------
    def __call__(self, x, mask=None, training: bool = False):
        if is_symbolic(x):
            raise NotImplementedError(
                f"{self.who}: calling a model on symbolic tensors (a "
                f"model as a layer of another) is not supported; build "
                f"the outer model from the layers themselves"
            )
        return self.forward(x, mask=mask, training=training)

    def forward(self, x, mask=None, training: bool = False):
        """The output (a list when there are several) for x: one array per input."""
        values = self._input_arrays(x, "forward")
        masks = self._input_masks(mask)
        outs, self._output_masks = self.graph.forward(values, masks, training)
        self._output_mask = self._output_masks[0]
        return outs[0] if len(outs) == 1 else outs

    def backward(self, dy):
        """∂L/∂inputs given ∂L/∂outputs (a list when there are several); fills layer grads."""
        dys = [dy] if len(self.graph.outputs) == 1 else self._list(dy, "dy", self.output_names)
        dx = self.graph.backward(dys)
        return dx[0] if len(dx) == 1 else dx

    # -- training ---------------------------------------------------------------------------------
    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "adam",
        loss="mse",
        metrics: list | Mapping | None = None,
        loss_weights=None,
    ) -> None:
        """optimizer; loss: one for every output, a list (one per output, None for none) or a
        dict by output name; metrics: a list for every output, a list of lists or a dict;
        loss_weights: a list or dict of floats (default 1)."""
        n = len(self.output_names)
        self.optimizer = optimizers.get(optimizer)
        per_loss = self._per_output(loss, "loss")
        self.loss_functions = [None if v is None else losses.get(v) for v in per_loss]
        if all(f is None for f in self.loss_functions):
            raise ValueError(f"{self.who}: compile() needs a loss for at least one output")
        weights = self._per_output(1.0 if loss_weights is None else loss_weights, "loss_weights")
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
                raise ValueError(
                    f"{self.who}: expected loss_weights to be finite numbers, got {loss_weights!r}"
                )
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        self.loss = self.loss_functions[0] if n == 1 else tuple(self.loss_functions)
        if metrics is not None and not isinstance(metrics, (list, tuple, Mapping)):
            raise TypeError(
                f"{self.who}: expected metrics as a list or a dict, got {describe(metrics)}"
            )
        nested = isinstance(metrics, Mapping) or (
            bool(metrics) and all(isinstance(m, (list, tuple)) or m is None for m in metrics)
        )
        per_metrics = self._per_output(metrics, "metrics") if nested else [metrics] * n
        self.metrics = []
        if n > 1:
            self.metrics += [
                _Mean(f"{name}_loss")
                for name, f in zip(self.output_names, self.loss_functions, strict=True)
                if f
            ]
        for k, (name, items) in enumerate(zip(self.output_names, per_metrics, strict=True)):
            from_logits = bool(getattr(self.loss_functions[k], "from_logits", False))
            for item in (
                [] if items is None else (items if isinstance(items, (list, tuple)) else [items])
            ):
                metric = metrics_module.get(item, from_logits=from_logits)
                label = metric.name if n == 1 else f"{name}_{metric.name}"
                self.metrics.append(_OutputMetric(metric, k, label))

    def train_on_batch(
        self, x, y, sample_mask=None, reset_metrics: bool = True
    ) -> dict[str, float]:
        """One optimizer step on one batch; returns {"loss": ..., metric names: ...}.

        As Sequential.train_on_batch: nothing is updated when the loss or a gradient is not
        finite (the loss is then NaN and `nonfinite_report` says where it first appeared)."""
        self._require_compiled("train_on_batch")
        ys = self._target_arrays(y, "train_on_batch")
        try:
            preds = self._predict_list(x, training=True)
        except NonFiniteError as err:
            self.nonfinite_report = str(err)
            return {"loss": math.nan}
        masks = self._loss_masks(preds, sample_mask)
        total, d_preds, values = 0.0, [], {}
        for k, (fn, w) in enumerate(zip(self.loss_functions, self.loss_weights, strict=True)):
            if fn is None:
                d_preds.append(None)
                continue
            try:
                value, grad = fn.value_and_grad(ys[k], preds[k], masks[k])
            except FloatingPointError:
                value = math.nan
            if not math.isfinite(value):
                self.nonfinite_report = (
                    f"first non-finite value in the loss of output {self.output_names[k]!r}"
                )
                return {"loss": math.nan}
            total += w * value
            values[k] = value
            d_preds.append(grad if w == 1.0 else grad * grad.dtype.type(w))
        self._last_weight = self._batch_weight(preds, masks)
        try:
            self.graph.backward(d_preds)
            self._apply_gradients()
        except NonFiniteError as err:
            self.nonfinite_report = str(err)
            return {"loss": math.nan}
        return self._update_metrics({"loss": total}, ys, preds, masks, values, reset_metrics)

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
        """Loss (and metrics) over (x, y), Keras' return shape: the loss alone, or
        [loss, *metrics]; a dict with return_dict=True. Callbacks as Sequential.evaluate."""
        self._require_compiled("evaluate")
        x, y = self._check_xy(x, y, "evaluate")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"evaluate: expected batch_size to be a positive int, got {batch_size!r}"
            )
        if sample_mask is not None and (
            not isinstance(sample_mask, np.ndarray)
            or sample_mask.dtype != np.bool_
            or len(sample_mask) != len(x)
        ):
            raise ValueError(
                f"evaluate: expected sample_mask as a bool array with {len(x)} "
                f"rows, got {describe(sample_mask)}"
            )
        cbs = (
            callbacks
            if isinstance(callbacks, callbacks_module.CallbackList)
            else callbacks_module.CallbackList(callbacks, model=self)
        )
        cbs.on_test_begin()
        mean = _Mean()
        for m in self.metrics:
            m.reset()
        for batch, start in enumerate(range(0, len(x), batch_size)):
            cbs.on_test_batch_begin(batch)
            sl = slice(start, start + batch_size)
            ys = self._target_arrays(y[sl], "evaluate")
            with config.no_grad():
                preds = self._predict_list(x[sl], training=False)
            masks = self._loss_masks(preds, None if sample_mask is None else sample_mask[sl])
            values = {
                k: fn(ys[k], preds[k], masks[k])
                for k, fn in enumerate(self.loss_functions)
                if fn is not None
            }
            total = sum(self.loss_weights[k] * v for k, v in values.items())
            mean.add(total, self._batch_weight(preds, masks))
            logs = self._update_metrics({}, ys, preds, masks, values, reset=False)
            cbs.on_test_batch_end(batch, {"loss": mean.result(), **logs})
        result = {"loss": mean.result(), **{m.name: m.result() for m in self.metrics}}
        cbs.on_test_end(dict(result))
        if verbose:
            print(", ".join(f"{k} {v:.4f}" for k, v in result.items()))
        if return_dict:
            return result
        return result["loss"] if not self.metrics else list(result.values())

    def predict(self, x, batch_size: int = 32, callbacks: list | None = None):
        """The outputs for x, computed in batches: an array, or a list (several outputs)."""
        x = self._check_x(x, "predict")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"predict: expected batch_size to be a positive int, got {batch_size!r}"
            )
        cbs = callbacks_module.CallbackList(callbacks, model=self)
        cbs.on_predict_begin()
        parts: list[list[np.ndarray]] = [[] for _ in self.output_names]
        for batch, start in enumerate(range(0, len(x), batch_size)):
            cbs.on_predict_batch_begin(batch)
            with config.no_grad():
                outs = self._predict_list(x[start : start + batch_size], training=False)
            for part, out in zip(parts, outs, strict=True):
                part.append(out)
            cbs.on_predict_batch_end(batch, {"outputs": outs[0] if len(outs) == 1 else outs})
        cbs.on_predict_end()
        result = [np.concatenate(p, axis=0) for p in parts]
        return result[0] if len(result) == 1 else result

    # -- description and files --------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], Any] | None = print) -> str:
        """Keras' table: layer (type), output shape, params, connected to; totals."""
        rows = []
        for layer in self.layers:
            nodes = self.graph.layer_nodes(layer)
            shapes = [t.shape for t in nodes[0].outputs]
            links = []
            for t in [*nodes[0].inputs, *nodes[0].states]:
                producer = t.node.layer
                index = self.graph.layer_nodes(producer).index(t.node)
                links.append(f"{producer.name}[{index}][{t.index}]")
            rows.append(
                (
                    f"{layer.name} ({type(layer).__name__})",
                    shape_text(shapes[0] if len(shapes) == 1 else shapes),
                    f"{layer.count_params():,}",
                    ",\n".join(links) or "-",
                )
            )
        header = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        totals = param_totals(self.named_params().values())
        text = render_table(
            self.name, header, rows, (False, False, True, False), FUNCTIONAL_WIDTHS, totals
        )
        if print_fn is not None:
            print_fn(text)
        return text

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": "Model",
            "name": self.name,
            "seed": self.seed,
            "layers": [layer.get_config() for layer in self.layers],
            "graph": self.graph.get_config(),
            "input_structure": self.input_structure,
            "input_names": self.input_names,
            "output_structure": self.output_structure,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Model:
        """Rebuild (built, with fresh weights) a model from get_config()."""
        who = "Model.from_config"
        if not isinstance(cfg, dict) or cfg.get("class_name") != "Model":
            raise ValueError(f"{who}: expected a Model config, got {describe(cfg)}")
        if not isinstance(cfg.get("layers"), list):
            raise ValueError(f"{who}: expected 'layers' to be a list")
        layers = [layer_from_config(c) for c in cfg["layers"]]
        by_name = {layer.name: layer for layer in layers}
        if len(by_name) != len(layers):
            raise ValueError(f"{who}: two layers share a name")
        inputs, outputs = Graph.rebuild(cfg.get("graph"), by_name, who)
        kind, names = cfg.get("input_structure"), cfg.get("input_names")
        if kind == "dict":
            if not isinstance(names, list) or len(names) != len(inputs):
                raise ValueError(f"{who}: expected 'input_names' for the {len(inputs)} inputs")
            inputs = dict(zip(names, inputs, strict=True))
        elif kind == "single":
            inputs = inputs[0]
        if cfg.get("output_structure") == "single":
            outputs = outputs[0]
        model = cls(inputs, outputs, name=cfg.get("name"), seed=cfg.get("seed"))
        metadata = cfg.get("metadata", {})
        if not isinstance(metadata, dict):
            raise ValueError(f"{who}: expected 'metadata' to be a dict, got {describe(metadata)}")
        model.metadata = metadata
        return model

    # -- data -------------------------------------------------------------------------------------
    def _list(self, value, what: str, names: list[str]) -> list:
        """One entry per name, from a list/tuple in order or a dict by name."""
        if isinstance(value, Batch):
            value = value.arrays
        if isinstance(value, Mapping):
            missing = [n for n in names if n not in value]
            extra = [k for k in value if k not in names]
            if missing or extra:
                raise ValueError(
                    f"{self.who}: expected {what} keyed by {names}, got keys {list(value)}"
                )
            return [value[n] for n in names]
        if isinstance(value, (list, tuple)) and len(value) == len(names):
            return list(value)
        raise ValueError(
            f"{self.who}: expected {what} as a list of {len(names)} arrays (for "
            f"{names}) or a dict by name, got {describe(value)}"
        )

    def _arrays(self, value, what: str, names: list[str], where: str) -> list[np.ndarray]:
        if len(names) == 1:
            if isinstance(value, Batch):
                value = value.arrays[0]
            elif isinstance(value, Mapping):
                value = self._list(value, what, names)[0]
            elif (
                isinstance(value, (list, tuple))
                and len(value) == 1
                and isinstance(value[0], np.ndarray)
            ):
                value = value[0]
            items = [value]
        else:
            items = self._list(value, what, names)
        arrays = []
        for name, a in zip(names, items, strict=True):
            a = np.asarray(a) if isinstance(a, (list, tuple)) else a
            if not isinstance(a, np.ndarray):
                raise TypeError(
                    f"{where}: expected {what} {name!r} as a NumPy array, got {describe(a)}"
                )
            if a.ndim < 1 or len(a) == 0:
                raise ValueError(
                    f"{where}: expected a non-empty batch for {what} {name!r}, got shape {a.shape}"
                )
            arrays.append(a)
        if len({len(a) for a in arrays}) > 1:
            raise ValueError(
                f"{where}: the {what} have different numbers of samples {[len(a) for a in arrays]}"
            )
        return arrays

    def _input_arrays(self, x, where: str) -> list[np.ndarray]:
        return self._arrays(x, "input", self.input_names, where)

    def _target_arrays(self, y, where: str) -> list[np.ndarray]:
        return self._arrays(y, "target", self.output_names, where)

    def _check_x(self, x, where: str):
        """Sequential's hook: one array per input, as an array (one input) or a Batch."""
        arrays = self._input_arrays(x, where)
        return arrays[0] if len(arrays) == 1 else Batch(arrays)

    def _check_xy(self, x, y, where: str):
        """Sequential's hook: inputs and targets of one length, as arrays or Batches."""
        x = self._check_x(x, where)
        ys = self._target_arrays(y, where)
        if len(ys[0]) != len(x):
            raise ValueError(f"{where}: x has {len(x)} samples but y has {len(ys[0])}")
        return x, ys[0] if len(ys) == 1 else Batch(ys)

    def _input_masks(self, mask) -> list:
        if mask is None:
            return [None] * len(self.input_names)
        if len(self.input_names) == 1:
            return [mask]
        return self._list(mask, "masks", self.input_names)

    def _predict_list(self, x, training: bool) -> list[np.ndarray]:
        out = self.forward(x, training=training)
        return [out] if len(self.output_names) == 1 else out

    def _loss_masks(self, preds: list[np.ndarray], sample_mask) -> list:
        """Per output: its mask from the graph combined with a user (N, T) mask of its shape."""
        masks = []
        for pred, mask in zip(preds, self._output_masks, strict=True):
            positions = pred.shape[:-1]
            if mask is not None and mask.shape != positions:
                mask = None
            if sample_mask is not None and sample_mask.shape == positions:
                mask = sample_mask if mask is None else (mask & sample_mask)
            masks.append(mask)
        if sample_mask is not None and not any(p.shape[:-1] == sample_mask.shape for p in preds):
            raise ValueError(
                f"{self.who}: sample_mask of shape {sample_mask.shape} matches the "
                f"positions of no output {[p.shape[:-1] for p in preds]}"
            )
        return masks

    def _batch_weight(self, preds: list[np.ndarray], masks: list) -> int:
        if len(preds) > 1:
            return len(preds[0])
        return int(np.prod(preds[0].shape[:-1])) if masks[0] is None else int(masks[0].sum())

    def _update_metrics(self, logs: dict, ys, preds, masks, values: dict, reset: bool) -> dict:
        weight = self._batch_weight(preds, masks)
        trackers = iter(k for k, f in enumerate(self.loss_functions) if f is not None)
        for m in self.metrics:
            if reset:
                m.reset()
            if isinstance(m, _Mean):
                m.add(values[next(trackers)], weight)
            else:
                m.update(ys, preds, masks)
            logs[m.name] = m.result()
        return logs

    def _per_output(self, value, what: str) -> list:
        """A setting for every output: the same value, a list in output order, or a dict."""
        names = self.output_names
        if isinstance(value, Mapping):
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(
                    f"{self.who}: {what} names unknown outputs {unknown}; the outputs are {names}"
                )
            return [value.get(n) for n in names]
        if isinstance(value, (list, tuple)):
            if len(value) != len(names):
                raise ValueError(
                    f"{self.who}: expected {what} as a list of {len(names)} (one "
                    f"per output {names}), got {len(value)}"
                )
            return list(value)
        return [value] * len(names)
