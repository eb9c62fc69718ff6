"""The layers of the recurrences that train in parallel: MinGRU, MinLSTM (Feng et al. 2024) and
LRU (Orvieto et al. 2023). docs/parallel-rnn.md has the equations, the scans and the figures.

Each takes the options of rnnlab.layers.Recurrent (masks, states, go_backwards, stateful,
dropout on the inputs, Bidirectional, save/load) and `mode` ("auto" | "parallel" |
"sequential", see rnnlab.cells.minimal). They have no recurrent matmul, so recurrent_dropout is
refused, and one bias vector of their own (bias="keras" and use_bias=False are refused).
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import describe
from ..cells.lru import LRUCell
from ..cells.mingru import MinGRUCell
from ..cells.minlstm import MinLSTMCell
from .recurrent import Recurrent


class MinGRU(Recurrent):
    """minGRU: z = σ(W_z x + b_z), h̃ = g(W_h x + b_h), h' = (1 − z) ⊙ h + z ⊙ h̃
    (rnnlab.cells.MinGRUCell). Params weight_ih (2H, I) rows [z; h], bias_ih (2H):
    2H(I + 1) parameters, a third of a GRU's 3H(I + H + 2) at I = H... and a constant-memory
    step. Input (B, T, I) -> (B, T, H) with return_sequences, else (B, H)."""

    cell_class = MinGRUCell

    def __init__(self, units: int, mode: str = "auto", **kwargs):
        super().__init__(units, mode=mode, **kwargs)


class MinLSTM(Recurrent):
    """minLSTM with normalised gates: f' = f/(f + i), i' = i/(f + i), h' = f' ⊙ h + i' ⊙ h̃
    (rnnlab.cells.MinLSTMCell). Params weight_ih (3H, I) rows [f; i; h], bias_ih (3H). One
    state h. Input (B, T, I) -> (B, T, H) with return_sequences, else (B, H)."""

    cell_class = MinLSTMCell

    def __init__(self, units: int, mode: str = "auto", **kwargs):
        super().__init__(units, mode=mode, **kwargs)


class LRU(Recurrent):
    """Linear Recurrent Unit (rnnlab.cells.LRUCell): h' = λ ⊙ h + γ ⊙ (B x), y = Re(C h) + D x
    with N = units/2 complex modes (units even). States [y, h], h held as [Re h | Im h].

    Initialisation (the paper's, Orvieto et al. 2023 §3.3): |λ| uniform on the ring
    r_min ≤ |λ| ≤ r_max (uniform in area: |λ|² ~ U(r_min², r_max²)), arg λ ~ U(0, max_phase),
    ν_log = log(−log|λ|), θ_log = log(arg λ), γ_log = log √(1 − |λ|²);
    B_re, B_im ~ N(0, 1/(2I)), C_re, C_im ~ N(0, 1/N); D by kernel_initializer.
    Defaults r_min = 0, r_max = 0.99, max_phase = 2π (the paper's code uses r_max = 1 and, for
    its long-range tasks, r_min = 0.9, r_max = 0.999, max_phase = π/10: pass them).
    """

    cell_class = LRUCell
    config_keys = (*Recurrent.config_keys, "r_min", "r_max", "max_phase")

    def __init__(
        self,
        units: int,
        mode: str = "auto",
        r_min: float = 0.0,
        r_max: float = 0.99,
        max_phase: float = 2 * math.pi,
        **kwargs,
    ):
        super().__init__(units, mode=mode, **kwargs)
        numbers = (r_min, r_max, max_phase)
        if not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers
        ) or not (0.0 <= r_min < r_max < 1.0 and max_phase > 0.0):
            raise ValueError(
                f"{self.who}: expected 0 ≤ r_min < r_max < 1 and max_phase > 0, got "
                f"r_min={describe(r_min)}, r_max={describe(r_max)}, max_phase={describe(max_phase)}"
            )
        if units % 2:
            raise ValueError(
                f"{self.who}: expected an even number of units (N = units/2 complex modes), "
                f"got {units}"
            )
        self.r_min, self.r_max, self.max_phase = float(r_min), float(r_max), float(max_phase)

    def _create_params(self, input_dim: int) -> None:
        super()._create_params(input_dim)  # D from kernel_initializer, the rest replaced here
        N, rng, p = self.units // 2, self.rng, self.params
        u1, u2 = rng.uniform(size=N), rng.uniform(size=N)
        radius_sq = u1 * (self.r_max**2 - self.r_min**2) + self.r_min**2
        radius_sq = np.maximum(radius_sq, 1e-12)  # |λ| = 0 would make ν infinite
        p["nu_log"][...] = np.log(-0.5 * np.log(radius_sq))
        p["theta_log"][...] = np.log(np.maximum(self.max_phase * u2, 1e-12))
        p["gamma_log"][...] = np.log(np.sqrt(1.0 - radius_sq))
        for key, fan in (
            ("B_re", 2 * input_dim),
            ("B_im", 2 * input_dim),
            ("C_re", N),
            ("C_im", N),
        ):
            p[key][...] = rng.standard_normal(p[key].shape) / np.sqrt(fan)
