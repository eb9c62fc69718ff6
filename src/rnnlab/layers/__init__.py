"""Layers following the Layer protocol (docs/design.md, "Layers").

layer_for_cell(cell)   the layer class of a cell family (name, Cell class or instance)
cells_by_units()       the families a model can stack from a name and `units` alone
"""

from .attention import AdditiveAttention, Attention, BahdanauAttention, LuongAttention
from .base import Layer, known_layer_types, layer_from_config
from .core import Activation, Dense, Dropout
from .embedding import Embedding
from .input_layer import Input, InputLayer
from .masking import Masking
from .merge import (
    Add,
    Average,
    Concatenate,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    multiply,
    subtract,
)
from .parallel import LRU, MinGRU, MinLSTM
from .pooling import GlobalAveragePooling1D, GlobalMaxPooling1D
from .recurrent import Recurrent, cells_by_units, layer_for_cell
from .reshape import RepeatVector
from .rnn import GRU, LSTM, Jordan, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU",
    "LRU",
    "LSTM",
    "Activation",
    "Add",
    "AdditiveAttention",
    "Attention",
    "Average",
    "BahdanauAttention",
    "Bidirectional",
    "Concatenate",
    "Dense",
    "Dropout",
    "Embedding",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "Input",
    "InputLayer",
    "Jordan",
    "Layer",
    "LuongAttention",
    "Masking",
    "MinGRU",
    "MinLSTM",
    "Multiply",
    "Recurrent",
    "RepeatVector",
    "SimpleRNN",
    "Subtract",
    "TimeDistributed",
    "add",
    "average",
    "cells_by_units",
    "concatenate",
    "known_layer_types",
    "layer_for_cell",
    "layer_from_config",
    "multiply",
    "subtract",
]
