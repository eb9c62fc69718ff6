"""Symbolic tensors: the placeholders of the Keras functional API.

    inputs = rnnlab.models.Input(shape=(None, 100))     # SymbolicTensor, shape (None, None, 100)
    h = rnnlab.layers.LSTM(64)(inputs)                   # SymbolicTensor (None, 64): a Node
    model = rnnlab.models.Model(inputs, h)               # runs the recorded Nodes on data

Calling a layer on symbolic tensors (`call_layer`, what `Layer.__call__` does for them) computes
no values. It builds the layer for the input shape, finds the shapes of what the layer returns
and records a `Node`: the layer, its input tensors, its initial-state tensors and its outputs.
A Model walks the Nodes back from its outputs to its inputs and runs them in creation order,
which is a topological order (a Node is created after the tensors it reads).

How output shapes are found: the layer's own `forward` runs on a batch of one sequence of zeros
(`rnnlab.no_grad()`, training=False, the layer's RNG and carried states restored afterwards), and
again with every unknown axis of length 2 instead of 1 when the input has unknown axes; an output
axis whose length follows the input's is unknown (None) too. This works for any layer of the
Layer protocol (user layers included) and leaves the layer's own checks to reject a wrong input.

This module imports no layer class (layers/base.py imports it for `Layer.__call__`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import config
from .._validation import describe
from ..summary import shape_text

_node_ids = itertools.count()


class SymbolicTensor:
    """A placeholder for a batch of data in a graph of layers: shape (batch axis first, None
    where unknown), dtype, and the Node that produces it (`node`, output number `index`).

    It has no values: NumPy functions and arithmetic raise a TypeError that says what to do.
    """

    __slots__ = ("dtype", "index", "name", "node", "shape")

    def __init__(self, shape: tuple, dtype: np.dtype, node: Node, index: int, name: str):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return (
            f"<SymbolicTensor shape={shape_text(self.shape)}, dtype={self.dtype.name}, "
            f"name={self.name}>"
        )

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a placeholder without values: build a "
            f"rnnlab.models.Model(inputs, outputs) and call it on data"
        )

    def _no_ops(self, *args):
        raise TypeError(
            f"{self!r} supports no arithmetic: use the layers "
            f"rnnlab.layers.Add, Multiply, Average or Concatenate on symbolic tensors"
        )

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _no_ops
    __rtruediv__ = __matmul__ = __rmatmul__ = __neg__ = __getitem__ = _no_ops


@dataclass(eq=False)
class Node:
    """One call of a layer on symbolic tensors.

    inputs: the tensors passed as x (one, or several for a list-taking layer: `many`);
    states: the tensors passed as initial_state (empty when none); training: None to follow
    the model's mode, True to run this call in training mode always;
    outputs: what the call returned, flattened; `structure` is that return value with each
    tensor replaced by its position in `outputs` (an int, or nested lists of ints).
    """

    layer: Any
    inputs: list[SymbolicTensor]
    many: bool
    states: list[SymbolicTensor]
    training: bool | None
    outputs: list[SymbolicTensor] = field(default_factory=list)
    structure: Any = 0
    id: int = field(default_factory=lambda: next(_node_ids))

    @property
    def parents(self) -> list[SymbolicTensor]:
        return [*self.inputs, *self.states]

    @property
    def is_input(self) -> bool:
        """An Input() node: no parents, it stands for data fed to a model."""
        return not self.inputs and not self.states


def is_symbolic(x) -> bool:
    """True for a SymbolicTensor or a non-empty list/tuple holding one."""
    if isinstance(x, SymbolicTensor):
        return True
    return isinstance(x, (list, tuple)) and any(isinstance(t, SymbolicTensor) for t in x)


def flatten(structure) -> list:
    """The leaves of nested lists/tuples, depth first."""
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack(structure, leaves: list):
    """`structure` (ints = positions in `leaves`, nested lists) with each int replaced."""
    if isinstance(structure, list):
        return [pack(item, leaves) for item in structure]
    return leaves[structure]


def _positions(value, counter: itertools.count):
    if isinstance(value, (list, tuple)):
        return [_positions(item, counter) for item in value]
    return next(counter)


def make_input(layer, shape: tuple, dtype: np.dtype, name: str) -> SymbolicTensor:
    """The tensor of an Input(): a Node without parents whose layer is an InputLayer; shape
    with the batch axis."""
    node = Node(layer=layer, inputs=[], many=False, states=[], training=None)
    tensor = SymbolicTensor(shape, dtype, node, 0, name)
    node.outputs = [tensor]
    return tensor


def _as_tensors(value, who: str, what: str) -> list[SymbolicTensor]:
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    bad = [t for t in items if not isinstance(t, SymbolicTensor)]
    if not items or bad:
        raise TypeError(
            f"{who}: expected {what} as symbolic tensors (from rnnlab.models.Input "
            f"or a layer called on one), got {describe(bad[0] if bad else value)}"
        )
    return items


def _dummy(tensors: list[SymbolicTensor], unknown: int) -> list[np.ndarray]:
    """Zeros shaped like each tensor: batch 1, every unknown axis of length `unknown` — or, for
    tensors that go in together (a merge layer's list), the length another one fixes there."""
    known: dict[tuple[int, int], int] = {}  # (rank, axis) -> a length some tensor fixes
    for t in tensors:
        for axis, d in enumerate(t.shape[1:]):
            if d is not None:
                known.setdefault((t.ndim, axis), d)
    return [
        np.zeros(
            (
                1,
                *(
                    known.get((t.ndim, a), unknown) if d is None else d
                    for a, d in enumerate(t.shape[1:])
                ),
            ),
            dtype=t.dtype,
        )
        for t in tensors
    ]


def _run(layer, x: list[np.ndarray], many: bool, states: list[np.ndarray]):
    snapshot = layer.snapshot_state()
    try:
        with config.no_grad():
            return layer.forward(x if many else x[0], initial_state=states or None, training=False)
    finally:
        layer.restore_state(snapshot)


def _check_feature_dim(layer, tensor: SymbolicTensor, position: int) -> None:
    """A built layer's input feature count against a float tensor's last axis (Keras' words)."""
    built_shape = getattr(layer, "input_shape", None)
    if tensor.dtype.kind != "f" or not built_shape or tensor.ndim < 2:
        return
    want, got = built_shape[-1], tensor.shape[-1]
    if want is not None and got is not None and want != got:
        raise ValueError(
            f"Input {position} of layer {layer.name!r} ({type(layer).__name__}) is incompatible "
            f"with the layer: expected shape={shape_text((None, *built_shape))}, "
            f"found shape={shape_text(tensor.shape)}"
        )


def call_layer(layer, x, *, mask=None, initial_state=None, training=None):
    """Call `layer` on symbolic tensors: build it, infer its outputs, record a Node.

    x: a SymbolicTensor, or a list of them for layers that take a list (Concatenate, Add...);
    initial_state: None, a SymbolicTensor or a list of them; training: None (follow the
    model), or True to run this call in training mode (e.g. Monte Carlo dropout).
    Returns SymbolicTensors shaped like what layer.forward returns (a tensor or a list).
    """
    who = f"layer {layer.name!r} ({type(layer).__name__})"
    many = isinstance(x, (list, tuple))
    inputs = _as_tensors(x, who, "the inputs")
    states = [] if initial_state is None else _as_tensors(initial_state, who, "initial_state")
    if mask is not None:
        raise NotImplementedError(
            f"{who}: mask= on a call with symbolic tensors is not supported; masks flow through "
            f"the graph from Masking or Embedding(mask_zero=True)"
        )
    if training not in (None, True, False):
        raise TypeError(f"{who}: expected training to be None, True or False, got {training!r}")
    shapes = [t.shape[1:] for t in inputs]
    received = ", ".join(shape_text(t.shape) for t in inputs)
    if not layer.built:
        try:
            layer.build(shapes if many else shapes[0])
        except (ValueError, TypeError) as err:
            raise type(err)(
                f"{who} cannot be called on an input of shape {received}: {err}"
            ) from None
    elif not many:
        _check_feature_dim(layer, inputs[0], 0)
    unknown = any(d is None for t in [*inputs, *states] for d in t.shape[1:])
    try:
        out1 = _run(layer, _dummy(inputs, 1), many, _dummy(states, 1))
        out2 = _run(layer, _dummy(inputs, 2), many, _dummy(states, 2)) if unknown else out1
    except (ValueError, TypeError) as err:
        raise type(err)(
            f"{who} cannot be called on an input of shape {received} (checked on "
            f"zeros with batch 1 and unknown axes of length 1): {err}"
        ) from None
    node = Node(
        layer=layer, inputs=inputs, many=many, states=states, training=True if training else None
    )
    node.structure = _positions(out1, itertools.count())
    for index, (a, b) in enumerate(zip(flatten(out1), flatten(out2), strict=True)):
        shape = (
            None,
            *(da if da == db else None for da, db in zip(a.shape[1:], b.shape[1:], strict=True)),
        )
        name = f"{layer.name}/out{index}" if index else layer.name
        node.outputs.append(SymbolicTensor(shape, a.dtype, node, index, name))
    return pack(node.structure, node.outputs)
