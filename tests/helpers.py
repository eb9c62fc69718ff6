"""Small builders shared by the tests."""

from __future__ import annotations

import numpy as np

import rnnlab

RECURRENT = {
    "rnn_tanh": lambda units, **kw: rnnlab.SimpleRNN(units, activation="tanh", **kw),
    "rnn_relu": lambda units, **kw: rnnlab.SimpleRNN(units, activation="relu", **kw),
    "lstm": lambda units, **kw: rnnlab.LSTM(units, **kw),
    "gru": lambda units, **kw: rnnlab.GRU(units, **kw),
    "jordan": lambda units, **kw: rnnlab.Jordan(units, output_units=3, **kw),
}


def ragged_mask(batch: int, time: int, rng: np.random.Generator, holes: bool = False):
    """A (B, T) bool mask with right padding (lengths 1..T), optionally with holes inside."""
    lengths = rng.integers(1, time + 1, size=batch)
    lengths[0] = time
    mask = np.arange(time)[None, :] < lengths[:, None]
    if holes:
        mask &= rng.random((batch, time)) > 0.25
        mask[:, 0] = True
    return mask
