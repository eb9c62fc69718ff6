"""Forecast accuracy: MASE, sMAPE, RMSE, interval coverage and pinball loss.

For truths y (n,), point forecasts ŷ (n,), quantile forecasts q̂_τ and the in-sample history
x_1..x_T of the series before the forecast origin, with season m:

    scale    = (1/(T−m)) Σ_{t=m+1..T} |x_t − x_{t−m}|          (in-sample seasonal-naive MAE)
    MASE     = mean |y − ŷ| / scale                              (Hyndman & Koehler 2006)
    sMAPE    = mean 2|y − ŷ| / (|y| + |ŷ|)   (a term with y = ŷ = 0 counts 0; range [0, 2],
               a fraction like the project's other rates: M4's percentage is 100 × this)
    RMSE     = sqrt(mean (y − ŷ)²)
    coverage = fraction of y inside [q̂_lo, q̂_hi]  (the 80% interval: τ = 0.1 and 0.9)
    pinball  = mean over τ and points of ρ_τ(y − q̂_τ),  ρ_τ(u) = max(τ u, (τ − 1) u)

Every function takes arrays of matching shape and refuses empty or non-finite input.
"""

from __future__ import annotations

import numpy as np

from .._validation import describe

#: the quantile levels every forecaster here predicts: an 80% interval and the median
QUANTILES = (0.1, 0.5, 0.9)


def _pair(y, yhat, who: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64)
    yhat = np.asarray(yhat, dtype=np.float64)
    if y.shape != yhat.shape or y.size == 0:
        raise ValueError(
            f"{who}: expected truths and forecasts of one non-empty shape, got "
            f"{y.shape} and {yhat.shape}"
        )
    if not (np.isfinite(y).all() and np.isfinite(yhat).all()):
        raise ValueError(f"{who}: expected finite values")
    return y, yhat


def seasonal_scale(history, season: int) -> float:
    """The in-sample MAE of the seasonal-naive forecast x̂_t = x_{t−m} (MASE's denominator);
    a series too short for one season, or one whose scale is 0 (constant), is refused."""
    x = np.asarray(history, dtype=np.float64).ravel()
    if not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"seasonal_scale: expected a season ≥ 1, got {describe(season)}")
    if x.size <= season:
        raise ValueError(f"seasonal_scale: {x.size} points, expected more than the season {season}")
    scale = float(np.mean(np.abs(x[season:] - x[:-season])))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"seasonal_scale: the seasonal-naive in-sample error is {scale} (a constant series "
            f"at lag {season}); MASE is undefined"
        )
    return scale


def mase(y, yhat, scale: float) -> float:
    y, yhat = _pair(y, yhat, "mase")
    return float(np.mean(np.abs(y - yhat)) / scale)


def smape(y, yhat) -> float:
    y, yhat = _pair(y, yhat, "smape")
    denom = np.abs(y) + np.abs(yhat)
    terms = np.divide(2 * np.abs(y - yhat), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(np.mean(terms))


def rmse(y, yhat) -> float:
    y, yhat = _pair(y, yhat, "rmse")
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def coverage(y, lower, upper) -> float:
    y, lower = _pair(y, lower, "coverage")
    _, upper = _pair(y, upper, "coverage")
    return float(np.mean((y >= lower) & (y <= upper)))


def pinball(y, quantiles, levels=QUANTILES) -> float:
    """Mean pinball loss; `quantiles` (..., K) holds the forecasts at the K `levels`."""
    q = np.asarray(quantiles, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if q.shape[-1] != levels.size:
        raise ValueError(
            f"pinball: expected {levels.size} quantiles on the last axis, got {q.shape}"
        )
    y, _ = _pair(y, q[..., 0], "pinball")
    u = y[..., None] - q  # (..., K)
    return float(np.mean(np.maximum(levels * u, (levels - 1) * u)))


def score(y, quantiles, scale: float, levels=QUANTILES) -> dict[str, float]:
    """All five metrics of one forecast: `quantiles` (n, K) at `levels` (median = point)."""
    levels = tuple(levels)
    q = np.asarray(quantiles, dtype=np.float64)
    mid = q[:, levels.index(0.5)]
    return {
        "mase": mase(y, mid, scale),
        "smape": smape(y, mid),
        "rmse": rmse(y, mid),
        "coverage": coverage(y, q[:, 0], q[:, -1]),
        "pinball": pinball(y, q, levels),
    }
