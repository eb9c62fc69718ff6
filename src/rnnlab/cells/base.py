"""The cell protocol: what every cell family declares, in one place.

A cell family is a class derived from `Cell`, written as a frozen dataclass whose fields are
the cell's options (`SimpleRNNCell(activation="relu")`, `JordanCell(output_units=3)`); an
instance is small, immutable and holds no parameters. A family declares:

    name, state_names                   its registry name ("lstm") and carried states ("h", "c")
    param_specs(input_size, units)      parameter names, shapes and initializer roles
    state_size(units), output_size(units)
    step(params, x_t, states)           one step, written like the equations: the reference
                                        every fast path is tested against
    forward_steps(params, x, states, mask, recurrent_mask, keep_cache)
                                        the NumPy time loop over time-major arrays
    backward_steps(cache, d_outputs, d_final)
                                        its backward through time
    states_at(cache, t)                 the states after step t of a forward (truncated BPTT)
    local_derivatives(params, x_t, states)
                                        optional: what the online learners (RTRL, SnAp, UORO)
                                        need, see LocalDerivatives

and its class docstring states the equations, forward and backward. From these it gets

    forward(params, x, states, *, mask=None, recurrent_mask=None, keep_cache=True,
            layout="time") -> (outputs, final_states, cache or None)
    backward(cache, d_outputs, d_final) -> (dx, d_initial_states, grads)

Layouts: "time" takes x (T, B, I) and mask (T, B) and gives outputs (T, B, O); "batch" takes
x (B, T, I) and mask (B, T) and gives outputs (B, T, O), the layers' layout. backward takes
d_outputs and returns dx in the layout its forward was called with (the cache records it).
The NumPy loops run time-major; for "batch" the base class transposes on the way in and out
(a family with a kernel that reads the layers' layout in place, like the LSTM, overrides
forward and backward to skip that).

Conventions: the outputs are the first state after each step (h, or Jordan's y); `mask`
(bool, True = valid) keeps a row's states unchanged at steps where it is False;
`recurrent_mask` (B, state_size) multiplies the fed-back state before the recurrent matmul at
every step (variational dropout, Gal & Ghahramani 2016). `d_outputs` may be None (gradients
only through the final states) and each of `d_final` may be None. The final states, and the
outputs in layout "batch", belong to the caller; in layout "time" the outputs may be an array
the cache holds (the time loop's own): copy them before editing them in place if backward is
still to come. Caches are small dataclasses (one per family, derived from `Cache`);
keep_cache=False keeps none (inference, no_grad).
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Self

import numpy as np

from .. import native

Array = np.ndarray
Params = Mapping[str, Array]
Layout = Literal["time", "batch"]
LAYOUTS: tuple[str, ...] = ("time", "batch")


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of a cell: its shape and which of the layer's initializers fills it.

    init: "kernel" (input weights; kernel_initializer), "recurrent" (weights applied to the
    fed-back state; recurrent_initializer) or "bias" (bias_initializer). blocks: the number of
    gate blocks stacked in the rows, each initialized on its own (orthogonal per gate).
    """

    shape: tuple[int, ...]
    init: Literal["kernel", "recurrent", "bias"]
    blocks: int = 1


@dataclass(frozen=True)
class LocalDerivatives:
    """A step's new state and its local derivatives, for the online learners.

    For the gated families (params weight_ih (G·H, I), weight_hh (G·H, H), bias_ih, bias_hh),
    with a = W_ih x + b_ih and q = W_hh h + b_hh the input- and recurrent-side pre-activations
    (B, G·H) and s = the states concatenated ([h] or [h; c], S = U·H):

        e_in[b, s, g]   = ∂s'_s / ∂a[g·H + k]                      (B, S, G)   k = s mod H
        e_rec[b, s, g]  = ∂s'_s / ∂q[g·H + k]                      (B, S, G)
        direct[b, s, u] = ∂s'_s / ∂s_{u·H + k} other than through q   (B, S, U)

    rnnlab.online.jacobians assembles D_t = ∂s_t/∂s_{t−1} and I_t = ∂s_t/∂θ from them.
    """

    state: Array  # (B, S) s_t
    e_in: Array  # (B, S, G)
    e_rec: Array  # (B, S, G)
    direct: Array  # (B, S, U)
    x: Array  # (B, I) the input the step read
    h: Array  # (B, H) the hidden state the step read


