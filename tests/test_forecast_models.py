"""rnnlab.forecast networks: the pinball gradient, conformal calibration (finite-sample quantile,
rolling origins, coverage on synthetic series with known noise), the three strategies, the
online mode learning after a warm start, and the saved model's round trip."""

import numpy as np
import pytest

from rnnlab.forecast import baselines as bl
from rnnlab.forecast.calibrate import (
    calibration_factor,
    conformal_quantile,
    rolling_factors,
    step_factors,
)
from rnnlab.forecast.evaluate import rolling_origins, score_origins
from rnnlab.forecast.network import (
    Forecaster,
    NetConfig,
    load_forecaster,
    pinball_grad,
    save_forecaster,
)
from rnnlab.forecast.online import run_online
from rnnlab.forecast.windows import Scaler

SEASON = 8


def synthetic(n=420, seed=0, noise=0.3):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 10 + 0.01 * t + 2 * np.sin(2 * np.pi * t / SEASON) + noise * rng.normal(size=n)
    return x[:, None]


def small_cfg(**kw):
    base = dict(window=16, horizon=4, units=16, members=1, max_epochs=25, patience=100, seed=3)
    base.update(kw)
    return NetConfig(**base)


def test_pinball_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(3, 4))
    q = rng.normal(size=(3, 4, 3))
    loss, grad = pinball_grad(y, q)
    eps = 1e-6
    for idx in [(0, 0, 0), (1, 2, 1), (2, 3, 2)]:
        qp, qm = q.copy(), q.copy()
        qp[idx] += eps
        qm[idx] -= eps
        fd = (pinball_grad(y, qp)[0] - pinball_grad(y, qm)[0]) / (2 * eps)
        assert grad[idx] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    assert loss > 0


def test_calibration_factor_puts_the_share_inside():
    rng = np.random.default_rng(1)
    y = rng.normal(size=2000)
    q = np.stack([np.full(2000, -0.5), np.zeros(2000), np.full(2000, 0.5)], -1)  # too narrow
    c = calibration_factor(y, q)
    inside = np.mean(np.abs(y) <= 0.5 * c)
    assert inside == pytest.approx(0.8, abs=0.01)
    assert c == pytest.approx(1.2816 / 0.5, rel=0.1)  # the normal's 80% half-width


def test_conformal_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 13.0)[::-1]  # n = 12: the ⌈13 · 0.8⌉ = 11th smallest
    assert conformal_quantile(scores) == 11.0
    assert conformal_quantile(np.array([0.5, 0.7, 0.9])) == 0.9  # n too small: the largest
    assert conformal_quantile(np.array([np.nan, 2.0, 3.0, 4.0, 5.0])) == 5.0  # NaN skipped
    assert conformal_quantile(np.array([])) == 1.0
    factors = step_factors(np.stack([np.arange(1.0, 13.0), 2 * np.arange(1.0, 13.0)], 1))
    assert factors.tolist() == [11.0, 20.0]  # one factor per horizon step (20: the clip)
    with pytest.raises(ValueError, match="scores"):
        step_factors(np.ones(4))


def test_rolling_factors_use_only_truths_arrived_before_the_origin():
    held = np.ones((9, 2))  # 9 held-out scores per step
    later = np.full((3, 2), 5.0)
    made = np.array([10, 11, 12])
    # step k of origin o′ arrives before origin o when o′ + k − 1 ≤ o − 1
    f = rolling_factors(held, later, made, [10, 11, 12])
    assert f[0].tolist() == [1.0, 1.0]  # nothing arrived before origin 10: rank 8 of 9 ones
    assert f[1].tolist() == [1.0, 1.0]  # step 1 of 10 arrived: rank ⌈11 · 0.8⌉ = 9 of 10 → 1
    assert f[2].tolist() == [5.0, 1.0]  # step 1 of 10, 11: rank 10 of 11 → 5; step 2 of 10
    with pytest.raises(ValueError, match="later scores"):
        rolling_factors(held, later[:2], made, [12])


def _fit(cfg, x):
    n = len(x)
    origins = rolling_origins(n, cfg.horizon, 80, 1, min_train=200)
    sc = Scaler.fit(x[: origins[0]], target=0, season=SEASON, log=False, level=False, seasonal=True)
    z = sc.transform(x)
    fc = Forecaster(cfg, sc).fit(z[: origins[0]], seconds=600)
    return fc, z, origins


def test_direct_forecaster_beats_naive_and_covers_80_percent():
    x = synthetic()
    fc, z, origins = _fit(small_cfg(max_epochs=120, seed=0), x)
    q = fc.forecast(z, origins, recalibrate=True)
    assert q.shape == (len(origins), 4, 3) and np.all(np.diff(q, axis=-1) >= 0)
    mine = score_origins(x[:, 0], origins, q, SEASON)
    naive = bl.Naive().fit(z[: origins[0], 0])
    theirs = np.stack([naive.forecast(z[:o, 0], 4) for o in origins])
    assert mine["mase"] < 0.6 * score_origins(x[:, 0], origins, theirs, SEASON)["mase"]
    assert 0.7 <= mine["coverage"] <= 0.9, mine
    assert fc.history[0]["epochs"] == 120


