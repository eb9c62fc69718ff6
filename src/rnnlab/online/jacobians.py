"""One step of a recurrent cell together with its Jacobians, for forward-mode (online) learning.

For a cell with carried state s_t = F(s_{t-1}, x_t; θ) the online learners need

    D_t = ∂s_t/∂s_{t-1}     (B, S, S)   the recurrent Jacobian
    I_t = ∂s_t/∂θ           (B, S, P)   the immediate parameter Jacobian (s_{t-1} held fixed)

State: s = h (S = H) for SimpleRNN and GRU; s = [h; c] (S = 2H, h first) for the LSTM.
Parameters: θ is the flat concatenation of weight_ih, weight_hh, bias_ih, bias_hh (PARAM_KEYS),
each flattened in C order, so P = G·H·I + G·H·H + 2·G·H with G gates (1, 4, 3). Layouts and gate
rows are PyTorch's (rnnlab.cells): LSTM rows i, f, g, o; GRU rows r, z, n.

Every cell is affine in θ before its nonlinearities: the input-side pre-activations
a = W_ih x + b_ih and the recurrent-side ones q = W_hh h + b_hh, both (B, G·H). Row r = g·H + k
of either belongs to unit k, and unit k's state entries (h_k, and c_k for the LSTM) depend on a
and q only through the rows of unit k. So the step is summarised by three small arrays

    e_in[b, s, g]   = ∂s'_s / ∂a[g·H + k]           (B, S, G)     k = unit(s) = s mod H
    e_rec[b, s, g]  = ∂s'_s / ∂q[g·H + k]           (B, S, G)
    direct[b, s, u] = ∂s'_s / ∂s_{u·H + k}, other than through q    (B, S, U),  U = S / H

from which, exactly,

    D[s, j]          = Σ_g e_rec[s, g] W_hh[g·H + k, j]  (j < H)   +  direct[s, u] at j = u·H + k
    I[s, W_ih[r, i]] = e_in[s, g] x_i        I[s, b_ih[r]] = e_in[s, g]        for r = g·H + k
    I[s, W_hh[r, j]] = e_rec[s, g] h_j       I[s, b_hh[r]] = e_rec[s, g]       (0 for other rows)

Cell equations and their local derivatives (σ' = σ(1−σ), tanh' = 1−tanh²):

SimpleRNN  h' = φ(a + q):    e_in = e_rec = φ'(a + q),  direct = 0
LSTM       i, f, g, o = σ, σ, tanh, σ of (a + q);  c' = f⊙c + i⊙g;  τ = tanh c';  h' = o⊙τ
           ∂c'/∂(i, f, g, o) pre = (g i(1−i), c f(1−f), i(1−g²), 0)
           ∂h'/∂(i, f, g) pre = o(1−τ²) ∂c'/∂(·),   ∂h'/∂o pre = τ o(1−o)
           direct: ∂c'/∂c = f,  ∂h'/∂c = o(1−τ²) f  (∂·/∂h goes only through q)
GRU        r = σ(a_r + q_r), z = σ(a_z + q_z), n = tanh(a_n + r⊙q_n), h' = (1−z)⊙n + z⊙h
           δ = (1−z)(1−n²):  e_in = (δ q_n r(1−r), (h−n) z(1−z), δ),
           e_rec = (δ q_n r(1−r), (h−n) z(1−z), δ r),  direct = z

Only the θ entries of a unit's own rows can be non-zero in that unit's rows of I_t: the
`unit_columns` of unit k (Q = G·(I + H + 2) of them). SnAp-1 keeps exactly those entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import describe
from ..activations import sigmoid

Array = np.ndarray

#: the order in which the recurrent params are concatenated into θ
PARAM_KEYS: tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: cell family -> (gates G, state blocks U)
KINDS: dict[str, tuple[int, int]] = {"simple": (1, 1), "lstm": (4, 2), "gru": (3, 1)}
SIMPLE_ACTIVATIONS = ("tanh", "relu")


# -- flat parameter vectors ------------------------------------------------------------------
def flatten_params(params: Mapping[str, Array], keys: Sequence[str] = PARAM_KEYS) -> Array:
    """θ = concat(params[k].ravel() for k in keys), in C order: (P,)."""
    missing = [k for k in keys if k not in params]
    if missing:
        raise KeyError(f"flatten_params: params lack {missing} (have {sorted(params)})")
    return np.concatenate([np.asarray(params[k]).reshape(-1) for k in keys])


def unflatten(vec: Array, params: Mapping[str, Array],
              keys: Sequence[str] = PARAM_KEYS) -> dict[str, Array]:
    """Split a flat (P,) vector into new arrays shaped like params[k], for k in keys."""
    vec = np.asarray(vec)
    sizes = [int(np.asarray(params[k]).size) for k in keys]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(f"unflatten: expected a vector of {sum(sizes)} entries "
                         f"({', '.join(keys)}), got {describe(vec)}")
    out, start = {}, 0
    for key, size in zip(keys, sizes, strict=True):
        out[key] = vec[start : start + size].reshape(np.shape(params[key])).copy()
        start += size
    return out


def param_count(gates: int, units: int, inputs: int) -> int:
    """P = G·H·I + G·H·H + 2·G·H."""
    return gates * units * (inputs + units + 2)


def unit_columns(gates: int, units: int, inputs: int) -> Array:
    """(H, Q) int: the θ indices owned by each unit, Q = G·(I + H + 2).

    Row k lists, in this order, W_ih[g·H + k, :] for g < G, W_hh[g·H + k, :], b_ih[g·H + k],
    b_hh[g·H + k]. The rows partition range(P): every parameter feeds exactly one unit.
    """
    G, H, I = gates, units, inputs
    rows = np.arange(G)[None, :] * H + np.arange(H)[:, None]  # (H, G): r = g·H + k
    off_hh, off_bih = G * H * I, G * H * (I + H)
    off_bhh = off_bih + G * H
    cols_ih = (rows[:, :, None] * I + np.arange(I)).reshape(H, G * I)
    cols_hh = off_hh + (rows[:, :, None] * H + np.arange(H)).reshape(H, G * H)
    return np.concatenate([cols_ih, cols_hh, off_bih + rows, off_bhh + rows], axis=1)


# -- the step summary ------------------------------------------------------------------------
@dataclass(frozen=True)
class StepJacobians:
    """A step's new state and the local derivatives that determine D_t and I_t (module doc)."""

    state: Array  # (B, S) s_t
    e_in: Array  # (B, S, G)
    e_rec: Array  # (B, S, G)
    direct: Array  # (B, S, U)
    x: Array  # (B, I) the input the step read
    h: Array  # (B, H) the hidden state the step read

    @property
    def units(self) -> int:
        return self.h.shape[1]

    @property
    def gates(self) -> int:
        return self.e_in.shape[2]

    def _by_unit(self, a: Array) -> Array:
        """(B, S, ·) -> (B, H, U, ·): state entry s = u·H + k goes to [k, u]."""
        B, S = a.shape[:2]
        return a.reshape(B, S // self.units, self.units, *a.shape[2:]).swapaxes(1, 2)

    def recurrent(self, weight_hh: Array) -> Array:
        """D_t = ∂s_t/∂s_{t-1}, (B, S, S)."""
        B, S, G = self.e_rec.shape
        H = self.units
        U = S // H
        w = weight_hh.reshape(G, H, H)  # w[g, k, :] = W_hh[g·H + k, :]
        e = self.e_rec.reshape(B, U, H, G)
        D = np.zeros((B, U, H, U, H), dtype=self.state.dtype)
        D[:, :, :, 0, :] = np.einsum("bukg,gkj->bukj", e, w)  # through q = W_hh h + b_hh
        k = np.arange(H)
        D[:, :, k, :, k] += self.direct.reshape(B, U, H, U).transpose(2, 0, 1, 3)  # (H, B, U, U)
        return D.reshape(B, S, S)

    def jvp_state(self, weight_hh: Array, v: Array) -> Array:
        """D_t v for v (B, S), in O(G·H²) per row without forming D_t."""
        B, S, G = self.e_rec.shape
        H = self.units
        q_dot = (v[:, :H] @ weight_hh.T).reshape(B, G, H).swapaxes(1, 2)  # (B, H, G)
        through_q = (self._by_unit(self.e_rec) * q_dot[:, :, None, :]).sum(-1)  # (B, H, U)
        direct = (self._by_unit(self.direct) * self._by_unit(v)[:, :, None, :]).sum(-1)
        return (through_q + direct).swapaxes(1, 2).reshape(B, S)

    def unit_blocks(self, weight_hh: Array) -> Array:
        """The U×U blocks of D_t that couple a unit's own state entries: (B, H, U, U).

        blocks[b, k, u, v] = D_t[b, u·H + k, v·H + k]. For SimpleRNN and GRU (U = 1) this is
        the diagonal of D_t; for the LSTM the 2×2 block of (h_k, c_k).
        """
        G, H = self.gates, self.units
        w_diag = np.diagonal(weight_hh.reshape(G, H, H), axis1=1, axis2=2)  # (G, H)
        blocks = self._by_unit(self.direct).copy()  # (B, H, U, U)
        blocks[..., 0] += np.einsum("bkug,gk->bku", self._by_unit(self.e_rec), w_diag)
        return blocks

    def immediate_by_unit(self) -> Array:
        """The non-zero part of I_t: (B, H, U, Q), entry [b, k, u, q] = I_t[b, u·H+k, cols[k, q]]
        with cols = unit_columns(G, H, I)."""
        e_in, e_rec = self._by_unit(self.e_in), self._by_unit(self.e_rec)  # (B, H, U, G)
        B, H, U, _ = e_in.shape
        x = self.x[:, None, None, None, :]
        h = self.h[:, None, None, None, :]
        return np.concatenate([
            (e_in[..., None] * x).reshape(B, H, U, -1),  # W_ih rows of unit k: (G·I)
            (e_rec[..., None] * h).reshape(B, H, U, -1),  # W_hh rows of unit k: (G·H)
            e_in,  # b_ih
            e_rec,  # b_hh
        ], axis=-1)

    def immediate(self) -> Array:
        """I_t = ∂s_t/∂θ, dense (B, S, P), θ ordered as PARAM_KEYS."""
        B, S, G = self.e_in.shape
        H, I = self.units, self.x.shape[1]
        U, P = S // H, param_count(G, H, I)
        out = np.zeros((B, U, H, P), dtype=self.state.dtype)
        cols = unit_columns(G, H, I)
        out[:, :, np.arange(H)[:, None], cols] = self.immediate_by_unit().swapaxes(1, 2)
        return out.reshape(B, S, P)

    def vjp_params(self, w: Array) -> Array:
        """wᵀ I_t for w (B, S): (B, P), one row per batch element, without forming I_t."""
        B, _, G = self.e_in.shape
        H = self.units
        w_in = (self._by_unit(w)[..., None] * self._by_unit(self.e_in)).sum(2)  # (B, H, G)
        w_rec = (self._by_unit(w)[..., None] * self._by_unit(self.e_rec)).sum(2)
        w_in = w_in.swapaxes(1, 2).reshape(B, G * H)  # row r = g·H + k
        w_rec = w_rec.swapaxes(1, 2).reshape(B, G * H)
        return np.concatenate([
            (w_in[:, :, None] * self.x[:, None, :]).reshape(B, -1),
            (w_rec[:, :, None] * self.h[:, None, :]).reshape(B, -1),
            w_in, w_rec], axis=1)


# -- the three families ----------------------------------------------------------------------
def simple_rnn_jacobians(params: Mapping[str, Array], x_t: Array, h: Array,
                         activation: str = "tanh") -> StepJacobians:
    """h' = φ(W_ih x + b_ih + W_hh h + b_hh), φ = tanh or relu; x_t (B, I), h (B, H)."""
    pre = (x_t @ params["weight_ih"].T + params["bias_ih"]
           + h @ params["weight_hh"].T + params["bias_hh"])  # (B, H)
    if activation == "tanh":
        h_new = np.tanh(pre)
        d = 1.0 - h_new * h_new
    elif activation == "relu":
        h_new = np.maximum(pre, 0.0)
        d = (h_new > 0).astype(pre.dtype)  # relu'(0) = 0, as in rnnlab.activations
    else:
        raise ValueError(f"simple_rnn_jacobians: expected activation in "
                         f"{list(SIMPLE_ACTIVATIONS)}, got {activation!r}")
    e = d[:, :, None]  # (B, H, 1)
    return StepJacobians(h_new, e, e, np.zeros_like(e), x_t, h)


def lstm_jacobians(params: Mapping[str, Array], x_t: Array, state: Array) -> StepJacobians:
    """c' = f⊙c + i⊙g, h' = o⊙tanh(c'); state = [h; c] (B, 2H), new state [h'; c']."""
    H = state.shape[1] // 2
    h, c = state[:, :H], state[:, H:]
    pre = (x_t @ params["weight_ih"].T + params["bias_ih"]
           + h @ params["weight_hh"].T + params["bias_hh"])  # (B, 4H) rows i, f, g, o
    i, f = sigmoid(pre[:, :H]), sigmoid(pre[:, H : 2 * H])
    g, o = np.tanh(pre[:, 2 * H : 3 * H]), sigmoid(pre[:, 3 * H :])
    c_new = f * c + i * g
    tc = np.tanh(c_new)
    h_new = o * tc
    dc = np.stack([g * i * (1.0 - i), c * f * (1.0 - f), i * (1.0 - g * g),
                   np.zeros_like(o)], axis=-1)  # (B, H, 4): ∂c'/∂pre
    through_c = o * (1.0 - tc * tc)  # ∂h'/∂c'
    dh = through_c[..., None] * dc
    dh[..., 3] = tc * o * (1.0 - o)
    e = np.concatenate([dh, dc], axis=1)  # (B, 2H, 4)
    zero = np.zeros_like(f)
    direct = np.concatenate([np.stack([zero, through_c * f], axis=-1),  # rows h'_k
                             np.stack([zero, f], axis=-1)], axis=1)  # rows c'_k: (B, 2H, 2)
    return StepJacobians(np.concatenate([h_new, c_new], axis=1), e, e, direct, x_t, h)


def gru_jacobians(params: Mapping[str, Array], x_t: Array, h: Array) -> StepJacobians:
    """n = tanh(a_n + r⊙q_n), h' = (1−z)⊙n + z⊙h (PyTorch's GRU); x_t (B, I), h (B, H)."""
    H = h.shape[1]
    a = x_t @ params["weight_ih"].T + params["bias_ih"]  # (B, 3H) rows r, z, n
    q = h @ params["weight_hh"].T + params["bias_hh"]  # (B, 3H)
    r = sigmoid(a[:, :H] + q[:, :H])
    z = sigmoid(a[:, H : 2 * H] + q[:, H : 2 * H])
    q_n = q[:, 2 * H :]
    n = np.tanh(a[:, 2 * H :] + r * q_n)
    h_new = (1.0 - z) * n + z * h
    delta = (1.0 - z) * (1.0 - n * n)  # ∂h'/∂(n's pre-activation)
    d_r = delta * q_n * r * (1.0 - r)
    d_z = (h - n) * z * (1.0 - z)
    e_in = np.stack([d_r, d_z, delta], axis=-1)  # (B, H, 3)
    e_rec = np.stack([d_r, d_z, delta * r], axis=-1)
    return StepJacobians(h_new, e_in, e_rec, z[:, :, None], x_t, h)


def local_jacobians(kind: str, params: Mapping[str, Array], x_t: Array, state: Array,
                    activation: str = "tanh") -> StepJacobians:
    """Dispatch on kind ("simple", "lstm", "gru"); no input checks (see step_with_jacobians)."""
    if kind == "simple":
        return simple_rnn_jacobians(params, x_t, state, activation)
    if kind == "lstm":
        return lstm_jacobians(params, x_t, state)
    if kind == "gru":
        return gru_jacobians(params, x_t, state)
    raise ValueError(f"local_jacobians: expected kind in {list(KINDS)}, got {kind!r}")


def step_with_jacobians(kind: str, params: Mapping[str, Array], x_t: Array, state: Array,
                        activation: str = "tanh") -> tuple[Array, Array, Array]:
    """One step with its Jacobians: (s_t (B, S), D_t (B, S, S), I_t (B, S, P)).

    Arguments:
        kind: "simple" (SimpleRNN, with activation "tanh" | "relu"), "lstm" or "gru".
        params: weight_ih, weight_hh, bias_ih, bias_hh in PyTorch's layout.
        x_t: (B, I) input; state: (B, S) previous state ([h; c] for the LSTM).
    θ is ordered as PARAM_KEYS (flatten_params).
    """
    who = "step_with_jacobians"
    if kind not in KINDS:
        raise ValueError(f"{who}: expected kind in {list(KINDS)}, got {kind!r}")
    G, U = KINDS[kind]
    w_ih = np.asarray(params["weight_ih"])
    H, I = w_ih.shape[0] // G, w_ih.shape[1]
    shapes = {"weight_ih": (G * H, I), "weight_hh": (G * H, H), "bias_ih": (G * H,),
              "bias_hh": (G * H,)}
    for key, shape in shapes.items():
        if np.shape(params[key]) != shape:
            raise ValueError(f"{who}: expected {key} of shape {shape} for a {kind} cell with "
                             f"{H} units and {I} inputs, got {np.shape(params[key])}")
    x_t, state = np.asarray(x_t), np.asarray(state)
    if x_t.ndim != 2 or x_t.shape[1] != I:
        raise ValueError(f"{who}: expected x_t of shape (batch, {I}), got {x_t.shape}")
    if state.shape != (x_t.shape[0], U * H):
        raise ValueError(f"{who}: expected state of shape ({x_t.shape[0]}, {U * H}), "
                         f"got {state.shape}")
    jac = local_jacobians(kind, params, x_t, state, activation)
    return jac.state, jac.recurrent(params["weight_hh"]), jac.immediate()


__all__ = [
    "KINDS", "PARAM_KEYS", "StepJacobians", "flatten_params", "gru_jacobians",
    "local_jacobians", "lstm_jacobians", "param_count", "simple_rnn_jacobians",
    "step_with_jacobians", "unflatten", "unit_columns",
]
