"""The encoder: token ids -> embeddings -> a stack of recurrent layers (any registered cell
family, optionally bidirectional), reading padded batches under a mask.

    x_s = E[src_s]                                         (B, S, E)
    h^1 = RNN_1(x), ..., h^L = RNN_L(h^{L−1})              (B, S, H) or (B, S, 2H) bidirectional
    memory = h^L; finals[l] = the states of layer l after its last valid step (bidirectional:
    the forward layer's states, then the backward layer's, as Bidirectional returns them)

Backward takes ∂L/∂memory and ∂L/∂finals and runs the layers' own exact backward, top down.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import config
from .._validation import check_bool, check_positive_int, describe
from ..cells import get_cell
from ..layers import Bidirectional, Embedding, layer_for_cell


class Encoder:
    """Embedding + `num_layers` recurrent layers of `cell` ("lstm", "gru", "rnn", ... or a Cell
    class), `units` each (2·units of memory when bidirectional). Extra keywords are the cell's
    options (e.g. activation="relu"). Params are named "embedding.weight", "rnn<l>.<param>"
    (bidirectional: "rnn<l>.forward_layer.<param>" and "rnn<l>.backward_layer.<param>")."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        units: int,
        *,
        cell: Any = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dtype=None,
        seed: int | None = None,
        **cell_options: Any,
    ):
        who = "Encoder"
        self.vocab_size = check_positive_int(vocab_size, who, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, who, "embed_dim")
        self.units = check_positive_int(units, who, "units")
        self.num_layers = check_positive_int(num_layers, who, "num_layers")
        self.bidirectional = check_bool(bidirectional, who, "bidirectional")
        self.cell_name = get_cell(cell).name
        self.cell_options = dict(cell_options)
        self.dtype = config.resolve_dtype(dtype, who)
        self.seed = seed
        rng = config.spawn_rng(seed)  # without a seed, from rnnlab.config.set_seed's generator
        seeds = [int(s) for s in rng.integers(0, 2**31, size=num_layers + 1)]
        self.embedding = Embedding(vocab_size, embed_dim, dtype=self.dtype, seed=seeds[0])
        self.embedding.build((None,))
        layer_cls = layer_for_cell(cell)
        self.layers: list = []
        size = embed_dim
        for index in range(num_layers):
            rnn = layer_cls(
                units,
                return_sequences=True,
                return_state=True,
                dtype=self.dtype,
                seed=seeds[index + 1],
                **cell_options,
            )
            layer = Bidirectional(rnn) if bidirectional else rnn
            layer.build((None, size))
            self.layers.append(layer)
            size = (2 if bidirectional else 1) * rnn.output_size
        self.memory_size = size
        rnn = self.layers[0].forward_layer if bidirectional else self.layers[0]
        self.state_names: tuple[str, ...] = rnn.state_names
        self.state_size = rnn.state_size
        self._cache: dict[str, Any] | None = None

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def get_config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
            "cell": self.cell_name,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dtype": self.dtype.name,
            "seed": self.seed,
            **self.cell_options,
        }

    @property
    def params(self) -> dict[str, np.ndarray]:
        out = {"embedding.weight": self.embedding.params["weight"]}
        for index, layer in enumerate(self.layers):
            out.update({f"rnn{index}.{k}": v for k, v in layer.params.items()})
        return out

    @property
    def grads(self) -> dict[str, np.ndarray]:
        out = {"embedding.weight": self.embedding.grads["weight"]}
        for index, layer in enumerate(self.layers):
            out.update({f"rnn{index}.{k}": v for k, v in layer.grads.items()})
        return out

    def forward(self, src: np.ndarray, mask: np.ndarray | None = None, training: bool = False):
        """memory (B, S, memory_size) and finals: per layer, the list of final states (B, ·)."""
        if not isinstance(src, np.ndarray) or src.dtype.kind not in "iu" or src.ndim != 2:
            raise TypeError(
                f"Encoder: expected token ids (B, S) of an integer dtype, got {describe(src)}"
            )
        if src.shape[0] == 0 or src.shape[1] == 0:
            raise ValueError(
                f"Encoder: expected a non-empty batch of non-empty sources, got shape {src.shape}"
            )
        x = self.embedding.forward(src)  # (B, S, E)
        finals = []
        for layer in self.layers:
            x, *states = layer.forward(x, mask=mask, training=training)  # (B, S, H·dirs)
            finals.append(states)
        self._cache = {"shape": src.shape}
        return x, finals

    def backward(self, d_memory: np.ndarray, d_finals: list[list[np.ndarray | None]]) -> None:
        """Fill grads from ∂L/∂memory (B, S, ·) and ∂L/∂finals (None entries = 0)."""
        if self._cache is None:
            raise RuntimeError("Encoder: backward() called before forward()")
        dx = d_memory
        for layer, d_states in zip(reversed(self.layers), reversed(d_finals), strict=True):
            B = dx.shape[0]
            d_states = [
                np.zeros((B, self.state_size), self.dtype) if d is None else d for d in d_states
            ]
            dx = layer.backward(dx, *d_states)
        self.embedding.backward(dx)
