"""rnnlab: recurrent neural networks from their equations — fast, exact, visible."""

from . import activations, cells, config, gradcheck, initializers, losses, optimizers
from .layers import (
    GRU,
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Jordan,
    Layer,
    SimpleRNN,
    TimeDistributed,
    layer_from_config,
)

__version__ = "0.1.0"

__all__ = [
    "GRU", "LSTM", "Activation", "Bidirectional", "Dense", "Dropout", "Embedding", "Jordan",
    "Layer", "SimpleRNN", "TimeDistributed", "activations", "cells", "config", "gradcheck",
    "initializers", "layer_from_config", "losses", "optimizers",
]
