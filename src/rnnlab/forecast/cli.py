"""`rnnlab task forecast` (train and evaluate against the baselines) and `rnnlab forecast`
(forecast a user's CSV with a trained model)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from ..io import atomic_write
from ..tasks.run import Budget, ProgressLine, prepare_out, write_report, write_results
from .network import CELLS
from .report import (
    FORECASTS_NAME,
    METRICS,
    baselines_only,
    forecasts_json,
    plot_model,
    report_section,
    series_json,
)
from .task import SETTINGS, run_series

SERIES_CHOICES = list(SETTINGS)


def _cpu() -> str:
    """The CPU as bench.cpu_info describes it, e.g. 'Intel(R) Xeon(R) ... (family 6, model 207)'."""
    from ..bench import cpu_info

    info = cpu_info()
    return f"{info['model_name']} (family {info['family']}, model {info['model']})"


@click.command("forecast")
@click.option(
    "--series",
    "names",
    required=True,
    multiple=True,
    type=click.Choice([*SERIES_CHOICES, "all"]),
    help="series to forecast (repeat the option for several, or 'all')",
)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    default=None,
    help="forecast horizon H in steps (default: per series, e.g. 12 for airline)",
)
@click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True)
@click.option(
    "--seconds",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="wall-clock budget per series, baselines included",
)
@click.option(
    "--members",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="networks per ensemble",
)
@click.option(
    "--out", type=click.Path(file_okay=False), default="results/forecast", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--arima-search",
    is_flag=True,
    help="search the ARIMA orders the settings fix (slower: minutes per series)",
)
def forecast_task(names, horizon, cell, seconds, members, out, seed, arima_search) -> None:
    """Forecast real series with LSTM/GRU networks and the baselines (naive, seasonal naive,
    drift, ARIMA, ETS) over rolling origins; write results.json, report.md and PNGs."""
    names = SERIES_CHOICES if "all" in names else list(dict.fromkeys(names))
    out_dir = prepare_out(out, resume=False)
    budget = Budget(seconds * len(names))
    progress = ProgressLine(budget, "forecast")
    metrics, baselines, sections, config, drawn = {}, {}, [], {}, {}
    for name in names:
        try:
            result = run_series(
                name,
                seconds=seconds,
                horizon=horizon,
                cell=cell,
                seed=seed,
                members=members,
                arima_search=arima_search,
                progress=lambda **f: progress.update(**f),
            )
        except ValueError as err:
            raise click.UsageError(f"series {name}: {err}") from None
        pngs = {}
        for model in result.forecasts:
            png = f"{name}-{model}.png"
            plot_model(result, model, out_dir / png)
            pngs[model] = png
        metrics[name] = series_json(result)
        baselines[name] = baselines_only(result.metrics)
        config[name] = {
            "settings": {k: v for k, v in SETTINGS[name].items()},
            "origins": result.origins,
            "described": result.described,
            "facts": result.facts,
            "seconds": result.seconds,
        }
        if result.forecaster is not None:
            from .network import save_forecaster

            save_forecaster(
                result.forecaster,
                out_dir / "model" / name,
                {
                    "series": name,
                    "columns": list(result.series.columns),
                    "first_date": result.series.dates[0],
                },
            )
        sections.append(report_section(result, pngs, cell))
        drawn[name] = forecasts_json(result)
    progress.close()
    cfg = {
        "series": names,
        "horizon": horizon,
        "cell": cell,
        "seconds_per_series": seconds,
        "members": members,
        "seed": seed,
        "arima_search": arima_search,
        "cpu": _cpu(),
        "per_series": config,
    }
    atomic_write(out_dir / FORECASTS_NAME, json.dumps({"series": drawn}) + "\n")
    write_results(
        out_dir,
        task="forecast",
        metrics=metrics,
        baselines=baselines,
        config=cfg,
        seconds=budget.elapsed(),
    )
    head = [
        "# Forecasting: networks against the baselines",
        "",
        f"Cell {cell}, {members} networks per ensemble, {seconds:.0f} s per series on "
        f"{_cpu()}; {budget.elapsed():.0f} s in all. Metrics over rolling origins "
        f"({', '.join(METRICS)}; MASE scaled by the in-sample seasonal-naive error, sMAPE as a "
        f"fraction in [0, 2], coverage of the 80% interval). The trained direct models are in "
        f"model/<series>/.",
        "",
    ]
    write_report(out_dir, "\n".join(head) + "\n".join(sections))
    click.echo(f"forecast: wrote {out_dir / 'results.json'} and {out_dir / 'report.md'}")
    for name in names:
        row = metrics[name]
        shown = ", ".join(f"{m} {row[m]['mase']:.3f}" for m in row)
        click.echo(f"  {name} MASE: {shown}")


def phase_offset(train_first: str | None, user, season: int) -> int:
    """Steps from the training series' first date to the CSV's first, modulo the season (so
    the seasonal features line up); 0 when the dates are of different kinds."""
    from .csvinput import parse_date

    if not train_first or season <= 1:
        return 0
    try:
        kind_a, a = parse_date(train_first)
        kind_b, b = parse_date(user.dates[0])
    except ValueError:
        return 0
    if kind_a != kind_b:
        return 0
    return ((b - a) // user.step) % season


@click.command("forecast")
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(exists=True),
    help="a model directory written by `rnnlab task forecast` (DIR/model/<series>)",
)
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(),
    help="the CSV file with the history to forecast from",
)
@click.option("--date-column", required=True)
@click.option(
    "--value-column",
    "value_columns",
    required=True,
    multiple=True,
    help="value column (the target first; repeat for a multivariate model's inputs)",
)
@click.option("--horizon", type=click.IntRange(min=1), default=None)
def forecast_command(model_dir, csv_path, date_column, value_columns, horizon) -> None:
    """Forecast the end of a CSV series with a trained model: median and 80% interval."""
    from .csvinput import CSVError, read_series_csv
    from .network import load_forecaster

    path = Path(model_dir)
    if (path / "model").is_dir():
        subs = sorted(p for p in (path / "model").iterdir() if p.is_dir())
        if len(subs) != 1:
            raise click.UsageError(
                f"{path}/model holds {[p.name for p in subs]}: pass --model {path}/model/<series>"
            )
        path = subs[0]
    try:
        fc, extra = load_forecaster(path)
    except (FileNotFoundError, ValueError) as err:
        raise click.UsageError(str(err)) from None
    cfg = fc.cfg
    h = horizon or cfg.horizon
    need = len(extra.get("columns", [None]))
    if len(value_columns) != need:
        raise click.UsageError(
            f"the model reads {need} column(s) {extra.get('columns')}; got "
            f"{len(value_columns)} --value-column"
        )
    try:
        user = read_series_csv(
            csv_path, date_column, list(value_columns), min_points=cfg.window + 2
        )
    except CSVError as err:
        raise click.UsageError(str(err)) from None
    if h >= len(user.values):
        raise click.UsageError(
            f"horizon {h} is not shorter than the series ({len(user.values)} points)"
        )
    if cfg.strategy != "recursive" and h > cfg.horizon:
        raise click.UsageError(f"horizon {h}: the model forecasts at most {cfg.horizon} steps")
    from .windows import Scaler

    sc = fc.scaler
    try:
        fc.scaler = Scaler.fit(
            user.values,
            target=0,
            season=sc.season,
            log=sc.log,
            level=sc.level,
            seasonal=sc.seasonal,
        )
        fc.scaler.phase_offset = phase_offset(extra.get("first_date"), user, sc.season)
        z = fc.scaler.transform(user.values)
    except ValueError as err:
        raise click.UsageError(f"{csv_path}: {err}") from None
    q = fc.forecast(z, [len(z)], horizon=h)[0]  # (H, 3)
    click.echo(
        f"# {len(user.values)} points to {user.dates[-1]}; forecast {h} {user.unit}(s) with {path}"
    )
    click.echo("date,q10,median,q90")
    for label, row in zip(user.future_dates(h), q, strict=False):
        click.echo(f"{label},{row[0]:.6g},{row[1]:.6g},{row[2]:.6g}")
    if not np.all(np.isfinite(q)):  # pragma: no cover - the model refuses non-finite weights
        raise click.ClickException("the forecast is not finite")
