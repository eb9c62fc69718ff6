"""What every online learner shares: the model, input checks, the per-step loss, the updates.

The model is one recurrent layer (SimpleRNN, LSTM or GRU; its `params` are read at every step
and updated in place), a readout rnnlab.Dense on h_t and a per-step loss from rnnlab.losses:

    s_t = F(s_{t-1}, x_t; θ)          state (B, S): h, or [h; c] for the LSTM; s_0 = 0
    y_t = readout(h_t)                (B, O)
    L_t = loss(target_t, y_t, mask_t) the mean over the batch rows that are valid at step t

`mask_t` (B,) bool has the layers' meaning (DESIGN.md): where it is False the row's state is
carried unchanged (s_t = s_{t-1}, so D_t = I and ∂s_t/∂θ = 0 there) and the row adds no loss.

    learner.reset(batch_size)                         # s_0 = 0, influence / buffers cleared
    out = learner.step(x_t, target_t, mask_t=None)    # x_t (B, I)
    out["loss"]     L_t (float)
    out["grads"]    {"layer": {weight_ih, ...}, "readout": {weight, bias}}: the learner's
                    estimate of ∂L_t/∂θ (TruncatedBPTT: of a window of losses, or None)
    out["output"]   y_t (B, O)
    out["updated"]  True when the optimizer changed the parameters at this step

With an optimizer, `step` also applies the update — at every step ("real-time" learning) or,
with update_every=k, every k steps with the sum of the gradients since the last update. The
optimizer sees the keys "layer.<name>" and "readout.<name>". Memory is O(1) in the stream length.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import losses, optimizers
from .._validation import as_float_array, check_positive_int, describe
from ..layers.core import Dense
from ..layers.rnn import GRU, LSTM, SimpleRNN
from ..losses import Loss
from ..optimizers import Optimizer
from .jacobians import PARAM_KEYS, local_jacobians, unflatten

Array = np.ndarray
RecurrentLayer = SimpleRNN | LSTM | GRU


def layer_kind(layer: RecurrentLayer, who: str) -> tuple[str, str]:
    """("simple" | "lstm" | "gru", activation) of a supported layer; TypeError otherwise."""
    if isinstance(layer, SimpleRNN):
        kind = "simple"
    elif isinstance(layer, LSTM):
        kind = "lstm"
    elif isinstance(layer, GRU):
        kind = "gru"
    else:
        raise TypeError(f"{who}: expected the recurrent layer to be a rnnlab SimpleRNN, LSTM or "
                        f"GRU, got {type(layer).__name__}")
    for option in ("dropout", "recurrent_dropout"):
        if getattr(layer, option) != 0.0:
            raise ValueError(f"{who}: online learners run the layer without dropout; got "
                             f"{option}={getattr(layer, option)} on {layer.who}")
    if layer.go_backwards:
        raise ValueError(f"{who}: an online learner reads the stream forwards; {layer.who} has "
                         f"go_backwards=True")
    return kind, getattr(layer, "activation", "tanh")


class OnlineLearner(abc.ABC):
    """Base class (see the module docstring). Subclasses implement the three hooks:

    _allocate(B)             create the learner's carried arrays for batch size B
    _advance(x, mask) -> h   move s_{t-1} → s_t (self._state) and the learner's own memory
    _gradients(ds, rg)       estimate of ∂L_t/∂θ from ds = ∂L_t/∂s_t (B, S) and the readout's
                             gradient rg: {"layer": ..., "readout": ...}, or None
    """

    def __init__(self, layer: RecurrentLayer, readout: Dense, loss: Loss | str, *,
                 optimizer: Optimizer | str | None = None, update_every: int = 1):
        who = self.who
        self.kind, self.activation = layer_kind(layer, who)
        if not isinstance(readout, Dense):
            raise TypeError(f"{who}: expected the readout to be a rnnlab Dense layer, "
                            f"got {type(readout).__name__}")
        if readout.dtype != layer.dtype:
            raise TypeError(f"{who}: the readout's dtype {readout.dtype} differs from the "
                            f"layer's {layer.dtype}")
        try:
            self.loss = losses.get(loss)
            self.optimizer = None if optimizer is None else optimizers.get(optimizer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None
        self.update_every = check_positive_int(update_every, who, "update_every")
        self.layer, self.readout = layer, readout
        self.gates, self.blocks = layer.cell.gates, len(layer.cell.state_names)
        self.units = layer.units
        self.state_size = self.blocks * self.units
        self.dtype = layer.dtype
        self._batch: int | None = None
        self._state: Array | None = None  # (B, S)
        self._ready = False
        self._steps = 0  # steps since reset
        self._pending: dict[str, Array] | None = None  # gradients not applied yet
        self._since_update = 0
        if layer.built:
            self._check_readout_input()

    @property
    def who(self) -> str:
        """How error messages name this learner."""
        return type(self).__name__

    @property
    def params(self) -> dict[str, Array]:
        """The arrays the learner trains, keyed "layer.<name>" / "readout.<name>" (no copies)."""
        out = {f"layer.{k}": self.layer.params[k] for k in PARAM_KEYS}
        out.update({f"readout.{k}": v for k, v in self.readout.params.items()})
        return out

    @property
    def state(self) -> tuple[Array, ...]:
        """The carried state: (h,), or (h, c) for the LSTM, each (B, H)."""
        if self._state is None:
            raise RuntimeError(f"{self.who}: no state yet; call reset(batch_size) first")
        H = self.units
        return tuple(self._state[:, u * H : (u + 1) * H] for u in range(self.blocks))

    @property
    def steps(self) -> int:
        """Steps taken since the last reset."""
        return self._steps

    def memory_nbytes(self) -> int:
        """Bytes of everything the learner carries between steps (constant in the stream)."""
        arrays = [self._state, *self._carried()]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def reset(self, batch_size: int) -> None:
        """Start new streams: s_0 = 0 for `batch_size` rows; influence, buffers and any
        gradient not yet applied are cleared (optimizer state is kept)."""
        self._batch = check_positive_int(batch_size, f"{self.who}.reset", "batch_size")
        self._state = np.zeros((self._batch, self.state_size), dtype=self.dtype)
        self._ready = False  # the learner's own arrays wait for the first x_t (input size)
        self._steps = 0
        self._pending = None
        self._since_update = 0

    def step(self, x_t, target_t, mask_t: Array | None = None) -> dict[str, Any]:
        """One step of the stream: advance, loss, gradient estimate, and maybe an update."""
        who = f"{self.who}.step"
        if self._batch is None:
            raise RuntimeError(f"{who}: call reset(batch_size) before the first step")
        B = self._batch
        x = as_float_array(x_t, who, self.dtype, "x_t")
        if x.ndim != 2 or x.shape[0] != B:
            raise ValueError(f"{who}: expected x_t of shape (batch={B}, features), "
                             f"got {x.shape}")
        mask = self._check_mask(mask_t, who)
        if not self._ready:
            self._start(x.shape[1])
        if x.shape[1] != self.layer.params["weight_ih"].shape[1]:
            raise ValueError(f"{who}: expected x_t with {self.layer.params['weight_ih'].shape[1]}"
                             f" features (as the layer was built), got {x.shape}")
        # check the target before anything moves, so that a rejected step changes nothing
        probe = np.zeros((B, self.readout.units), dtype=self.dtype)
        self._loss(target_t, probe, mask, who)
        h = self._advance(x, mask)  # (B, H)
        y = self.readout.forward(h)  # (B, O)
        value, dy = self._loss(target_t, y, mask, who)
        dh = self.readout.backward(dy)  # (B, H)
        ds = np.zeros_like(self._state)
        ds[:, : self.units] = dh  # ∂L_t/∂s_t: the loss reads h only
        readout_grads = {k: g.copy() for k, g in self.readout.grads.items()}
        grads = self._gradients(ds, readout_grads)
        self._steps += 1
        return {"loss": float(value), "grads": grads, "output": y,
                "updated": self._maybe_update(grads)}

    # -- helpers ----------------------------------------------------------------------------
    def _loss(self, target_t, y: Array, mask: Array | None, who: str) -> tuple[float, Array]:
        try:
            return self.loss.value_and_grad(target_t, y, mask)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None

    def _check_mask(self, mask_t, who: str) -> Array | None:
        if mask_t is None:
            return None
        if not isinstance(mask_t, np.ndarray) or mask_t.dtype != np.bool_:
            raise TypeError(f"{who}: expected mask_t as a bool array of shape ({self._batch},) "
                            f"(True = valid step), got {describe(mask_t)}")
        if mask_t.shape != (self._batch,):
            raise ValueError(f"{who}: expected mask_t of shape ({self._batch},), "
                             f"got {mask_t.shape}")
        return mask_t

    def _start(self, input_dim: int) -> None:
        if not self.layer.built:
            self.layer.build((None, input_dim))
        self._check_readout_input()
        self._allocate(self._batch)
        self._ready = True

    def _check_readout_input(self) -> None:
        if self.readout.built and self.readout.params["weight"].shape[1] != self.units:
            raise ValueError(f"{self.who}: the readout expects "
                             f"{self.readout.params['weight'].shape[1]} inputs but the layer "
                             f"has {self.units} units")
        if not self.readout.built:
            self.readout.build((self.units,))

    def _maybe_update(self, grads: Mapping[str, Mapping[str, Array]] | None) -> bool:
        if self.optimizer is None:
            return False
        if grads is not None:
            flat = {f"{part}.{k}": g for part, gs in grads.items() for k, g in gs.items()}
            if self._pending is None:
                self._pending = {k: g.copy() for k, g in flat.items()}
            else:
                for k, g in flat.items():
                    self._pending[k] += g
        self._since_update += 1
        if self._since_update < self.update_every or self._pending is None:
            return False
        self.optimizer.step(self.params, self._pending)
        self._pending, self._since_update = None, 0
        return True

    # -- hooks ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _allocate(self, batch_size: int) -> None:
        """Subclasses implement this."""

    @abc.abstractmethod
    def _advance(self, x: Array, mask: Array | None) -> Array:
        """Subclasses implement this."""

    @abc.abstractmethod
    def _gradients(self, ds: Array, readout_grads: dict[str, Array]) -> dict | None:
        """Subclasses implement this."""

    def _carried(self) -> list[Array]:
        """The learner's own arrays carried between steps (for memory_nbytes)."""
        return []


class ForwardModeLearner(OnlineLearner):
    """Base of RTRL, SnAp1 and UORO: each step computes the cell's local Jacobians
    (rnnlab.online.jacobians) and hands them to `_update_influence`."""

    def _advance(self, x: Array, mask: Array | None) -> Array:
        prev = self._state
        jac = local_jacobians(self.layer.cell, self.layer.params, x, prev)
        new = jac.state if mask is None else np.where(mask[:, None], jac.state, prev)
        self._update_influence(jac, mask)
        self._state = new
        return new[:, : self.units]

    def _gradients(self, ds: Array, readout_grads: dict[str, Array]) -> dict:
        flat = self._flat_gradient(ds)  # (P,)
        return {"layer": unflatten(flat, self.layer.params), "readout": readout_grads}

    @abc.abstractmethod
    def _update_influence(self, jac, mask: Array | None) -> None:
        """Subclasses implement this."""

    @abc.abstractmethod
    def _flat_gradient(self, ds: Array) -> Array:
        """Subclasses implement this."""
