"""What an online learner drives: a recurrent model, its state, its Jacobians, its outputs.

    s_t = F(s_{t-1}, x_t; θ)     state (B, S), S = U·H: U state blocks of H units; s_0 = 0
    y_t = R(s_t; φ)              outputs (B, O): a readout, or the state itself

Every learner (RTRL, SnAp1, UORO, TruncatedBPTT) takes a model through one interface,
`OnlineModel`; two models implement it:

- `LayerModel(layer, readout)`, made for you when a learner gets `(layer, readout, loss)`: a
  recurrent layer whose cell declares local derivatives (`layer.cell`: SimpleRNNCell,
  LSTMCell, GRUCell, or any family registered with them) and a Dense readout on h_t.
  θ = the layer's weight_ih, weight_hh, bias_ih, bias_hh (jacobians.PARAM_KEYS), φ = the
  readout's weight and bias.
- `rnnlab.online.FullyRecurrentNet`: Williams & Zipser's network, whose outputs are its state
  (y_t = s_t, no φ), so a learner can feed targets back into it (teacher forcing).

At every step a forward-mode learner asks the model for the step's Jacobians
(`model.jacobians(x_t, s_{t-1})`, an object with the `StepSummary` methods), reads the outputs
(`model.read(s_t)`), and turns ∂L_t/∂y_t into ∂L_t/∂s_t and φ's gradient
(`model.read_backward`). Parameters and gradients are grouped by part — {"layer": {...},
"readout": {...}} or {"net": {"W": ...}} — and an optimizer sees them as "<part>.<name>".
"""

from __future__ import annotations

import abc
from typing import ClassVar, Protocol

import numpy as np

from ..layers.core import Dense
from ..layers.recurrent import Recurrent
from .jacobians import PARAM_KEYS, local_jacobians, param_count, unflatten, unit_columns

Array = np.ndarray
Grads = dict[str, dict[str, Array]]


class StepSummary(Protocol):
    """One step of a model with what the forward-mode learners need of its Jacobians,
    D_t = ∂s_t/∂s_{t-1} (B, S, S) and I_t = ∂s_t/∂θ (B, S, P), θ flat (model.param_count).

    Every θ entry feeds the state entries of exactly one unit k (h_k, and c_k for the LSTM):
    model.unit_columns()[k] lists them (Q per unit), and I_t is zero elsewhere.
    """

    state: Array  # (B, S) s_t

    def recurrent(self) -> Array:
        """D_t, (B, S, S)."""

    def immediate(self) -> Array:
        """I_t, dense (B, S, P)."""

    def propagate(self, influence: Array, out: Array) -> Array:
        """RTRL's D_t M + I_t for M (B, S, P), written into `out`."""

    def immediate_by_unit(self) -> Array:
        """I_t's non-zero part, (B, H, U, Q): [b, k, u, q] = I_t[b, u·H + k, cols[k, q]]."""

    def unit_blocks(self) -> Array:
        """The U×U blocks of D_t coupling each unit's own state entries, (B, H, U, U)."""

    def jvp_state(self, v: Array) -> Array:
        """D_t v for v (B, S)."""

    def vjp_params(self, w: Array) -> Array:
        """wᵀ I_t for w (B, S), one row per batch element: (B, P)."""


class OnlineModel(abc.ABC):
    """A recurrent model an online learner can drive (module docstring)."""

    #: True if the outputs are the state itself (y_t = s_t): targets can be fed back
    state_is_output: ClassVar[bool] = False

    dtype: np.dtype
    units: int  # H
    blocks: int  # U: the state is U blocks of H, e.g. [h; c] for the LSTM
    outputs: int  # O

    @property
    @abc.abstractmethod
    def who(self) -> str:
        """How error messages name the model."""

    @property
    def state_size(self) -> int:
        """S = U·H."""
        return self.blocks * self.units

    @property
    @abc.abstractmethod
    def input_size(self) -> int | None:
        """The number of input features I, or None until built."""

    @abc.abstractmethod
    def build(self, input_size: int) -> None:
        """Create the parameters for `input_size` features if there are none yet (a learner
        calls it at its first step after a reset; a built model is left as it is)."""

    @property
    @abc.abstractmethod
    def params(self) -> dict[str, Array]:
        """The trained arrays (no copies), keyed "<part>.<name>"."""

    @abc.abstractmethod
    def unit_columns(self) -> Array:
        """(H, Q) int: the flat θ indices of each unit (a partition of range(P))."""

    @property
    def param_count(self) -> int:
        """P, the size of the flat θ."""
        return int(self.unit_columns().size)

    @abc.abstractmethod
    def jacobians(self, x: Array, state: Array) -> StepSummary:
        """One step from s_{t-1} = state (B, S) with input x (B, I), and its Jacobians."""

    @abc.abstractmethod
    def read(self, state: Array) -> Array:
        """The outputs y_t (B, O) of s_t."""

    @abc.abstractmethod
    def read_backward(self, dy: Array) -> tuple[Array, Grads]:
        """From ∂L/∂y_t (B, O), after read(s_t): ∂L/∂s_t (B, S) and φ's gradients by part."""

    @abc.abstractmethod
    def split_gradient(self, flat: Array) -> Grads:
        """A flat (P,) gradient of θ as arrays shaped like the parameters, by part."""


