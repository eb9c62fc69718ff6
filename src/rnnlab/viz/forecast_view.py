"""The explorer's forecasting view: pick a forecast run, a series and a forecast origin; the
page draws the truth, and the forecasts (median and 80% interval) of the networks and of the
baselines from that origin.

The numbers are those the run computed: `rnnlab task forecast` writes `forecasts.json` beside
its results (every model's quantile forecasts from every rolling origin, forecast/cli.py), and
this view reads it — the page draws, nothing is recomputed in JavaScript.

Which runs: the directories given to the explorer (`models.forecast_dirs`, a list of paths),
else `runs/` and `results/` under the current directory, searched two levels deep for a
`forecasts.json`. The page picks a run by its name (the path as found); no request names a file.
"""

from __future__ import annotations

import json
import numbers
from pathlib import Path
from typing import Any

VIEW = "forecast"
FORECASTS_NAME = "forecasts.json"
DEFAULT_ROOTS = (Path("runs"), Path("results"))
HINT = (
    "No forecast run found. Run `rnnlab task forecast --series airline --out runs/forecast`, "
    "then restart `rnnlab explore` from the same folder (it looks in runs/ and results/)."
)
CONTEXT_SEASONS = 3  # history shown before the origin, in seasons (at least 3 horizons)

_cache: dict[Path, tuple[float, dict]] = {}


def _r(x) -> float | None:
    """A number as the explorer sends them: 5 significant digits (None stays None)."""
    return None if x is None else float(f"{float(x):.5g}")


def find_runs(roots) -> dict[str, Path]:
    """{name: file} of the forecasts.json in or under `roots` (two levels deep), by name."""
    found: dict[str, Path] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for folder in [root, *sorted(root.glob("*")), *sorted(root.glob("*/*"))]:
            path = folder / FORECASTS_NAME
            if folder.is_dir() and path.is_file():
                found.setdefault(folder.as_posix(), path)
    return dict(sorted(found.items()))


def _read(path: Path) -> dict:
    stamp = path.stat().st_mtime
    hit = _cache.get(path)
    if hit and hit[0] == stamp:
        return hit[1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{VIEW}: {path} is not a forecasts file ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("series"), dict):
        raise ValueError(f"{VIEW}: {path} is not a forecasts file (no 'series')")
    _cache[path] = (stamp, data)
    return data


def forecast_view(models, run: str = "", series: str = "", origin: int = -1) -> dict[str, Any]:
    """Truth and every model's forecast from one origin of one series of a forecast run.

    Arguments: run: a name from the list the view returns ("" = the first); series: one of
    the run's series ("" = the first); origin: the index of a rolling origin (−1 = the last).
    """
    for name, value in (("run", run), ("series", series)):
        if not isinstance(value, str) or len(value) > 400:
            raise ValueError(f"{VIEW}: expected {name} to be a name (str), got {value!r:.60}")
    if isinstance(origin, bool) or not isinstance(origin, numbers.Integral):
        raise ValueError(f"{VIEW}: expected origin to be an int, got {origin!r:.40}")
    given = getattr(models, "forecast_dirs", None)
    found = find_runs(DEFAULT_ROOTS if given is None else given)
    if not found:
        if run:
            raise ValueError(f"{VIEW}: no forecast runs are available, so none is {run!r:.60}")
        return {"view": VIEW, "runs": [], "run": None, "hint": HINT}
    if run and run not in found:
        raise ValueError(f"{VIEW}: unknown run {run!r:.60}; expected one of {sorted(found)}")
    name = run or next(iter(found))
    data = _read(found[name])["series"]
    if series and series not in data:
        raise ValueError(f"{VIEW}: run {name} has no series {series!r:.60}; it has {sorted(data)}")
    key = series or next(iter(data))
    s = data[key]
    origins = s["origins"]
    n = len(origins)
    if not -n <= int(origin) < n:
        raise ValueError(f"{VIEW}: expected origin in [-{n}, {n - 1}], got {origin}")
    index = int(origin) % n
    o, h = int(origins[index]), int(s["horizon"])
    start = max(0, o - max(CONTEXT_SEASONS * int(s["season"]), 3 * h))
    values, dates = s["values"], s["dates"]
    out_models = []
    for model, forecasts in s["models"].items():
        q = forecasts[index]  # (H, 3)
        truth = values[o : o + h]
        out_models.append(
            {
                "name": model,
                "lower": [_r(row[0]) for row in q],
                "median": [_r(row[1]) for row in q],
                "upper": [_r(row[2]) for row in q],
                "mae": _r(sum(abs(t - row[1]) for t, row in zip(truth, q, strict=True)) / h),
                "covered": sum(row[0] <= t <= row[2] for t, row in zip(truth, q, strict=True)),
                "mase": _r(s["mase"].get(model)),
            }
        )
    return {
        "view": VIEW,
        "runs": list(found),
        "run": name,
        "series_list": list(data),
        "series": key,
        "column": s.get("column", key),
        "origins": [dates[int(k)] for k in origins],
        "origin": index,
        "origin_date": dates[o],
        "horizon": h,
        "start": start,
        "steps": list(range(start, o + h)),
        "dates": dates[start : o + h],
        "truth": [_r(v) for v in values[start : o + h]],
        "first_forecast_step": o,
        "models": out_models,
    }
