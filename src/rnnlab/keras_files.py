"""Keras 3 files into rnnlab: `.weights.h5` weights and whole `.keras` models (needs h5py).

    model = rnnlab.keras_files.load_keras_model("model.keras")      # config + weights
    rnnlab.keras_files.load_weights(model, "model.weights.h5")      # into a model you built

What is read, and nothing else: the `.keras` archive's config.json (plain JSON: the layer classes
and their arguments, the functional graph) and its model.weights.h5; no code, no pickle, no
custom objects. Each Keras layer becomes the rnnlab layer of the same name with Keras' bias
convention (bias="keras"), so `layer.set_weights` takes Keras' arrays as they are. Layers,
arguments and features rnnlab does not have raise NotImplementedError naming them (a
regularizer, a constraint, recurrent_activation="hard_sigmoid", ...), never silently dropped.

The weights file holds one group per layer, `layers/<layer name>`, with the layer's arrays in
`vars/0, vars/1, ...` and those of its parts in subgroups (`cell/vars` of a recurrent layer,
`forward_layer/...` and `backward_layer/...` of Bidirectional, `layer/...` of TimeDistributed):
read in that order they are the layer's Keras `get_weights()`. The group of a layer is named
after its class, not the layer ("lstm", "lstm_1" for the model's first and second LSTM):
layers are matched by class and order (`keras_paths`).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from typing import Any

import numpy as np

from . import layers as L
from .layers.base import Layer
from .layers.symbolic import call_layer
from .model import Sequential
from .models.functional import Model

#: subgroups of a layer's group, in the order Keras' get_weights lists their arrays
_PART_ORDER = ("cell", "forward_layer", "backward_layer", "layer")
#: the most a .keras archive member may hold when read (config.json, model.weights.h5)
MAX_MEMBER_BYTES = 2**31
#: Keras arguments that only tell how Keras computes, not what: accepted and ignored
_IGNORED = {
    "trainable",
    "registered_name",
    "module",
    "unroll",
    "use_cudnn",
    "seed",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "embeddings_initializer",
    "build_config",
    "implementation",
    "time_major",
}
#: Keras arguments rnnlab does not have: NotImplementedError unless they hold the default
_UNSUPPORTED_UNLESS = {
    "kernel_regularizer": None,
    "recurrent_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "embeddings_regularizer": None,
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
    "embeddings_constraint": None,
    "quantization_config": None,
    "lora_rank": None,
    "lora_alpha": None,
    "sparse": False,
    "ragged": False,
    "optional": False,
}


class KerasFileError(ValueError):
    """A Keras file rnnlab cannot read: malformed, or naming what rnnlab lacks."""


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "reading Keras weight files needs h5py: pip install 'rnnlab[keras]'"
        ) from None
    return h5py


# -- weights --------------------------------------------------------------------------------------
def _arrays_of(group) -> list[np.ndarray]:
    """A layer group's arrays in Keras get_weights order (its vars, then its parts')."""
    out = []
    if "vars" in group:
        vars_ = group["vars"]
        for key in sorted(vars_, key=lambda k: int(k) if k.isdigit() else 1 << 30):
            out.append(np.asarray(vars_[key]))
    for part in _PART_ORDER:
        if part in group:
            out += _arrays_of(group[part])
    return out


def read_weights(source) -> dict[str, list[np.ndarray]]:
    """{Keras layer name: its arrays in get_weights order} from a .weights.h5 file (a path or a
    binary file object); layers without weights are left out."""
    h5py = _h5py()
    with h5py.File(source, "r") as f:
        if "layers" not in f:
            raise KerasFileError(
                f"{_where(source)}: no 'layers' group; not a Keras 3 .weights.h5 file"
            )
        found = {name: _arrays_of(f["layers"][name]) for name in f["layers"]}
    return {name: arrays for name, arrays in found.items() if arrays}


def keras_paths(model) -> dict[str, Layer]:
    """Where Keras 3 stores each layer of `model` in a weights file: the snake_case of its class
    name, numbered in order among the model's layers of that class ("lstm", "lstm_1", ...;
    Keras does not use layer names there, since they are not reproducible)."""
    seen: dict[str, int] = {}
    paths = {}
    for layer in model.layers:
        name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", type(layer).__name__))
        name = re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
        seen[name] = seen.get(name, -1) + 1
        paths[name if seen[name] == 0 else f"{name}_{seen[name]}"] = layer
    return paths


def load_weights(model, source) -> None:
    """Copy Keras weights (a .weights.h5 path or file object) into an rnnlab model with the
    Keras model's layers, in the same order, with Keras' bias convention (bias="keras").

    Raises KerasFileError naming the layers that are in one but not the other (by their place
    in the file, see keras_paths), and ValueError (from set_weights) naming the layer, the
    expected and the found shapes.
    """
    weights = read_weights(source)
    ours = {path: layer for path, layer in keras_paths(model).items() if layer.count_params()}
    missing = sorted(set(ours) - set(weights))
    extra = sorted(set(weights) - set(ours))
    if missing or extra:
        raise KerasFileError(
            f"{_where(source)}: layers with weights differ: the model has "
            f"{[f'{p} ({ours[p].name})' for p in missing]} which the file lacks, the file has "
            f"{extra} which the model lacks"
        )
    for path, layer in ours.items():
        layer.set_weights(weights[path])


def _where(source) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "Keras weights"


# -- whole models ---------------------------------------------------------------------------------
def load_keras_model(path) -> Sequential | Model:
    """A `.keras` archive as an rnnlab model: its config rebuilt with rnnlab layers (Keras'
    names, bias="keras"), its weights copied. Not compiled (compile() it to train it)."""
    where = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise KerasFileError(f"{where}: not a .keras archive (not a zip file)") from None
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        for needed in ("config.json", "model.weights.h5"):
            if needed not in members:
                raise KerasFileError(f"{where}: the archive has no {needed}")
            if members[needed].file_size > MAX_MEMBER_BYTES:
                raise KerasFileError(f"{where}: {needed} is larger than {MAX_MEMBER_BYTES} bytes")
        try:
            config = json.loads(archive.read("config.json"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise KerasFileError(f"{where}: config.json is not JSON ({err})") from None
        model = from_keras_config(config, where)
        load_weights(model, io.BytesIO(archive.read("model.weights.h5")))
    return model


def from_keras_config(config: dict[str, Any], where: str = "Keras config"):
    """An rnnlab model (fresh weights) from a Keras model config (config.json's content)."""
    if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
        raise KerasFileError(f"{where}: expected a Keras model config, got {str(config)[:80]}")
    kind, body = config.get("class_name"), config["config"]
    if kind == "Sequential":
        specs = body.get("layers")
        if not isinstance(specs, list) or not specs:
            raise KerasFileError(f"{where}: a Sequential config without layers")
        built = [keras_layer(s, where) for s in specs]
        first = built[0]
        model = Sequential(
            [b for b in built if not isinstance(b, L.InputLayer)], name=body.get("name")
        )
        if isinstance(first, L.InputLayer):
            model.build(first.shape)
        else:
            shape = (body.get("build_config") or {}).get("input_shape")
            if not shape:
                raise KerasFileError(f"{where}: a Sequential config without an input shape")
            model.build(tuple(shape[1:]))
        return model
    if kind in ("Functional", "Model"):
        return _functional(body, where)
    raise NotImplementedError(
        f"{where}: Keras model class {kind!r} is not supported (only "
        f"Sequential and functional models)"
    )


def _tensor_ref(arg, where: str):
    if isinstance(arg, dict) and arg.get("class_name") == "__keras_tensor__":
        history = arg.get("config", {}).get("keras_history")
        if isinstance(history, list) and len(history) == 3:
            return tuple(history)
    raise KerasFileError(f"{where}: expected a Keras tensor reference, got {str(arg)[:80]}")


def _tensor(made: dict, arg, reader: str, where: str):
    """The tensor a Keras tensor reference names, made by a layer call before `reader`'s."""
    name, node_index, tensor_index = _tensor_ref(arg, where)
    try:
        return made[(name, node_index)][tensor_index]
    except (KeyError, IndexError):
        raise KerasFileError(
            f"{where}: {reader!r} reads {name}[{node_index}][{tensor_index}], which is not "
            f"made before it"
        ) from None


def _functional(body: dict[str, Any], where: str) -> Model:
    specs = body.get("layers")
    if not isinstance(specs, list):
        raise KerasFileError(f"{where}: a functional config without layers")
    made: dict[tuple[str, int], list] = {}  # (layer name, node index) -> output tensors
    for spec in specs:
        layer = keras_layer(spec, where)
        nodes = spec.get("inbound_nodes", [])
        if isinstance(layer, L.InputLayer):
            made[(layer.name, 0)] = [L.input_layer.input_tensor(layer)]
            continue
        for index, node in enumerate(nodes):
            args, kwargs = node.get("args", []), dict(node.get("kwargs", {}))

            if len(args) != 1:
                raise NotImplementedError(
                    f"{where}: layer {layer.name!r} is called with {len(args)} positional arguments"
                )
            x = (
                [_tensor(made, a, layer.name, where) for a in args[0]]
                if isinstance(args[0], list)
                else _tensor(made, args[0], layer.name, where)
            )
            states = kwargs.pop("initial_state", None)
            if states is not None:
                states = [
                    _tensor(made, s, layer.name, where)
                    for s in (states if isinstance(states, list) else [states])
                ]
            kwargs.pop("mask", None)  # masks flow through the graph as in Keras
            training = kwargs.pop("training", None)
            if kwargs:
                raise NotImplementedError(
                    f"{where}: layer {layer.name!r} is called with "
                    f"{sorted(kwargs)}, which rnnlab does not take"
                )
            out = call_layer(layer, x, initial_state=states, training=training or None)
            made[(layer.name, index)] = out if isinstance(out, list) else [out]

    def ends(key: str):
        refs = body.get(key)
        if isinstance(refs, list) and len(refs) == 3 and isinstance(refs[0], str):
            refs = [refs]
        if not isinstance(refs, list) or not refs:
            raise KerasFileError(f"{where}: expected {key} in the config")
        try:
            return [made[(r[0], r[1])][r[2]] for r in refs]
        except (KeyError, IndexError, TypeError):
            raise KerasFileError(f"{where}: {key} {refs} name tensors the graph lacks") from None

    inputs, outputs = ends("input_layers"), ends("output_layers")
    return Model(
        inputs if len(inputs) > 1 else inputs[0],
        outputs if len(outputs) > 1 else outputs[0],
        name=body.get("name"),
    )


# -- layers ---------------------------------------------------------------------------------------
def _dtype(value, who: str) -> str | None:
    name = value.get("config", {}).get("name") if isinstance(value, dict) else value
    if name is None:
        return None
    if name not in ("float32", "float64"):
        raise NotImplementedError(
            f"{who}: dtype policy {name!r} is not supported (float32 or float64)"
        )
    return name


def keras_layer(spec: dict[str, Any], where: str = "Keras config", in_bidirectional=False) -> Layer:
    """The rnnlab layer for one Keras layer config ({"class_name", "config"})."""
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise KerasFileError(f"{where}: expected a layer config, got {str(spec)[:80]}")
    kind, cfg = spec.get("class_name"), dict(spec["config"])
    who = f"{where}: Keras layer {kind} {cfg.get('name')!r}"
    make = _MAKERS.get(kind)
    if make is None:
        raise NotImplementedError(
            f"{who}: the layer class {kind!r} is not supported by "
            f"rnnlab (supported: {sorted(_MAKERS)})"
        )
    # Keras' zero_output_for_mask=False (its default outside Bidirectional) repeats the last
    # valid output at masked steps where rnnlab outputs 0: only masked positions differ, which
    # losses and the recurrent layers downstream ignore
    cfg.pop("zero_output_for_mask", None)
    if cfg.get("go_backwards") and cfg.get("return_sequences") and not in_bidirectional:
        raise NotImplementedError(
            f"{who}: go_backwards=True with return_sequences=True is not supported: Keras "
            f"returns the outputs in reversed order, rnnlab aligned with the inputs"
        )
    for key, default in _UNSUPPORTED_UNLESS.items():
        if key in cfg and cfg.pop(key) != default:
            raise NotImplementedError(
                f"{who}: {key}={spec['config'][key]!r} is not supported by rnnlab"
            )
    for key in _IGNORED:
        cfg.pop(key, None)
    common = {"name": cfg.pop("name", None)}
    if kind == "InputLayer":  # the data's dtype: token ids may be integers
        cfg["dtype"] = cfg.get("dtype") or "float32"
    else:
        dtype = _dtype(cfg.pop("dtype", None), who)
        if dtype is not None:
            common["dtype"] = dtype
    try:
        return make(cfg, common, where)
    except TypeError as err:
        raise KerasFileError(f"{who}: {err}") from None


def _take(cfg: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The arguments `keys` from cfg (each at most once); what remains must be nothing."""
    out = {k: cfg.pop(k) for k in keys if k in cfg}
    if cfg:
        raise NotImplementedError(f"arguments {sorted(cfg)} are not supported by rnnlab")
    return out


_RECURRENT = (
    "units",
    "activation",
    "recurrent_activation",
    "use_bias",
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "dropout",
    "recurrent_dropout",
)


def _recurrent(cls, extra: tuple[str, ...] = ()):
    def make(cfg, common, where):
        return cls(**_take(cfg, *_RECURRENT, *extra), bias="keras", **common)

    return make


def _wrapped(cfg, where):
    inner = cfg.pop("layer")
    return keras_layer(inner, where)


def _input(cfg, common, where):
    shape = cfg.pop("batch_shape", None)
    if not isinstance(shape, list) or not shape:
        raise KerasFileError(f"{where}: InputLayer {common['name']!r} without a batch_shape")
    kw = _take(cfg, "dtype")
    return L.InputLayer(tuple(shape[1:]), batch_size=shape[0], **kw, **common)


def _bidirectional(cfg, common, where):
    layer = keras_layer(cfg.pop("layer"), where, in_bidirectional=True)
    back = cfg.pop("backward_layer", None)
    backward = None if back is None else keras_layer(back, where, in_bidirectional=True)
    return L.Bidirectional(layer, backward_layer=backward, **_take(cfg, "merge_mode"), **common)


_MAKERS = {
    "InputLayer": _input,
    "Dense": lambda cfg, common, where: L.Dense(
        **_take(cfg, "units", "activation", "use_bias"), **common
    ),
    "Embedding": lambda cfg, common, where: L.Embedding(
        **_take(cfg, "input_dim", "output_dim", "mask_zero"), **common
    ),
    "SimpleRNN": _recurrent(L.SimpleRNN),
    "LSTM": _recurrent(L.LSTM, ("unit_forget_bias",)),
    "GRU": _recurrent(L.GRU, ("reset_after",)),
    "Bidirectional": _bidirectional,
    "TimeDistributed": lambda cfg, common, where: L.TimeDistributed(
        _wrapped(cfg, where), **_take(cfg), **common
    ),
    "Dropout": lambda cfg, common, where: L.Dropout(**_take(cfg, "rate", "noise_shape"), **common),
    "Activation": lambda cfg, common, where: L.Activation(**_take(cfg, "activation"), **common),
    "Masking": lambda cfg, common, where: L.Masking(**_take(cfg, "mask_value"), **common),
    "RepeatVector": lambda cfg, common, where: L.RepeatVector(**_take(cfg, "n"), **common),
    "Concatenate": lambda cfg, common, where: L.Concatenate(**_take(cfg, "axis"), **common),
    "Add": lambda cfg, common, where: L.Add(**_take(cfg), **common),
    "Subtract": lambda cfg, common, where: L.Subtract(**_take(cfg), **common),
    "Multiply": lambda cfg, common, where: L.Multiply(**_take(cfg), **common),
    "Average": lambda cfg, common, where: L.Average(**_take(cfg), **common),
}
