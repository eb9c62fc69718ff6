"""Building blocks of the cells' NumPy time loops, for every family (new ones included).

    input_projection(x, W, b)      x Wᵀ + b for all steps in one GEMM
    carry(mask_t, new, old)        a state update under a mask
    split_through_carry(mask_t, d) a state gradient split into its cell and carried parts
    previous_states(s0, ss)        the state each step read: [s0, s_0, ..., s_{T-2}]
    weight_grad(δ, inputs)         Σ_t Σ_b δ[t, b]ᵀ inputs[t, b] as one GEMM
    gated_grads(...)               all four gradients of a gated family and dx, as GEMMs
The per-step recurrent product h W_hhᵀ is rnnlab.native.RecurrentProduct.
"""

from __future__ import annotations

import numpy as np

from .. import native


def input_projection(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x Wᵀ + b for all time steps in one GEMM: (T, B, I) -> (T, B, G)."""
    T, B, I = x.shape
    out = native.matmul(x.reshape(T * B, I), weight.T)  # (T·B, G)
    if bias is not None:
        out += bias
    return out.reshape(T, B, weight.shape[0])


def carry(mask_t: np.ndarray | None, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """State update under a mask: new where the step is valid, old (carried) where it is not."""
    if mask_t is None:
        return new
    return np.where(mask_t[:, None], new, old)


def split_through_carry(mask_t: np.ndarray | None, d: np.ndarray):
    """Split a state gradient into the part that flows through the cell and the carried part."""
    if mask_t is None:
        return d, None
    m = mask_t[:, None]
    return np.where(m, d, 0.0), np.where(m, 0.0, d)


def weight_grad(d_pre: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """Σ_t Σ_b d_pre[t,b]ᵀ inputs[t,b] as one GEMM: (T,B,G), (T,B,N) -> (G, N)."""
    G, N = d_pre.shape[-1], inputs.shape[-1]
    return native.matmul(d_pre.reshape(-1, G).T, inputs.reshape(-1, N))


def gated_grads(
    d_in: np.ndarray,
    d_rec: np.ndarray,
    x: np.ndarray,
    h0: np.ndarray,
    hs: np.ndarray,
    recurrent_mask: np.ndarray | None,
    weight_ih: np.ndarray,
):
    """Parameter and input gradients after the backward time loop, as single GEMMs.

    d_in (T, B, G): δ at the input-side pre-activations (feeds W_ih, b_ih and dx);
    d_rec (T, B, G): δ at the recurrent-side pre-activations (feeds W_hh, b_hh) — the same
    array except in the GRU. Returns (dx (T, B, I), grads).
    """
    h_prev = previous_states(h0, hs)
    if recurrent_mask is not None:
        h_prev = h_prev * recurrent_mask
    grads = {
        "weight_ih": weight_grad(d_in, x),
        "weight_hh": weight_grad(d_rec, h_prev),
        "bias_ih": d_in.sum(axis=(0, 1)),
        "bias_hh": d_rec.sum(axis=(0, 1)),
    }
    return native.matmul(d_in, weight_ih), grads


def previous_states(h0: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """The state each step reads: [h0, h_0, ..., h_{T-2}] as (T, B, H)."""
    return np.concatenate([h0[None], hs[:-1]], axis=0)
