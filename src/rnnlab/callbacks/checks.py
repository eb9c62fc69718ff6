"""What the callbacks share: argument checks, the monitored value and which way is better.

`resolve_mode` turns mode "auto" into "min" or "max" from the monitored name (the metric's own
direction when `rnnlab.metrics` knows it, else the name's words); `monitor_value` reads a
monitored value out of the logs; `get_lr` reads the optimizer's learning rate.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np

from .._validation import check_choice, describe
from ..metrics import direction_of


# -- argument checks -------------------------------------------------------------------------
def check_int(value, who: str, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{who}: expected {name} to be an int >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{who}: expected {name} to be an int >= {minimum}, got {value!r}")
    return int(value)


def check_float(
    value,
    who: str,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """A finite real number in the interval given by low/high (open ends when asked)."""
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    expected = f"a finite number{' ' + ' and '.join(parts) if parts else ''}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: expected {name} to be {expected}, got {value!r}")
    value = float(value)
    bad = not math.isfinite(value)
    if low is not None:
        bad = bad or value < low or (low_open and value == low)
    if high is not None:
        bad = bad or value > high or (high_open and value == high)
    if bad:
        raise ValueError(f"{who}: expected {name} to be {expected}, got {value!r}")
    return value


def check_verbose(value, who: str) -> int:
    return check_int(int(value) if isinstance(value, bool) else value, who, "verbose")


def check_monitor(monitor, who: str) -> str:
    if not isinstance(monitor, str) or not monitor:
        raise TypeError(
            f"{who}: expected monitor to be a logs key such as 'val_loss', got {monitor!r}"
        )
    return monitor


def check_path(path, who: str, name: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: expected {name} to be a str or os.PathLike, got {describe(path)}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise ValueError(f"{who}: expected {name} to be a non-empty path, got {path!r}")
    return path


MODES = ("auto", "min", "max")
#: words in a monitored name that mean "larger is better" (accuracy, val_acc, auc, ...)
_UP_WORDS = ("acc", "auc", "precision", "recall", "f1")
_DOWN_SUFFIXES = ("loss", "error", "crossentropy", "perplexity", "bpc", "mae", "mse", "huber")


def resolve_mode(monitor: str, mode: str, who: str) -> str:
    """ "min" or "max": mode itself, or for "auto" what the monitored name implies."""
    check_choice(mode, who, "mode", MODES)
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    direction = direction_of(name)
    if direction is None:
        if name.endswith(_DOWN_SUFFIXES):
            direction = "down"
        elif any(word in name for word in _UP_WORDS):
            direction = "up"
    if direction is None:
        raise ValueError(
            f"{who}: cannot tell whether {monitor!r} should decrease or increase; "
            f"pass mode='min' or mode='max'"
        )
    return "max" if direction == "up" else "min"


def monitor_value(logs: Mapping | None, monitor: str, who: str) -> float | None:
    """logs[monitor] as a float, or None when it is absent."""
    if not logs or monitor not in logs:
        return None
    value = logs[monitor]
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"{who}: expected logs[{monitor!r}] to be a number, got {describe(value)}"
        ) from None


def missing_monitor_message(who: str, monitor: str, logs: Mapping | None, action: str) -> str:
    return f"{who}: {monitor!r} is not in the logs (available: {sorted(logs or {})}); {action}"


def get_lr(model, who: str) -> float:
    optimizer = getattr(model, "optimizer", None)
    if model is None or optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise RuntimeError(
            f"{who}: needs a model with an optimizer (compile the model before fit), "
            f"got {describe(model)}"
        )
    return float(optimizer.learning_rate)


def plain(value):
    """NumPy scalars and 0-d arrays as Python numbers (so format specs such as :.3f work)."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def is_finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True  # not a number: nothing to say about finiteness
