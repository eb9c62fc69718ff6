"""Online learners side by side: exact RTRL, UORO, SnAp-1, truncated and segment-wise BPTT.

The task is a delayed XOR on an unbounded stream: two random-bit input lines, and the target at
step t is x₁(t−τ) XOR x₂(t−τ) (no target for t < τ). The network must hold two bits for τ steps
and combine them nonlinearly, so gradients have to reach back τ steps. Every learner trains the
same model from the same initial weights — SimpleRNN(H, tanh) → Dense(1) logit → binary
cross-entropy — with Adam, updating at every step (segment-wise BPTT: after every segment),
one stream (batch 1), float64.

Reported per learner: the loss curve (running mean), the final accuracy over the last 1,000
steps, the time per step and the learner's memory (its carried arrays), which does not grow
with the stream.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .. import losses, optimizers
from .._validation import check_positive_int
from ..layers.core import Dense
from ..layers.rnn import SimpleRNN
from .learners import RTRL, UORO, SnAp1, TruncatedBPTT

LEARNERS = ("rtrl", "snap1", "uoro", "tbptt", "bptt-segments")


@dataclass
class Result:
    learner: str
    description: str
    steps: int
    final_loss: float
    final_accuracy: float
    ms_per_step: float
    memory_bytes: int
    curve_steps: list[int]
    curve_loss: list[float]


def delayed_xor_stream(steps: int, delay: int, seed: int):
    """x (steps, 2) random bits; target (steps, 1); mask (steps,) False for t < delay."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2, size=(steps, 2)).astype(np.float64)
    target = np.zeros((steps, 1))
    target[delay:, 0] = np.logical_xor(x[:-delay, 0], x[:-delay, 1])
    mask = np.arange(steps) >= delay
    return x, target, mask


def _learner(name: str, units: int, delay: int, seed: int, learning_rate: float):
    layer = SimpleRNN(units, dtype="float64", seed=seed)
    layer.build((None, 2))
    readout = Dense(1, dtype="float64", seed=seed + 1)
    readout.build((units,))
    loss = losses.BinaryCrossentropy(from_logits=True)
    opt = optimizers.Adam(learning_rate)
    window = 4 * delay
    if name == "rtrl":
        return RTRL(layer, readout, loss, optimizer=opt), "exact RTRL"
    if name == "snap1":
        return SnAp1(layer, readout, loss, optimizer=opt), "SnAp-1 (Menick et al. 2021)"
    if name == "uoro":
        return (
            UORO(layer, readout, loss, optimizer=optimizers.Adam(learning_rate / 3), seed=seed),
            "UORO (Tallec & Ollivier 2018), lr/3",
        )
    if name == "tbptt":
        return (
            TruncatedBPTT(layer, readout, loss, h=window, h_prime=1, optimizer=opt),
            f"truncated BPTT(h={window}, h'=1)",
        )
    if name == "bptt-segments":
        segment = 10 * window
        return (
            TruncatedBPTT(layer, readout, loss, h=segment, h_prime=segment, optimizer=opt),
            f"BPTT over {segment}-step segments",
        )
    raise ValueError(f"online-vs-bptt: expected learners from {list(LEARNERS)}, got {name!r}")


def run(
    learners=LEARNERS,
    steps: int = 20000,
    units: int = 16,
    delay: int = 2,
    seed: int = 0,
    learning_rate: float = 0.003,
    curve_every: int = 200,
) -> list[Result]:
    """Train each learner on the same stream from the same weights; see the module docstring."""
    steps = check_positive_int(steps, "online-vs-bptt", "steps")
    units = check_positive_int(units, "online-vs-bptt", "units")
    delay = check_positive_int(delay, "online-vs-bptt", "delay")
    if steps < 1000 + delay:
        raise ValueError(
            f"online-vs-bptt: expected steps ≥ {1000 + delay} (accuracy is "
            f"measured over the last 1,000 steps), got {steps}"
        )
    x, target, mask = delayed_xor_stream(steps, delay, seed)
    results = []
    for name in learners:
        learner, description = _learner(name, units, delay, seed, learning_rate)
        learner.reset(1)
        step_loss = np.zeros(steps)
        correct = np.zeros(steps, dtype=bool)
        started = time.perf_counter()
        for t in range(steps):
            out = learner.step(x[t : t + 1], target[t : t + 1], mask[t : t + 1])
            step_loss[t] = out["loss"]
            correct[t] = (out["output"][0, 0] > 0) == (target[t, 0] > 0.5)
        seconds = time.perf_counter() - started
        valid = mask
        curve_steps, curve_loss = [], []
        for end in range(curve_every, steps + 1, curve_every):
            window = valid[max(0, end - 500) : end]
            curve_steps.append(end)
            curve_loss.append(float(step_loss[max(0, end - 500) : end][window].mean()))
        tail = slice(steps - 1000, steps)
        results.append(
            Result(
                learner=name,
                description=description,
                steps=steps,
                final_loss=float(step_loss[tail][valid[tail]].mean()),
                final_accuracy=float(correct[tail][valid[tail]].mean()),
                ms_per_step=1e3 * seconds / steps,
                memory_bytes=learner.memory_nbytes(),
                curve_steps=curve_steps,
                curve_loss=curve_loss,
            )
        )
    return results


def table(results: list[Result]) -> str:
    rows = [
        "| learner | loss (last 1,000 steps) | accuracy (last 1,000) | ms / step | memory |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.description} | {r.final_loss:.3f} | {r.final_accuracy:.3f} | "
            f"{r.ms_per_step:.3f} | {r.memory_bytes / 1024:.1f} KiB |"
        )
    return "\n".join(rows)


def plot(results: list[Result], path, title: str = "delayed XOR, online") -> None:
    """Loss (running mean over 500 steps) against steps, one line per learner; PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.curves import save_figure

    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for r in results:
        ax.plot(r.curve_steps, r.curve_loss, label=r.description)
    ax.axhline(np.log(2), color="grey", lw=0.8, ls=":", label="chance (ln 2)")
    ax.set_xlabel("steps of the stream")
    ax.set_ylabel("binary cross-entropy (running mean)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
