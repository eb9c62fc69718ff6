"""One forecasting run on one series: baselines and networks over the same rolling origins.

    result = run_series("airline", seconds=300, cell="lstm")
    result.metrics["lstm_direct"]["mase"], result.metrics["seasonal_naive"]["mase"]

The order is: load the series, choose origins (forecast/evaluate.py), fit the scaler on the
history before the first origin, fit and forecast the baselines (timed), then share what is
left of the budget between the networks: direct 45%, many-to-many 20%, recursive 15% and the
online learner 20% (which starts from the direct ensemble and keeps learning on the points after
the first origin; forecast/online.py). The direct and many-to-many intervals are recalibrated at
each origin on the windows whose truths arrived before it (forecast/calibrate.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..datasets.series import Series, load_series
from . import baselines as bl
from .evaluate import rolling_origins, score_origins
from .network import Forecaster, NetConfig
from .online import run_online
from .windows import Scaler

#: per series: horizon, window, transform and features, origins, and the baselines' options
SETTINGS: dict[str, dict[str, Any]] = {
    "co2": dict(
        horizon=52,
        window=104,  # two years of weeks: the yearly shape seen twice (60 gave MASE 0.350)
        log=False,
        level=False,
        seasonal=True,
        origins=8,
        step=13,
        # (2, 1, 2) + 3 Fourier pairs: the AIC choice of the full grid p, q ≤ 2 on the first
        # origin's history (docs/forecasting.md), fixed so the run keeps within its 300 s
        arima=dict(d=1, seasonal=False, fourier_k=3, orders=[(2, 2)]),
        ets=dict(seasonal=True),
    ),
    "airline": dict(
        horizon=12,
        window=24,
        log=True,
        level=False,
        seasonal=True,
        origins=10,
        step=2,
        arima=dict(d=1, seasonal=True, max_pq=1),
        ets=dict(seasonal=True),
    ),
    "sunspots": dict(
        horizon=11,
        window=22,
        log=False,
        level=True,
        seasonal=False,
        origins=10,
        step=3,
        # ARIMA(3, 0, 3): the AIC choice of p, q ≤ 3 on the first origin's history, fixed
        arima=dict(d=0, seasonal=False, max_pq=3, orders=[(3, 3)]),
        net=dict(units=64, dropout=0.3),
        ets=dict(seasonal=False),
    ),
    "sunspots-monthly": dict(
        horizon=24,
        window=48,
        log=False,
        level=True,
        seasonal=False,
        origins=10,
        step=24,
        # ARIMA(1, 0, 2): the AIC choice of p, q ≤ 2 on the first origin's history, fixed
        arima=dict(d=0, seasonal=False, orders=[(1, 2)]),
        ets=dict(seasonal=False),
    ),
    "macro": dict(
        horizon=8,
        window=16,
        log=True,
        level=False,
        seasonal=False,
        origins=10,
        step=2,
        arima=dict(d=1, seasonal=False),
        ets=dict(seasonal=False),
    ),
}
SHARES = {"direct": 0.45, "seq": 0.20, "recursive": 0.15, "online": 0.20}
BASELINES = ("naive", "seasonal_naive", "drift", "arima", "ets")
AFTER_WARM_UP = (
    "warm-up: the history before the first origin o1, on which the offline direct ensemble is "
    "trained and from which the online learner starts; after warm-up: every evaluation origin "
    "o1..on, the online learner updating on each point that arrives; online_vs_offline_mase = "
    "online MASE over o1..on / offline direct MASE over the same origins"
)


@dataclass
class SeriesResult:
    series: Series
    origins: list[int]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    forecasts: dict[str, np.ndarray] = field(default_factory=dict)  # model → (n, H, 3)
    described: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    forecaster: Forecaster | None = None
    facts: dict[str, Any] = field(default_factory=dict)


def make_baselines(series: Series, settings: dict) -> list:
    """The five baselines with the series' options (SETTINGS)."""
    m = series.season
    return [
        bl.Naive(),
        bl.SeasonalNaive(m),
        bl.Drift(),
        bl.Arima(m, **settings["arima"]),
        bl.Ets(m, **settings["ets"]),
    ]


