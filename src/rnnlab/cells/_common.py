"""Helpers shared by the cell families."""

from __future__ import annotations

import numpy as np


def input_projection(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
    """x Wᵀ + b for all time steps in one GEMM: (T, B, I) -> (T, B, G)."""
    T, B, I = x.shape
    out = x.reshape(T * B, I) @ weight.T  # (T·B, G)
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
    return d_pre.reshape(-1, G).T @ inputs.reshape(-1, N)


def previous_states(h0: np.ndarray, hs: np.ndarray) -> np.ndarray:
    """The state each step reads: [h0, h_0, ..., h_{T-2}] as (T, B, H)."""
    return np.concatenate([h0[None], hs[:-1]], axis=0)
