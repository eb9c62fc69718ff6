"""Every layer refuses backward() after a forward under rnnlab.no_grad(), with one message
(from the Layer base): the walk covers every known layer type and every registered cell."""

from __future__ import annotations

import re

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import CELLS
from rnnlab.layers import known_layer_types, layer_for_cell

B, T, I = 2, 4, 3
#: options a cell family needs (the others take their defaults)
CELL_OPTIONS = {"jordan": {"output_units": 2}}
#: every layer type that is not the layer of a cell family: a factory and its input
OTHERS = {
    "Dense": (lambda: rnnlab.Dense(3), "floats"),
    "Activation": (lambda: rnnlab.Activation("tanh"), "floats"),
    "Dropout": (lambda: rnnlab.Dropout(0.5), "floats"),
    "Embedding": (lambda: rnnlab.Embedding(5, 3), "ids"),
    "TimeDistributed": (lambda: rnnlab.TimeDistributed(rnnlab.Dense(3)), "floats"),
    "Bidirectional": (
        lambda: rnnlab.Bidirectional(rnnlab.LSTM(4, return_sequences=True)),
        "floats",
    ),
    "InputLayer": (lambda: rnnlab.layers.InputLayer((T, I)), "floats"),
    "Masking": (lambda: rnnlab.layers.Masking(0.0), "floats"),
    "GlobalAveragePooling1D": (lambda: rnnlab.layers.GlobalAveragePooling1D(), "floats"),
    "GlobalMaxPooling1D": (lambda: rnnlab.layers.GlobalMaxPooling1D(), "floats"),
    "RepeatVector": (lambda: rnnlab.layers.RepeatVector(2), "vectors"),
    "Add": (lambda: rnnlab.layers.Add(), "pair"),
    "Subtract": (lambda: rnnlab.layers.Subtract(), "pair"),
    "Multiply": (lambda: rnnlab.layers.Multiply(), "pair"),
    "Average": (lambda: rnnlab.layers.Average(), "pair"),
    "Concatenate": (lambda: rnnlab.layers.Concatenate(), "pair"),
    "Attention": (lambda: rnnlab.layers.Attention(use_scale=True), "pair"),
    "AdditiveAttention": (lambda: rnnlab.layers.AdditiveAttention(), "pair"),
    "BahdanauAttention": (lambda: rnnlab.layers.BahdanauAttention(4), "pair"),
    "LuongAttention": (lambda: rnnlab.layers.LuongAttention("general"), "pair"),
}
CASES = sorted(OTHERS) + [f"cell:{name}" for name in sorted(CELLS)]


def make(case: str):
    rng = np.random.default_rng(0)
    if case.startswith("cell:"):
        name = case.removeprefix("cell:")
        layer = layer_for_cell(name)(4, return_sequences=True, **CELL_OPTIONS.get(name, {}))
        return layer, rng.standard_normal((B, T, I))
    factory, kind = OTHERS[case]
    x = {
        "ids": lambda: rng.integers(0, 5, (B, T)),
        "vectors": lambda: rng.standard_normal((B, I)),
        "pair": lambda: [rng.standard_normal((B, T, I)) for _ in range(2)],
        "floats": lambda: rng.standard_normal((B, T, I)),
    }[kind]()
    return factory(), x


def _module_of(name: str) -> str:
    todo = [rnnlab.Layer]
    while todo:
        cls = todo.pop()
        if cls.__name__ == name:
            return cls.__module__
        todo.extend(cls.__subclasses__())
    raise LookupError(name)


def test_the_walk_covers_every_layer_type_and_cell():
    cell_layers = {layer_for_cell(cell).__name__ for cell in CELLS.values()}
    covered = set(OTHERS) | cell_layers
    ours = {n for n in known_layer_types() if _module_of(n).startswith("rnnlab.")}
    assert ours <= covered <= set(known_layer_types())  # (tests define layers of their own)
    assert {"rnn", "lstm", "gru", "jordan"} <= set(CELLS)


@pytest.mark.parametrize("case", CASES)
def test_backward_after_a_no_grad_forward_is_refused(case):
    layer, x = make(case)
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))  # with gradients: fine
    with rnnlab.no_grad():
        y = layer.forward(x, training=True)
    message = (
        rf"^{re.escape(layer.who)}: the last forward ran under rnnlab\.no_grad\(\), "
        rf"which keeps nothing for backward\(\); run that forward outside no_grad\(\)$"
    )
    with pytest.raises(RuntimeError, match=message):
        layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match=message):  # still, until a forward with gradients
        layer.backward(np.ones_like(y))
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y))


def test_a_layer_written_outside_rnnlab_follows_the_rule_too():
    class Twice(rnnlab.Layer):
        def forward(self, x, mask=None, initial_state=None, training=False):
            return 2 * np.asarray(x)

        def backward(self, dy, *dstates):
            return 2 * np.asarray(dy)

    layer = Twice()
    np.testing.assert_array_equal(layer.backward(np.ones(3)), 2.0)  # its own rules otherwise
    with rnnlab.no_grad():
        layer.forward(np.ones(3))
    with pytest.raises(RuntimeError, match="Twice 'twice.*ran under rnnlab.no_grad"):
        layer.backward(np.ones(3))
