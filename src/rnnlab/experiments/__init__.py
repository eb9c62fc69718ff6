"""Reproductions of published experiments, runnable as `rnnlab experiment ...`."""

from .wz89 import TASK_NAMES, Task, get_task, run

__all__ = ["TASK_NAMES", "Task", "get_task", "run"]
