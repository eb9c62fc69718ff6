"""The recurrent layer: one implementation of every option, around a cell (rnnlab.cells).

Options (docs/design.md, "Layers"): return_sequences, return_state, initial_state,
go_backwards, mask, stateful + reset_states(indices), dropout and recurrent_dropout.

- Input is batch-first (B, T, I) and the cell reads it so (layout "batch"; the LSTM's kernels in
  place). A layer reading backwards hands the cell reversed time-major copies (layout "time").
- mask (B, T) bool, True = valid: at a masked step the state is carried unchanged and the output
  is 0. Right padding and arbitrary masks both work; the final state is the state after the last
  valid step.
- go_backwards=True reads each sequence from its last valid step to its first. Outputs stay
  aligned with input positions, as in PyTorch's reverse direction (Keras instead returns them
  reversed); the final state is the state after reading position 0.
- dropout / recurrent_dropout (training only) draw ONE Bernoulli mask per sequence and reuse it
  at every step (variational dropout, Gal & Ghahramani 2016): the input mask (B, I) multiplies
  x_t, the recurrent mask (B, S) multiplies the fed-back state before the recurrent matmul.
  Masks are scaled by 1/(1-p) so no rescaling is needed at inference.
- stateful=True: the final states of a call become the initial states of the next one (no
  gradient flows between calls); reset_states(indices=None) zeroes all rows or the given ones.
- After backward(), `initial_state_grads` holds ∂L/∂(initial states), one array per state.
- Under rnnlab.no_grad() the cell keeps no cache (keep_cache=False): backward and state_at are
  refused.
- Biases (Keras' convention by choice, rnnlab.layers.keras_compat): bias="pytorch" (default)
  keeps the cell's bias_ih and bias_hh; bias="keras" keeps ONE vector `bias` where the two are
  only ever added (every built-in family but the GRU with reset_after=True, whose recurrent bias
  sits inside r ⊙ (W_hn h + b_hn): it keeps both, as Keras does); use_bias=False keeps none. The
  cell always sees bias_ih and bias_hh (`cell_params()`: the layer's vector and zeros).
  get_weights()/set_weights() use Keras' order and shapes (`keras_gate_order`).

Every cell family has its layer: a subclass naming its `cell_class` (SimpleRNN, LSTM, GRU,
Jordan in layers/rnn.py) or, for a family without one, the class layer_for_cell makes.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
from typing import Any, ClassVar

import numpy as np

from .. import config, initializers, native
from .._validation import (
    as_float_array,
    check_bool,
    check_choice,
    check_last_dim,
    check_mask,
    check_ndim,
    check_positive_int,
    check_rate,
    describe,
)
from ..cells import CELLS, Cell, get_cell
from .base import Layer, add_layer_source
from .keras_compat import gated_from_keras, gated_to_keras

BIAS_CONVENTIONS = ("pytorch", "keras")

#: cell family -> its layer class (written, or made by layer_for_cell)
_LAYER_OF: dict[type[Cell], type[Recurrent]] = {}


class Recurrent(Layer):
    """A recurrent layer around a cell of `cell_class`: Recurrent options as keywords, and the
    cell's options (its dataclass fields) as further keywords, e.g. activation="relu"."""

    config_keys = (
        "units",
        "return_sequences",
        "return_state",
        "go_backwards",
        "stateful",
        "dropout",
        "recurrent_dropout",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "use_bias",
        "bias",
    )
    #: Keras' gate blocks by rnnlab's (PyTorch's) rows: Keras' block k is rnnlab's block
    #: order[k]; None for a family Keras lacks (get_weights then lists params as they are)
    keras_gate_order: ClassVar[tuple[int, ...] | None] = None
    #: how many bias vectors Keras keeps for the family (the GRU with reset_after: 2)
    keras_bias_vectors: int = 1

    @property
    @abc.abstractmethod
    def cell_class(self) -> type[Cell]:
        """The cell family this layer runs (a class attribute in every subclass)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cell = cls.__dict__.get("cell_class")
        if isinstance(cell, type) and issubclass(cell, Cell):
            _LAYER_OF.setdefault(cell, cls)

    def __init__(
        self,
        units: int,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        kernel_initializer: str = "glorot_uniform",
        recurrent_initializer: str = "orthogonal",
        bias_initializer: str = "zeros",
        use_bias: bool = True,
        bias: str = "pytorch",
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
        **cell_options: Any,
    ):
        fields = {f.name for f in dataclasses.fields(self.cell_class)}
        others = {k: cell_options.pop(k) for k in list(cell_options) if k not in fields}
        super().__init__(name=name, dtype=dtype, seed=seed, **others)  # Keras' or unknown
        who = self.who
        self.units = check_positive_int(units, who, "units")
        try:
            self.cell: Cell = self.cell_class(**cell_options)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None
        self.return_sequences = check_bool(return_sequences, who, "return_sequences")
        self.return_state = check_bool(return_state, who, "return_state")
        self.go_backwards = check_bool(go_backwards, who, "go_backwards")
        self.stateful = check_bool(stateful, who, "stateful")
        self.dropout = check_rate(dropout, who, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, who, "recurrent_dropout")
        for key, value in (
            ("kernel_initializer", kernel_initializer),
            ("recurrent_initializer", recurrent_initializer),
            ("bias_initializer", bias_initializer),
        ):
            check_choice(value, who, key, initializers.INITIALIZERS)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.use_bias = check_bool(use_bias, who, "use_bias")
        self.bias = check_choice(bias, who, "bias", BIAS_CONVENTIONS)
        if (bias == "keras" or not use_bias) and not {"bias_ih", "bias_hh"} <= set(
            self.cell.param_specs(1, 1)
        ):
            raise NotImplementedError(
                f"{who}: bias={bias!r}, use_bias={use_bias} need a cell with PyTorch's bias "
                f"pair (bias_ih, bias_hh); {type(self.cell).__name__} has biases of its own"
            )
        self._zero_bias: np.ndarray | None = None  # what the cell sees for a missing bias
        self.states: list[np.ndarray] | None = None  # carried states when stateful
        self.initial_state_grads: list[np.ndarray] | None = None
        self._cache: dict[str, Any] | None = None

    @property
    def state_names(self) -> tuple[str, ...]:
        """The carried states, e.g. ("h",) or ("h", "c")."""
        return self.cell.state_names

    @property
    def state_size(self) -> int:
        return self.cell.state_size(self.units)

    @property
    def output_size(self) -> int:
        return self.cell.output_size(self.units)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(self.cell.options())
        return cfg

    def known_arguments(self) -> list[str]:
        return [*super().known_arguments(), *(f.name for f in dataclasses.fields(self.cell_class))]

    @property
    def one_bias(self) -> bool:
        """True when the layer keeps Keras' single bias vector `bias`."""
        return self.use_bias and self.bias == "keras" and self.keras_bias_vectors == 1

    def cell_params(self) -> dict[str, np.ndarray]:
        """The parameters as the cell declares them: the layer's own, plus bias_ih from the
        single `bias` and zeros for the biases the layer does not keep."""
        if self.use_bias and not self.one_bias:
            return self.params
        params = dict(self.params)
        params["bias_ih"] = params.pop("bias") if self.one_bias else self._zero_bias
        params["bias_hh"] = self._zero_bias
        return params

    def get_weights(self) -> list[np.ndarray]:
        """Keras' order and shapes: kernel (I, G·H), recurrent_kernel (H, G·H), bias (G·H);
        the two vectors of bias="pytorch" (or of the GRU with reset_after) stacked (2, G·H).
        A family Keras lacks lists its params as they are."""
        if self.keras_gate_order is None or not self.built:
            return super().get_weights()
        biases = [self.params[k] for k in ("bias", "bias_ih", "bias_hh") if k in self.params]
        return gated_to_keras(self.params, self.keras_gate_order, biases)

    def set_weights(self, weights) -> None:
        """From Keras' [kernel, recurrent_kernel, bias] (what get_weights returns)."""
        if self.keras_gate_order is None or not self.built:
            return super().set_weights(weights)
        bias_keys = [k for k in ("bias", "bias_ih", "bias_hh") if k in self.params]
        if (
            len(bias_keys) == 2
            and self.keras_bias_vectors == 1
            and isinstance(weights, (list, tuple))
            and len(weights) == 3
            and np.ndim(weights[2]) == 1
        ):
            raise ValueError(
                f"{self.who}: has PyTorch's two bias vectors (bias='pytorch') and the weights "
                f"have one, as Keras keeps: build the layer with bias='keras'"
            )
        shapes = {k: self.params[k].shape for k in ("weight_ih", "weight_hh")}
        w_ih, w_hh, biases = gated_from_keras(
            weights, self.keras_gate_order, len(bias_keys), self.who, shapes
        )
        for key, value in zip(
            ["weight_ih", "weight_hh", *bias_keys], [w_ih, w_hh, *biases], strict=True
        ):
            self.params[key][...] = value

    # -- protocol ---------------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
        if shape is None or len(shape) != 2:
            raise ValueError(
                f"{self.who}: expected input_shape (time, features) without the "
                f"batch axis, got {input_shape!r}"
            )
        input_dim = check_positive_int(shape[1], self.who, "the number of input features")
        self._create_params(input_dim)
        super().build(shape)

    def _create_params(self, input_dim: int) -> None:
        """The cell's parameters, each filled by the initializer of its role."""
        chosen = {
            "kernel": self.kernel_initializer,
            "recurrent": self.recurrent_initializer,
            "bias": self.bias_initializer,
        }
        specs = dict(self.cell.param_specs(input_dim, self.units))
        if not self.use_bias or self.one_bias:  # fewer biases than the cell: zeros for the rest
            self._zero_bias = np.zeros(specs["bias_hh"].shape, dtype=self.dtype)
            bias_ih, _ = specs.pop("bias_ih"), specs.pop("bias_hh")
            if self.one_bias:
                specs["bias"] = bias_ih
        for key, spec in specs.items():
            init = initializers.get(chosen[spec.init], self.who)
            self._add_param(
                key,
                init(spec.shape, self.rng, self.dtype, blocks=spec.blocks, hidden_size=self.units),
            )

    def compute_output_shape(self, input_shape) -> tuple:
        T = input_shape[0]
        return (T, self.output_size) if self.return_sequences else (self.output_size,)

    def compute_mask(self, mask, inputs=None):
        return mask if self.return_sequences else None

    def snapshot_state(self) -> dict[str, Any]:
        snap = super().snapshot_state()
        snap["states"] = None if self.states is None else [s.copy() for s in self.states]
        return snap

    def restore_state(self, snapshot: dict[str, Any]) -> None:
        super().restore_state(snapshot)
        states = snapshot["states"]
        self.states = None if states is None else [s.copy() for s in states]

    def reset_states(self, indices=None) -> None:
        """Zero the carried states: all rows (indices=None) or the given batch rows."""
        if indices is None:
            self.states = None
            return
        idx = np.asarray(indices)
        if idx.dtype.kind not in "iu" and not (idx.dtype == np.bool_):
            raise TypeError(
                f"{self.who}: expected reset_states(indices) as ints or a bool "
                f"mask, got {describe(idx)}"
            )
        if self.states is None:
            return
        B = self.states[0].shape[0]
        if idx.dtype == np.bool_ and idx.shape != (B,):
            raise ValueError(f"{self.who}: expected a bool mask of shape ({B},), got {idx.shape}")
        if idx.dtype != np.bool_ and idx.size and (idx.min() < -B or idx.max() >= B):
            raise ValueError(f"{self.who}: reset_states indices must lie in [0, {B}), got {idx}")
        for s in self.states:
            s[idx] = 0.0

    def state_at(self, step: int) -> list[np.ndarray]:
        """Copies of the states after time step `step` (0-based) of the last forward call.

        Truncated BPTT with overlapping windows starts the next window from such a state.
        """
        self.require_gradients_kept("state_at()")
        self._require_forward(self._cache)
        if self.go_backwards:
            raise ValueError(f"{self.who}: state_at is defined for forward-reading layers only")
        T = self._cache["time"]
        if not isinstance(step, (int, np.integer)) or not -T <= step < T:
            raise ValueError(f"{self.who}: expected step in [0, {T}), got {step!r}")
        return [s.copy() for s in self.cell.states_at(self._cache["cell"], int(step) % T)]

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        x = as_float_array(x, self.who, self.dtype)
        check_ndim(x, self.who, 3, "(batch, time, features)")
        B, T, _ = x.shape
        if B == 0 or T == 0:
            raise ValueError(
                f"{self.who}: expected at least one sequence and one time step, got shape {x.shape}"
            )
        if not self.built:
            self.build((None, x.shape[2]))
        check_last_dim(x, self.who, self.input_shape[1])
        mask = check_mask(mask, self.who, (B, T))
        if mask is not None and mask.all():
            mask = None  # every step valid: the unmasked fast path gives the same result
        states = self._initial_states(initial_state, B)

        in_mask = rec_mask = None
        if training and self.dropout > 0:
            in_mask = self._dropout_mask((B, x.shape[2]), self.dropout)
            x = x * in_mask[:, None, :]
        if training and self.recurrent_dropout > 0:
            rec_mask = self._dropout_mask((B, self.state_size), self.recurrent_dropout)

        keep = config.is_grad_enabled()  # under no_grad() the cell keeps no cache
        if self.go_backwards:  # reversed time-major copies: one transposing copy each way
            x_tm, m_tm = self._reversed_time_major(x, mask)
            outputs, finals, cell_cache = self.cell.forward(
                self.cell_params(),
                x_tm,
                states,
                mask=m_tm,
                recurrent_mask=rec_mask,
                keep_cache=keep,
                layout="time",
            )
        else:  # the layers' layout: (B, T, ·) in and out, no copies around the LSTM's kernels
            outputs, finals, cell_cache = self.cell.forward(
                self.cell_params(),
                x,
                states,
                mask=mask,
                recurrent_mask=rec_mask,
                keep_cache=keep,
                layout="batch",
            )
        self._cache = (
            None
            if cell_cache is None
            else {"cell": cell_cache, "in_mask": in_mask, "mask": mask, "batch": B, "time": T}
        )
        if self.stateful:
            self.states = [s.copy() for s in finals]
        if self.return_sequences:
            if self.go_backwards:
                y = _contiguous(outputs.transpose(1, 0, 2)[:, ::-1])  # (B, T, O)
            else:
                y = outputs  # (B, T, O), the caller's own
            if mask is not None:
                y *= mask[:, :, None]
        else:
            y = finals[0].copy()
        if self.return_state:
            return [y, *(s.copy() for s in finals)]
        return y

    def backward(self, dy, *dstates):
        cache = self._cache
        self._require_forward(cache)
        B, T = cache["batch"], cache["time"]
        n_states = len(self.state_names)
        if dstates and not self.return_state:
            raise ValueError(
                f"{self.who}: got {len(dstates)} state gradients but the layer was "
                f"called with return_state=False"
            )
        if self.return_state and len(dstates) not in (0, n_states):
            raise ValueError(
                f"{self.who}: expected {n_states} state gradients "
                f"({', '.join('d' + s for s in self.state_names)}), "
                f"got {len(dstates)}"
            )
        d_final = [None] * n_states
        for k, ds in enumerate(dstates):
            if ds is not None:
                d_final[k] = self._check_grad(ds, (B, self.state_size), f"d{self.state_names[k]}")
        if self.return_sequences:
            dy = self._check_grad(dy, (B, T, self.output_size), "dy")
            if cache["mask"] is not None:
                dy = dy * cache["mask"][:, :, None]
            if self.go_backwards:
                d_out = _contiguous(dy[:, ::-1].transpose(1, 0, 2))  # (T, B, O), reversed
            else:
                d_out = dy  # (B, T, O)
        else:
            dy = self._check_grad(dy, (B, self.output_size), "dy")
            d_out = None
            d_final[0] = dy if d_final[0] is None else d_final[0] + dy

        dx, d_initial, grads = self.cell.backward(cache["cell"], d_out, tuple(d_final))
        if self.go_backwards:
            dx = _contiguous(dx.transpose(1, 0, 2)[:, ::-1])  # (B, T, I)
        for key, g in grads.items():
            key = "bias" if key == "bias_ih" and self.one_bias else key
            if key in self.grads:  # a bias the layer does not keep has no gradient
                self.grads[key][...] = g
        self.initial_state_grads = list(d_initial)
        if cache["in_mask"] is not None:
            dx *= cache["in_mask"][:, None, :]
        return dx

    # -- internals --------------------------------------------------------------------------------
    def _reversed_time_major(self, x, mask):
        """x (T, B, I) and mask (T, B) read backwards, as a layer with go_backwards hands them
        to its cell."""
        x_tm = _contiguous(x[:, ::-1].transpose(1, 0, 2))
        return x_tm, None if mask is None else np.ascontiguousarray(mask[:, ::-1].T)

    def _dropout_mask(self, shape, rate: float) -> np.ndarray:
        keep = self.rng.random(shape) >= rate
        return keep.astype(self.dtype) / self.dtype.type(1.0 - rate)

    def _check_grad(self, g, shape, what: str) -> np.ndarray:
        g = as_float_array(g, self.who, self.dtype, what=what)
        if g.shape != shape:
            raise ValueError(f"{self.who}: expected {what} of shape {shape}, got {g.shape}")
        return g

    def _initial_states(self, initial_state, B: int) -> tuple[np.ndarray, ...]:
        n, S = len(self.state_names), self.state_size
        if initial_state is None:
            if self.stateful and self.states is not None:
                if self.states[0].shape[0] != B:
                    raise ValueError(
                        f"{self.who}: stateful layer carries states for batch size "
                        f"{self.states[0].shape[0]}, got a batch of {B}; call reset_states() "
                        f"to start over with a new batch size"
                    )
                return tuple(s.copy() for s in self.states)
            return tuple(np.zeros((B, S), dtype=self.dtype) for _ in range(n))
        if isinstance(initial_state, np.ndarray) and n == 1:
            initial_state = [initial_state]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n:
            raise ValueError(
                f"{self.who}: expected initial_state as a list of {n} arrays "
                f"({', '.join(self.state_names)}) of shape ({B}, {S}), "
                f"got {describe(initial_state)}"
            )
        states = []
        for name, s in zip(self.state_names, initial_state, strict=True):
            s = as_float_array(s, self.who, self.dtype, what=f"initial state {name}")
            if s.shape != (B, S):
                raise ValueError(
                    f"{self.who}: expected initial state {name} of shape ({B}, {S}), got {s.shape}"
                )
            states.append(s)
        return tuple(states)