def run_series(
    name: str,
    *,
    seconds: float = 300.0,
    horizon: int | None = None,
    cell: str = "lstm",
    seed: int = 0,
    strategies=("direct", "seq", "recursive", "online"),
    baselines=BASELINES,
    members: int = 3,
    progress=None,
    series: Series | None = None,
    arima_search: bool = False,
) -> SeriesResult:
    """Evaluate baselines and networks on series `name` within `seconds` (wall clock).

    ARIMA orders fixed in SETTINGS (the AIC choices of a full grid, to keep a run within its
    budget) are searched again over the grid with `arima_search`."""
    start = time.perf_counter()
    settings = dict(SETTINGS[name])
    if arima_search:
        settings["arima"] = {k: v for k, v in settings["arima"].items() if k != "orders"}
    s = series if series is not None else load_series(name)
    h = int(horizon or settings["horizon"])
    window = settings["window"]
    origins = rolling_origins(
        len(s.y), h, settings["origins"], settings["step"], min_train=window + h + 2 + 8
    )
    train_x = s.values[: origins[0]]
    scaler = Scaler.fit(
        train_x,
        target=s.target,
        season=s.season,
        log=settings["log"],
        level=settings["level"],
        seasonal=settings["seasonal"],
        period=settings.get("period"),
        harmonics=settings.get("harmonics", 1),
    )
    z = scaler.transform(s.values)
    zt = z[:, s.target]
    result = SeriesResult(series=s, origins=origins)

    def record(model: str, forecasts: np.ndarray, seconds_used: float) -> None:
        result.forecasts[model] = forecasts
        result.metrics[model] = score_origins(s.y, origins, forecasts, s.season)
        result.seconds[model] = seconds_used

    for baseline in make_baselines(s, settings):
        if baseline.name not in baselines:
            continue
        t0 = time.perf_counter()
        baseline.fit(zt[: origins[0]])
        q = np.stack([scaler.inverse(baseline.forecast(zt[:o], h)) for o in origins])
        record(baseline.name, q, time.perf_counter() - t0)
        if hasattr(baseline, "describe"):
            result.described[baseline.name] = baseline.describe()
        if progress:
            progress(series=name, done=baseline.name)
    left = seconds - (time.perf_counter() - start)
    nets = [k for k in strategies if k in SHARES]
    total_share = sum(SHARES[k] for k in nets) or 1.0
    budget = {k: max(1.0, 0.95 * left * SHARES[k] / total_share) for k in nets}
    for strategy in nets:
        t0 = time.perf_counter()
        label = f"{cell}_{strategy}"
        cfg = NetConfig(
            **settings.get("net", {}),
            cell=cell,
            strategy="direct" if strategy == "online" else strategy,
            window=window,
            horizon=h,
            seed=seed,
            members=members,
        )
        if strategy == "online":
            q, facts = run_online(
                cfg, scaler, z, origins, budget[strategy], progress, start=result.forecaster
            )
            result.facts["online"] = facts
        else:
            fc = Forecaster(cfg, scaler).fit(z[: origins[0]], budget[strategy], progress)
            q = fc.forecast(z, origins, recalibrate=True)
            result.facts[label] = {
                "members": fc.history,
                "interval_scale": [round(float(c), 4) for c in fc.interval_scale],
            }
            if strategy == "direct":
                result.forecaster = fc
        record(label, q, time.perf_counter() - t0)
    direct, online = f"{cell}_direct", f"{cell}_online"
    if direct in result.metrics and online in result.metrics:
        result.facts["online_vs_offline_mase"] = (
            result.metrics[online]["mase"] / result.metrics[direct]["mase"]
        )
        result.facts["online_after_warm_up"] = AFTER_WARM_UP
    result.seconds["total"] = time.perf_counter() - start
    return result
