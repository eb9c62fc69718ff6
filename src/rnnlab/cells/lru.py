"""The Linear Recurrent Unit (Orvieto et al. 2023, "Resurrecting Recurrent Neural Networks for
Long Sequences"): a complex diagonal linear recurrence with a real output projection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .base import Array, Cache, Cell, Params, ParamSpec
from .minimal import check_mode, refuse_recurrent_mask, runs_parallel
from .ops import input_projection, previous_states, weight_grad
from .registry import register
from .scan import adjoint_scan, scan, sequential_scan


@dataclass(eq=False, kw_only=True)
class LRUCache(Cache):
    y0: Array  # (B, H)
    h0: Array  # (B, N) complex
    bx: Array  # (T, B, N) complex: B x_t (before γ)
    a: Array  # (T, B, N) complex: λ at valid steps, 1 at masked ones
    hs: Array  # (T, B, N) complex h_t
    ys: Array  # (T, B, H) y_t
    parallel: bool


def _complex(s: Array) -> Array:
    """A state held as floats [Re h | Im h] (B, 2N) -> complex (B, N)."""
    N = s.shape[-1] // 2
    return s[..., :N] + 1j * s[..., N:]


def _floats(h: Array) -> Array:
    """Complex (…, N) -> floats [Re h | Im h] (…, 2N)."""
    return np.concatenate([h.real, h.imag], axis=-1)


@register
@dataclass(frozen=True)
class LRUCell(Cell):
    """Linear Recurrent Unit: N = H/2 complex modes, each a decaying rotation of its state.

        λ = exp(−exp(ν_log) + i·exp(θ_log))          |λ| = e^{−ν} < 1 for any ν_log (stable)
        γ = exp(γ_log)                                normalisation, initially √(1 − |λ|²)
        h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t)              complex, (B, N)
        y_t = Re(C h_t) + D x_t                       real output, (B, H)

    Complex numbers are held in float arrays: B = B_re + i·B_im, C = C_re + i·C_im as pairs of
    real params, and the complex state h as floats [Re h | Im h] (B, 2N) = (B, H); inside a
    call they are NumPy complex arrays (complex64 for float32). The layer's `units` H is the
    output size, so N = H/2 (units must be even) and the state holds as many floats as y.
    States ("y", "h"): y is carried so that the outputs are the first state and a masked step
    keeps both; the initial y only matters before the first valid step. D is a dense skip
    (H, I) (the paper's diagonal D when I = H). Params: nu_log, theta_log, gamma_log (N),
    B_re, B_im (N, I), C_re, C_im (H, N), D (H, I); rnnlab.layers.LRU initialises them as the
    paper does (λ uniform on the ring r_min ≤ |λ| ≤ r_max, arg λ ≤ max_phase).
    h_t = a_t h_{t−1} + b_t is a scan (rnnlab.cells.scan; `mode` "auto" | "parallel" (the
    chunked two-level scan, complex) | "sequential"). Backward, with dy_t = ∂L/∂y_t and μ_t
    the reverse scan μ_t = g_t + conj(λ) μ_{t+1} of g_t = C_reᵀ dy_t − i C_imᵀ dy_t:

        ∂L/∂C_re = Σ dyᵀ Re h,  ∂L/∂C_im = −Σ dyᵀ Im h,  ∂L/∂D = Σ dyᵀ x
        G = Σ_t μ_t ⊙ conj(h_{t−1}),  ∂L/∂ν = −Re(G λ̄),  ∂L/∂θ = Im(G λ̄)   (ν_log: ×ν, θ_log: ×θ)
        ∂L/∂γ = Σ Re(μ ⊙ conj(B x)),  ∂L/∂(B x) = γ μ
        ∂L/∂B_re = Σ Re(γμ)ᵀ x,  ∂L/∂B_im = Σ Im(γμ)ᵀ x
        dx_t = dy_t D + Re(γμ_t) B_re + Im(γμ_t) B_im

    No recurrent dropout, no local derivatives.
    """

    mode: str = "auto"

    name: ClassVar[str] = "lru"
    layer_name: ClassVar[str] = "LRU"
    state_names: ClassVar[tuple[str, ...]] = ("y", "h")

    def __post_init__(self):
        check_mode(type(self).__name__, self.mode)

    def param_specs(self, input_size: int, units: int) -> dict[str, ParamSpec]:
        if units % 2:
            raise ValueError(
                f"LRUCell: expected an even number of units (the complex state holds units/2 "
                f"modes as [Re h | Im h]), got {units}"
            )
        H, N, I = units, units // 2, input_size
        return {
            "nu_log": ParamSpec((N,), "bias"),
            "theta_log": ParamSpec((N,), "bias"),
            "gamma_log": ParamSpec((N,), "bias"),
            "B_re": ParamSpec((N, I), "kernel"),
            "B_im": ParamSpec((N, I), "kernel"),
            "C_re": ParamSpec((H, N), "kernel"),
            "C_im": ParamSpec((H, N), "kernel"),
            "D": ParamSpec((H, I), "kernel"),
        }

    @staticmethod
    def eigenvalues(params: Params) -> Array:
        """λ = exp(−ν + iθ) (N,) complex."""
        with np.errstate(under="ignore"):
            return np.exp(-np.exp(params["nu_log"]) + 1j * np.exp(params["theta_log"]))

    def step(self, params: Params, x_t: Array, states: tuple[Array, ...]) -> tuple[Array, ...]:
        """h' = λ h + γ (B x), y' = Re(C h') + D x; returns (y', [Re h' | Im h'])."""
        _, h = states
        lam, gamma = self.eigenvalues(params), np.exp(params["gamma_log"])
        bx = x_t @ params["B_re"].T + 1j * (x_t @ params["B_im"].T)
        h_new = lam * _complex(h) + gamma * bx
        y = h_new.real @ params["C_re"].T - h_new.imag @ params["C_im"].T + x_t @ params["D"].T
        return y.astype(x_t.dtype), _floats(h_new).astype(x_t.dtype)

    def forward_steps(self, params, x, states, mask, recurrent_mask, keep_cache):
        refuse_recurrent_mask(type(self).__name__, recurrent_mask)
        y0, h0_floats = states
        T, B, _ = x.shape
        h0 = _complex(h0_floats)
        N = h0.shape[1]
        lam, gamma = self.eigenvalues(params), np.exp(params["gamma_log"])
        bx = input_projection(x, params["B_re"], None) + 1j * input_projection(
            x, params["B_im"], None
        )  # (T, B, N) complex
        b = gamma * bx
        if mask is None:
            a = np.broadcast_to(lam, b.shape)
        else:
            valid = mask[:, :, None]
            a, b = np.where(valid, lam, 1.0), np.where(valid, b, 0.0)
        parallel = runs_parallel(self.mode, T, B * N)
        hs = scan(a, b, h0, parallel)  # (T, B, N) complex
        y_new = (
            input_projection(hs.real, params["C_re"], None)
            - input_projection(hs.imag, params["C_im"], None)
            + input_projection(x, params["D"], None)
        )  # (T, B, H)
        if mask is None:
            ys = y_new
        else:  # y carried at masked steps: y_t = (1 − m_t) y_{t−1} + m_t ŷ_t
            ys = sequential_scan(~mask[:, :, None], y_new * mask[:, :, None], y0)
        ys = ys.astype(x.dtype, copy=False)
        cache = (
            LRUCache(
                params=params,
                x=x,
                mask=mask,
                recurrent_mask=None,
                y0=y0,
                h0=h0,
                bx=bx,
                a=a,
                hs=hs,
                ys=ys,
                parallel=parallel,
            )
            if keep_cache
            else None
        )
        finals = (ys[-1].copy(), _floats(hs[-1]).astype(x.dtype))
        return ys, finals, cache

    def states_at(self, cache: LRUCache, t: int) -> tuple[Array, ...]:
        return cache.ys[t], _floats(cache.hs[t]).astype(cache.ys.dtype)

    def backward_steps(self, cache: LRUCache, d_outputs, d_final):
        params, x, mask, hs = cache.params, cache.x, cache.mask, cache.hs
        dtype = cache.ys.dtype
        dy = np.zeros_like(cache.ys) if d_outputs is None else np.array(d_outputs, dtype=dtype)
        if d_final[0] is not None:
            dy[-1] += d_final[0]
        if mask is None:
            d_y0 = np.zeros_like(cache.y0)
        else:  # through the carried y: the reverse scan with a = 1 − m
            carried = ~mask[:, :, None]
            dy, d_y0 = adjoint_scan(np.broadcast_to(carried, dy.shape), dy, False)
            dy = dy * mask[:, :, None]  # ∂L/∂ŷ_t
        grads = {
            "C_re": weight_grad(dy, hs.real),
            "C_im": -weight_grad(dy, hs.imag),
            "D": weight_grad(dy, x),
        }
        g = input_projection(dy, params["C_re"].T, None) - 1j * input_projection(
            dy, params["C_im"].T, None
        )  # (T, B, N): ∂L/∂h_t from y_t
        if d_final[1] is not None:
            g[-1] += _complex(d_final[1])
        mu, d_h0 = adjoint_scan(cache.a, g, cache.parallel)  # (T, B, N) complex
        if mask is not None:
            mu = mu * mask[:, :, None]  # a masked step's a, b are constants
        lam, gamma = self.eigenvalues(params), np.exp(params["gamma_log"])
        G = np.einsum("tbn,tbn->n", mu, np.conj(previous_states(cache.h0, hs)))
        G_lam = G * np.conj(lam)
        grads["nu_log"] = -G_lam.real * np.exp(params["nu_log"])
        grads["theta_log"] = G_lam.imag * np.exp(params["theta_log"])
        grads["gamma_log"] = np.einsum("tbn,tbn->n", mu, np.conj(cache.bx)).real * gamma
        d_bx = gamma * mu  # (T, B, N): ∂L/∂(B x_t)
        grads["B_re"] = weight_grad(d_bx.real, x)
        grads["B_im"] = weight_grad(d_bx.imag, x)
        dx = (
            input_projection(dy, params["D"].T, None)
            + input_projection(np.ascontiguousarray(d_bx.real), params["B_re"].T, None)
            + input_projection(np.ascontiguousarray(d_bx.imag), params["B_im"].T, None)
        )
        grads = {k: grads[k].astype(dtype, copy=False) for k in self.param_specs(1, 2)}
        return dx.astype(dtype, copy=False), (d_y0, _floats(d_h0).astype(dtype)), grads
