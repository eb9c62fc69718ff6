"""The recurrent layer: one implementation of every option, around a cell from rnnlab.cells.

Options (DESIGN.md): return_sequences, return_state, initial_state, go_backwards, mask,
stateful + reset_states(indices), dropout and recurrent_dropout.

- Input is batch-first (B, T, I). The cell math runs time-major (T, B, ·).
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
"""

from __future__ import annotations

import abc
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
from .base import Layer


class Recurrent(Layer):
    """Base of SimpleRNN, LSTM, GRU and Jordan. Subclasses name the cell and its parameters."""

    #: names of the carried states, e.g. ("h",) or ("h", "c")
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    config_keys = ("units", "return_sequences", "return_state", "go_backwards", "stateful",
                   "dropout", "recurrent_dropout", "kernel_initializer",
                   "recurrent_initializer", "bias_initializer")

    def __init__(self, units: int, *, return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, kernel_initializer: str = "glorot_uniform",
                 recurrent_initializer: str = "orthogonal", bias_initializer: str = "zeros",
                 name: str | None = None, dtype=None, seed: int | None = None):
        super().__init__(name=name, dtype=dtype, seed=seed)
        who = self.who
        self.units = check_positive_int(units, who, "units")
        self.return_sequences = check_bool(return_sequences, who, "return_sequences")
        self.return_state = check_bool(return_state, who, "return_state")
        self.go_backwards = check_bool(go_backwards, who, "go_backwards")
        self.stateful = check_bool(stateful, who, "stateful")
        self.dropout = check_rate(dropout, who, "dropout")
        self.recurrent_dropout = check_rate(recurrent_dropout, who, "recurrent_dropout")
        for key, value in (("kernel_initializer", kernel_initializer),
                           ("recurrent_initializer", recurrent_initializer),
                           ("bias_initializer", bias_initializer)):
            check_choice(value, who, key, initializers.INITIALIZERS)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.states: list[np.ndarray] | None = None  # carried states when stateful
        self.initial_state_grads: list[np.ndarray] | None = None
        self._cache: dict[str, Any] | None = None
        self._no_grad_forward = False

    # -- what subclasses provide ------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def cell(self):
        """The cell module (rnnlab.cells.simple, .lstm, ...)."""

    @abc.abstractmethod
    def _create_params(self, input_dim: int) -> None:
        """Create self.params / self.grads for an input of `input_dim` features."""

    def _cell_options(self) -> dict[str, Any]:
        return {}

    @property
    def state_size(self) -> int:
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    # -- helpers for subclasses -------------------------------------------------------------------
    def _init(self, initializer: str, shape, **kw) -> np.ndarray:
        return initializers.get(initializer, self.who)(shape, self.rng, self.dtype, **kw)

    def _init_gated(self, input_dim: int, gates: int) -> None:
        """weight_ih (G·H, I), weight_hh (G·H, H), bias_ih, bias_hh (G·H), PyTorch layout."""
        H = self.units
        self._add_param("weight_ih", self._init(self.kernel_initializer, (gates * H, input_dim),
                                                 hidden_size=H))
        self._add_param("weight_hh", self._init(self.recurrent_initializer, (gates * H, H),
                                                 blocks=gates, hidden_size=H))
        self._add_param("bias_ih", self._init(self.bias_initializer, (gates * H,), hidden_size=H))
        self._add_param("bias_hh", self._init(self.bias_initializer, (gates * H,), hidden_size=H))

    # -- protocol ---------------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else None
        if shape is None or len(shape) != 2:
            raise ValueError(f"{self.who}: expected input_shape (time, features) without the "
                             f"batch axis, got {input_shape!r}")
        input_dim = check_positive_int(shape[1], self.who, "the number of input features")
        self._create_params(input_dim)
        super().build(shape)

    def compute_output_shape(self, input_shape) -> tuple:
        T = input_shape[0]
        return (T, self.output_size) if self.return_sequences else (self.output_size,)

    def compute_mask(self, mask, inputs=None):
        return mask if self.return_sequences else None

    def sublayers(self) -> list[Layer]:
        return []

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
            raise TypeError(f"{self.who}: expected reset_states(indices) as ints or a bool "
                            f"mask, got {describe(idx)}")
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
        self._require_cache(self._cache)
        if self.go_backwards:
            raise ValueError(f"{self.who}: state_at is defined for forward-reading layers only")
        T = self._cache["time"]
        if not isinstance(step, (int, np.integer)) or not -T <= step < T:
            raise ValueError(f"{self.who}: expected step in [0, {T}), got {step!r}")
        return [s.copy() for s in self.cell.states_at(self._cache["cell"], int(step))]

    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        x = as_float_array(x, self.who, self.dtype)
        check_ndim(x, self.who, 3, "(batch, time, features)")
        B, T, _ = x.shape
        if B == 0 or T == 0:
            raise ValueError(f"{self.who}: expected at least one sequence and one time step, "
                             f"got shape {x.shape}")
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

        # cells with batch-major entries read x (B, T, I) and write (B, T, O) themselves: no
        # transposing copies (reading backwards still goes through the time-major ones)
        batch_major = not self.go_backwards and not self._cell_options() \
            and hasattr(self.cell, "forward_batch_major")
        outputs_bm = None  # (B, T, O) when the cell wrote batch-major outputs
        if not config.is_grad_enabled() and rec_mask is None \
                and hasattr(self.cell, "forward_inference"):
            self._cache = None  # nothing kept: backward is refused, state_at unavailable
            self._no_grad_forward = True
            if batch_major:
                outputs_bm, finals = self.cell.forward_inference_batch_major(
                    self.params, np.ascontiguousarray(x), states, mask)
            else:
                x_tm, m_tm = self._time_major(x, mask)
                outputs, finals = self.cell.forward_inference(self.params, x_tm, states, m_tm)
        else:
            if batch_major:
                outputs_bm, finals, cell_cache = self.cell.forward_batch_major(
                    self.params, np.ascontiguousarray(x), states, mask, rec_mask)
            else:
                x_tm, m_tm = self._time_major(x, mask)
                outputs, finals, cell_cache = self.cell.forward(
                    self.params, x_tm, states, m_tm, rec_mask, **self._cell_options())
            self._cache = {"cell": cell_cache, "in_mask": in_mask, "mask": mask,
                           "batch": B, "time": T, "batch_major": batch_major}
            self._no_grad_forward = False
        if self.stateful:
            self.states = [s.copy() for s in finals]
        if self.return_sequences:
            if outputs_bm is not None:
                y = outputs_bm.copy() if self._cache else outputs_bm  # the cache keeps its own
            else:
                y = outputs.transpose(1, 0, 2)  # (B, T, O)
                if self.go_backwards:
                    y = y[:, ::-1]
                y = _contiguous(y)  # a copy: for B = 1 the transpose is a view of the cache
            if mask is not None:
                y *= mask[:, :, None]
        else:
            y = finals[0].copy()
        if self.return_state:
            return [y, *(s.copy() for s in finals)]
        return y

    def backward(self, dy, *dstates):
        cache = self._cache
        self._require_cache(cache)
        B, T = cache["batch"], cache["time"]
        n_states = len(self.state_names)
        if dstates and not self.return_state:
            raise ValueError(f"{self.who}: got {len(dstates)} state gradients but the layer was "
                             f"called with return_state=False")
        if self.return_state and len(dstates) not in (0, n_states):
            raise ValueError(f"{self.who}: expected {n_states} state gradients "
                             f"({', '.join('d' + s for s in self.state_names)}), "
                             f"got {len(dstates)}")
        d_final = [None] * n_states
        for k, ds in enumerate(dstates):
            if ds is not None:
                d_final[k] = self._check_grad(ds, (B, self.state_size), f"d{self.state_names[k]}")
        batch_major = cache["batch_major"]
        if self.return_sequences:
            dy = self._check_grad(dy, (B, T, self.output_size), "dy")
            if cache["mask"] is not None:
                dy = dy * cache["mask"][:, :, None]
            if batch_major:
                d_out = np.ascontiguousarray(dy)  # (B, T, O), read in place
            else:
                if self.go_backwards:
                    dy = dy[:, ::-1]
                d_out = _contiguous(dy.transpose(1, 0, 2))  # (T, B, O)
        else:
            dy = self._check_grad(dy, (B, self.output_size), "dy")
            d_out = None
            d_final[0] = dy if d_final[0] is None else d_final[0] + dy

        if batch_major:
            dx, d_initial, grads = self.cell.backward_batch_major(cache["cell"], d_out,
                                                                  tuple(d_final))
        else:
            dx_tm, d_initial, grads = self.cell.backward(cache["cell"], d_out, tuple(d_final))
            dx = dx_tm.transpose(1, 0, 2)  # (B, T, I)
            if self.go_backwards:
                dx = dx[:, ::-1]
            dx = _contiguous(dx)
        for key, g in grads.items():
            self.grads[key][...] = g
        self.initial_state_grads = list(d_initial)
        if cache["in_mask"] is not None:
            dx *= cache["in_mask"][:, None, :]
        return dx

    def _require_cache(self, cache) -> None:
        if cache is None and self._no_grad_forward:
            raise RuntimeError(f"{self.who}: the last forward ran under rnnlab.no_grad(), which "
                               f"keeps nothing for backward() or state_at(); run it outside")
        self._require_forward(cache)

    # -- internals --------------------------------------------------------------------------------
    def _time_major(self, x, mask):
        """x (T, B, I) and mask (T, B) as the cells take them, read backwards if go_backwards."""
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        x_tm = _contiguous(x.transpose(1, 0, 2))
        return x_tm, None if mask is None else np.ascontiguousarray(mask.T)

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
                        f"to start over with a new batch size")
                return tuple(s.copy() for s in self.states)
            return tuple(np.zeros((B, S), dtype=self.dtype) for _ in range(n))
        if isinstance(initial_state, np.ndarray) and n == 1:
            initial_state = [initial_state]
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n:
            raise ValueError(f"{self.who}: expected initial_state as a list of {n} arrays "
                             f"({', '.join(self.state_names)}) of shape ({B}, {S}), "
                             f"got {describe(initial_state)}")
        states = []
        for name, s in zip(self.state_names, initial_state, strict=True):
            s = as_float_array(s, self.who, self.dtype, what=f"initial state {name}")
            if s.shape != (B, S):
                raise ValueError(f"{self.who}: expected initial state {name} of shape "
                                 f"({B}, {S}), got {s.shape}")
            states.append(s)
        return tuple(states)


def _contiguous(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of `a` (a transposed or reversed view). float32 copies of kernel
    sizes come from rnnlab.native's block pool: a fresh multi-megabyte array pays a page fault
    per 4 KiB on first touch, a recycled one does not."""
    out = native.empty(a.shape) if a.dtype == np.float32 and native.available() \
        else np.empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out
