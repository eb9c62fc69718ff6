"""rnnlab.forecast: metrics on hand-computed cases, rolling origins, baselines against statsmodels
called directly, the windows, and the series read from their pinned archives."""

import math
import warnings

import numpy as np
import pytest

from rnnlab.datasets import series as series_data
from rnnlab.forecast import baselines as bl
from rnnlab.forecast import metrics as fm
from rnnlab.forecast.evaluate import rolling_origins, score_origins
from rnnlab.forecast.windows import Scaler, origin_windows, training_windows


# -- metrics ---------------------------------------------------------------------------------------
def test_metrics_hand_computed():
    y, yhat = [1.0, 2.0, 3.0], [1.0, 3.0, 5.0]
    scale = fm.seasonal_scale([1.0, 2.0, 4.0, 8.0], 1)  # mean(1, 2, 4)
    assert scale == pytest.approx(7 / 3)
    assert fm.mase(y, yhat, scale) == pytest.approx(1 / (7 / 3))
    assert fm.smape(y, yhat) == pytest.approx((0 + 2 / 5 + 4 / 8) / 3)
    assert fm.smape([0.0, 1.0], [0.0, 1.0]) == 0.0  # 0/0 terms count 0
    assert fm.rmse(y, yhat) == pytest.approx(math.sqrt(5 / 3))
    assert fm.coverage(y, [0.0, 2.5, 3.0], [2.0, 3.0, 4.0]) == pytest.approx(2 / 3)
    # u = y - q = (1, 0, -2): 0.1·1, 0, max(0.9·-2, -0.1·-2) = 0.2 → mean 0.1
    assert fm.pinball([1.0], [[0.0, 1.0, 3.0]]) == pytest.approx(0.1)
    s = fm.score([1.0, 2.0], [[0.0, 1.0, 2.0], [1.0, 2.0, 2.5]], scale=2.0)
    assert s == pytest.approx(
        {
            "mase": 0.0,
            "smape": 0.0,
            "rmse": 0.0,
            "coverage": 1.0,
            "pinball": (0.1 + 0.1 + 0.1 + 0.05) / 6,
        }
    )
    # seasonal scale at lag 2
    assert fm.seasonal_scale([1.0, 5.0, 2.0, 7.0, 4.0], 2) == pytest.approx((1 + 2 + 2) / 3)


