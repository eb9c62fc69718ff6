"""Keras' side of the layers: its argument names, the features rnnlab lacks, its weight order.

Arguments. Every layer takes Keras' `input_shape=` (the shape of one sample without the batch
axis; a Sequential whose first layer has one is built at once). An argument a layer does not
know is a TypeError naming the nearest known one ("did you mean 'units'?"); a Keras argument for
a feature rnnlab does not have (regularizers, constraints, trainable=False, ...) raises
NotImplementedError naming it, unless it holds Keras' default (kernel_regularizer=None is
fine): nothing is silently ignored. `unroll` and `use_cudnn` only say how Keras computes, never
what: they are accepted and change nothing.

Weights. Keras stores a gated layer's weights as kernel (I, G·H), recurrent_kernel (H, G·H)
and bias (G·H) — (2, G·H) for a GRU with reset_after=True, input then recurrent bias — with
the gate blocks in its own order; rnnlab stores PyTorch's weight_ih (G·H, I), weight_hh
(G·H, H) with PyTorch's gate order. `gate_order` maps one to the other: Keras block k is
PyTorch block order[k] (LSTM i, f, c, o = i, f, g, o: the identity; GRU z, r, h ← r, z, n:
(1, 0, 2)).
"""

from __future__ import annotations

import difflib
import inspect

import numpy as np

from .._validation import describe

#: Keras arguments for features rnnlab does not have -> the value that means "not used"
UNSUPPORTED = {
    "kernel_regularizer": None,
    "recurrent_regularizer": None,
    "bias_regularizer": None,
    "activity_regularizer": None,
    "embeddings_regularizer": None,
    "kernel_constraint": None,
    "recurrent_constraint": None,
    "bias_constraint": None,
    "embeddings_constraint": None,
    "trainable": True,
    "time_major": False,
    "zero_output_for_mask": True,
    "sparse": False,
    "lora_rank": None,
    "quantization_config": None,
}
#: Keras arguments that change how Keras computes, not what: accepted, ignored
NO_OP = ("unroll", "use_cudnn")


def accepted_arguments(cls: type) -> list[str]:
    """The keyword arguments of cls's constructor and of every __init__ it passes to."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for p in inspect.signature(init).parameters.values():
            if (
                p.name != "self"
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                and p.name not in names
            ):
                names.append(p.name)
    return names


def check_arguments(who: str, extra: dict, known: list[str]) -> None:
    """Refuse what a layer constructor did not take: `extra` are the leftover keywords."""
    for key, value in extra.items():
        if key in NO_OP:
            continue
        if key in UNSUPPORTED:
            if value is UNSUPPORTED[key] or value == UNSUPPORTED[key]:
                continue
            raise NotImplementedError(
                f"{who}: {key}={value!r} is a Keras feature rnnlab does not support"
            )
        near = difflib.get_close_matches(key, [*known, *NO_OP], n=1, cutoff=0.6)
        hint = f"; did you mean {near[0]!r}?" if near else f"; known arguments: {sorted(known)}"
        raise TypeError(f"{who}: unknown argument {key!r}{hint}")


def check_input_shape(value, who: str) -> tuple | None:
    """Keras' input_shape: one sample's shape without the batch axis (None = any length)."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in value
    ):
        raise ValueError(
            f"{who}: expected input_shape as a tuple of positive ints or None "
            f"(without the batch axis), e.g. (None, 100), got {describe(value)}"
        )
    return tuple(value)


# -- weight order ---------------------------------------------------------------------------------
def permute_blocks(a: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """The len(order) equal blocks of a's first axis, block k taken from block order[k]."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def gated_to_keras(
    params: dict[str, np.ndarray], order: tuple[int, ...], biases: list[np.ndarray]
) -> list[np.ndarray]:
    """[kernel (I, G·H), recurrent_kernel (H, G·H), *bias] from weight_ih, weight_hh and the
    bias vectors given (one (G·H) vector, or two stacked into Keras' (2, G·H))."""
    out = [
        permute_blocks(params["weight_ih"], order).T.copy(),
        permute_blocks(params["weight_hh"], order).T.copy(),
    ]
    if len(biases) == 1:
        out.append(permute_blocks(biases[0], order))
    elif biases:
        out.append(np.stack([permute_blocks(b, order) for b in biases]))
    return out


def gated_from_keras(
    arrays: list, order: tuple[int, ...], n_bias: int, who: str, shapes: dict[str, tuple]
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """weight_ih, weight_hh and the bias vectors from Keras' arrays (checked against the
    expected PyTorch-layout shapes). n_bias: 0 (use_bias=False), 1, or 2 (stacked (2, G·H))."""
    expected = 2 + (1 if n_bias else 0)
    if not isinstance(arrays, (list, tuple)) or len(arrays) != expected:
        raise ValueError(
            f"{who}: expected {expected} arrays (kernel, recurrent_kernel"
            f"{', bias' if n_bias else ''}), got {describe(arrays)}"
        )
    inverse = tuple(int(i) for i in np.argsort(order))
    G_H, I = shapes["weight_ih"]
    H = shapes["weight_hh"][1]
    want = [(I, G_H), (H, G_H)] + ([(G_H,) if n_bias == 1 else (2, G_H)] if n_bias else [])
    arrays = [np.asarray(a) for a in arrays]
    for name, a, shape in zip(("kernel", "recurrent_kernel", "bias"), arrays, want, strict=False):
        if a.shape != shape:
            raise ValueError(
                f"{who}: expected {name} of shape {shape} (Keras' layout), got {a.shape}"
            )
    w_ih = permute_blocks(arrays[0].T, inverse)
    w_hh = permute_blocks(arrays[1].T, inverse)
    if not n_bias:
        return w_ih, w_hh, []
    bias = arrays[2] if n_bias == 2 else arrays[2][None]
    return w_ih, w_hh, [permute_blocks(b, inverse) for b in bias]
