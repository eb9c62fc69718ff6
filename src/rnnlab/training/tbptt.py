"""Truncated backpropagation through time, TBPTT(k1, k2), over long streams.

Williams & Peng (1990): every k1 steps, backpropagate the errors of those k1 steps through the
last k2 ≥ k1 steps. With B parallel streams (rnnlab.training.streams) one update reads

    window [w, e) with e = p + k1 and w = max(0, e − k2)
    initial state: the state before position w, carried from the previous window
    loss: the k1 positions [p, e) only; positions [w, p) are burn-in (k2 − k1 steps)

and the state before the next window's start is read off this window (`Recurrent.state_at`),
so the hidden state flows through the whole stream while gradients are truncated. k2 = k1 is the
usual "stateful training in chunks". Rows where a new document begins reset their state to zero
there (streams are aligned so that this happens on window boundaries; burn-in steps of the
previous document are masked out).

A run can be checkpointed at any window and resumed to bit-identical weights: the checkpoint
holds the parameters, the optimizer state, the carried states, every layer's RNG state and the
position in the data.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import config
from .._validation import check_positive_int
from ..model import NonFiniteError, Sequential
from .streams import Streams


@dataclass
class Progress:
    """Where a run is: epoch, window position, optimizer steps, tokens seen, and the history."""

    epoch: int = 0
    window: int = 0
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


class TBPTTTrainer:
    """Train a compiled Sequential model by TBPTT(k1, k2) over parallel streams.

    Arguments:
        model: a compiled Sequential whose output is per step, (B, T, V) logits or values.
        k1: steps between updates (and the number of positions whose loss each update uses).
        k2: steps the gradient flows back (k2 ≥ k1; default k1).
    """

    def __init__(self, model: Sequential, k1: int, k2: int | None = None):
        if not isinstance(model, Sequential):
            raise TypeError(f"TBPTTTrainer: expected a Sequential model, got {type(model)}")
        if model.optimizer is None or model.loss is None:
            raise RuntimeError(f"Sequential {model.name!r}: call compile() before TBPTTTrainer()")
        self.model = model
        self.k1 = check_positive_int(k1, "TBPTTTrainer", "k1")
        self.k2 = self.k1 if k2 is None else check_positive_int(k2, "TBPTTTrainer", "k2")
        if self.k2 < self.k1:
            raise ValueError(f"TBPTTTrainer: expected k2 ≥ k1 = {self.k1}, got k2 = {self.k2}")
        self.recurrent = model.recurrent_layers()
        for layer in self.recurrent:
            if layer.go_backwards:
                raise ValueError(
                    f"TBPTTTrainer: {layer.who} reads backwards; a stream can "
                    f"only be carried through forward-reading layers"
                )
        self.progress = Progress()
        self.cursor = _Cursor(self.recurrent, self.k1, self.k2)

    @property
    def carry(self) -> list[list[np.ndarray]] | None:
        """Per recurrent layer, its states before the next window (None: zeros)."""
        return self.cursor.carry

    def train_window(self, streams: Streams, p: int) -> tuple[float, int]:
        """One TBPTT update on the window ending at p + k1. Returns (mean loss, valid tokens).

        Raises NonFiniteError (nothing updated) if an output, the loss or a gradient is not
        finite, naming where it first appeared.
        """
        model = self.model
        y_pred, targets, loss_mask = self.cursor.run(model, streams, p, training=True)
        n = int(loss_mask.sum())
        if n == 0:
            return 0.0, 0
        value, dy = model.loss.value_and_grad(targets, y_pred, loss_mask)
        if not math.isfinite(value):
            raise NonFiniteError("the loss")
        model.backward(dy)
        model._apply_gradients()  # the finite check and the step, as Sequential.train_on_batch
        return value, n

    # -- whole runs --------------------------------------------------------------------------------
    def fit(
        self,
        streams: Streams,
        *,
        epochs: int | None = 1,
        max_seconds: float | None = None,
        max_steps: int | None = None,
        validation: Streams | None = None,
        eval_every: int | None = None,
        on_step: Callable[[TBPTTTrainer, float], Any] | None = None,
        checkpoint: Callable[[TBPTTTrainer], Any] | None = None,
        checkpoint_every: int | None = None,
    ) -> Progress:
        """Train until `epochs` passes, `max_seconds` of training or `max_steps` updates,
        whichever comes first (continuing from self.progress, e.g. after restore).

        on_step(trainer, loss) is called after every update; checkpoint(trainer) every
        `checkpoint_every` updates; validation loss (nats per token) is recorded every
        `eval_every` updates and at the end of each epoch.
        """
        if streams.k1 != self.k1:
            raise ValueError(
                f"TBPTTTrainer.fit: streams were aligned for k1 = {streams.k1}, "
                f"the trainer uses k1 = {self.k1}"
            )
        prog = self.progress
        started = time.perf_counter() - prog.seconds
        n_windows = streams.n_windows
        running, running_n = 0.0, 0

        def out_of_time() -> bool:
            return max_seconds is not None and time.perf_counter() - started >= max_seconds

        while epochs is None or prog.epoch < epochs:
            if prog.window == 0:
                self.cursor.carry = None
            while prog.window < n_windows:
                if (max_steps is not None and prog.steps >= max_steps) or out_of_time():
                    prog.seconds = time.perf_counter() - started
                    return prog
                loss, n = self.train_window(streams, prog.window * self.k1)
                prog.window += 1
                prog.steps += 1
                prog.tokens += n
                running += loss * n
                running_n += n
                prog.seconds = time.perf_counter() - started
                if on_step is not None:
                    on_step(self, loss)
                if validation is not None and eval_every and prog.steps % eval_every == 0:
                    self._record(running, running_n, validation)
                    running, running_n = 0.0, 0
                if (
                    checkpoint is not None
                    and checkpoint_every
                    and prog.steps % checkpoint_every == 0
                ):
                    checkpoint(self)
            prog.epoch += 1
            prog.window = 0
            if validation is not None:
                self._record(running, running_n, validation)
                running, running_n = 0.0, 0
        prog.seconds = time.perf_counter() - started
        return prog

    def _record(self, running: float, running_n: int, validation: Streams) -> None:
        entry = {
            "step": self.progress.steps,
            "epoch": self.progress.epoch,
            "tokens": self.progress.tokens,
            "seconds": round(self.progress.seconds, 3),
            "train_loss": running / running_n if running_n else math.nan,
            "val_loss": self.evaluate(validation),
        }
        self.progress.history.append(entry)

    def evaluate(self, streams: Streams) -> float:
        """Mean loss per valid token over whole streams (state carried, no updates)."""
        cursor = _Cursor(self.recurrent, streams.k1, streams.k1)
        with config.no_grad():
            total, count = self._evaluate_windows(cursor, streams)
        return total / count if count else math.nan

    def _evaluate_windows(self, cursor, streams: Streams) -> tuple[float, int]:
        total, count = 0.0, 0
        for p in range(0, streams.length, streams.k1):
            y_pred, targets, loss_mask = cursor.run(self.model, streams, p, training=False)
            n = int(loss_mask.sum())
            if n:
                total += self.model.loss(targets, y_pred, loss_mask) * n
                count += n
        return total, count

    # -- checkpoints -----------------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Everything a bit-identical resume needs: (tensors, JSON-serialisable state)."""
        tensors = {f"model/{k}": v for k, v in self.model.named_params().items()}
        tensors.update({f"optimizer/{k}": v for k, v in self.model.optimizer.get_state().items()})
        if self.carry is not None:
            for layer, states in zip(self.recurrent, self.carry, strict=True):
                for name, s in zip(layer.state_names, states, strict=True):
                    tensors[f"carry/{layer.name}/{name}"] = s
        prog = self.progress
        state = {
            "k1": self.k1,
            "k2": self.k2,
            "progress": {
                "epoch": prog.epoch,
                "window": prog.window,
                "steps": prog.steps,
                "tokens": prog.tokens,
                "seconds": prog.seconds,
                "history": prog.history,
            },
            "rng": {
                name: layer.rng.bit_generator.state
                for name, layer in _all_layers(self.model).items()
            },
            "model_rng": self.model.rng.bit_generator.state,
            "has_carry": self.carry is not None,
        }
        return tensors, state

    def load_state(self, tensors: dict[str, np.ndarray], state: dict[str, Any]) -> None:
        """Restore what state() returned (the model must have the same architecture)."""
        if state.get("k1") != self.k1 or state.get("k2") != self.k2:
            raise ValueError(
                f"TBPTTTrainer: checkpoint was written with k1={state.get('k1')}, "
                f"k2={state.get('k2')}; this trainer has k1={self.k1}, k2={self.k2}"
            )
        params = self.model.named_params()
        for key, p in params.items():
            src = tensors.get(f"model/{key}")
            if src is None or src.shape != p.shape:
                raise ValueError(f"TBPTTTrainer: checkpoint has no matching tensor for {key}")
            p[...] = src
        prefix = "optimizer/"
        self.model.optimizer.set_state(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
        if state.get("has_carry"):
            self.cursor.carry = [
                [tensors[f"carry/{layer.name}/{name}"].copy() for name in layer.state_names]
                for layer in self.recurrent
            ]
        else:
            self.cursor.carry = None
        for name, layer in _all_layers(self.model).items():
            layer.rng.bit_generator.state = state["rng"][name]
        self.model.rng.bit_generator.state = state["model_rng"]
        p = state["progress"]
        self.progress = Progress(
            p["epoch"], p["window"], p["steps"], p["tokens"], p["seconds"], list(p["history"])
        )


def _all_layers(model: Sequential) -> dict[str, Any]:
    """Every layer of the model, wrapped ones included, by path ("bidirectional/lstm")."""
    found: dict[str, Any] = {}
    todo = [(layer.name, layer) for layer in model.layers]
    while todo:
        path, layer = todo.pop(0)
        found[path] = layer
        todo.extend((f"{path}/{sub.name}", sub) for sub in layer.sublayers())
    return found


class _Cursor:
    """Window bookkeeping for TBPTT(k1, k2): bounds, resets, and the carried states."""

    def __init__(self, recurrent: list, k1: int, k2: int):
        self.recurrent, self.k1, self.k2 = recurrent, k1, k2
        self.carry: list[list[np.ndarray]] | None = None

    def bounds(self, p: int) -> tuple[int, int]:
        e = p + self.k1
        return max(0, e - self.k2), e

    def prepare(self, streams: Streams, p: int):
        """Inputs, step mask, loss mask, initial states and targets of the window [w, p+k1)."""
        w, e = self.bounds(p)
        step_mask = streams.valid[:, w:e].copy()
        if self.carry is None:
            carry = [
                [
                    np.zeros((streams.n_streams, layer.state_size), layer.dtype)
                    for _ in layer.state_names
                ]
                for layer in self.recurrent
            ]
        else:
            carry = [[s.copy() for s in states] for states in self.carry]
        starts = streams.starts[:, w : p + 1]  # fresh starts can only fall in [w, p]
        for b in np.flatnonzero(starts.any(axis=1)):
            q = w + int(np.flatnonzero(starts[b])[-1])
            step_mask[b, : q - w] = False  # burn-in from another document: skip it
            for states in carry:
                for s in states:
                    s[b] = 0.0
        loss_mask = step_mask.copy()
        loss_mask[:, : p - w] = False
        return streams.inputs[:, w:e], step_mask, loss_mask, carry, streams.targets[:, w:e]

    def run(self, model: Sequential, streams: Streams, p: int, training: bool):
        """Forward the window ending at p + k1 and carry the states to the next window."""
        x, step_mask, loss_mask, carry, targets = self.prepare(streams, p)
        saved = [(layer.stateful, layer.states) for layer in self.recurrent]
        try:
            for layer, states in zip(self.recurrent, carry, strict=True):
                layer.stateful, layer.states = True, states  # the window starts from `carry`
            y_pred = model.forward(x, mask=step_mask, training=training)
            finals = [layer.states for layer in self.recurrent]  # after the window's last step
        finally:
            for layer, (flag, states) in zip(self.recurrent, saved, strict=True):
                layer.stateful, layer.states = flag, states
        w, _ = self.bounds(p)
        w_next, _ = self.bounds(p + self.k1)
        if w_next == w:  # still at the stream's start (k2 ≥ 2·k1 early on)
            self.carry = [[np.zeros_like(s) for s in states] for states in carry]
        elif w_next == p + self.k1:  # the next window starts where this one ends
            self.carry = [[s.copy() for s in states] for states in finals]
        else:
            self.carry = [layer.state_at(w_next - 1 - w) for layer in self.recurrent]
        return y_pred, targets, loss_mask
