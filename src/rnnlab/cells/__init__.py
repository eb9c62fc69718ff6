"""The math core: the cell protocol, one module per cell family, and their registry.

    rnnlab.cells.Cell                      the protocol every family follows (cells/base.py)
    rnnlab.cells.CELLS                     registered families by name: "rnn", "lstm", "gru",
                                           "gru_reset_before" (Keras' reset_after=False), "jordan",
                                           "mingru", "minlstm", "lru" (docs/parallel-rnn.md)
    rnnlab.cells.get_cell(name_or_class)   the family's class (ValueError listing the names)
    rnnlab.cells.register                  the class decorator that adds a family

A cell instance holds the family's options, never parameters: `SimpleRNNCell("relu")`,
`JordanCell(output_units=3)`. rnnlab.layers.layer_for_cell(cell) gives the layer class that
runs a family. docs/design.md shows how to add a family: one new module plus its name on the
import line below.
"""

from . import gru, gru_reset_before, jordan, lru, lstm, mingru, minlstm, simple  # registers them
from .base import Cache, Cell, LocalDerivatives, ParamSpec
from .gru import GRUCell
from .gru_reset_before import ResetBeforeGRUCell
from .jordan import JordanCell
from .lru import LRUCell
from .lstm import LSTMCell
from .mingru import MinGRUCell
from .minlstm import MinLSTMCell
from .registry import CELLS, get_cell, register
from .simple import SimpleRNNCell

__all__ = [
    "CELLS",
    "Cache",
    "Cell",
    "GRUCell",
    "JordanCell",
    "LRUCell",
    "LSTMCell",
    "LocalDerivatives",
    "MinGRUCell",
    "MinLSTMCell",
    "ParamSpec",
    "ResetBeforeGRUCell",
    "SimpleRNNCell",
    "get_cell",
    "gru",
    "gru_reset_before",
    "jordan",
    "lru",
    "lstm",
    "mingru",
    "minlstm",
    "register",
    "simple",
]
