"""The explorer's forecasting view (rnnlab.viz.forecast_view, static/view-forecast.js): its data
are the forecasts a `rnnlab task forecast` run computed (forecasts.json), its errors, and the
page in a real headless Chromium (state read from data-* attributes). The view sends numbers
with 5 significant digits, as every explorer view does: compared at rel 5e-5."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

import test_explorer_browser as browser_tests
from rnnlab.forecast.report import FORECASTS_NAME, forecasts_json
from rnnlab.forecast.task import run_series
from rnnlab.viz.data import compute
from rnnlab.viz.models import ExplorerModels
from rnnlab.viz.server import BackgroundServer, create_app


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/air: a tiny airline run (naive baselines and one network), as the task writes it."""
    root = tmp_path_factory.mktemp("runs")
    result = run_series(
        "airline",
        seconds=3,
        members=1,
        strategies=("direct",),
        baselines=("naive", "seasonal_naive"),
    )
    (root / "air").mkdir()
    (root / "air" / FORECASTS_NAME).write_text(
        json.dumps({"series": {"airline": forecasts_json(result)}})
    )
    return root, result


@pytest.fixture
def models(runs):
    m = ExplorerModels.for_tests()
    m.forecast_dirs = [runs[0]]
    return m


def test_view_gives_the_runs_forecasts_from_the_chosen_origin(models, runs):
    root, result = runs
    data = compute("forecast", models, {})
    assert data["runs"] == [f"{root.as_posix()}/air"] and data["series"] == "airline"
    last = len(result.origins) - 1
    assert data["origin"] == last and data["horizon"] == 12
    o = result.origins[last]
    assert data["first_forecast_step"] == o and data["origin_date"] == result.series.dates[o]
    assert data["truth"] == pytest.approx(result.series.y[data["start"] : o + 12], rel=5e-5)
    names = [m["name"] for m in data["models"]]
    assert names == ["naive", "seasonal_naive", "lstm_direct"]
    for m in data["models"]:
        q = result.forecasts[m["name"]][last]
        assert m["median"] == pytest.approx(q[:, 1], rel=5e-5)
        assert m["lower"] == pytest.approx(q[:, 0], rel=5e-5)
        assert m["mase"] == pytest.approx(result.metrics[m["name"]]["mase"], rel=5e-5)
        truth = result.series.y[o : o + 12]
        assert m["mae"] == pytest.approx(np.mean(np.abs(truth - q[:, 1])), rel=5e-5)
    first = compute("forecast", models, {"origin": "0", "series": "airline"})
    assert first["origin"] == 0 and first["first_forecast_step"] == result.origins[0]


def test_view_errors_and_hint(models, runs, tmp_path):
    with pytest.raises(ValueError, match="unknown run"):
        compute("forecast", models, {"run": "elsewhere"})
    with pytest.raises(ValueError, match="no series 'co2'"):
        compute("forecast", models, {"series": "co2"})
    with pytest.raises(ValueError, match="expected origin in"):
        compute("forecast", models, {"origin": 99})
    with pytest.raises(ValueError, match="expected origin to be an int"):
        compute("forecast", models, {"origin": "late"})
    empty = ExplorerModels.for_tests()
    empty.forecast_dirs = [tmp_path]
    data = compute("forecast", empty, {})
    assert data["runs"] == [] and "rnnlab task forecast" in data["hint"]


# -- in the browser ------------------------------------------------------------------------------
browser = browser_tests.browser
page = browser_tests.page  # console errors and foreign requests fail the test
expect = browser_tests.expect


@pytest.fixture(scope="module")
def server(runs):
    m = ExplorerModels.for_tests()
    m.forecast_dirs = [runs[0]]
    with BackgroundServer(create_app(m)) as srv:
        yield srv


def test_page_draws_truth_forecasts_and_band_and_follows_the_origin(page, server, runs):
    _, result = runs
    page.goto(f"{server.url}?view=forecast")
    section = page.locator('section[data-view="forecast"]')
    expect(section).to_have_attribute("data-ready", "true")
    expect(section).to_have_attribute("data-series", "airline")
    expect(section).to_have_attribute("data-models", "3")
    expect(section).to_have_attribute("data-band", "lstm_direct")
    last = len(result.origins) - 1
    expect(section).to_have_attribute("data-origin", str(last))
    assert section.locator('[data-role="median"]').count() == 3
    assert section.locator('[data-role="band"]').get_attribute("data-model") == "lstm_direct"
    # another origin: the page shows what the server computes for it
    section.locator('[data-role="origin"]').select_option("2")
    expect(section).to_have_attribute("data-origin", "2")
    want = httpx.post(f"{server.url}api/view/forecast", json={"origin": 2}).json()
    expect(section).to_have_attribute("data-origin-date", want["origin_date"])
    best = min(want["models"], key=lambda m: m["mae"])["name"]
    expect(section).to_have_attribute("data-best", best)
    maes = section.locator('[data-role="legend"] [data-role="mae"]').all_inner_texts()
    assert len(maes) == 3
    # the band follows the chosen model
    section.locator('[data-role="band-model"]').select_option("seasonal_naive")
    expect(section).to_have_attribute("data-band", "seasonal_naive")
    assert section.locator('[data-role="band"]').get_attribute("data-model") == "seasonal_naive"
    browser_tests.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(browser_tests.ARTIFACTS / "explorer-forecast.png"), full_page=True)