class LayerModel(OnlineModel):
    """A recurrent layer and a Dense readout on h_t (see the module docstring).

    The layer runs without dropout and reads forwards; its cell must declare local
    derivatives (`layer.cell.has_local_derivatives`). Unbuilt layers are built at the first
    step; the readout is built for the layer's units.
    """

    def __init__(self, layer: Recurrent, readout: Dense, who: str = "LayerModel"):
        cell = getattr(layer, "cell", None)
        if not isinstance(layer, Recurrent) or not cell.has_local_derivatives:
            raise TypeError(
                f"{who}: expected the recurrent layer to be a rnnlab recurrent layer whose "
                f"cell declares local derivatives (SimpleRNN, LSTM, GRU, ...), "
                f"got {type(layer).__name__}"
            )
        for option in ("dropout", "recurrent_dropout"):
            if getattr(layer, option) != 0.0:
                raise ValueError(
                    f"{who}: online learners run the layer without dropout; got "
                    f"{option}={getattr(layer, option)} on {layer.who}"
                )
        if layer.go_backwards:
            raise ValueError(
                f"{who}: an online learner reads the stream forwards; {layer.who} has "
                f"go_backwards=True"
            )
        if not isinstance(readout, Dense):
            raise TypeError(
                f"{who}: expected the readout to be a rnnlab Dense layer, "
                f"got {type(readout).__name__}"
            )
        if readout.dtype != layer.dtype:
            raise TypeError(
                f"{who}: the readout's dtype {readout.dtype} differs from the layer's {layer.dtype}"
            )
        self._who = who
        self.layer, self.readout, self.cell = layer, readout, cell
        self.units, self.blocks = layer.units, len(cell.state_names)
        self.gates = cell.gates
        self.outputs = readout.units
        self.dtype = layer.dtype
        if layer.built:
            self._check_readout()

    @property
    def who(self) -> str:
        return self._who

    @property
    def input_size(self) -> int | None:
        return self.layer.params["weight_ih"].shape[1] if self.layer.built else None

    def build(self, input_size: int) -> None:
        if not self.layer.built:
            self.layer.build((None, input_size))
        self._check_readout()

    def _check_readout(self) -> None:
        if self.readout.built and self.readout.params["weight"].shape[1] != self.units:
            raise ValueError(
                f"{self.who}: the readout expects {self.readout.params['weight'].shape[1]} "
                f"inputs but the layer has {self.units} units"
            )
        if not self.readout.built:
            self.readout.build((self.units,))

    @property
    def params(self) -> dict[str, Array]:
        out = {f"layer.{k}": self.layer.params[k] for k in PARAM_KEYS}
        out.update({f"readout.{k}": v for k, v in self.readout.params.items()})
        return out

    def unit_columns(self) -> Array:
        return unit_columns(self.gates, self.units, self.input_size)

    @property
    def param_count(self) -> int:
        return param_count(self.gates, self.units, self.input_size)

    def jacobians(self, x: Array, state: Array) -> StepSummary:
        return local_jacobians(self.cell, self.layer.params, x, state)

    def read(self, state: Array) -> Array:
        return self.readout.forward(state[:, : self.units])  # (B, O) from h_t

    def read_backward(self, dy: Array) -> tuple[Array, Grads]:
        dh = self.readout.backward(dy)  # (B, H)
        ds = np.zeros((dh.shape[0], self.state_size), dtype=dh.dtype)
        ds[:, : self.units] = dh  # the readout reads h only
        return ds, {"readout": {k: g.copy() for k, g in self.readout.grads.items()}}

    def split_gradient(self, flat: Array) -> Grads:
        return {"layer": unflatten(flat, self.layer.params)}


def as_model(model, readout, who: str) -> OnlineModel:
    """The model a learner drives: an OnlineModel as given (it has no readout), or a
    LayerModel of a recurrent layer and its readout."""
    if isinstance(model, OnlineModel):
        if readout is not None:
            raise TypeError(
                f"{who}: {model.who} reads its outputs from its own state; expected no "
                f"readout, got {type(readout).__name__}"
            )
        return model
    return LayerModel(model, readout, who)


__all__ = ["LayerModel", "OnlineModel", "StepSummary", "as_model"]
