"""Online truncated backpropagation through time, BPTT(h; h') (Williams & Peng 1990).

Every h' steps, the errors of those h' steps are backpropagated through the last h ≥ h' steps:

    at t = h', 2h', ...:   g = Σ_{τ=t-h'+1}^{t} ∂L_τ/∂θ, with every path cut at s_{t-h}

A ring buffer of the last h inputs, masks, states and ∂L_τ/∂h_τ is all the learner keeps
(O(h·B·(I + S)) memory, constant in the stream length). At a backward step the window is run
again from the stored state s_{t-h} with the cell's own `forward` (rnnlab.cells), errors of the
older h − h' steps are zero, and the cell's `backward` gives the gradient: O(h) per h' steps.
The online state is advanced with the same `forward`, one step at a time. The readout's
gradient is exact (summed over the h' steps).

    grads at step t: {"layer", "readout"} when t is a multiple of h' (since reset), else None.

h' = 1 gives the per-step gradient of L_t truncated to h steps; with h ≥ the number of steps
since reset, nothing is cut and the result is BPTT's. With an optimizer the window is re-run
with the current parameters, while the stored ∂L_τ/∂h_τ came from the online forward — the
usual online approximation; without updates in between the gradient is exact for the window.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_positive_int
from ..layers.core import Dense
from ..layers.recurrent import Recurrent
from ..losses import Loss
from ..optimizers import Optimizer
from ._base import OnlineLearner
from .models import Grads, LayerModel

Array = np.ndarray


class TruncatedBPTT(OnlineLearner):
    """Online BPTT(h; h'): every h_prime steps, backpropagate through the last h steps.

    Arguments: layer, readout, loss, h (steps the gradient flows back), h_prime (steps between
    backward passes, 1 ≤ h' ≤ h; default 1), optimizer, update_every (counted in steps, as for
    the other learners: with update_every=1 the update happens at every backward step). The
    layer's cell runs its own forward and backward (rnnlab.cells): a recurrent layer with a
    readout only (a FullyRecurrentNet trains with the forward-mode learners).
    """

    def __init__(
        self,
        layer: Recurrent,
        readout: Dense,
        loss: Loss | str,
        h: int,
        h_prime: int = 1,
        *,
        optimizer: Optimizer | str | None = None,
        update_every: int | None = 1,
    ):
        super().__init__(layer, readout, loss, optimizer=optimizer, update_every=update_every)
        if not isinstance(self.model, LayerModel):
            raise TypeError(
                f"{self.who}: expected a recurrent layer and a Dense readout, got "
                f"{self.model.who} (RTRL, SnAp1 and UORO train it)"
            )
        self.h = check_positive_int(h, self.who, "h")
        self.h_prime = check_positive_int(h_prime, self.who, "h_prime")
        if self.h_prime > self.h:
            raise ValueError(
                f"{self.who}: expected h_prime ≤ h (the errors of h' steps are "
                f"backpropagated through h steps), got h={h}, h_prime={h_prime}"
            )
        self.cell, self.layer = self.model.cell, self.model.layer

    def _allocate(self, batch_size: int) -> None:
        B, h = batch_size, self.h
        I = self.model.input_size
        self._x = np.zeros((h, B, I), dtype=self.dtype)  # x_τ
        self._mask = np.ones((h, B), dtype=bool)  # mask_τ
        self._before = np.zeros((h, B, self.state_size), dtype=self.dtype)  # s_{τ-1}
        self._dh = np.zeros((h, B, self.units), dtype=self.dtype)  # ∂L_τ/∂h_τ
        self._readout_sum: dict[str, Array] | None = None

    def _split(self, s: Array) -> tuple[Array, ...]:
        H = self.units
        return tuple(s[:, u * H : (u + 1) * H] for u in range(self.blocks))

    def _advance(self, x: Array, mask: Array | None) -> Array:
        m = None if mask is None else mask[None]
        _, finals, _ = self.cell.forward(
            self.layer.params, x[None], self._split(self._state), mask=m, keep_cache=False
        )
        self._input = x, mask
        return np.concatenate(finals, axis=1)

    def _commit(self, state: Array) -> None:
        x, mask = self._input
        slot = self._steps % self.h
        self._x[slot] = x
        self._mask[slot] = True if mask is None else mask
        self._before[slot] = self._state
        self._state = state

    def _gradients(self, ds: Array, readout_grads: Grads) -> Grads | None:
        slot = self._steps % self.h
        self._dh[slot] = ds[:, : self.units]
        readout_grads = readout_grads["readout"]
        if self._readout_sum is None:
            self._readout_sum = readout_grads
        else:
            for k, g in readout_grads.items():
                self._readout_sum[k] += g
        t = self._steps + 1  # steps done, this one included
        if t % self.h_prime:
            return None
        n = min(self.h, t)
        window = [(t - n + j) % self.h for j in range(n)]  # oldest first
        x, mask = self._x[window], self._mask[window]  # (n, B, I), (n, B)
        d_out = self._dh[window]  # (n, B, H)
        d_out[: n - self.h_prime] = 0.0  # only the last h' steps inject their errors
        start = self._split(self._before[window[0]])
        _, _, cache = self.cell.forward(
            self.layer.params, x, start, mask=None if mask.all() else mask
        )
        _, _, layer_grads = self.cell.backward(cache, d_out, (None,) * self.blocks)
        grads = {
            "layer": {k: np.array(g) for k, g in layer_grads.items()},
            "readout": self._readout_sum,
        }
        self._readout_sum = None
        return grads

    def _carried(self) -> list[Array]:
        return [getattr(self, name, None) for name in ("_x", "_mask", "_before", "_dh")]
