"""`rnnlab task NAME ...`: train a model for a real task within a time budget, evaluate it against
the task's baselines, and write DIR/results.json, DIR/report.md and the model (tasks/run.py).

Each task's command lives beside its code and is added to the group in `_register()`.
"""

from __future__ import annotations

import click


@click.group()
def task() -> None:
    """Train and evaluate a model for a real task within a time budget."""


def _register() -> None:
    """The tasks' commands, defined next to the code they drive."""
    from ..forecast.cli import forecast_task
    from .g2p import task_g2p
    from .sentiment import sentiment_command
    from .speakers import speakers_command
    from .translate import translate_task

    for command in (translate_task, task_g2p, sentiment_command, speakers_command, forecast_task):
        task.add_command(command)


_register()
