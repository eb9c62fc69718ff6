"""What every online learner shares: the model, input checks, the per-step loss, the updates.

A learner drives an `OnlineModel` (rnnlab.online.models): a recurrent layer with a Dense
readout — `RTRL(layer, readout, loss)` — or a model whose outputs are its state, such as
Williams & Zipser's `FullyRecurrentNet` — `RTRL(net, loss=...)`. Its parameters are read at
every step and updated in place. With the model's state s_t and outputs y_t (models.py):

    L_t = loss(target_t, y_t, mask_t)    the loss's reduction over the valid rows (or outputs)

`mask_t` (B,) bool has the layers' meaning (DESIGN.md): where it is False the row's state is
carried unchanged (s_t = s_{t-1}, so D_t = I and ∂s_t/∂θ = 0 there) and the row adds no loss.
`target_mask` (B, O) bool, if given, says which outputs have a target at this step (Williams &
Zipser's T(t)); each output is then one position of the loss (y_t seen as (B, O, 1)).

    learner.reset(batch_size)                         # s_0 = 0, influence / buffers cleared
    out = learner.step(x_t, target_t, mask_t=None, target_mask=None)    # x_t (B, I)
    out["loss"]     L_t (float)
    out["grads"]    {part: {name: array}} — {"layer": {weight_ih, ...}, "readout": {weight,
                    bias}} or {"net": {"W"}}: the learner's estimate of ∂L_t/∂θ
                    (TruncatedBPTT: of a window of losses, or None)
    out["output"]   y_t (B, O)
    out["updated"]  True when the optimizer changed the parameters at this step
    learner.update()  apply the gradients accumulated since the last update now

With an optimizer, `step` also applies the update — at every step ("real-time" learning, the
default update_every=1), or every k steps with the sum of the gradients since the last update
(update_every=k), or only when `update()` is called (update_every=None: epochwise learning —
call update() at the end of each epoch, then reset). The optimizer sees the keys
"<part>.<name>". Memory is O(1) in the stream length.

Teacher forcing (teacher_forcing=True, for a model whose outputs are its state): after the
step's gradient is taken, the state entries that have a target are replaced by the target
(s_t ← d_t there), and their rows of the influence are zeroed — a forced value does not
depend on θ (Williams & Zipser 1989, eq. 19).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import losses, optimizers
from .._validation import as_float_array, check_bool, check_positive_int, describe
from ..layers.core import Dense
from ..losses import Loss
from ..optimizers import Optimizer
from .models import Grads, OnlineModel, StepSummary, as_model

Array = np.ndarray


class OnlineLearner(abc.ABC):
    """Base class (see the module docstring). Subclasses implement the three hooks:

    _allocate(B)             create the learner's carried arrays for batch size B
    _advance(x, mask) -> s   propose s_t from s_{t-1} (self._state), moving nothing
    _commit(s)               take the step: self._state = s_t, and the learner's own memory
    _gradients(ds, rg)       estimate of ∂L_t/∂θ from ds = ∂L_t/∂s_t (B, S) and the readout's
                             gradients rg ({part: grads}): {part: grads}, or None
    and, to support teacher forcing, _forget(forced): forced (B, S) state entries no longer
    depend on θ. A step whose input or target is refused changes nothing.

    Arguments:
        model: a recurrent layer (SimpleRNN, LSTM, GRU, or any layer whose cell declares
            local derivatives; its params are used in place), or an OnlineModel such as
            FullyRecurrentNet.
        readout: the Dense readout on h_t for a layer; None for an OnlineModel.
        loss: a rnnlab Loss or its name.
        optimizer: optional rnnlab Optimizer (or name): step() then also updates the params.
        update_every: apply the optimizer every k steps with the summed gradients, or None to
            apply only when update() is called.
        teacher_forcing: feed the targets back into the state (models whose outputs are
            their state).
    """

    def __init__(
        self,
        model: OnlineModel | Any,
        readout: Dense | None = None,
        loss: Loss | str | None = None,
        *,
        optimizer: Optimizer | str | None = None,
        update_every: int | None = 1,
        teacher_forcing: bool = False,
    ):
        who = self.who
        self.model = as_model(model, readout, who)
        if loss is None:
            raise TypeError(f"{who}: expected a loss (a rnnlab Loss or its name), got None")
        try:
            self.loss = losses.get(loss)
            self.optimizer = None if optimizer is None else optimizers.get(optimizer)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None
        self.update_every = (
            None if update_every is None else check_positive_int(update_every, who, "update_every")
        )
        self.teacher_forcing = check_bool(teacher_forcing, who, "teacher_forcing")
        if self.teacher_forcing and not self.model.state_is_output:
            raise ValueError(
                f"{who}: teacher forcing feeds the targets back into the state, so it needs a "
                f"model whose outputs are its state (such as FullyRecurrentNet), not a "
                f"recurrent layer with a readout"
            )
        self.units, self.blocks = self.model.units, self.model.blocks
        self.state_size = self.model.state_size
        self.dtype = self.model.dtype
        self._batch: int | None = None
        self._state: Array | None = None  # (B, S)
        self._ready = False
        self._steps = 0  # steps since reset
        self._pending: dict[str, Array] | None = None  # gradients not applied yet
        self._since_update = 0

    @property
    def who(self) -> str:
        """How error messages name this learner."""
        return type(self).__name__

    @property
    def params(self) -> dict[str, Array]:
        """The arrays the learner trains, keyed "<part>.<name>" (no copies)."""
        return self.model.params

    @property
    def state(self) -> tuple[Array, ...]:
        """The carried state: (h,), or (h, c) for the LSTM, each (B, H) — after teacher
        forcing, the values fed back."""
        if self._state is None:
            raise RuntimeError(f"{self.who}: no state yet; call reset(batch_size) first")
        H = self.units
        return tuple(self._state[:, u * H : (u + 1) * H] for u in range(self.blocks))

    @property
    def steps(self) -> int:
        """Steps taken since the last reset."""
        return self._steps

    def memory_nbytes(self) -> int:
        """Bytes of everything the learner carries between steps (constant in the stream)."""
        arrays = [self._state, *self._carried()]
        return int(sum(a.nbytes for a in arrays if a is not None))

    def reset(self, batch_size: int) -> None:
        """Start new streams: s_0 = 0 for `batch_size` rows; influence, buffers and any
        gradient not yet applied are cleared (optimizer state is kept)."""
        self._batch = check_positive_int(batch_size, f"{self.who}.reset", "batch_size")
        self._state = np.zeros((self._batch, self.state_size), dtype=self.dtype)
        self._ready = False  # the learner's own arrays wait for the first x_t (input size)
        self._steps = 0
        self._pending = None
        self._since_update = 0

    def step(
        self,
        x_t,
        target_t,
        mask_t: Array | None = None,
        *,
        target_mask: Array | None = None,
    ) -> dict[str, Any]:
        """One step of the stream: advance, loss, gradient estimate, teacher forcing, and
        maybe an update. x_t (B, I); mask_t (B,) bool; target_mask (B, O) bool."""
        who = f"{self.who}.step"
        if self._batch is None:
            raise RuntimeError(f"{who}: call reset(batch_size) before the first step")
        B, model = self._batch, self.model
        x = as_float_array(x_t, who, self.dtype, "x_t")
        if x.ndim != 2 or x.shape[0] != B:
            raise ValueError(f"{who}: expected x_t of shape (batch={B}, features), got {x.shape}")
        mask = self._check_mask(mask_t, who)
        outputs = self._check_target_mask(target_mask, mask, who)  # (B, O) or None
        if not self._ready:
            self._start(x.shape[1])
        if x.shape[1] != model.input_size:
            raise ValueError(
                f"{who}: expected x_t with {model.input_size} features (as the model was "
                f"built), got {x.shape}"
            )
        if outputs is not None or self.teacher_forcing:
            target_t = self._check_output_target(target_t, who)  # (B, O)
        # s_t is proposed, not taken: nothing moves until the loss has accepted the target
        proposed = self._advance(x, mask)  # (B, S)
        y = model.read(proposed)  # (B, O)
        value, dy = self._loss(target_t, y, mask, outputs, who)
        self._commit(proposed)
        ds, readout_grads = model.read_backward(dy)  # ∂L_t/∂s_t (B, S)
        grads = self._gradients(ds, readout_grads)
        if self.teacher_forcing:
            self._force(target_t, mask, outputs)
        self._steps += 1
        return {
            "loss": float(value),
            "grads": grads,
            "output": y,
            "updated": self._maybe_update(grads),
        }

    def update(self) -> bool:
        """Apply the gradients accumulated since the last update now (epochwise learning:
        call it at the end of each epoch, before reset). Returns True if the parameters
        changed; False without an optimizer or without gradients pending. An optimizer
        refuses a non-finite gradient (ValueError, nothing updated); it is dropped."""
        if self.optimizer is None or self._pending is None:
            return False
        pending, self._pending, self._since_update = self._pending, None, 0
        self.optimizer.step(self.params, pending)  # a refused (non-finite) gradient is dropped
        return True

    # -- helpers ----------------------------------------------------------------------------
    def _loss(
        self, target_t, y: Array, mask: Array | None, outputs: Array | None, who: str
    ) -> tuple[float, Array]:
        if outputs is not None:  # one position per output: (B, O, 1)
            target_t, y, mask = target_t[..., None], y[..., None], outputs
        try:
            value, grad = self.loss.value_and_grad(target_t, y, mask)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None
        return value, (grad if outputs is None else grad[..., 0])

    def _check_mask(self, mask_t, who: str) -> Array | None:
        if mask_t is None:
            return None
        if not isinstance(mask_t, np.ndarray) or mask_t.dtype != np.bool_:
            raise TypeError(
                f"{who}: expected mask_t as a bool array of shape ({self._batch},) "
                f"(True = valid step), got {describe(mask_t)}"
            )
        if mask_t.shape != (self._batch,):
            raise ValueError(
                f"{who}: expected mask_t of shape ({self._batch},), got {mask_t.shape}"
            )
        return mask_t

    def _check_target_mask(self, target_mask, mask: Array | None, who: str) -> Array | None:
        """target_mask (B, O), combined with mask_t: which outputs count at this step."""
        if target_mask is None:
            return None
        shape = (self._batch, self.model.outputs)
        if not isinstance(target_mask, np.ndarray) or target_mask.dtype != np.bool_:
            raise TypeError(
                f"{who}: expected target_mask as a bool array of shape {shape} (True = the "
                f"output has a target), got {describe(target_mask)}"
            )
        if target_mask.shape != shape:
            raise ValueError(
                f"{who}: expected target_mask of shape {shape}, got {target_mask.shape}"
            )
        return target_mask if mask is None else target_mask & mask[:, None]

    def _check_output_target(self, target_t, who: str) -> Array:
        """One float target per output (B, O): with a target_mask, or for teacher forcing."""
        target = as_float_array(target_t, who, self.dtype, "target_t")
        shape = (self._batch, self.model.outputs)
        if target.shape != shape:
            why = "teacher forcing feeds it back" if self.teacher_forcing else "target_mask"
            raise ValueError(
                f"{who}: expected target_t of shape {shape}, one target per output "
                f"({why}), got {target.shape}"
            )
        return target

    def _force(self, target: Array, mask: Array | None, outputs: Array | None) -> None:
        """Teacher forcing: s_t ← d_t where there is a target; those entries forget θ."""
        forced = np.ones(target.shape, dtype=bool) if outputs is None else outputs
        if outputs is None and mask is not None:
            forced = forced & mask[:, None]
        self._state = np.where(forced, target, self._state)
        self._forget(forced)

    def _start(self, input_dim: int) -> None:
        self.model.build(input_dim)  # builds an unbuilt model; checks a built one
        self._allocate(self._batch)
        self._ready = True

    def _maybe_update(self, grads: Mapping[str, Mapping[str, Array]] | None) -> bool:
        if self.optimizer is None:
            return False
        if grads is not None:
            flat = {f"{part}.{k}": g for part, gs in grads.items() for k, g in gs.items()}
            if self._pending is None:  # a copy, unless it is applied right away
                self._pending = (
                    flat if self.update_every == 1 else {k: g.copy() for k, g in flat.items()}
                )
            else:
                for k, g in flat.items():
                    self._pending[k] += g
        self._since_update += 1
        if self.update_every is None or self._since_update < self.update_every:
            return False
        return self.update()

    # -- hooks ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _allocate(self, batch_size: int) -> None:
        """Subclasses implement this."""

    @abc.abstractmethod
    def _advance(self, x: Array, mask: Array | None) -> Array:
        """Subclasses implement this: s_t (B, S), without moving anything yet."""

    @abc.abstractmethod
    def _commit(self, state: Array) -> None:
        """Subclasses implement this: take the step _advance proposed (s_t = state)."""

    @abc.abstractmethod
    def _gradients(self, ds: Array, readout_grads: Grads) -> Grads | None:
        """Subclasses implement this."""

    def _forget(self, forced: Array) -> None:
        """Teacher forcing: the forced (B, S) state entries no longer depend on θ."""
        raise NotImplementedError(f"{self.who} does not support teacher forcing")

    def _carried(self) -> list[Array]:
        """The learner's own arrays carried between steps (for memory_nbytes)."""
        return []


class ForwardModeLearner(OnlineLearner):
    """Base of RTRL, SnAp1 and UORO: each step asks the model for its Jacobians
    (models.StepSummary) and hands them to `_update_influence`."""

    def _advance(self, x: Array, mask: Array | None) -> Array:
        prev = self._state
        self._jac, self._mask = self.model.jacobians(x, prev), mask
        return self._jac.state if mask is None else np.where(mask[:, None], self._jac.state, prev)

    def _commit(self, state: Array) -> None:
        self._update_influence(self._jac, self._mask)
        self._state = state
        self._jac = self._mask = None

    def _gradients(self, ds: Array, readout_grads: Grads) -> Grads:
        flat = self._flat_gradient(ds)  # (P,)
        return {**self.model.split_gradient(flat), **readout_grads}

    @abc.abstractmethod
    def _update_influence(self, jac: StepSummary, mask: Array | None) -> None:
        """Subclasses implement this."""

    @abc.abstractmethod
    def _flat_gradient(self, ds: Array) -> Array:
        """Subclasses implement this."""
