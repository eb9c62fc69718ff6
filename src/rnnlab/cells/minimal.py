"""The common part of minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates
that read x_t alone, so the state follows a linear recurrence h_t = a_t ⊙ h_{t−1} + b_t
(rnnlab.cells.scan) that trains as a parallel scan and streams as a step.

A family derived from MinimalCell declares its gate count G, `coefficients(pre)` (a_t, b_t from
the pre-activations), `log_coefficients(pre)` (log a_t, log b_t for Heinsen's log-space scan)
and `coefficient_backward(pre, da, db)` (the pre-activations' gradient); the time loop, the
scans, masks, the cache and the weight gradients are here.

Modes (the cell option `mode`), all exact:
    "parallel"    forward by Heinsen's log-space scan (scan.log_scan, float64 inside), backward
                  by the chunked two-level reverse scan: the paper's parallel form
    "sequential"  forward and backward by the time loop over T, vectorised over the B·H
                  channels (the compiled scan where it serves, else NumPy)
    "auto"        (default) the compiled scan where it serves (float32, H a multiple of 16:
                  minimal_native.py); otherwise the NumPy time loop, or the two-level chunked
                  scan when there are few channels (B·H < AUTO_CHANNELS) and T ≥ AUTO_MIN_T.
On this CPU the channels fill the vector units and the time loop is memory-bound, while
NumPy's logaddexp costs ~30 ns an element: the log-space form is the slowest of the three
(docs/parallel-rnn.md has the measurements); it is there because it is the paper's.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .. import native
from . import minimal_native
from .base import Array, Cache, Cell, Layout, Params, ParamSpec
from .ops import input_projection, previous_states, weight_grad
from .scan import CHUNK, chunked_scan, log_scan, reverse_scan, sequential_scan

MODES = ("auto", "parallel", "sequential")
#: "auto" runs the time loop from this many channels (B·H) up, or below AUTO_MIN_T steps
AUTO_CHANNELS = 64
AUTO_MIN_T = 256


@dataclass(eq=False, kw_only=True)
class MinimalCache(Cache):
    h0: Array  # (B, H)
    pre: Array  # (T, B, G·H) the gates' pre-activations x W_ihᵀ + b_ih
    a: Array  # (T, B, H) a_t (1 at masked steps)
    hs: Array  # (T, B, H) h_t after every step
    parallel: bool  # the mode the forward ran in (backward runs the same)


def check_mode(who: str, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"{who}: expected mode in {list(MODES)}, got {mode!r}")


def runs_parallel(mode: str, steps: int, channels: int) -> bool:
    """Whether a call of `steps` time steps over `channels` (B·H) runs the parallel scan."""
    if mode == "auto":
        return channels < AUTO_CHANNELS and steps >= AUTO_MIN_T
    return mode == "parallel"


def refuse_recurrent_mask(who: str, recurrent_mask: Array | None) -> None:
    if recurrent_mask is not None:
        raise ValueError(
            f"{who}: recurrent_dropout is not supported: the cell has no recurrent matmul "
            f"(its state enters a linear recurrence); use dropout on the inputs"
        )


@dataclass(frozen=True)
class MinimalCell(Cell):
    """Base of minGRU and minLSTM (not registered itself): params weight_ih (G·H, I) and
    bias_ih (G·H), gate blocks in the order the family names."""

    mode: str = "auto"

    gates: ClassVar[int]

    def __post_init__(self):
        check_mode(type(self).__name__, self.mode)

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        G, H, I = self.gates, units, input_size
        return {
            "weight_ih": ParamSpec((G * H, I), "kernel"),
            "bias_ih": ParamSpec((G * H,), "bias"),
        }

    @abc.abstractmethod
    def coefficients(self, pre: Array) -> tuple[Array, Array]:
        """a_t, b_t (…, H) from the pre-activations (…, G·H)."""

    @abc.abstractmethod
    def log_coefficients(self, pre: Array) -> tuple[Array, Array]:
        """log a_t, log b_t (…, H), computed without forming a_t, b_t (no underflow)."""

    @abc.abstractmethod
    def coefficient_backward(self, pre: Array, da: Array, db: Array) -> Array:
        """∂L/∂pre (…, G·H) from ∂L/∂a_t and ∂L/∂b_t (…, H)."""

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """h' = a ⊙ h + b with a, b from pre = W_ih x + b_ih."""
        (h,) = states
        a, b = self.coefficients(x_t @ params["weight_ih"].T + params["bias_ih"])
        return (a * h + b,)

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
        """As Cell.forward; the compiled scan runs it where it serves (minimal_native.py) unless
        mode="parallel"."""
        self.check_call(x, states, layout)
        units = states[0].shape[-1] if states and isinstance(states[0], np.ndarray) else 0
        if self.mode == "parallel" or not minimal_native.serves(params, x, units, recurrent_mask):
            return super().forward(
                params, x, states, mask=mask, recurrent_mask=recurrent_mask,
                keep_cache=keep_cache, layout=layout,
            )  # fmt: skip
        if layout == "batch" and mask is not None:
            mask = np.asarray(mask)
        return minimal_native.forward(self.gates, params, x, states[0], mask, keep_cache, layout)

    def backward(self, cache, d_outputs, d_final):
        if not isinstance(cache, minimal_native.MinimalNativeCache):
            return super().backward(cache, d_outputs, d_final)
        if len(d_final) != 1:
            raise ValueError(
                f"{type(self).__name__}.backward: expected 1 final-state gradient (h), "
                f"got {len(d_final)}"
            )
        return minimal_native.backward(self.gates, cache, d_outputs, d_final[0])

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        refuse_recurrent_mask(type(self).__name__, recurrent_mask)
        (h0,) = states
        T, B, _ = x.shape
        H = h0.shape[1]
        pre = input_projection(x, params["weight_ih"], params["bias_ih"])  # (T, B, G·H)
        parallel = runs_parallel(self.mode, T, B * H)
        log_space = self.mode == "parallel"  # "auto"'s parallel form is the two-level scan
        hs = np.empty((T, B, H), dtype=x.dtype)
        a_all = np.empty((T, B, H), dtype=x.dtype) if keep_cache else None
        h = h0
        for s in range(0, T, CHUNK):  # chunks over T: temporaries of CHUNK × B × H, h carried
            sl = slice(s, s + CHUNK)
            valid = None if mask is None else mask[sl, :, None]  # (C, B, 1)
            if log_space:
                log_a, log_b = self.log_coefficients(pre[sl])  # (C, B, H) each
                if valid is not None:
                    log_a = np.where(valid, log_a, 0.0)  # a = 1, b = 0: the state is carried
                    log_b = np.where(valid, log_b, -np.inf)
                hs[sl] = log_scan(log_a, log_b, h)
                a = np.exp(log_a) if keep_cache else None
            else:
                a, b = self.coefficients(pre[sl])
                if valid is not None:
                    a, b = np.where(valid, a, 1.0), np.where(valid, b, 0.0)
                if parallel:
                    hs[sl] = chunked_scan(a, b, h)
                else:
                    sequential_scan(a, b, h, out=hs[sl])
            if keep_cache:
                a_all[sl] = a
            h = hs[min(s + CHUNK, T) - 1]
        cache = (
            MinimalCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=None,
                h0=h0,
                pre=pre,
                a=a_all,
                hs=hs,
                parallel=parallel,
            )
            if keep_cache
            else None
        )
        return hs, (hs[-1].copy(),), cache

    def states_at(self, cache: MinimalCache, t: int) -> tuple[Array, ...]:
        if isinstance(cache, minimal_native.MinimalNativeCache) and cache.layout == "batch":
            return (cache.hs[:, t],)
        return (cache.hs[t],)

    def backward_steps(self, cache: MinimalCache, d_outputs, d_final):
        hs, pre, mask = cache.hs, cache.pre, cache.mask
        T = hs.shape[0]
        d_pre = np.empty_like(pre)  # (T, B, G·H)
        carry = None if d_final[0] is None else d_final[0].astype(hs.dtype)
        for s in reversed(range(0, T, CHUNK)):  # the reverse scan, chunk by chunk from the end
            sl = slice(s, s + CHUNK)
            g = np.zeros_like(hs[sl]) if d_outputs is None else d_outputs[sl]
            mu, carry = reverse_scan(cache.a[sl], g, carry, cache.parallel)  # μ = ∂L/∂h = ∂L/∂b
            h_prev = hs[s - 1 : min(s + CHUNK, T) - 1] if s else previous_states(cache.h0, hs[sl])
            da = mu * h_prev  # ∂L/∂a_t = μ_t h_{t−1}
            if mask is not None:  # a masked step's a, b are constants
                da *= mask[sl, :, None]
                mu *= mask[sl, :, None]
            d_pre[sl] = self.coefficient_backward(pre[sl], da, mu)
        grads = {
            "weight_ih": weight_grad(d_pre, cache.x),
            "bias_ih": d_pre.sum(axis=(0, 1)),
        }
        return native.matmul(d_pre, cache.params["weight_ih"]), (carry,), grads
