"""rnnlab: recurrent neural networks from their equations — fast, exact, visible."""

from . import (
    activations,
    callbacks,
    cells,
    config,
    gradcheck,
    initializers,
    losses,
    metrics,
    models,
    optimizers,
    preprocessing,
)
from .config import no_grad
from .io import FormatError, load_model, save_model
from .layers import (
    GRU,
    LRU,
    LSTM,
    Activation,
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    Jordan,
    Layer,
    MinGRU,
    MinLSTM,
    SimpleRNN,
    TimeDistributed,
    layer_from_config,
)
from .model import History, NonFiniteError, Sequential

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LRU",
    "LSTM",
    "Activation",
    "Bidirectional",
    "Dense",
    "Dropout",
    "Embedding",
    "FormatError",
    "History",
    "Jordan",
    "Layer",
    "MinGRU",
    "MinLSTM",
    "NonFiniteError",
    "Sequential",
    "SimpleRNN",
    "TimeDistributed",
    "activations",
    "callbacks",
    "cells",
    "config",
    "gradcheck",
    "initializers",
    "layer_from_config",
    "load_model",
    "losses",
    "metrics",
    "models",
    "no_grad",
    "optimizers",
    "preprocessing",
    "save_model",
]
