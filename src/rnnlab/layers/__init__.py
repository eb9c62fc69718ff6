"""Layers following the Layer protocol of DESIGN.md."""

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
from .recurrent import Recurrent
from .reshape import RepeatVector
from .rnn import GRU, LSTM, Jordan, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU", "LSTM", "Activation", "Add", "Average", "Bidirectional", "Concatenate", "Dense",
    "Dropout", "Embedding", "Input", "InputLayer", "Jordan",
    "Layer", "Masking", "Multiply", "Recurrent", "RepeatVector", "SimpleRNN", "Subtract",
    "TimeDistributed", "add", "average", "concatenate", "known_layer_types", "layer_from_config",
    "multiply", "subtract",
]