@dataclass(eq=False, kw_only=True)
class Cache:
    """What every family's cache holds (each family adds its own arrays)."""

    params: Params
    x: Array  # (T, B, I): the input, time-major unless the family stored it otherwise
    mask: Array | None  # (T, B) bool or None
    recurrent_mask: Array | None  # (B, state_size) or None
    layout: Layout = "time"  # the caller's layout: backward's d_outputs and dx are in it


@dataclass(eq=False, kw_only=True)
class HiddenSequenceCache(Cache):
    """A cache with the hidden state after every step, which a kernel forward in layout
    "batch" stores as the layers hold it: batch_major means x, hs and mask are (B, T, ·) and
    (B, T); `time_major()` gives the time-major cache the NumPy backward reads."""

    h0: Array  # (B, H)
    hs: Array  # (T, B, H) h_t after every step, or (B, T, H) if batch_major
    batch_major: bool = False

    def time_major(self) -> Self:
        """This cache with x, hs and mask time-major (three transposing copies if they are not)."""
        if not self.batch_major:
            return self
        return replace(
            self,
            x=np.ascontiguousarray(self.x.transpose(1, 0, 2)),
            hs=np.ascontiguousarray(self.hs.transpose(1, 0, 2)),
            mask=None if self.mask is None else np.ascontiguousarray(self.mask.T),
            batch_major=False,
        )