def layer_for_cell(cell: str | type[Cell] | Cell) -> type[Recurrent]:
    """The layer class of a cell family (a registry name, a Cell class or a Cell instance):
    the class written for it, or one made here for a family that has none — named
    `cell_class.layer_name` (default: the class name without "Cell"), taking units, the
    Recurrent options and the cell's options as keywords."""
    cls = get_cell(cell)
    layer = _LAYER_OF.get(cls)
    if layer is not None:
        return layer
    name = cls.layer_name or cls.__name__.removesuffix("Cell") or cls.__name__
    doc = (
        f"The recurrent layer of {cls.__name__} (made by rnnlab.layers.layer_for_cell): "
        f"{name}(units, **Recurrent options, **cell options).\n\n{cls.__doc__ or ''}"
    )
    return type(
        name, (Recurrent,), {"cell_class": cls, "__doc__": doc, "__module__": cls.__module__}
    )


def cells_by_units() -> dict[str, type[Cell]]:
    """The registered cell families whose layer needs nothing but `units` (every other argument
    has a default), by name: those a model can stack from a name alone (`rnnlab train --cell`,
    the tasks' `--cell`). Jordan, whose layer also needs `output_units`, is not one."""
    return {name: cls for name, cls in sorted(CELLS.items()) if _takes_units_alone(cls)}


def _takes_units_alone(cell: type[Cell]) -> bool:
    params = list(inspect.signature(layer_for_cell(cell).__init__).parameters.values())[1:]
    required = [
        p.name
        for p in params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    return required == ["units"]


def _layers_of_registered_cells() -> None:
    for cell in list(CELLS.values()):
        layer_for_cell(cell)


# a saved model of a family registered after rnnlab was imported still loads by its layer name
add_layer_source(_layers_of_registered_cells)


def _contiguous(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `a` (a transposed or reversed view). float32 copies of kernel
    sizes come from rnnlab.native's block pool: a fresh multi-megabyte array pays a page fault
    per 4 KiB on first touch, a recycled one does not."""
    out = native.empty(a.shape) if a.dtype == np.float32 else np.empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out
