"""rnnlab.forecast networks: the pinball gradient, interval coverage on a synthetic series, the
three strategies, the online mode learning, and the saved model's round trip."""

import numpy as np
import pytest

from rnnlab.forecast import baselines as bl
from rnnlab.forecast.evaluate import rolling_origins, score_origins
from rnnlab.forecast.network import (
    Forecaster,
    NetConfig,
    calibration_factor,
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
    q = fc.forecast(z, origins)
    assert q.shape == (len(origins), 4, 3) and np.all(np.diff(q, axis=-1) >= 0)
    mine = score_origins(x[:, 0], origins, q, SEASON)
    naive = bl.Naive().fit(z[: origins[0], 0])
    theirs = np.stack([naive.forecast(z[:o, 0], 4) for o in origins])
    assert mine["mase"] < 0.6 * score_origins(x[:, 0], origins, theirs, SEASON)["mase"]
    assert 0.7 <= mine["coverage"] <= 0.9, mine
    assert fc.history[0]["epochs"] == 120


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


def test_online_mode_learns_from_the_stream():
    x = synthetic(n=360, seed=2)
    cfg = small_cfg()
    origins = rolling_origins(len(x), 4, 30, 2, min_train=200)
    sc = Scaler.fit(x[:100], target=0, season=SEASON, log=False, level=False, seasonal=True)
    z = sc.transform(x)
    learnt, facts = run_online(cfg, sc, z, origins, seconds=600, steps_per_point=2)
    untrained, _ = run_online(cfg, sc, z, origins, seconds=600, steps_per_point=0)
    assert facts["steps_per_point"] == 2 and facts["steps"] == 2 * facts["points"]
    learnt_mase = score_origins(x[:, 0], origins, learnt, SEASON)["mase"]
    untrained_mase = score_origins(x[:, 0], origins, untrained, SEASON)["mase"]
    naive = bl.Naive().fit(z[:100, 0])
    naive_q = np.stack([naive.forecast(z[:o, 0], 4) for o in origins])
    assert learnt_mase < 0.5 * untrained_mase
    assert learnt_mase < 0.6 * score_origins(x[:, 0], origins, naive_q, SEASON)["mase"]
    with pytest.raises(ValueError, match="direct"):
        run_online(small_cfg(strategy="seq"), sc, z, origins, seconds=1)


def test_saved_forecaster_round_trip(tmp_path):
    x = synthetic(n=300)
    fc, z, origins = _fit(small_cfg(max_epochs=2), x)
    save_forecaster(fc, tmp_path, {"series": "synthetic", "columns": ["x"]})
    back, extra = load_forecaster(tmp_path)
    assert extra == {"series": "synthetic", "columns": ["x"]}
    assert back.interval_scale == fc.interval_scale and back.cfg == fc.cfg
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