class Cell(abc.ABC):
    """Base of every cell family (see the module docstring for the protocol)."""

    #: the registry name: rnnlab.cells.CELLS[name] is the class
    name: ClassVar[str]
    #: the carried states, e.g. ("h",) or ("h", "c"); outputs are the first one after each step
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    #: the name of the layer class rnnlab.layers.layer_for_cell makes when no layer class is
    #: written for the family (default: the class name without "Cell")
    layer_name: ClassVar[str] = ""

    # -- what a family declares ----------------------------------------------------------------
    @abc.abstractmethod
    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        """Every parameter by name (in the order the layer creates them)."""

    def state_size(self, units: int) -> int:
        """The size of each carried state (units unless the family says otherwise)."""
        return units

    def output_size(self, units: int) -> int:
        """The size of the outputs: the first state's."""
        return self.state_size(units)

    @abc.abstractmethod
    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """One step, as the equations read: x_t (B, I), states -> new states."""

    @abc.abstractmethod
    def forward_steps(
        self,
        params: Params,
        x: Array,
        states: tuple[Array, ...],
        mask: Array | None,
        recurrent_mask: Array | None,
        keep_cache: bool,
    ) -> tuple[Array, tuple[Array, ...], Cache | None]:
        """The time loop: x (T, B, I), mask (T, B). Returns outputs (T, B, O), the final states
        (the caller's own arrays) and the cache (None without keep_cache)."""

    @abc.abstractmethod
    def backward_steps(
        self, cache: Cache, d_outputs: Array | None, d_final: tuple[Array | None, ...]
    ) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
        """Backward through time: d_outputs (T, B, O) or None. Returns dx (T, B, I), the
        gradients of the initial states and of every parameter."""

    @abc.abstractmethod
    def states_at(self, cache: Cache, t: int) -> tuple[Array, ...]:
        """The states after step t of the forward that made `cache` (views into it)."""

    def local_derivatives(
        self, params: Params, x_t: Array, states: tuple[Array, ...]
    ) -> LocalDerivatives:
        """One step with its local derivatives (for the online learners): override it."""
        raise NotImplementedError(
            f"{type(self).__name__} declares no local derivatives; the online learners need them"
        )

    @property
    def has_local_derivatives(self) -> bool:
        """True if the family declares local_derivatives (the online learners can train it)."""
        return type(self).local_derivatives is not Cell.local_derivatives

    # -- what every family gets ----------------------------------------------------------------
    def options(self) -> dict[str, Any]:
        """The cell's options (its dataclass fields) by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def param_shapes(self, input_size: int, units: int) -> dict[str, tuple[int, ...]]:
        """Every parameter's shape by name."""
        return {k: spec.shape for k, spec in self.param_specs(input_size, units).items()}

    def forward(
        self,
        params: Params,
        x: Array,
        states: tuple[Array, ...],
        *,
        mask: Array | None = None,
        recurrent_mask: Array | None = None,
        keep_cache: bool = True,
        layout: Layout = "time",
    ) -> tuple[Array, tuple[Array, ...], Cache | None]:
        """Run the whole sequence (layouts in the module docstring).

        Returns the outputs (T, B, O) or (B, T, O), the final states (B, ·) each, and the cache
        for backward (None without keep_cache).
        """
        self.check_call(x, states, layout)
        if layout == "batch":
            x, mask = swap_time_batch(x), swap_time_batch(mask)
        outputs, finals, cache = self.forward_steps(
            params, x, states, mask, recurrent_mask, keep_cache
        )
        if layout == "batch":
            outputs = swap_time_batch(outputs)
        if cache is not None:
            cache.layout = layout
        return outputs, finals, cache

    def backward(
        self, cache: Cache, d_outputs: Array | None, d_final: tuple[Array | None, ...]
    ) -> tuple[Array, tuple[Array, ...], dict[str, Array]]:
        """Gradients of the sequence from a forward's cache: d_outputs (in the forward's layout)
        or None, d_final one gradient or None per state. Returns dx (in that layout), the
        gradients of the initial states, and {param name: gradient}."""
        if cache is None:
            raise ValueError(
                f"{type(self).__name__}.backward: expected the cache of a forward "
                f"with keep_cache=True, got None"
            )
        if len(d_final) != len(self.state_names):
            raise ValueError(
                f"{type(self).__name__}.backward: expected {len(self.state_names)} "
                f"final-state gradients ({', '.join(self.state_names)}), "
                f"got {len(d_final)}"
            )
        batch = cache.layout == "batch"
        if batch and d_outputs is not None:
            d_outputs = swap_time_batch(d_outputs)
        dx, d_initial, grads = self.backward_steps(cache, d_outputs, d_final)
        return (swap_time_batch(dx) if batch else dx), d_initial, grads

    def check_call(self, x: Array, states: tuple[Array, ...], layout: str) -> None:
        """Clear errors for a malformed forward call (the layers check everything else)."""
        who = f"{type(self).__name__}.forward"
        if layout not in LAYOUTS:
            raise ValueError(f"{who}: expected layout in {list(LAYOUTS)}, got {layout!r}")
        if not isinstance(x, np.ndarray) or x.ndim != 3:
            shape = "(T, B, I)" if layout == "time" else "(B, T, I)"
            got = x.shape if isinstance(x, np.ndarray) else type(x).__name__
            raise ValueError(f"{who}: expected x of rank 3 {shape}, got {got}")
        if len(states) != len(self.state_names):
            raise ValueError(
                f"{who}: expected {len(self.state_names)} states "
                f"({', '.join(self.state_names)}), got {len(states)}"
            )


def swap_time_batch(a: Array | None) -> Array | None:
    """(B, T, ·) ↔ (T, B, ·), or (B, T) ↔ (T, B): a new C-contiguous array (never a view: with
    B = 1 or T = 1 the swapped view is contiguous already). float32 arrays come from
    rnnlab.native's block pool: a fresh multi-megabyte array pays a page fault per 4 KiB on
    first touch, a recycled one does not."""
    if a is None:
        return None
    swapped = a.swapaxes(0, 1)
    out = native.empty(swapped.shape) if a.dtype == np.float32 else np.empty(swapped.shape, a.dtype)
    np.copyto(out, swapped)
    return out


def common_dtype(params: Params, x: Array) -> np.dtype:
    """The dtype a call computes in: x's, unless a parameter is wider."""
    return np.result_type(x, *params.values())