def test_metrics_refuse_bad_input():
    with pytest.raises(ValueError, match="constant series"):
        fm.seasonal_scale([3.0] * 10, 1)
    with pytest.raises(ValueError, match="more than the season"):
        fm.seasonal_scale([1.0, 2.0], 12)
    with pytest.raises(ValueError, match="one non-empty shape"):
        fm.mase([1.0, 2.0], [1.0], 1.0)
    with pytest.raises(ValueError, match="finite"):
        fm.rmse([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="3 quantiles"):
        fm.pinball([1.0], [[1.0, 2.0]])


# -- rolling origins -------------------------------------------------------------------------------
def test_rolling_origins_and_scores():
    assert rolling_origins(100, 10, 3, 5, min_train=20) == [80, 85, 90]
    with pytest.raises(ValueError, match="not shorter than the series"):
        rolling_origins(10, 10, 1, 1, min_train=1)
    with pytest.raises(ValueError, match="expected at least 50"):
        rolling_origins(60, 5, 3, 5, min_train=50)
    y = np.arange(40, dtype=float) % 4 + np.arange(40) * 0.5
    origins = rolling_origins(len(y), 4, 3, 2, min_train=10)
    perfect = np.stack([np.stack([y[o : o + 4]] * 3, -1) for o in origins])  # (3, 4, 3)
    s = score_origins(y, origins, perfect, season=4)
    assert s["mase"] == 0.0 and s["coverage"] == 1.0 and s["pinball"] == 0.0
    assert s["mase_by_horizon"] == [0.0] * 4
    off = perfect + 1.0  # every median off by 1: MASE = 1 / scale per origin
    s = score_origins(y, origins, off, season=4)
    scales = [fm.seasonal_scale(y[:o], 4) for o in origins]
    assert s["mase"] == pytest.approx(np.mean([1 / c for c in scales]))
    assert s["coverage"] == 0.0  # the truth sits below every interval (lo = y + 1)


# -- baselines -------------------------------------------------------------------------------------
def test_simple_baselines_hand_computed():
    z = np.array([1.0, 3.0, 2.0, 4.0, 3.0, 5.0])
    q = bl.Naive().fit(z).forecast(z, 3)
    assert q[:, 1].tolist() == [5.0] * 3
    sigma = np.std(np.diff(z))
    assert q[:, 2] - q[:, 1] == pytest.approx(bl.Z80 * sigma * np.sqrt([1, 2, 3]))
    q = bl.SeasonalNaive(2).fit(z).forecast(z, 5)
    assert q[:, 1].tolist() == [3.0, 5.0, 3.0, 5.0, 3.0]
    sigma = np.std(z[2:] - z[:-2])
    assert q[:, 2] - q[:, 1] == pytest.approx(bl.Z80 * sigma * np.sqrt([1, 1, 2, 2, 3]))
    q = bl.Drift().fit(z).forecast(z, 2)
    assert q[:, 1] == pytest.approx([5.0 + 4 / 5, 5.0 + 8 / 5])


def _ar_series(n=160, seed=0):
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    x = np.zeros(n)
    for t in range(1, n):
        x[t] = 0.6 * x[t - 1] + e[t]
    return 10 + x + 0.05 * np.arange(n)


def test_arima_and_ets_equal_statsmodels_called_directly():
    pd = pytest.importorskip("pandas")
    arima_mod = pytest.importorskip("statsmodels.tsa.arima.model")
    ets_mod = pytest.importorskip("statsmodels.tsa.exponential_smoothing.ets")
    z = _ar_series()
    arima = bl.Arima(1, d=0, seasonal=False, max_pq=1).fit(z)
    ours = arima.forecast(z, 5)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = arima_mod.ARIMA(pd.Series(z), order=arima.order, trend="c").fit()
        fc = res.get_forecast(5)
        ci = np.asarray(fc.conf_int(alpha=0.2))
    assert res.aic == pytest.approx(arima.aic)
    assert ours[:, 1] == pytest.approx(np.asarray(fc.predicted_mean), rel=1e-8)
    assert ours[:, 0] == pytest.approx(ci[:, 0], rel=1e-8)
    assert ours[:, 2] == pytest.approx(ci[:, 1], rel=1e-8)
    # the AIC search picked the lowest AIC of its grid
    for order in [(1, 0, 0), (0, 0, 1), (1, 0, 1)]:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            other = arima_mod.ARIMA(pd.Series(z), order=order, trend="c").fit()
        assert arima.aic <= other.aic + 1e-9

    ets = bl.Ets(1, seasonal=False).fit(z)
    trend, damped, _ = ets.config
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        direct = ets_mod.ETSModel(pd.Series(z), error="add", trend=trend, damped_trend=damped)
        frame = direct.fit(disp=False).get_prediction(start=len(z), end=len(z) + 3)
        frame = frame.summary_frame(alpha=0.2)
    ours = ets.forecast(z, 4)
    assert ours[:, 1] == pytest.approx(np.asarray(frame["mean"]), rel=1e-6)
    assert ours[:, 0] == pytest.approx(np.asarray(frame["pi_lower"]), rel=1e-6)
    assert ours[:, 2] == pytest.approx(np.asarray(frame["pi_upper"]), rel=1e-6)


def test_fourier_terms():
    f = bl.fourier(np.arange(4), 4.0, 1)
    assert f == pytest.approx(np.array([[0, 1], [1, 0], [0, -1], [-1, 0]]), abs=1e-12)


# -- windows ---------------------------------------------------------------------------------------
def test_windows_targets_and_inverse():
    x = np.exp(np.linspace(0, 1, 30))[:, None] * (1 + 0.1 * (np.arange(30) % 3))[:, None]
    sc = Scaler.fit(x, target=0, season=3, log=True, level=False, seasonal=True)
    z = sc.transform(x)
    assert z[:, 0] == pytest.approx(np.log(x[:, 0]))
    xs, ys = training_windows(sc, z, window=5, horizon=2)
    assert xs.shape == (30 - 1 - 2 - 5 + 1, 5, 3) and ys.shape == (23, 2)
    # window 0 ends at step 5: its target is the change z[6], z[7] minus z[5], scaled
    s = sc.diff_scale[0]
    assert ys[0] == pytest.approx((z[[6, 7], 0] - z[5, 0]) / s, rel=1e-5)
    assert xs[0, :, 0] == pytest.approx(np.diff(z[:6, 0]) / s, rel=1e-5)
    angle = 2 * np.pi * np.arange(1, 6) / 3
    assert xs[0, :, 1] == pytest.approx(np.sin(angle), abs=1e-6)
    # the inverse of a target is the truth
    assert sc.unscale(z[5, 0], ys[0].astype(float)) == pytest.approx(x[[6, 7], 0], rel=1e-5)
    # an origin's window is the last window of its history, nothing later
    w = origin_windows(sc, z, [20], window=5)
    assert w[0] == pytest.approx(xs[19 - 5])
    _, many_y = training_windows(sc, z, window=5, horizon=2, per_step=True)
    assert many_y.shape == (23, 5, 2)
    assert many_y[:, -1] == pytest.approx(ys)
    with pytest.raises(ValueError, match="constant"):
        Scaler.fit(np.ones((10, 1)), target=0, season=1, log=False, level=False, seasonal=False)
    with pytest.raises(ValueError, match="7 points: too few for a window of 5.*at least 8"):
        training_windows(sc, z[:7], window=5, horizon=2)


# -- the series ------------------------------------------------------------------------------------
@pytest.mark.network
def test_seasonal_features_period_and_harmonics():
    x = (np.arange(1.0, 41.0) ** 1.5)[:, None]
    sc = Scaler.fit(
        x, target=0, season=4, log=False, level=False, seasonal=True, period=4.5, harmonics=2
    )
    f = sc.features(sc.transform(x))  # (39, 1 + 4): the difference, sin j·φ and cos j·φ, j = 1, 2
    assert f.shape == (39, 5) == (39, sc.n_features)
    angle = 2 * np.pi * np.arange(1, 40) / 4.5
    assert f[:, 1] == pytest.approx(np.sin(angle)) and f[:, 4] == pytest.approx(np.cos(2 * angle))
    for bad in (dict(period=1.0), dict(harmonics=0)):
        with pytest.raises(ValueError, match="period > 1 and harmonics"):
            Scaler.fit(x, target=0, season=4, log=False, level=False, seasonal=True, **bad)


def test_series_read_from_pinned_archives():
    co2 = series_data.load_series("co2")
    assert co2.values.shape == (2284, 1) and co2.missing == 59 and co2.season == 52
    assert np.isfinite(co2.values).all() and co2.dates[0] == "1958-03-29"
    air = series_data.load_series("airline")
    assert air.y[:3].tolist() == [112.0, 118.0, 132.0] and len(air.y) == 144
    assert air.dates[-1] == "1960-12" and air.missing == 0
    sun = series_data.load_series("sunspots")
    assert len(sun.y) == 309 and sun.dates[0] == "1700" and sun.season == 11
    monthly = series_data.load_series("sunspots-monthly")
    assert len(monthly.y) == 2820 and monthly.y[:2].tolist() == [58.0, 62.6]
    macro = series_data.load_series("macro")
    assert macro.values.shape == (203, 12) and macro.columns[macro.target] == "realgdp"
    assert "59 missing" in co2.note()


def test_series_parsing_fills_and_reports_gaps():
    raw = b"date,co2\n19580329,316.1\n19580405,\n19580412,317.5\n" + b"".join(
        f"195805{d:02d},{317 + d / 10}\n".encode() for d in range(1, 10)
    )
    s = series_data.parse_series("co2", raw)
    assert s.missing == 1 and s.y[1] == pytest.approx((316.1 + 317.5) / 2)
    with pytest.raises(ValueError, match="expected a series name"):
        series_data.parse_series("nile", raw)
    with pytest.raises(series_data.DatasetError, match="cannot parse"):
        series_data.parse_series("co2", b"date,co2\n19580329,abc\n" * 9)
