"""Keras' `models` namespace: Sequential, the functional Model and Input, files.

    from rnnlab import layers, models
    inputs = models.Input(shape=(None, 100))
    outputs = layers.Dense(10, activation="softmax")(layers.LSTM(64)(inputs))
    model = models.Model(inputs, outputs)

`load_model` reads any rnnlab model file (Sequential or Model); `save_model(model, path)` and
`model.save(path)` write one. See docs/keras.md for what differs from Keras.
"""

from ..io import load_model, save_model
from ..layers.input_layer import Input
from ..model import Sequential
from .functional import Batch, Model

__all__ = ["Batch", "Input", "Model", "Sequential", "load_model", "save_model"]
