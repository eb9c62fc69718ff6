"""D_t and I_t of a recurrent cell's step, assembled from the cell's local derivatives.

For a cell with carried state s_t = F(s_{t-1}, x_t; θ) the online learners need

    D_t = ∂s_t/∂s_{t-1}     (B, S, S)   the recurrent Jacobian
    I_t = ∂s_t/∂θ           (B, S, P)   the immediate parameter Jacobian (s_{t-1} held fixed)

State: s = h (S = H) for SimpleRNN and GRU; s = [h; c] (S = 2H, h first) for the LSTM.
Parameters: θ is the flat concatenation of weight_ih, weight_hh, bias_ih, bias_hh (PARAM_KEYS),
each flattened in C order, so P = G·H·I + G·H·H + 2·G·H with G gates (1, 4, 3). Layouts and gate
rows are PyTorch's (rnnlab.cells): LSTM rows i, f, g, o; GRU rows r, z, n.

Every gated cell is affine in θ before its nonlinearities: the input-side pre-activations
a = W_ih x + b_ih and the recurrent-side ones q = W_hh h + b_hh, both (B, G·H). Row r = g·H + k
of either belongs to unit k, and unit k's state entries (h_k, and c_k for the LSTM) depend on a
and q only through the rows of unit k. So the step is summarised by three small arrays, which
each cell family computes (`Cell.local_derivatives`, equations in the family's docstring):

    e_in[b, s, g]   = ∂s'_s / ∂a[g·H + k]           (B, S, G)     k = unit(s) = s mod H
    e_rec[b, s, g]  = ∂s'_s / ∂q[g·H + k]           (B, S, G)
    direct[b, s, u] = ∂s'_s / ∂s_{u·H + k}, other than through q    (B, S, U),  U = S / H

from which this module assembles, exactly,

    D[s, j]          = Σ_g e_rec[s, g] W_hh[g·H + k, j]  (j < H)   +  direct[s, u] at j = u·H + k
    I[s, W_ih[r, i]] = e_in[s, g] x_i        I[s, b_ih[r]] = e_in[s, g]        for r = g·H + k
    I[s, W_hh[r, j]] = e_rec[s, g] h_j       I[s, b_hh[r]] = e_rec[s, g]       (0 for other rows)

Only the θ entries of a unit's own rows can be non-zero in that unit's rows of I_t: the
`unit_columns` of unit k (Q = G·(I + H + 2) of them). SnAp-1 keeps exactly those entries.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import describe
from ..cells import Cell, LocalDerivatives, get_cell

Array = np.ndarray

#: the order in which the recurrent params are concatenated into θ
PARAM_KEYS: tuple[str, ...] = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
#: the online learners' names of the families (kept for their API): name -> registry name
KINDS: dict[str, str] = {"simple": "rnn", "lstm": "lstm", "gru": "gru"}


# -- flat parameter vectors ------------------------------------------------------------------
def flatten_params(params: Mapping[str, Array], keys: Sequence[str] = PARAM_KEYS) -> Array:
    """θ = concat(params[k].ravel() for k in keys), in C order: (P,)."""
    missing = [k for k in keys if k not in params]
    if missing:
        raise KeyError(f"flatten_params: params lack {missing} (have {sorted(params)})")
    return np.concatenate([np.asarray(params[k]).reshape(-1) for k in keys])


def unflatten(
    vec: Array, params: Mapping[str, Array], keys: Sequence[str] = PARAM_KEYS
) -> dict[str, Array]:
    """Split a flat (P,) vector into new arrays shaped like params[k], for k in keys."""
    vec = np.asarray(vec)
    sizes = [int(np.asarray(params[k]).size) for k in keys]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(
            f"unflatten: expected a vector of {sum(sizes)} entries "
            f"({', '.join(keys)}), got {describe(vec)}"
        )
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


@functools.lru_cache(maxsize=64)
def _shared_unit_columns(gates: int, units: int, inputs: int) -> tuple[Array, Array]:
    """unit_columns and the matching row index (H, 1), read-only, made once per shape."""
    cols, rows = unit_columns(gates, units, inputs), np.arange(units)[:, None]
    cols.flags.writeable = rows.flags.writeable = False
    return cols, rows


# -- the step summary ------------------------------------------------------------------------
@dataclass(frozen=True)
class StepJacobians(LocalDerivatives):
    """A step's new state and local derivatives (from the cell), with D_t and I_t and their
    products assembled from them (module doc). `weight_hh` (G·H, H) is the recurrent weight
    the step read; the methods that need it take it from here unless given one."""

    weight_hh: Array | None = None

    def _w(self, weight_hh: Array | None) -> Array:
        w = self.weight_hh if weight_hh is None else weight_hh
        if w is None:
            raise ValueError("StepJacobians: expected weight_hh (none was stored with the step)")
        return w

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

    def recurrent(self, weight_hh: Array | None = None) -> Array:
        """D_t = ∂s_t/∂s_{t-1}, (B, S, S)."""
        B, S, G = self.e_rec.shape
        H = self.units
        U = S // H
        w = self._w(weight_hh).reshape(G, H, H)  # w[g, k, :] = W_hh[g·H + k, :]
        e = self.e_rec.reshape(B, U, H, G)
        D = np.zeros((B, U, H, U, H), dtype=self.state.dtype)
        D[:, :, :, 0, :] = np.einsum("bukg,gkj->bukj", e, w)  # through q = W_hh h + b_hh
        k = np.arange(H)
        D[:, :, k, :, k] += self.direct.reshape(B, U, H, U).transpose(2, 0, 1, 3)  # (H, B, U, U)
        return D.reshape(B, S, S)

    def jvp_state(self, v: Array) -> Array:
        """D_t v for v (B, S), in O(G·H²) per row without forming D_t."""
        B, S, G = self.e_rec.shape
        H = self.units
        q_dot = (v[:, :H] @ self._w(None).T).reshape(B, G, H).swapaxes(1, 2)  # (B, H, G)
        through_q = (self._by_unit(self.e_rec) * q_dot[:, :, None, :]).sum(-1)  # (B, H, U)
        direct = (self._by_unit(self.direct) * self._by_unit(v)[:, :, None, :]).sum(-1)
        return (through_q + direct).swapaxes(1, 2).reshape(B, S)

    def unit_blocks(self, weight_hh: Array | None = None) -> Array:
        """The U×U blocks of D_t that couple a unit's own state entries: (B, H, U, U).

        blocks[b, k, u, v] = D_t[b, u·H + k, v·H + k]. For SimpleRNN and GRU (U = 1) this is
        the diagonal of D_t; for the LSTM the 2×2 block of (h_k, c_k).
        """
        G, H = self.gates, self.units
        w_diag = np.diagonal(self._w(weight_hh).reshape(G, H, H), axis1=1, axis2=2)  # (G, H)
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
        return np.concatenate(
            [
                (e_in[..., None] * x).reshape(B, H, U, -1),  # W_ih rows of unit k: (G·I)
                (e_rec[..., None] * h).reshape(B, H, U, -1),  # W_hh rows of unit k: (G·H)
                e_in,  # b_ih
                e_rec,  # b_hh
            ],
            axis=-1,
        )

    def propagate(self, influence: Array, out: Array) -> Array:
        """D_t M + I_t for M (B, S, P), written into `out` (same shape, not M): RTRL's update.

        D_t M is one batched matmul, O(S²P) per row; I_t's non-zero part is added in place.
        """
        B, S, P = influence.shape
        new = np.matmul(self.recurrent(), influence, out=out)
        cols, rows = _shared_unit_columns(self.gates, self.units, self.x.shape[1])
        by_unit = new.reshape(B, S // self.units, self.units, P)  # a view: [b, u, k, p]
        by_unit[:, :, rows, cols] += self.immediate_by_unit().swapaxes(1, 2)
        return new

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
        return np.concatenate(
            [
                (w_in[:, :, None] * self.x[:, None, :]).reshape(B, -1),
                (w_rec[:, :, None] * self.h[:, None, :]).reshape(B, -1),
                w_in,
                w_rec,
            ],
            axis=1,
        )


# -- from a cell -----------------------------------------------------------------------------
def resolve_cell(
    cell: Cell | str, activation: str | None = None, who: str = "local_jacobians"
) -> Cell:
    """A cell with local derivatives: a Cell instance, or a name of KINDS ("simple" with
    `activation` "tanh" | "relu", "lstm", "gru")."""
    if isinstance(cell, str) and cell in KINDS:
        family = get_cell(KINDS[cell])
        options = {"activation": activation} if cell == "simple" and activation else {}
        return family(**options)
    if isinstance(cell, Cell) and cell.has_local_derivatives:
        return cell
    raise ValueError(
        f"{who}: expected kind in {list(KINDS)} or a cell with local derivatives "
        f"(the gated families), got {cell!r}"
    )


def local_jacobians(
    cell: Cell | str,
    params: Mapping[str, Array],
    x_t: Array,
    state: Array,
    activation: str | None = None,
) -> StepJacobians:
    """The cell's local derivatives at one step, state (B, S) with its states concatenated;
    no input checks (see step_with_jacobians)."""
    cell = resolve_cell(cell, activation)
    U = len(cell.state_names)
    H = state.shape[1] // U
    states = tuple(state[:, u * H : (u + 1) * H] for u in range(U))
    d = cell.local_derivatives(params, x_t, states)
    return StepJacobians(d.state, d.e_in, d.e_rec, d.direct, d.x, d.h, params["weight_hh"])


def step_with_jacobians(
    cell: Cell | str,
    params: Mapping[str, Array],
    x_t: Array,
    state: Array,
    activation: str | None = None,
) -> tuple[Array, Array, Array]:
    """One step with its Jacobians: (s_t (B, S), D_t (B, S, S), I_t (B, S, P)).

    Arguments:
        cell: a Cell with local derivatives (SimpleRNNCell, LSTMCell, GRUCell), or its name
            in KINDS ("simple" with activation "tanh" | "relu", "lstm", "gru").
        params: weight_ih, weight_hh, bias_ih, bias_hh in PyTorch's layout.
        x_t: (B, I) input; state: (B, S) previous state ([h; c] for the LSTM).
    θ is ordered as PARAM_KEYS (flatten_params).
    """
    who = "step_with_jacobians"
    cell = resolve_cell(cell, activation, who)
    kind = cell.name
    G, U = cell.gates, len(cell.state_names)
    w_ih = np.asarray(params["weight_ih"])
    H, I = w_ih.shape[0] // G, w_ih.shape[1]
    shapes = {
        "weight_ih": (G * H, I),
        "weight_hh": (G * H, H),
        "bias_ih": (G * H,),
        "bias_hh": (G * H,),
    }
    for key, shape in shapes.items():
        if np.shape(params[key]) != shape:
            raise ValueError(
                f"{who}: expected {key} of shape {shape} for a {kind} cell with "
                f"{H} units and {I} inputs, got {np.shape(params[key])}"
            )
    x_t, state = np.asarray(x_t), np.asarray(state)
    if x_t.ndim != 2 or x_t.shape[1] != I:
        raise ValueError(f"{who}: expected x_t of shape (batch, {I}), got {x_t.shape}")
    if state.shape != (x_t.shape[0], U * H):
        raise ValueError(
            f"{who}: expected state of shape ({x_t.shape[0]}, {U * H}), got {state.shape}"
        )
    jac = local_jacobians(cell, params, x_t, state)
    return jac.state, jac.recurrent(params["weight_hh"]), jac.immediate()


__all__ = [
    "KINDS",
    "PARAM_KEYS",
    "StepJacobians",
    "flatten_params",
    "local_jacobians",
    "param_count",
    "resolve_cell",
    "step_with_jacobians",
    "unflatten",
    "unit_columns",
]
