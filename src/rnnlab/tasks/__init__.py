"""Real tasks for recurrent networks, each a `rnnlab task NAME` command (tasks/cli.py) over a
library function, sharing one run machinery (tasks/run.py): the output directory, the time
budget, progress, checkpoints and the results.json / report.md convention of DESIGN.md.
"""

from .run import (
    Budget,
    ProgressLine,
    markdown_table,
    prepare_out,
    read_results,
    write_report,
    write_results,
)

__all__ = [
    "Budget",
    "ProgressLine",
    "markdown_table",
    "prepare_out",
    "read_results",
    "write_report",
    "write_results",
]
