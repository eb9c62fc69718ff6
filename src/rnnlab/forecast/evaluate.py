"""Rolling-origin evaluation: forecasts from several origins, scored over horizons 1..H.

Origins o_1 < … < o_n are spaced `step` apart and end at T − H, so every forecast has its H
truths: origin o forecasts x_o..x_{o+H−1} from the history x_0..x_{o−1}. Per origin the MASE
scale is the in-sample seasonal-naive MAE of that history (forecast/metrics.py); MASE is the
mean of the per-origin MASEs, the other metrics pool all n·H points, and `mase_by_horizon[k]`
is the MASE at horizon k+1 averaged over origins.
"""

from __future__ import annotations

import numpy as np

from .metrics import QUANTILES, coverage, pinball, rmse, seasonal_scale, smape


def rolling_origins(length: int, horizon: int, count: int, step: int, min_train: int) -> list[int]:
    """`count` origins `step` apart, the last at length − horizon; refuses a horizon longer
    than the data, or a first origin with fewer than `min_train` points of history."""
    for name, value in (("horizon", horizon), ("count", count), ("step", step)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"rolling_origins: expected {name} ≥ 1, got {value!r}")
    if horizon >= length:
        raise ValueError(
            f"horizon {horizon} is not shorter than the series ({length} points): nothing would "
            f"be left to learn from"
        )
    last = length - horizon
    origins = [last - step * (count - 1 - i) for i in range(count)]
    if origins[0] < min_train:
        raise ValueError(
            f"{length} points: {count} origins {step} apart with horizon {horizon} leave "
            f"{origins[0]} points before the first origin, expected at least {min_train}"
        )
    return origins


def score_origins(y: np.ndarray, origins, forecasts: np.ndarray, season: int) -> dict:
    """Metrics of (n, H, 3) quantile forecasts from `origins` against the series y (T,)."""
    y = np.asarray(y, dtype=np.float64)
    forecasts = np.asarray(forecasts, dtype=np.float64)
    n, h, _ = forecasts.shape
    if n != len(origins):
        raise ValueError(f"score_origins: {n} forecasts for {len(origins)} origins")
    truth = np.stack([y[o : o + h] for o in origins])  # (n, H)
    if truth.shape != (n, h):
        raise ValueError("score_origins: an origin is too late for its horizon")
    scales = np.array([seasonal_scale(y[:o], season) for o in origins])  # (n,)
    errors = np.abs(truth - forecasts[..., 1]) / scales[:, None]  # (n, H)
    return {
        "mase": float(errors.mean()),
        "smape": smape(truth, forecasts[..., 1]),
        "rmse": rmse(truth, forecasts[..., 1]),
        "coverage": coverage(truth, forecasts[..., 0], forecasts[..., 2]),
        "pinball": pinball(truth, forecasts, QUANTILES),
        "mase_by_horizon": errors.mean(axis=0).tolist(),
    }
