"""Wrappers: Bidirectional (two recurrent layers reading opposite ways) and TimeDistributed."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import config
from .._validation import as_float_array, check_choice, describe
from .base import Layer, layer_from_config
from .recurrent import Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


class Bidirectional(Layer):
    """Runs `layer` forward and a copy with go_backwards flipped, then merges their outputs.

        y_t = merge(→h_t, ←h_t),   merge ∈ concat | sum | mul | ave | None (a list [→y, ←y])

    Both directions' outputs are aligned with the input positions (like PyTorch's
    bidirectional=True). With return_sequences=False the forward part is the state after the
    last valid step and the backward part the state after reading position 0, as in h_n of a
    packed bidirectional torch.nn.LSTM.
    `forward_layer` and `backward_layer` are full recurrent layers (Keras names). params are
    exposed as "forward_layer.<name>" and "backward_layer.<name>" (the same arrays).
    initial_state: the forward layer's states followed by the backward layer's. With
    return_state the output is [y, *forward_states, *backward_states] and backward takes
    (dy, *d_forward_states, *d_backward_states).
    """

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        backward_layer: Recurrent | None = None,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        if not isinstance(layer, Recurrent):
            raise TypeError(f"Bidirectional: expected a recurrent layer, got {describe(layer)}")
        super().__init__(
            name=name, dtype=dtype if dtype is not None else layer.dtype.name, seed=seed, **kwargs
        )
        check_choice(merge_mode, self.who, "merge_mode", MERGE_MODES)
        self.merge_mode = merge_mode
        self.forward_layer = layer
        if backward_layer is None:
            cfg = layer.get_config()
            cfg["go_backwards"] = not layer.go_backwards
            cfg["name"] = f"backward_{layer.name}"
            if cfg.get("seed") is not None:
                cfg["seed"] = cfg["seed"] + 1
            backward_layer = layer_from_config(cfg)
        elif not isinstance(backward_layer, Recurrent):
            raise TypeError(
                f"{self.who}: expected backward_layer to be a recurrent layer, "
                f"got {describe(backward_layer)}"
            )
        if backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(
                f"{self.who}: backward_layer must read the other way "
                f"(go_backwards={not layer.go_backwards})"
            )
        for attr in ("return_sequences", "return_state", "stateful"):
            if getattr(backward_layer, attr) != getattr(layer, attr):
                raise ValueError(f"{self.who}: forward and backward layers differ in {attr}")
        self.backward_layer = backward_layer
        self._cache = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        """A new dict of the two layers' arrays (the same arrays: edit them in place)."""
        return {
            **{f"forward_layer.{k}": v for k, v in self.forward_layer.params.items()},
            **{f"backward_layer.{k}": v for k, v in self.backward_layer.params.items()},
        }

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """A new dict of the two layers' gradient arrays."""
        return {
            **{f"forward_layer.{k}": v for k, v in self.forward_layer.grads.items()},
            **{f"backward_layer.{k}": v for k, v in self.backward_layer.grads.items()},
        }

    @property
    def return_sequences(self) -> bool:
        return self.forward_layer.return_sequences

    @property
    def return_state(self) -> bool:
        return self.forward_layer.return_state

    def sublayers(self) -> list[Layer]:
        return [self.forward_layer, self.backward_layer]

    def get_weights(self) -> list[np.ndarray]:
        """The forward layer's Keras weights, then the backward layer's (Keras' order)."""
        return [*self.forward_layer.get_weights(), *self.backward_layer.get_weights()]

    def set_weights(self, weights) -> None:
        n = len(self.forward_layer.get_weights())
        total = n + len(self.backward_layer.get_weights())
        if not isinstance(weights, (list, tuple)) or len(weights) != total:
            raise ValueError(
                f"{self.who}: expected a list of {total} arrays (forward layer's, then backward "
                f"layer's), got {describe(weights)}"
            )
        self.forward_layer.set_weights(list(weights[:n]))
        self.backward_layer.set_weights(list(weights[n:]))

    def reset_states(self, indices=None) -> None:
        self.forward_layer.reset_states(indices)
        self.backward_layer.reset_states(indices)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["merge_mode"] = self.merge_mode
        cfg["layer"] = self.forward_layer.get_config()
        cfg["backward_layer"] = self.backward_layer.get_config()
        return cfg

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Bidirectional:
        cfg = dict(cfg)
        cfg.pop("class_name", None)
        layer = layer_from_config(cfg.pop("layer"))
        backward = cfg.pop("backward_layer", None)
        backward = None if backward is None else layer_from_config(backward)
        return cls(layer, backward_layer=backward, **cfg)

    def build(self, input_shape) -> None:
        self.forward_layer.build(input_shape)
        self.backward_layer.build(input_shape)
        super().build(input_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        shape = self.forward_layer.compute_output_shape(input_shape)
        if self.merge_mode == "concat":
            back = self.backward_layer.compute_output_shape(input_shape)
            return (*shape[:-1], shape[-1] + back[-1])
        return shape

    def compute_mask(self, mask, inputs=None):
        return mask if self.return_sequences else None

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        n_f = len(self.forward_layer.state_names)
        init_f = init_b = None
        if initial_state is not None:
            n_b = len(self.backward_layer.state_names)
            if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n_f + n_b:
                raise ValueError(
                    f"{self.who}: expected initial_state as a list of {n_f + n_b} "
                    f"arrays (forward states, then backward states), "
                    f"got {describe(initial_state)}"
                )
            init_f, init_b = list(initial_state[:n_f]), list(initial_state[n_f:])
        out_f = self.forward_layer.forward(x, mask, init_f, training)
        out_b = self.backward_layer.forward(x, mask, init_b, training)
        if not self.built:
            super().build(self.forward_layer.input_shape)
        states_f = states_b = []
        if self.return_state:
            out_f, *states_f = out_f
            out_b, *states_b = out_b
        self._cache = (out_f, out_b) if config.is_grad_enabled() else None
        y = self._merge(out_f, out_b)
        if self.return_state:
            return [y, *states_f, *states_b]
        return y

    def backward(self, dy, *dstates):
        self._require_forward(self._cache)
        out_f, out_b = self._cache
        n_f = len(self.forward_layer.state_names)
        if dstates and len(dstates) != n_f + len(self.backward_layer.state_names):
            raise ValueError(
                f"{self.who}: expected {n_f + len(self.backward_layer.state_names)} "
                f"state gradients, got {len(dstates)}"
            )
        d_f, d_b = self._split(dy, out_f, out_b)
        dx = self.forward_layer.backward(d_f, *dstates[:n_f])
        dx = dx + self.backward_layer.backward(d_b, *dstates[n_f:])
        return dx

    @property
    def initial_state_grads(self) -> list[np.ndarray] | None:
        f, b = self.forward_layer.initial_state_grads, self.backward_layer.initial_state_grads
        return None if f is None or b is None else [*f, *b]

    def _merge(self, a: np.ndarray, b: np.ndarray):
        mode = self.merge_mode
        if mode == "concat":
            return np.concatenate([a, b], axis=-1)
        if mode == "sum":
            return a + b
        if mode == "mul":
            return a * b
        if mode == "ave":
            return (a + b) * 0.5
        return [a, b]

    def _split(self, dy, out_f: np.ndarray, out_b: np.ndarray):
        mode = self.merge_mode
        if mode is None:
            if not isinstance(dy, (list, tuple)) or len(dy) != 2:
                raise ValueError(
                    f"{self.who}: merge_mode=None: expected dy as a list "
                    f"[d_forward, d_backward], got {describe(dy)}"
                )
            return dy[0], dy[1]
        dy = as_float_array(dy, self.who, self.dtype, what="dy")
        expected = self._merge(out_f, out_b).shape if mode == "concat" else out_f.shape
        if dy.shape != expected:
            raise ValueError(f"{self.who}: expected dy of shape {expected}, got {dy.shape}")
        if mode == "concat":
            H = out_f.shape[-1]
            return dy[..., :H], dy[..., H:]
        if mode == "sum":
            return dy, dy
        if mode == "mul":
            return dy * out_b, dy * out_f
        return dy * 0.5, dy * 0.5


class TimeDistributed(Layer):
    """Applies `layer` to every time step: (B, T, ...) -> reshape (B·T, ...) -> layer -> back.

    The wrapped layer's params are shared across time (exposed under the same names). The mask
    passes through unchanged; outputs at masked steps are computed anyway (losses ignore them).
    """

    def __init__(
        self,
        layer: Layer,
        *,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **kwargs,
    ):
        if not isinstance(layer, Layer):
            raise TypeError(f"TimeDistributed: expected a Layer, got {describe(layer)}")
        super().__init__(
            name=name, dtype=dtype if dtype is not None else layer.dtype.name, seed=seed, **kwargs
        )
        self.layer = layer
        self._shape = None

    @property
    def params(self) -> dict[str, np.ndarray]:
        """The wrapped layer's params (the same dict)."""
        return self.layer.params

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """The wrapped layer's grads (the same dict)."""
        return self.layer.grads

    def sublayers(self) -> list[Layer]:
        return [self.layer]

    def get_weights(self) -> list[np.ndarray]:
        """The wrapped layer's weights (Keras' order)."""
        return self.layer.get_weights()

    def set_weights(self, weights) -> None:
        self.layer.set_weights(weights)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["layer"] = self.layer.get_config()
        return cfg

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> TimeDistributed:
        cfg = dict(cfg)
        cfg.pop("class_name", None)
        return cls(layer_from_config(cfg.pop("layer")), **cfg)

    def build(self, input_shape) -> None:
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ValueError(f"{self.who}: expected input_shape (time, ...), got {shape}")
        self.layer.build(shape[1:])
        super().build(shape)

    def compute_output_shape(self, input_shape) -> tuple:
        shape = tuple(input_shape)
        return (shape[0], *self.layer.compute_output_shape(shape[1:]))

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        x = np.asarray(x) if isinstance(x, (list, tuple)) else x
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.who}: expected a NumPy array, got {describe(x)}")
        if x.ndim < 3:
            raise ValueError(
                f"{self.who}: expected input of rank ≥ 3 (batch, time, ...), got shape {x.shape}"
            )
        B, T = x.shape[:2]
        y = self.layer.forward(x.reshape(B * T, *x.shape[2:]), training=training)
        if not self.built:
            super().build(x.shape[1:])
        self._shape = (B, T)
        return y.reshape(B, T, *y.shape[1:])

    def backward(self, dy, *dstates):
        self._require_forward(self._shape)
        B, T = self._shape
        dy = np.asarray(dy)
        if dy.shape[:2] != (B, T):
            raise ValueError(
                f"{self.who}: expected dy with leading shape ({B}, {T}), got {dy.shape}"
            )
        dx = self.layer.backward(dy.reshape(B * T, *dy.shape[2:]))
        return None if dx is None else dx.reshape(B, T, *dx.shape[1:])
