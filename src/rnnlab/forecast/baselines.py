"""The baselines every forecast is measured against, in one protocol with the network.

Each baseline is fitted once on the history before the first forecast origin (as the network
is trained once) and then forecasts from every origin with the history up to that origin:

    naive           ŷ_{T+h} = x_T                          σ_h = σ √h
    seasonal_naive  ŷ_{T+h} = x_{T+h−m(k+1)}, k=⌊(h−1)/m⌋   σ_h = σ √(k+1)
    drift           ŷ_{T+h} = x_T + h (x_T − x_1)/(T−1)    σ_h = σ √(h (1 + h/T))
    arima           statsmodels ARIMA, (p, d, q)(P, D, Q)_m chosen by AIC from a small grid
    ets             statsmodels ETSModel (additive error), trend/damping/season chosen by AIC

σ is the residual standard deviation of the one-step (or one-season) in-sample forecasts, and
the 80% interval is ŷ ± 1.2816 σ_h (Hyndman & Athanasopoulos, "Forecasting: Principles and
Practice", 5.5). ARIMA and ETS are never written here: statsmodels fits them and gives their
intervals (`get_forecast(...).conf_int(alpha=0.2)`, `summary_frame(alpha=0.2)`); at a later
origin they are re-filtered over the longer history with the parameters of the first fit
(`ARIMAResults.apply`, `ETSModel.smooth`). statsmodels is the optional dependency
`rnnlab[forecast]`; without it `arima` and `ets` raise ImportError saying so.

Every `forecast(z, h)` works on the (transformed) history z (T,) and returns (h, 3) quantiles
at levels 0.1, 0.5, 0.9.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Any

import numpy as np

Z80 = 1.2815515655446004  # the standard normal's 0.9 quantile


def _with_interval(point: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return np.stack([point - Z80 * sigma, point, point + Z80 * sigma], axis=-1)  # (h, 3)


class Naive:
    name = "naive"

    def fit(self, z: np.ndarray) -> Naive:
        self.sigma = float(np.std(np.diff(z)))
        return self

    def forecast(self, z: np.ndarray, h: int) -> np.ndarray:
        steps = np.arange(1, h + 1)
        return _with_interval(np.full(h, z[-1]), self.sigma * np.sqrt(steps))


class SeasonalNaive:
    name = "seasonal_naive"

    def __init__(self, season: int):
        self.season = int(season)

    def fit(self, z: np.ndarray) -> SeasonalNaive:
        m = self.season
        self.sigma = float(np.std(z[m:] - z[:-m]))
        return self

    def forecast(self, z: np.ndarray, h: int) -> np.ndarray:
        m = self.season
        steps = np.arange(1, h + 1)
        k = (steps - 1) // m
        point = z[len(z) - 1 + steps - m * (k + 1)]
        return _with_interval(point, self.sigma * np.sqrt(k + 1))


class Drift:
    name = "drift"

    def fit(self, z: np.ndarray) -> Drift:
        d = np.diff(z)
        self.sigma = float(np.std(d - d.mean()))
        return self

    def forecast(self, z: np.ndarray, h: int) -> np.ndarray:
        steps = np.arange(1, h + 1)
        slope = (z[-1] - z[0]) / (len(z) - 1)
        sigma = self.sigma * np.sqrt(steps * (1 + steps / len(z)))
        return _with_interval(z[-1] + slope * steps, sigma)


def _statsmodels():
    try:
        import pandas as pd
        from statsmodels.tsa.arima.model import ARIMA
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    except ImportError as err:  # pragma: no cover - the test extras install it
        raise ImportError(
            "the ARIMA and ETS baselines need statsmodels: pip install 'rnnlab[forecast]'"
        ) from err
    return pd, ARIMA, ETSModel


def fourier(t: np.ndarray, period: float, k: int) -> np.ndarray:
    """(len(t), 2k) Fourier terms sin/cos(2π j t / period), j = 1..k (the season of a long
    period, e.g. 52.18 weeks, as regressors instead of 52 seasonal states)."""
    t = np.asarray(t, dtype=np.float64)[:, None]
    j = np.arange(1, k + 1)[None, :]
    angle = 2 * np.pi * j * t / period
    return np.concatenate([np.sin(angle), np.cos(angle)], axis=1)


class Arima:
    """ARIMA by statsmodels with its order chosen by AIC over a small grid (p, q ≤ `max_pq`, or
    the (p, q) pairs `orders`; d and the seasonal part fixed by the series' settings: `d`,
    `seasonal` (P, D, Q) ∈ {(0,1,1), (1,1,0)} for 1 < season ≤ 12, or `fourier_k` harmonics
    of a long season as regressors)."""

    name = "arima"

    def __init__(
        self,
        season: int,
        d: int = 1,
        seasonal: bool = True,
        fourier_k: int = 0,
        max_pq: int = 2,
        orders: list[tuple[int, int]] | None = None,
        trend: str | None = None,
    ):
        self.season, self.d, self.seasonal = int(season), int(d), bool(seasonal)
        self.fourier_k, self.max_pq, self.trend = int(fourier_k), int(max_pq), trend
        self.orders = [tuple(o) for o in orders] if orders else None

    def _exog(self, start: int, n: int) -> np.ndarray | None:
        if not self.fourier_k:
            return None
        return fourier(np.arange(start, start + n), self._period(), self.fourier_k)

    def _period(self) -> float:
        return 52.1775 if self.season == 52 else float(self.season)

    def _model(self, z, order, seasonal_order):
        pd, ARIMA, _ = _statsmodels()
        trend = self.trend
        if trend is None:  # a drift for d = 1, a mean for d = 0; none after seasonal differencing
            trend = "n" if seasonal_order[1] else ("t" if self.d == 1 else "c")
        return ARIMA(
            pd.Series(z),
            exog=self._exog(0, len(z)),
            order=order,
            seasonal_order=seasonal_order,
            trend=trend,
        )

    def fit(self, z: np.ndarray) -> Arima:
        best: tuple[float, Any, Any, Any] | None = None
        seasonal = [(0, 0, 0, 0)]
        if self.seasonal and 1 < self.season <= 12:
            seasonal = [(0, 1, 1, self.season), (1, 1, 0, self.season)]
        grid = self.orders or [
            (p, q) for p, q in itertools.product(range(self.max_pq + 1), repeat=2) if p + q > 0
        ]
        for (p, q), so in itertools.product(grid, seasonal):
            d = self.d
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    res = self._model(z, (p, d, q), so).fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if np.isfinite(res.aic) and (best is None or res.aic < best[0]):
                best = (float(res.aic), (p, d, q), so, res)
        if best is None:
            raise RuntimeError("arima: no order of the grid could be fitted")
        self.aic, self.order, self.seasonal_order, self.result = best
        return self

    def describe(self) -> str:
        extra = f" + {self.fourier_k} Fourier pairs" if self.fourier_k else ""
        return f"ARIMA{self.order}{self.seasonal_order[:3]}_{self.seasonal_order[3]}{extra}"

    def forecast(self, z: np.ndarray, h: int) -> np.ndarray:
        pd, _, _ = _statsmodels()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = self.result.apply(pd.Series(z), exog=self._exog(0, len(z)), refit=False)
            fc = res.get_forecast(h, exog=self._exog(len(z), h))
            ci = np.asarray(fc.conf_int(alpha=0.2))  # (h, 2)
            mean = np.asarray(fc.predicted_mean)
        return np.stack([ci[:, 0], mean, ci[:, 1]], axis=-1)


class Ets:
    """ETS (additive errors) by statsmodels: trend none / additive / damped, additive season
    when 1 < season ≤ 52, the configuration with the lowest AIC."""

    name = "ets"

    def __init__(self, season: int, seasonal: bool = True):
        self.season, self.seasonal = int(season), bool(seasonal)

    def _model(self, z, config):
        pd, _, ETSModel = _statsmodels()
        trend, damped, seasonal = config
        return ETSModel(
            pd.Series(z),
            error="add",
            trend=trend,
            damped_trend=damped,
            seasonal=seasonal,
            seasonal_periods=self.season if seasonal else None,
        )

    def fit(self, z: np.ndarray) -> Ets:
        seasons = [None]
        if self.seasonal and 1 < self.season <= 52 and len(z) >= 2 * self.season + 2:
            seasons = ["add"]
        configs = [
            (t, d, s) for s in seasons for t, d in ((None, False), ("add", False), ("add", True))
        ]
        best = None
        for config in configs:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                try:
                    res = self._model(z, config).fit(disp=False)
                except (ValueError, np.linalg.LinAlgError):
                    continue
            if np.isfinite(res.aic) and (best is None or res.aic < best[0]):
                best = (float(res.aic), config, res)
        if best is None:
            raise RuntimeError("ets: no configuration could be fitted")
        self.aic, self.config, self.result = best
        return self

    def describe(self) -> str:
        trend, damped, seasonal = self.config
        t = "N" if trend is None else ("Ad" if damped else "A")
        return f"ETS(A,{t},{'A' if seasonal else 'N'})" + (f"_{self.season}" if seasonal else "")

    def forecast(self, z: np.ndarray, h: int) -> np.ndarray:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            res = self._model(z, self.config).smooth(self.result.params)
            frame = res.get_prediction(start=len(z), end=len(z) + h - 1).summary_frame(alpha=0.2)
        return np.stack([np.asarray(frame[c]) for c in ("pi_lower", "mean", "pi_upper")], -1)
