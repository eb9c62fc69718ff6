"""`rnnlab experiment ...`: reproductions of published experiments.

rnnlab experiment wz89 [--task NAME] [--seeds N] [--units n]
                       [--teacher-forcing/--no-teacher-forcing] [--max-steps S] [--json]
rnnlab experiment parallel-rnn [--seconds S] [--out DIR]
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from .wz89 import TASK_NAMES, get_task, plan, run, summarize


@click.group()
def experiment() -> None:
    """Reproduce published experiments."""


def _label(summary: dict) -> str:
    delay = summary["options"].get("delay")
    return summary["task"] + (f" τ={delay}" if delay is not None else "")


def _row(s: dict) -> str:
    median = "—" if s["median_steps"] is None else f"{s['median_steps']:,.0f}"
    return (
        f"{_label(s):24s} {s['units']:>5d}  {'yes' if s['teacher_forcing'] else 'no':>3s}"
        f"  {s['solved']:>3d}/{s['seeds']:<3d} {median:>12s} {s['seconds']:>9.1f}"
    )


@experiment.command("wz89")
@click.option(
    "--task", type=click.Choice(TASK_NAMES), default=None, help="One task (default: all of them)."
)
@click.option(
    "--seeds",
    type=click.IntRange(1),
    default=10,
    show_default=True,
    help="Runs per setting (seeds 0..N−1).",
)
@click.option(
    "--units",
    type=click.IntRange(1),
    default=None,
    help="Network size (default: the task's, the paper's where it gives one).",
)
@click.option(
    "--teacher-forcing/--no-teacher-forcing",
    default=None,
    help="Default: without, and for the oscillators both.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(1),
    default=None,
    help="Learning steps per run (default: the task's budget).",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Default: the task's.",
)
@click.option(
    "--delay",
    type=click.IntRange(2, 4),
    default=None,
    help="pipelined-xor: τ, in the paper's time steps (default 2).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def wz89(task, seeds, units, teacher_forcing, max_steps, learning_rate, delay, as_json):
    """Williams & Zipser (1989): real-time recurrent learning on its seven tasks.

    Each run trains a fresh fully recurrent network online, one RTRL weight change per step,
    until the task's success criterion holds or the step budget runs out.
    """
    if task is None and (units is not None or learning_rate is not None):
        raise click.UsageError("--units and --learning-rate need --task")
    if delay is not None and task != "pipelined-xor":
        raise click.UsageError("--delay needs --task pipelined-xor")
    if task is not None and units is not None:
        needed = get_task(task, delay=delay).n_outputs
        if units < needed:
            raise click.UsageError(
                f"--units: {task} has {needed} output units, so it needs "
                f"at least {needed}, got {units}"
            )
    summaries = []
    if not as_json:
        click.echo(
            f"{'task':24s} {'units':>5s}  {'TF':>3s}  {'solved':7s} {'median steps':>12s}"
            f" {'seconds':>9s}"
        )
    for t, tf in plan(task, teacher_forcing, delay):
        runs = [
            run(
                t,
                seed=seed,
                units=units,
                teacher_forcing=tf,
                max_steps=max_steps,
                learning_rate=learning_rate,
            )
            for seed in range(seeds)
        ]
        summary = summarize(runs)
        summary["max_steps"] = t.max_steps if max_steps is None else max_steps
        summary["learning_rate"] = t.learning_rate if learning_rate is None else learning_rate
        summaries.append(summary)
        if not as_json:
            click.echo(_row(summary))
    if as_json:
        click.echo(json.dumps(summaries, indent=1, ensure_ascii=False))


def comma_list(choices):
    """A click callback: "a,b" -> ("a", "b"), every item one of `choices`."""

    def convert(ctx, param, value):
        items = [v.strip() for v in value.split(",") if v.strip()]
        bad = [v for v in items if v not in choices]
        if not items or bad:
            raise click.BadParameter(
                f"expected a comma-separated list from {list(choices)}, got {value!r}"
            )
        return tuple(items)

    return convert


@experiment.command("online-vs-bptt")
@click.option(
    "--learners",
    default="rtrl,snap1,uoro,tbptt,bptt-segments",
    show_default=True,
    callback=comma_list(("rtrl", "snap1", "uoro", "tbptt", "bptt-segments")),
)
@click.option("--steps", type=click.IntRange(1100), default=20000, show_default=True)
@click.option("--units", type=click.IntRange(1, 256), default=16, show_default=True)
@click.option("--delay", type=click.IntRange(1, 50), default=2, show_default=True)
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=0.003, show_default=True)
@click.option("--seed", type=click.IntRange(0), default=0, show_default=True)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the loss curves as a PNG here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def online_vs_bptt(learners, steps, units, delay, lr, seed, out, as_json):
    """Exact RTRL, UORO, SnAp-1, truncated and segment-wise BPTT on a delayed XOR stream."""
    from ..online import compare

    results = compare.run(
        learners, steps=steps, units=units, delay=delay, seed=seed, learning_rate=lr
    )
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(r) for r in results], indent=2))
    else:
        click.echo(
            f"delayed XOR (delay {delay}), SimpleRNN({units}), {steps:,} steps, "
            f"Adam lr {lr}, seed {seed}"
        )
        click.echo(compare.table(results))
    if out is not None:
        compare.plot(results, out, title=f"delayed XOR (delay {delay}), online")
        if not as_json:
            click.echo(f"wrote {out}")


@experiment.command("parallel-rnn")
@click.option(
    "--seconds",
    type=click.FloatRange(5),
    default=360.0,
    show_default=True,
    help="Total training budget, split equally between the five models.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/parallel-rnn"),
    show_default=True,
)
def parallel_rnn(seconds, out):
    """LSTM, GRU, minGRU, minLSTM and LRU char models of Shakespeare at equal parameter count
    and equal wall time (docs/parallel-rnn.md): results.json, report.md, loss curves."""
    from .. import datasets
    from .parallel_rnn import run as run_parallel_rnn

    results = run_parallel_rnn(datasets.load_shakespeare(), seconds, out, log=click.echo)
    click.echo((out / "report.md").read_text(encoding="utf-8"))
    click.echo(f"wrote {out}/results.json, report.md, loss-vs-time.png, loss-vs-tokens.png "
               f"in {results['seconds']:.0f} s")  # fmt: skip