def test_rolling_calibration_follows_a_change_of_noise():
    """Noise σ = 0.2 up to the first origin, 0.5 after (known): the validation windows alone give
    intervals for σ = 0.2, the rolling calibration widens them as the new truths arrive."""
    n = 560
    origins = rolling_origins(n, 4, 150, 2, min_train=200)
    rng = np.random.default_rng(4)
    t = np.arange(n)
    noise = np.where(t < origins[0], 0.2, 0.5) * rng.normal(size=n)
    x = (10 + 2 * np.sin(2 * np.pi * t / SEASON) + noise)[:, None]
    cfg = small_cfg(max_epochs=60, seed=1)
    sc = Scaler.fit(x[: origins[0]], target=0, season=SEASON, log=False, level=False, seasonal=True)
    z = sc.transform(x)
    fc = Forecaster(cfg, sc).fit(z[: origins[0]], seconds=600)
    static = score_origins(x[:, 0], origins, fc.forecast(z, origins), SEASON)["coverage"]
    rolling = fc.forecast(z, origins, recalibrate=True)
    late = origins[50:]  # once the calibration set holds the new noise
    covered = score_origins(x[:, 0], late, rolling[50:], SEASON)["coverage"]
    assert static < 0.65, static
    assert 0.7 <= covered <= 0.9, covered


@pytest.mark.parametrize("strategy", ["seq", "recursive"])
def test_other_strategies_learn_the_season(strategy):
    x = synthetic(seed=1)
    fc, z, origins = _fit(small_cfg(strategy=strategy, paths=32), x)
    origins = origins[::8]
    q = fc.forecast(z, origins)
    assert q.shape == (len(origins), 4, 3)
    mine = score_origins(x[:, 0], origins, q, SEASON)["mase"]
    naive = bl.Naive().fit(z[: origins[0], 0])
    theirs = np.stack([naive.forecast(z[:o, 0], 4) for o in origins])
    assert mine < 0.7 * score_origins(x[:, 0], origins, theirs, SEASON)["mase"]


def test_online_mode_keeps_learning_after_a_warm_start():
    """The season's amplitude grows after the warm-up: the online learner, started from the
    offline forecaster, follows it (prequential forecasts), the frozen offline one cannot."""
    n = 420
    rng = np.random.default_rng(2)
    t = np.arange(n)
    amp = np.where(t < 200, 1.0, 2.0)
    x = (10 + amp * np.sin(2 * np.pi * t / SEASON) + 0.1 * rng.normal(size=n))[:, None]
    cfg = small_cfg(max_epochs=40)
    origins = rolling_origins(n, 4, 40, 4, min_train=200)
    sc = Scaler.fit(x[: origins[0]], target=0, season=SEASON, log=False, level=False, seasonal=True)
    z = sc.transform(x)
    offline = Forecaster(cfg, sc).fit(z[: origins[0]], seconds=600)
    q_off = offline.forecast(z, origins)
    q_on, facts = run_online(
        cfg, sc, z, origins, 600, steps_per_point=8, start=offline, lr_scale=0.3
    )
    assert facts["steps"] == 8 * facts["stream_points"] and facts["warm_start"] == "offline model"
    assert q_on[0, :, 1] == pytest.approx(q_off[0, :, 1], rel=1e-6)  # nothing new at o₁
    assert np.all(np.diff(q_on, axis=-1) >= 0)
    later = origins[len(origins) // 2 :]
    half = len(origins) // 2
    on = score_origins(x[:, 0], later, q_on[half:], SEASON)["mase"]
    off = score_origins(x[:, 0], later, q_off[half:], SEASON)["mase"]
    assert on < 0.5 * off, (on, off)
    # the intervals are recalibrated on the learner's own forecasts: not too narrow
    assert score_origins(x[:, 0], later, q_on[half:], SEASON)["coverage"] >= 0.6
    own, facts = run_online(cfg, sc, z, origins[:3], 2, steps_per_point=1)
    assert facts["warm_start"] == "own fit" and own.shape == (3, 4, 3)
    with pytest.raises(ValueError, match="direct"):
        run_online(small_cfg(strategy="seq"), sc, z, origins, seconds=1)
    with pytest.raises(ValueError, match="fitted on"):
        run_online(cfg, sc, z, origins[1:], 1, start=offline)


def test_saved_forecaster_round_trip(tmp_path):
    x = synthetic(n=300)
    fc, z, origins = _fit(small_cfg(max_epochs=2), x)
    save_forecaster(fc, tmp_path, {"series": "synthetic", "columns": ["x"]})
    back, extra = load_forecaster(tmp_path)
    assert extra == {"series": "synthetic", "columns": ["x"]}
    assert back.interval_scale.tolist() == fc.interval_scale.tolist() and back.cfg == fc.cfg
    assert back.fit_length == fc.fit_length == origins[0]
    assert back.forecast(z, origins[:3]) == pytest.approx(fc.forecast(z, origins[:3]), rel=1e-6)
    with pytest.raises(FileNotFoundError, match="no member"):
        load_forecaster(tmp_path / "empty")


def test_config_refuses_bad_values():
    with pytest.raises(ValueError, match="cell"):
        NetConfig(cell="jordan")
    with pytest.raises(ValueError, match="strategy"):
        NetConfig(strategy="magic")
    with pytest.raises(ValueError, match="window"):
        NetConfig(window=0)


@pytest.mark.parametrize("cell", ["mingru", "lru"])
def test_any_family_a_layer_can_be_made_of_serves(cell):
    """--cell takes the registry's families (issue 17's here) through layer_for_cell."""
    from rnnlab.forecast.network import build_network

    model = build_network(NetConfig(cell=cell, units=8), n_features=1, seed=0)
    assert type(model.layers[0]).__name__ == {"mingru": "MinGRU", "lru": "LRU"}[cell]
    x = np.random.default_rng(0).standard_normal((2, NetConfig().window, 1)).astype(np.float32)
    assert np.isfinite(model.predict(x)).all()
