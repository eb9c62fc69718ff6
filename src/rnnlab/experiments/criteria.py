"""Success criteria for the Williams–Zipser tasks, each usable on arrays and while training.

Binary tasks (targets 0 or 1): **solved when the last `window` steps that had targets were all
right** — every targeted output on the correct side of 0.5, ``(y − ½)(d − ½) > 0`` (an output of
exactly 0.5 is wrong). Steps without targets neither count nor break the run. The outputs are
the ones the network produced while it was learning, online, as in the paper.

Oscillators: **solved when the network, cut loose from its teacher, keeps oscillating right** —
from its current state, with learning and teacher forcing off, run it `warmup` steps; over
the next two periods the RMS difference between its output and the target cycle, at the best
of the `period` phase shifts, must be < `tolerance`. The phase is free because an autonomous
oscillator has no clock to lock to; the shape, amplitude and period are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import activations
from ..online.fully_recurrent import ACTIVATIONS, FullyRecurrentNet


def correct(y: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Elementwise: y on the same side of 0.5 as the binary target d."""
    return (np.asarray(y) - 0.5) * (np.asarray(d) - 0.5) > 0


def binary_criterion_holds(
    y: np.ndarray, d: np.ndarray, mask: np.ndarray, window: int = 1000
) -> bool:
    """Were the last `window` targeted steps all right? y, d (T, k); mask (T, k) bool."""
    y, d, mask = np.asarray(y, float), np.asarray(d, float), np.asarray(mask, bool)
    if not y.shape == d.shape == mask.shape or y.ndim != 2:
        raise ValueError(
            f"binary_criterion_holds: expected y, d, mask of one shape (T, k), "
            f"got {y.shape}, {d.shape}, {mask.shape}"
        )
    targeted = mask.any(axis=1)
    ok = (correct(y, d) | ~mask).all(axis=1)[targeted]
    return bool(ok.size >= window and ok[-window:].all())


class StreakMonitor:
    """The binary criterion, step by step: counts targeted steps since the last mistake."""

    def __init__(self, window: int):
        self.window = window
        self.streak = 0

    def observe(self, y: np.ndarray, d: np.ndarray, mask: np.ndarray) -> bool:
        """Record one step (y, d, mask of the output units); True once the criterion holds."""
        if mask.any():
            if np.all(correct(y[mask], d[mask])):
                self.streak += 1
            else:
                self.streak = 0
        return self.streak >= self.window


def oscillation_rms(outputs: np.ndarray, cycle: np.ndarray) -> float:
    """RMS of outputs − the repeated target cycle, minimised over the len(cycle) phase shifts."""
    outputs, cycle = np.asarray(outputs, float), np.asarray(cycle, float)
    period = cycle.size
    if outputs.ndim != 1 or outputs.size < period:
        raise ValueError(
            f"oscillation_rms: expected a 1-D output of ≥ {period} steps, got shape {outputs.shape}"
        )
    tiled = np.resize(cycle, outputs.size + period)  # cycle repeated
    return min(
        float(np.sqrt(np.mean((outputs - tiled[s : s + outputs.size]) ** 2))) for s in range(period)
    )


def free_run(net: FullyRecurrentNet, fed_back: np.ndarray, steps: int) -> np.ndarray:
    """Run the network on zero inputs from ŷ(t−1) = fed_back, no learning: outputs (steps, n)."""
    f, _ = activations.get(ACTIVATIONS[net.activation], "free_run")
    m, n = net.n_inputs, net.n_units
    z = np.zeros(net.n_columns, dtype=net.dtype)
    z[m] = 1.0
    z[m + 1 :] = fed_back
    out = np.empty((steps, n), dtype=net.dtype)
    for t in range(steps):
        out[t] = f(net.W @ z)
        z[m + 1 :] = out[t]
    return out


@dataclass(frozen=True)
class Oscillation:
    """The oscillator criterion's parameters; the cycle is one period of the target."""

    cycle: tuple[float, ...]
    warmup: int = 500
    tolerance: float = 0.1
    check_every: int = 250

    @property
    def period(self) -> int:
        return len(self.cycle)

    def test_rms(self, net: FullyRecurrentNet, fed_back: np.ndarray, unit: int = 0) -> float:
        """The free-running test: RMS over two periods after `warmup` steps (best phase)."""
        out = free_run(net, fed_back, self.warmup + 2 * self.period)[self.warmup :, unit]
        return oscillation_rms(out, np.asarray(self.cycle))

    def holds(self, net: FullyRecurrentNet, fed_back: np.ndarray, unit: int = 0) -> bool:
        return self.test_rms(net, fed_back, unit) < self.tolerance
