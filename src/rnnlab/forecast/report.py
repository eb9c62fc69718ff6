"""The evidence of a forecast run: results.json fields, report.md and one PNG per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..tasks.run import markdown_table
from .task import BASELINES, SeriesResult

METRICS = ("mase", "smape", "rmse", "coverage", "pinball")
#: every model's quantile forecasts from every origin, for the explorer (viz/forecast_view.py)
FORECASTS_NAME = "forecasts.json"


def _round(q: np.ndarray) -> list:
    return [float(f"{v:.6g}") for v in np.ravel(q)]


def forecasts_json(result: SeriesResult) -> dict[str, Any]:
    """One series of forecasts.json: the target, its dates, the origins and every model's
    (n, H, 3) forecasts (6 significant digits), with each model's MASE."""
    s = result.series
    h = next(iter(result.forecasts.values())).shape[1]
    return {
        "dates": list(s.dates),
        "values": _round(s.y),
        "column": s.columns[s.target],
        "season": s.season,
        "horizon": h,
        "origins": list(result.origins),
        "models": {m: np.reshape(_round(q), q.shape).tolist() for m, q in result.forecasts.items()},
        "mase": {m: v["mase"] for m, v in result.metrics.items()},
    }


def plot_model(result: SeriesResult, model: str, path: Path) -> Path:
    """History, truth, the forecasts of `model` from every origin (median) and the 80% band of
    the last origin's forecast; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.curves import save_figure

    s, origins = result.series, result.origins
    q = result.forecasts[model]  # (n, H, 3)
    h = q.shape[1]
    lo = max(0, origins[0] - 3 * h)
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=110)
    t = np.arange(lo, len(s.y))
    ax.plot(t, s.y[lo:], color="black", lw=1.2, label="series (truth)")
    for i, o in enumerate(origins):
        steps = np.arange(o, o + h)
        ax.plot(
            steps, q[i, :, 1], color="tab:blue", lw=1, alpha=0.35 + 0.65 * (i == len(origins) - 1)
        )
    steps = np.arange(origins[-1], origins[-1] + h)
    ax.fill_between(
        steps,
        q[-1, :, 0],
        q[-1, :, 2],
        color="tab:blue",
        alpha=0.2,
        label="80% interval (last origin)",
    )
    ax.axvline(origins[0], color="grey", ls=":", lw=1, label="first origin")
    mase = result.metrics[model]["mase"]
    ax.set_title(f"{s.name}: {model} (MASE {mase:.3f}, {len(origins)} origins, horizon {h})")
    ax.set_xlabel(f"step ({s.freq}; {s.dates[lo]} … {s.dates[-1]})")
    ax.set_ylabel(s.columns[s.target])
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def series_json(result: SeriesResult) -> dict[str, Any]:
    """metrics[series] of results.json: every model's metrics (plus facts)."""
    return {model: dict(values) for model, values in result.metrics.items()}


def report_section(result: SeriesResult, pngs: dict[str, str], cell: str) -> str:
    s = result.series
    rows = []
    for model, values in result.metrics.items():
        label = model + (f" — {result.described[model]}" if model in result.described else "")
        rows.append([label, *[values[k] for k in METRICS], f"{result.seconds[model]:.1f}"])
    table = markdown_table(["model", *METRICS, "seconds"], rows)
    net = f"{cell}_direct"
    lines = [
        f"## {s.name}",
        "",
        s.note() + ".",
        "",
        f"Origins: {len(result.origins)} (steps {result.origins[0]}…{result.origins[-1]}), "
        f"horizon {next(iter(result.forecasts.values())).shape[1]}.",
        "",
        table,
        "",
    ]
    if net in result.metrics:
        m = result.metrics
        sn = m.get("seasonal_naive", {}).get("mase")
        stats = [m[k]["mase"] for k in ("arima", "ets") if k in m]
        mine = m[net]["mase"]
        verdict = []
        if sn is not None:
            verdict.append(
                f"{net} MASE {mine:.3f} is {'below' if mine < sn else 'NOT below'} "
                f"seasonal naive ({sn:.3f})"
            )
        if stats:
            best = min(stats)
            verdict.append(
                f"{'at or below' if mine <= best else 'above'} the better of ARIMA/ETS ({best:.3f})"
            )
        verdict.append(f"80% interval coverage {m[net]['coverage']:.2f}")
        ratio = result.facts.get("online_vs_offline_mase")
        if ratio is not None:
            verdict.append(f"online/offline MASE {ratio:.2f}")
        lines += ["; ".join(verdict) + ".", ""]
    lines += [f"![{model}]({png})" for model, png in pngs.items()]
    return "\n".join(lines) + "\n"


def baselines_only(metrics: dict[str, dict]) -> dict[str, dict]:
    return {k: v for k, v in metrics.items() if k in BASELINES}
