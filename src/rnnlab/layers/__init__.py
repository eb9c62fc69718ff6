"""Layers following the Layer protocol of DESIGN.md."""

from .base import Layer, known_layer_types, layer_from_config
from .core import Activation, Dense, Dropout
from .embedding import Embedding
from .recurrent import Recurrent
from .rnn import GRU, LSTM, Jordan, SimpleRNN
from .wrappers import Bidirectional, TimeDistributed

__all__ = [
    "GRU", "LSTM", "Activation", "Bidirectional", "Dense", "Dropout", "Embedding", "Jordan",
    "Layer", "Recurrent", "SimpleRNN", "TimeDistributed", "known_layer_types", "layer_from_config",
]
