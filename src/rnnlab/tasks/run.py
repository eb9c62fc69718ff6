"""What every `rnnlab task ...` run shares: its output directory, its time budget, its progress
line, its checkpoint, and the `results.json` / `report.md` that DESIGN.md's task convention fixes.

    out = prepare_out(Path("runs/g2p"), resume=False)   # refuses to overwrite a finished run
    budget = Budget(600)                                  # seconds of training
    progress = ProgressLine(budget, "g2p")               # a bar on a terminal, else lines
    while not budget.expired():
        ...; progress.update(step=k, loss=value)
    progress.close()
    write_results(out, task="g2p", metrics={"per": 0.12, "wer": 0.41}, config={...},
                  seconds=budget.elapsed())
    write_report(out, "# g2p\n...")

`results.json` is `{"task", "metrics", "baselines", "config", "seconds", "examples"}`; metric
names are lower case, numbers finite (a NaN or an infinity is refused, naming where it sits), and
`metrics` / `baselines` may nest by model or series (`{"co2": {"lstm": {"mase": 0.8}}}`). Every
file is written atomically (temp file, fsync, rename): a run stopped at any moment leaves the
previous complete file or none, never half of one.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..io import atomic_write

RESULTS_NAME = "results.json"
REPORT_NAME = "report.md"
CHECKPOINT_NAME = "checkpoint.safetensors"


class Budget:
    """A wall-clock budget of `seconds`, of which `spent` were used before (a resumed run)."""

    def __init__(self, seconds: float, *, spent: float = 0.0):
        if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or seconds <= 0:
            raise ValueError(f"Budget: expected a positive number of seconds, got {seconds!r}")
        if not isinstance(spent, (int, float)) or not math.isfinite(spent) or spent < 0:
            raise ValueError(f"Budget: expected spent ≥ 0 seconds, got {spent!r}")
        self.seconds = float(seconds)
        self.spent = float(spent)
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds used so far, those of earlier (resumed) runs included."""
        return self.spent + time.perf_counter() - self._start

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed())

    def fraction(self) -> float:
        return min(1.0, self.elapsed() / self.seconds)

    def expired(self) -> bool:
        return self.elapsed() >= self.seconds


class ProgressLine:
    """Progress of a budgeted run: on a terminal one line redrawn in place (a bar of the budget
    spent and the latest fields); otherwise a plain line every `every` seconds (logs, CI)."""

    def __init__(
        self,
        budget: Budget,
        label: str,
        *,
        stream: TextIO | None = None,
        every: float = 15.0,
        width: int = 24,
    ):
        self.budget = budget
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.every = float(every)
        self.width = int(width)
        isatty = getattr(self.stream, "isatty", None)
        self.terminal = bool(isatty and isatty())
        self._last = -math.inf
        self._drawn = False

    def _text(self, fields: Mapping[str, Any]) -> str:
        parts = [f"{k} {_short(v)}" for k, v in fields.items()]
        elapsed, total = self.budget.elapsed(), self.budget.seconds
        head = f"{self.label} {elapsed:5.0f}/{total:.0f} s"
        if self.terminal:
            filled = round(self.budget.fraction() * self.width)
            head = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {elapsed:.0f} s"
        return "  ".join([head, *parts])

    def update(self, **fields: Any) -> None:
        """Show the run's state now (on a terminal) or if `every` seconds passed (otherwise)."""
        now = time.perf_counter()
        if self.terminal:
            if now - self._last < 0.2:
                return
            self.stream.write("\r\033[K" + self._text(fields))
            self._drawn = True
        else:
            if now - self._last < self.every:
                return
            self.stream.write(self._text(fields) + "\n")
        self._last = now
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line (terminal) so what follows starts on a line of its own."""
        if self.terminal and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
        self._drawn = False


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def prepare_out(out: str | Path, *, resume: bool) -> Path:
    """Create the run's directory. Without `resume`, a directory that already holds a run
    (results, report or checkpoint) is refused rather than overwritten; with it, the
    directory must hold that run's checkpoint or results."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: expected a directory, found a file")
    held = [name for name in (RESULTS_NAME, CHECKPOINT_NAME) if (out / name).exists()]
    if resume and not held:
        raise ValueError(f"--resume: {out} holds no earlier run ({CHECKPOINT_NAME} not found)")
    if not resume and held:
        raise ValueError(
            f"--out {out} already holds a run ({', '.join(held)}); pass --resume to continue "
            f"it or choose another directory"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def check_results_value(value: Any, where: str) -> Any:
    """`value` as plain JSON (NumPy numbers as Python ones), or a ValueError naming `where` if
    a number is not finite or a key is not a lower-case string."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: expected string keys, got {key!r}")
            out[key] = check_results_value(item, f"{where}.{key}")
        return out
    if isinstance(value, (list, tuple)):
        return [check_results_value(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        return check_results_value(value.tolist(), where)
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(float(value)):
            raise ValueError(f"{where}: expected a finite number, got {float(value)}")
        return float(value)
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"{where}: expected a JSON value, got {type(value).__name__}")


def _check_metric_names(metrics: Mapping[str, Any], where: str) -> None:
    for key, item in metrics.items():
        if key != key.lower():
            raise ValueError(f"{where}: metric and model names are lower case, got {key!r}")
        if isinstance(item, Mapping):
            _check_metric_names(item, f"{where}.{key}")


def write_results(
    out: str | Path,
    *,
    task: str,
    metrics: Mapping[str, Any],
    config: Mapping[str, Any],
    seconds: float,
    baselines: Mapping[str, Any] | None = None,
    examples: list[Any] | None = None,
) -> Path:
    """Write `out/results.json` atomically in the convention of DESIGN.md; returns its path."""
    if not isinstance(task, str) or not task:
        raise ValueError(f"write_results: expected a task name, got {task!r}")
    if not isinstance(metrics, Mapping) or not metrics:
        raise ValueError(f"write_results: expected a non-empty dict of metrics, got {metrics!r}")
    _check_metric_names(metrics, "metrics")
    if baselines:
        _check_metric_names(baselines, "baselines")
    record = {
        "task": task,
        "metrics": check_results_value(metrics, "metrics"),
        "baselines": check_results_value(dict(baselines or {}), "baselines"),
        "config": check_results_value(dict(config), "config"),
        "seconds": check_results_value(float(seconds), "seconds"),
        "examples": check_results_value(list(examples or []), "examples"),
    }
    path = Path(out) / RESULTS_NAME
    atomic_write(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path


def read_results(out: str | Path) -> dict[str, Any]:
    """The `results.json` of a finished run, with the fields the convention requires."""
    path = Path(out) / RESULTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no results (is {out} the --out of a finished run?)")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a results file ({err})") from None
    missing = [k for k in ("task", "metrics", "config", "seconds") if k not in record]
    if not isinstance(record, dict) or missing:
        raise ValueError(f"{path}: not a results file (missing {', '.join(missing)})")
    return record


def write_report(out: str | Path, text: str) -> Path:
    """Write `out/report.md` atomically; returns its path."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("write_report: expected the report's Markdown text, got nothing")
    path = Path(out) / REPORT_NAME
    atomic_write(path, text if text.endswith("\n") else text + "\n")
    return path


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; floats with 4 significant digits."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"markdown_table: a row of {len(row)} cells under {len(header)}")
        lines.append("| " + " | ".join(_short(v) for v in row) + " |")
    return "\n".join(lines)
