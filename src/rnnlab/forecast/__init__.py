"""Time-series forecasting: windowed LSTM/GRU forecasters with quantile intervals, an online
mode, the statistical baselines and rolling-origin evaluation (docs/forecasting.md).

    from rnnlab.forecast import run_series
    result = run_series("airline", seconds=120)
    result.metrics["lstm_direct"]["mase"], result.metrics["arima"]["mase"]
"""

from .evaluate import rolling_origins, score_origins
from .metrics import QUANTILES, coverage, mase, pinball, rmse, seasonal_scale, smape
from .network import Forecaster, NetConfig, load_forecaster, save_forecaster
from .online import run_online
from .task import SETTINGS, SeriesResult, run_series
from .windows import Scaler, origin_windows, training_windows

__all__ = [
    "QUANTILES",
    "SETTINGS",
    "Forecaster",
    "NetConfig",
    "Scaler",
    "SeriesResult",
    "coverage",
    "load_forecaster",
    "mase",
    "origin_windows",
    "pinball",
    "rmse",
    "rolling_origins",
    "run_online",
    "run_series",
    "save_forecaster",
    "score_origins",
    "seasonal_scale",
    "smape",
    "training_windows",
]
