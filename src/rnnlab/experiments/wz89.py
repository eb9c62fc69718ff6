"""Williams & Zipser (1989), "A Learning Algorithm for Continually Running Fully Recurrent
Neural Networks", Neural Computation 1(2):270–280: the simulation experiments.

Each task is an unbounded seeded stream (`streams`) plus a success criterion (`criteria`).
`run` trains a `FullyRecurrentNet` of logistic units online by real-time recurrent learning
(`rnnlab.online.RTRL` with SGD on the paper's error J(t) = ½ Σ_k e_k²) — a weight change after
every step, the network never reset — with or without teacher forcing, until the criterion
holds or the step budget runs out.

Tasks (exact definitions in the docstrings of `streams`):

    pipelined-xor         2 random-bit lines; y = XOR of the pair τ paper steps back (τ=2,3,4)
    sequence-recognition  one-hot a, b, distractors; y = 1 on the first b after an a
    delayed-nonmatch      pattern + cue lines; y = 1 if a probe differs from the cued sample
    turing-parentheses    mimic a Turing machine's controller deciding balanced parentheses
    oscillate-0101        no input; y = 0 1 0 1 ...
    oscillate-00110011    no input; y = 0 0 1 1 0 0 1 1 ...
    oscillate-sine        no input; y = 0.5 + 0.4 sin(2πt/25)

Criteria: binary tasks — the last `window` targeted steps all right (outputs on the correct
side of 0.5), measured online while learning; oscillators — every 250 learning steps, run a
copy free (no teacher forcing, no learning) 500 steps: RMS error < 0.1 over the next two
periods, at the best phase.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from ..online import RTRL, FullyRecurrentNet, HalfSquaredError
from ..optimizers import SGD
from . import streams
from .criteria import Oscillation, StreakMonitor

WEIGHT_SCALE = 0.5  # initial weights uniform in ±WEIGHT_SCALE
SINE_PERIOD = 25


@dataclass(frozen=True)
class Task:
    """One experiment: its stream, network shape, learning rate, budget and criterion."""

    name: str
    n_inputs: int
    n_outputs: int
    units: int  # the default network size (the paper's where it states one)
    learning_rate: float
    max_steps: int  # the default budget of learning steps per run
    teacher_forcing: tuple[bool, ...]  # the settings a full reproduction runs
    make_stream: Callable[[np.random.Generator], Iterator[streams.Step]]
    window: int = 1000  # binary criterion: this many targeted steps in a row all right
    oscillation: Oscillation | None = None  # oscillators: the free-running criterion
    options: dict = field(default_factory=dict)
    paper: str = ""  # what the paper reports, in a few words


def _sine_cycle(period: int = SINE_PERIOD) -> tuple[float, ...]:
    return tuple(0.5 + 0.4 * math.sin(2 * math.pi * t / period) for t in range(period))


def _oscillator(
    name: str,
    cycle: tuple[float, ...],
    units: int,
    learning_rate: float,
    max_steps: int,
    paper: str,
) -> Task:
    return Task(
        name,
        n_inputs=1,
        n_outputs=1,
        units=units,
        learning_rate=learning_rate,
        max_steps=max_steps,
        teacher_forcing=(False, True),
        make_stream=lambda rng: streams.oscillator(cycle),
        oscillation=Oscillation(cycle),
        paper=paper,
    )


XOR_UNITS = {2: 3, 3: 4, 4: 5}  # τ → default units (3 for τ=2 is the paper's)


def get_task(name: str, delay: int | None = None) -> Task:
    """The task called `name`; `delay` (τ in 2..4, paper time) only for pipelined-xor."""
    if name not in TASK_NAMES:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASK_NAMES)}")
    if delay is not None and name != "pipelined-xor":
        raise ValueError(f"the delay option is for pipelined-xor only, not {name!r}")
    if name == "pipelined-xor":
        tau = 2 if delay is None else delay
        if tau not in XOR_UNITS:
            raise ValueError(f"pipelined-xor: expected delay τ in 2..4, got {delay!r}")
        return Task(
            name,
            n_inputs=2,
            n_outputs=1,
            units=XOR_UNITS[tau],
            learning_rate=1.0,
            max_steps=100_000,
            teacher_forcing=(False,),
            make_stream=partial(streams.pipelined_xor, delay=tau),
            options={"delay": tau},
            paper="3 units suffice for τ = 2",
        )
    if name == "sequence-recognition":
        return Task(
            name,
            n_inputs=4,
            n_outputs=1,
            units=2,
            learning_rate=1.0,
            max_steps=100_000,
            teacher_forcing=(False,),
            make_stream=streams.sequence_recognition,
            paper="learned by 2 units",
        )
    if name == "delayed-nonmatch":
        return Task(
            name,
            n_inputs=2,
            n_outputs=1,
            units=6,
            learning_rate=0.5,
            max_steps=300_000,
            teacher_forcing=(False,),
            make_stream=streams.delayed_nonmatch,
            paper="learned (unit count not verified)",
        )
    if name == "turing-parentheses":
        return Task(
            name,
            n_inputs=4,
            n_outputs=4,
            units=15,
            learning_rate=1.0,
            max_steps=100_000,
            teacher_forcing=(False,),
            make_stream=streams.turing_parentheses,
            paper="15 units always learned it; 12 the minimum",
        )
    if name == "oscillate-0101":
        return _oscillator(
            name,
            (0.0, 1.0),
            1,
            1.0,
            100_000,
            "1 unit; teacher forcing needed for oscillation in general",
        )
    if name == "oscillate-00110011":
        return _oscillator(
            name,
            (0.0, 0.0, 1.0, 1.0),
            2,
            1.0,
            100_000,
            "2 units; teacher forcing needed for oscillation in general",
        )
    return _oscillator(
        name,
        _sine_cycle(),
        2,
        1.0,
        200_000,
        "2 units; teacher forcing needed for oscillation in general",
    )


TASK_NAMES = (
    "pipelined-xor",
    "sequence-recognition",
    "delayed-nonmatch",
    "turing-parentheses",
    "oscillate-0101",
    "oscillate-00110011",
    "oscillate-sine",
)


def _check_int(value, who: str, what: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{who}: expected {what} as an integer ≥ {low}, got {value!r}")
    return int(value)


def run(
    task: Task,
    *,
    seed: int = 0,
    units: int | None = None,
    teacher_forcing: bool = False,
    max_steps: int | None = None,
    learning_rate: float | None = None,
) -> dict:
    """Train one network online by real-time RTRL until `task`'s criterion holds.

    Returns {task, units, teacher_forcing, seed, solved, steps, seconds, options}: `steps` is
    the number of learning steps taken (when solved: the step at which the criterion first
    held, checked every step for binary tasks and every `check_every` steps for oscillators).
    """
    if not isinstance(task, Task):
        raise TypeError(f"run: expected a Task (see get_task), got {type(task).__name__}")
    seed = _check_int(seed, "run", "seed", 0)
    units = task.units if units is None else _check_int(units, "run", "units", task.n_outputs)
    budget = task.max_steps if max_steps is None else _check_int(max_steps, "run", "max_steps", 1)
    rate = task.learning_rate if learning_rate is None else float(learning_rate)
    data_seed, weight_seed = np.random.SeedSequence(seed).generate_state(2)
    net = FullyRecurrentNet(task.n_inputs, units, seed=int(weight_seed), weight_scale=WEIGHT_SCALE)
    learner = RTRL(
        net, loss=HalfSquaredError(), optimizer=SGD(rate), teacher_forcing=bool(teacher_forcing)
    )
    learner.reset(1)
    stream = task.make_stream(np.random.default_rng(int(data_seed)))
    k = task.n_outputs
    d_all, mask_all = np.zeros((1, units)), np.zeros((1, units), dtype=bool)
    streak = StreakMonitor(task.window)
    osc = task.oscillation
    solved, steps = False, 0
    start = time.perf_counter()
    for x, d, mask in stream:
        if steps >= budget:
            break
        d_all[0, :k], mask_all[0, :k] = d, mask
        try:
            y = learner.step(x[None], d_all, target_mask=mask_all)["output"]
        except ValueError:
            if np.isfinite(net.W).all() and np.isfinite(learner.influence).all():
                raise
            break  # diverged (the optimizer refuses a non-finite gradient): unsolved
        steps += 1
        if osc is None:
            solved = streak.observe(y[0, :k], d, mask)
        elif steps % osc.check_every == 0:
            solved = osc.holds(net, learner.state[0][0])  # from ŷ(t), as fed back
        if solved:
            break
    return {
        "task": task.name,
        "units": units,
        "teacher_forcing": bool(teacher_forcing),
        "seed": seed,
        "solved": solved,
        "steps": steps,
        "seconds": round(time.perf_counter() - start, 3),
        "options": dict(task.options),
    }


def plan(
    task: str | None = None, teacher_forcing: bool | None = None, delay: int | None = None
) -> list[tuple[Task, bool]]:
    """The (task, teacher forcing) settings to run: one task, or all of them.

    All of them means every task at its defaults, pipelined-xor at τ = 2, 3 and 4, and the
    oscillators both with and without teacher forcing; `teacher_forcing` given overrides the
    task's own settings.
    """
    if task is None:
        if delay is not None:
            raise ValueError("the delay option needs task pipelined-xor")
        tasks = [get_task("pipelined-xor", delay=tau) for tau in XOR_UNITS]
        tasks += [get_task(name) for name in TASK_NAMES[1:]]
    else:
        tasks = [get_task(task, delay=delay)]
    return [
        (t, tf)
        for t in tasks
        for tf in (t.teacher_forcing if teacher_forcing is None else (teacher_forcing,))
    ]


def summarize(results: list[dict]) -> dict:
    """One setting's runs → {task, units, teacher_forcing, seeds, solved, median_steps, ...}.

    median_steps is over the solved runs (None if none was); seconds is the total wall time;
    steps lists every run's steps, None where the budget ran out.
    """
    if not results:
        raise ValueError("summarize: expected at least one run")
    first = results[0]
    solved = [r["steps"] for r in results if r["solved"]]
    return {
        "task": first["task"],
        "options": first["options"],
        "units": first["units"],
        "teacher_forcing": first["teacher_forcing"],
        "seeds": len(results),
        "solved": len(solved),
        "median_steps": float(np.median(solved)) if solved else None,
        "seconds": round(sum(r["seconds"] for r in results), 2),
        "steps": [r["steps"] if r["solved"] else None for r in results],
    }
