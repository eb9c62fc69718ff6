"""The graph of a functional model: the layer calls between its inputs and outputs, run forward
and backward in topological order.

Forward, for each Node in creation order (a topological order: a node exists only after the
tensors it reads), with `env` the values computed so far:

    x     = env[node.inputs]              (one array, or a list for Concatenate, Add, ...)
    mask  = masks[node.inputs]            (from Input masks, Masking, Embedding(mask_zero=True))
    out   = layer.forward(x, mask, initial_state=env[node.states], training)
    masks[out] = layer.compute_mask(mask, x)   (for outputs with the mask's positions)

Backward walks the nodes in reverse. The gradient of a tensor read by several layers is the sum
of what each returns (∂L/∂t = Σ_consumers ∂L/∂t|consumer); an output nobody differentiates (an
unused state, an output without a loss) gets zeros; the gradients of initial states come from
the layer's `initial_state_grads` (how an encoder's final state learns from its decoder).

A layer keeps one cache (the Layer protocol: "gradients of the last forward"), so a layer called
at two places of one model can run forward but not backward: training such a model raises
NotImplementedError.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import describe
from ..layers.input_layer import InputLayer, input_tensor
from ..layers.symbolic import Node, SymbolicTensor, call_layer, flatten, pack
from ..model import NonFiniteError


def _check_tensors(items: list, who: str, what: str) -> None:
    for t in items:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(
                f"{who}: expected {what} as symbolic tensors (rnnlab.models.Input() "
                f"or a layer called on one), got {describe(t)}"
            )


def _carries(value, mask) -> bool:
    """A mask of positions (B, T) belongs to an output whose leading axes are those positions."""
    return (
        mask is not None
        and isinstance(value, np.ndarray)
        and value.ndim == mask.ndim + 1
        and value.shape[:-1] == mask.shape
    )


class Graph:
    """The nodes between `inputs` (Input() tensors) and `outputs`, in topological order.

    Attributes: nodes (input nodes included), layers (each once, in node order), shared (the
    layers called at more than one node), inputs, outputs.
    """

    def __init__(self, inputs: list[SymbolicTensor], outputs: list[SymbolicTensor], who: str):
        _check_tensors(inputs, who, "inputs")
        _check_tensors(outputs, who, "outputs")
        if not inputs or not outputs:
            raise ValueError(f"{who}: expected at least one input and one output")
        for t in inputs:
            if not t.node.is_input:
                raise ValueError(
                    f"{who}: input {t!r} is computed by layer "
                    f"{t.node.layer.name!r}; model inputs must come from "
                    f"rnnlab.models.Input()"
                )
        if len({id(t) for t in inputs}) != len(inputs):
            raise ValueError(f"{who}: the same Input appears twice among the inputs")
        self.who = who
        self.inputs, self.outputs = list(inputs), list(outputs)
        reached: dict[int, Node] = {}
        todo = [t.node for t in outputs]
        given = {id(t.node) for t in inputs}
        while todo:
            node = todo.pop()
            if id(node) in reached:
                continue
            if node.is_input and id(node) not in given:
                raise ValueError(
                    f"{who}: graph disconnected: the outputs depend on Input "
                    f"{node.layer.name!r}, which is not among the model's inputs "
                    f"{[t.name for t in inputs]}"
                )
            reached[id(node)] = node
            todo.extend(t.node for t in node.parents)
        unused = [t.name for t in inputs if id(t.node) not in reached]
        if unused:
            raise ValueError(f"{who}: inputs {unused} are not used to compute any output")
        self.nodes: list[Node] = sorted(reached.values(), key=lambda n: n.id)
        self.layers: list = []
        counts: dict[int, int] = {}
        for node in self.nodes:
            if id(node.layer) not in counts:
                self.layers.append(node.layer)
            counts[id(node.layer)] = counts.get(id(node.layer), 0) + 1
        self.shared = [layer for layer in self.layers if counts[id(layer)] > 1]
        self._input_position = {id(t.node): k for k, t in enumerate(inputs)}
        self._env: dict[SymbolicTensor, Any] = {}

    def layer_nodes(self, layer) -> list[Node]:
        """The nodes of `layer` in this graph, in order (their index is Keras' node index)."""
        return [n for n in self.nodes if n.layer is layer]

    # -- running ----------------------------------------------------------------------------------
    def forward(self, values: list[np.ndarray], masks: list, training: bool):
        """Outputs and their masks for input `values` (one array per input, in order)."""
        env: dict[SymbolicTensor, Any] = {}
        mask_of: dict[SymbolicTensor, Any] = {}
        for node in self.nodes:
            layer = node.layer
            if node.is_input:
                k = self._input_position[id(node)]
                env[node.outputs[0]] = layer.forward(values[k])
                mask_of[node.outputs[0]] = masks[k]
                continue
            xs = [env[t] for t in node.inputs]
            ms = [mask_of[t] for t in node.inputs]
            x = xs if node.many else xs[0]
            m = (None if all(v is None for v in ms) else ms) if node.many else ms[0]
            states = [env[t] for t in node.states] or None
            mode = training if node.training is None else node.training
            try:
                out = layer.forward(x, mask=m, initial_state=states, training=mode)
            except FloatingPointError as err:  # np.seterr(all="raise") in the caller
                raise NonFiniteError(f"the output of {layer.who} ({err})") from None
            out_mask = layer.compute_mask(m, inputs=x)
            for t, v in zip(node.outputs, flatten(out), strict=True):
                if isinstance(v, np.ndarray) and v.dtype.kind == "f" and not np.isfinite(v).all():
                    raise NonFiniteError(f"the output of {layer.who}")
                env[t] = v
                mask_of[t] = out_mask if _carries(v, out_mask) else None
        self._env = env
        return [env[t] for t in self.outputs], [mask_of[t] for t in self.outputs]

    def backward(self, d_outputs: list) -> list:
        """∂L/∂inputs (None for integer inputs) given ∂L/∂outputs (None: zeros); fills every
        layer's grads (zeros for layers no gradient reaches)."""
        if self.shared:
            names = [layer.name for layer in self.shared]
            raise NotImplementedError(
                f"{self.who}: layers {names} are called at several places of this model; a "
                f"layer keeps the cache of its last call only, so such a model can predict but "
                f"not train (Keras' shared layers are not supported for training)"
            )
        if not self._env:
            raise RuntimeError(f"{self.who}: backward() called before forward()")
        grads: dict[SymbolicTensor, np.ndarray] = {}

        def accumulate(t: SymbolicTensor, g) -> None:
            if g is not None:
                grads[t] = g if t not in grads else grads[t] + g

        for t, g in zip(self.outputs, d_outputs, strict=True):
            accumulate(t, g)
        d_inputs: list = [None] * len(self.inputs)
        for node in reversed(self.nodes):
            layer = node.layer
            given = [grads.get(t) for t in node.outputs]
            if all(g is None for g in given):
                for g in layer.grads.values():
                    g[...] = 0.0
                continue
            filled = [
                np.zeros_like(self._env[t]) if g is None else g
                for t, g in zip(node.outputs, given, strict=True)
            ]
            if node.is_input:
                d_inputs[self._input_position[id(node)]] = layer.backward(filled[0])
                continue
            dy = pack(node.structure, filled)
            try:
                if isinstance(dy, list) and getattr(layer, "return_state", False):
                    dx = layer.backward(dy[0], *dy[1:])
                else:
                    dx = layer.backward(dy)
            except FloatingPointError as err:
                raise NonFiniteError(f"the backward pass of {layer.who} ({err})") from None
            for t, g in zip(node.inputs, dx if node.many else [dx], strict=True):
                accumulate(t, g)
            if node.states:
                d_states = getattr(layer, "initial_state_grads", None)
                if d_states is None or len(d_states) != len(node.states):
                    raise TypeError(
                        f"{self.who}: {layer.who} was given initial states but "
                        f"exposes no initial_state_grads for them"
                    )
                for t, g in zip(node.states, d_states, strict=True):
                    accumulate(t, g)
        return d_inputs

    # -- files ------------------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Nodes by layer name; tensors as [node position, output index]."""
        index = {id(n): i for i, n in enumerate(self.nodes)}

        def ref(t: SymbolicTensor) -> list[int]:
            return [index[id(t.node)], t.index]

        return {
            "nodes": [
                {
                    "layer": n.layer.name,
                    "inputs": [ref(t) for t in n.inputs],
                    "many": n.many,
                    "states": [ref(t) for t in n.states],
                    "training": n.training,
                }
                for n in self.nodes
            ],
            "inputs": [ref(t) for t in self.inputs],
            "outputs": [ref(t) for t in self.outputs],
        }

    @staticmethod
    def rebuild(cfg: dict[str, Any], layers: dict[str, Any], who: str):
        """(inputs, outputs) tensors of get_config() output, by calling `layers` again."""
        if not isinstance(cfg, dict) or not all(k in cfg for k in ("nodes", "inputs", "outputs")):
            raise ValueError(
                f"{who}: expected a graph config with nodes, inputs and outputs, "
                f"got {describe(cfg)}"
            )
        made: list[list[SymbolicTensor]] = []

        def tensor(ref) -> SymbolicTensor:
            if not (
                isinstance(ref, list)
                and len(ref) == 2
                and all(isinstance(i, int) and not isinstance(i, bool) for i in ref)
                and 0 <= ref[0] < len(made)
                and 0 <= ref[1] < len(made[ref[0]])
            ):
                raise ValueError(
                    f"{who}: bad tensor reference {ref!r} (expected [node, output] "
                    f"of a node listed earlier)"
                )
            return made[ref[0]][ref[1]]

        for spec in cfg["nodes"]:
            if not isinstance(spec, dict) or spec.get("layer") not in layers:
                raise ValueError(f"{who}: node {describe(spec)} names no layer of the model")
            layer = layers[spec["layer"]]
            x = [tensor(r) for r in spec.get("inputs", [])]
            states = [tensor(r) for r in spec.get("states", [])]
            if not x:
                if not isinstance(layer, InputLayer) or states:
                    raise ValueError(f"{who}: node of {layer.who} has no inputs")
                made.append([input_tensor(layer)])
                continue
            many = spec.get("many") is True
            if not many and len(x) != 1:
                raise ValueError(f"{who}: node of {layer.who} has {len(x)} inputs but many=False")
            out = call_layer(
                layer,
                x if many else x[0],
                initial_state=states or None,
                training=spec.get("training"),
            )
            made.append(flatten(out))
        return [tensor(r) for r in cfg["inputs"]], [tensor(r) for r in cfg["outputs"]]
