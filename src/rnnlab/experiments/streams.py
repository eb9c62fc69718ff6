"""Unbounded, seeded input/target streams for the Williams–Zipser (1989) tasks.

Every stream yields ``(x, d, mask)`` per time step: x (m,) the input lines, d (k,) the targets
of the k output units (units 0..k−1 of the network) and mask (k,) bool, which of them have a
target at this step. Values of d where mask is False are 0 and mean nothing.

**Time.** rnnlab's network computes y(t) from x(t) and ŷ(t−1) (see `rnnlab.online`); the
paper's computes y(t+1) from x(t) and y(t). So rnnlab's y(t) is the paper's y(t+1): an answer
the paper wants τ steps after an input is due τ − 1 rnnlab steps after it. The streams below
state their delays in the paper's convention and convert.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import numpy as np

from .turing import SYMBOLS, random_string, run_machine

Step = tuple[np.ndarray, np.ndarray, np.ndarray]
CHUNK = 4096  # random numbers are drawn this many steps at a time


def _rows(rng: np.random.Generator, draw) -> Iterator[np.ndarray]:
    """Rows of draw(rng, CHUNK) forever (fewer generator calls than one draw per step)."""
    while True:
        yield from draw(rng, CHUNK)


def pipelined_xor(rng: np.random.Generator, delay: int = 2) -> Iterator[Step]:
    """Pipelined XOR. Inputs: two lines, independent fair random bits at every step.

    Target (one output unit): the XOR of the two bits presented τ = `delay` paper steps
    earlier, i.e. rnnlab's y(t) should be x₁(t−τ+1) ⊕ x₂(t−τ+1). Every step from t = τ−1 on
    has a target; the first τ−1 steps have none.
    """
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 1:
        raise ValueError(f"pipelined_xor: expected an integer delay ≥ 1, got {delay!r}")
    lag = delay - 1
    pending: deque[float] = deque()
    no_target = (np.zeros(1), np.zeros(1, dtype=bool))
    for bits in _rows(rng, lambda r, n: r.integers(0, 2, (n, 2))):
        pending.append(float(bits[0] ^ bits[1]))
        x = bits.astype(float)
        if len(pending) > lag:
            yield x, np.array([pending.popleft()]), np.ones(1, dtype=bool)
        else:
            yield x, *no_target


def sequence_recognition(rng: np.random.Generator, n_symbols: int = 4) -> Iterator[Step]:
    """Simple sequence recognition. Inputs: `n_symbols` ≥ 2 one-hot lines; at every step
    exactly one is on, uniformly at random: line 0 is "a", line 1 is "b", the rest are
    distractors.

    Target (one output unit, at every step): 1 right after (paper time) — at the same rnnlab
    step as — each b for which an a has occurred since the previous b (or since the start);
    0 at every other step. So "a c a b b" gives 0 0 0 1 0.
    """
    if not isinstance(n_symbols, int) or n_symbols < 2:
        raise ValueError(f"sequence_recognition: expected n_symbols ≥ 2, got {n_symbols!r}")
    eye = np.eye(n_symbols)
    armed = False
    on = np.ones(1, dtype=bool)
    for s in _rows(rng, lambda r, n: r.integers(0, n_symbols, n)):
        target = 1.0 if (s == 1 and armed) else 0.0
        if s == 0:
            armed = True
        elif s == 1:
            armed = False
        yield eye[s], np.array([target]), on


def delayed_nonmatch(rng: np.random.Generator, cue_probability: float = 0.25) -> Iterator[Step]:
    """Delayed nonmatch to sample. Inputs: line 0 the pattern bit p(t) (a fair random bit
    at every step), line 1 the cue c(t) (1 with probability `cue_probability`, else 0).

    A cue step stores its pattern bit as the sample; every step without a cue is a probe.
    Target (one output unit): for a probe at step t that has a sample (a cue occurred before
    t) the answer is 0 if p(t) equals the most recent sample, 1 if it differs; it is due two
    paper steps later, i.e. at rnnlab step t + 1 (an XOR needs two layers, and one layer is
    one step). Steps after a cue step, or after a probe with no sample yet, have no target.
    """
    if not 0 < cue_probability < 1:
        raise ValueError(
            f"delayed_nonmatch: expected 0 < cue_probability < 1, got {cue_probability!r}"
        )
    sample: float | None = None
    due: float | None = None  # the answer to the previous step's probe
    for u in _rows(rng, lambda r, n: r.random((n, 2))):
        p, c = float(u[0] < 0.5), float(u[1] < cue_probability)
        if due is None:
            yield np.array([p, c]), np.zeros(1), np.zeros(1, dtype=bool)
        else:
            yield np.array([p, c]), np.array([due]), np.ones(1, dtype=bool)
        due = None
        if c:
            sample = p
        elif sample is not None:
            due = float(p != sample)


TURING_OUTPUTS = ("move right", "cross out", "halt", "balanced")


def turing_parentheses(rng: np.random.Generator, max_length: int = 6) -> Iterator[Step]:
    """Learning to be the controller of the parentheses Turing machine (see `turing`).

    The machine runs on random strings (`turing.random_string`, lengths 1..max_length), one
    after the other: when it halts, the next step is the first step on a fresh tape.
    Inputs: 4 one-hot lines, the symbol read — ``(``, ``)``, ``X``, ``A``.
    Targets, on 4 output units, for the action taken on the symbol read at this step:
    move right (1) or left (0) — no target on a halting step, where the head stops; cross out
    (1: the machine writes X over the parenthesis it read, 0: the tape is left as it was);
    halt (1 on the step the machine decides, else 0); balanced (1 if it halts with YES,
    else 0 — on every step). The controller's state (R, L, C) is not a target: the network
    must find its own way to remember it.
    """
    if not isinstance(max_length, int) or max_length < 2:
        raise ValueError(f"turing_parentheses: expected max_length ≥ 2, got {max_length!r}")
    eye = np.eye(len(SYMBOLS))
    moving = np.ones(len(TURING_OUTPUTS), dtype=bool)
    halting = moving.copy()
    halting[0] = False
    while True:
        for a in run_machine(random_string(rng, max_length)):
            halts = a.move_right is None
            d = np.array(
                [bool(a.move_right), a.write != a.read, halts, a.next_state == "YES"], dtype=float
            )
            yield eye[SYMBOLS.index(a.read)], d, halting if halts else moving


def oscillator(cycle: tuple[float, ...]) -> Iterator[Step]:
    """Oscillation: one input line, always 0 (the network has no input but the bias; rnnlab
    needs m ≥ 1). Target on unit 0 at every step t: cycle[t mod len(cycle)]."""
    x, on = np.zeros(1), np.ones(1, dtype=bool)
    targets = [np.array([v], dtype=float) for v in cycle]
    while True:
        yield from ((x, d, on) for d in targets)
