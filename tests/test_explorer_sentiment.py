"""The hidden-state view over a `rnnlab task sentiment` model: the data (same numbers as
`rnnlab classify`), the laden units, and the view in a real headless Chromium."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlab.cli import main
from rnnlab.datasets.sentiment import SentimentDataset
from rnnlab.tasks import classify as clf
from rnnlab.tasks import sentiment as task
from rnnlab.viz import data as views
from rnnlab.viz import sentiment_task
from rnnlab.viz.models import ExplorerModels
from rnnlab.viz.server import BackgroundServer, create_app
from test_explorer_browser import CHROMIUM_ARGS, TIMEOUT_MS, _check_browser, api, expect, settle
from test_task_sentiment import SMALL, synthetic

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    snippets = synthetic(600, seed=5)
    data = SentimentDataset("synthetic", snippets[:500], snippets[500:])
    out = tmp_path_factory.mktemp("task-sentiment")
    settings = task.SentimentTaskSettings(**{**SMALL, "bidirectional": True, "pooling": "max"})
    task.run_sentiment(data, settings, seconds=20, out=out)
    return out


@pytest.fixture(scope="module")
def models(model_dir):
    m = ExplorerModels.for_tests()
    m.task_sentiment = clf.load_sentiment_model(model_dir)
    return m


def test_task_view_data_is_the_model_on_each_prefix(models):
    text = "the plot was boring but the acting brilliant"
    d = views.hidden_state(models, text, model="task")
    c = clf.classify_text(models.task_sentiment, text)
    assert d["words"] == c.words and d["model"] == "task"
    np.testing.assert_allclose(d["prediction"], c.prefix_p, atol=1e-5)
    assert d["units"] == 24 and len(d["h"]) == 8 and len(d["h"][0]) == 24  # BiGRU(12)
    # max pooling: the forward direction's features (the first 12) are running maxima, so
    # they never fall as words come; the backward direction re-reads each prefix from its end
    forward = np.array(d["h"])[:, :12]
    assert (np.diff(forward, axis=0) >= -1e-5).all()
    w = np.array(d["readout"])
    share = np.abs(np.array(d["h"]) * w).max(axis=0)
    assert d["top_units"] == list(np.argsort(-share, kind="stable")[:6])
    assert set(d["models"]) == {"explorer", "task"}
    numbers = [*d["prediction"], *d["readout"], *np.ravel(d["h"])]
    assert all(float(f"{x:.5g}") == x for x in numbers)  # 5 significant digits, as every view


def test_explorer_model_gets_laden_units_too(models):
    d = views.hidden_state(models, "the movie was great")
    assert d["model"] == "explorer" and len(d["top_units"]) == 2  # a quarter of 8 units
    assert len(d["readout"]) == d["units"]
    plain = dataclasses.replace(models, task_sentiment=None)
    assert set(views.hidden_state(plain, "good")["models"]) == {"explorer"}
    with pytest.raises(ValueError, match="expected model in"):
        views.hidden_state(plain, "good", model="task")
    with pytest.raises(ValueError, match="expected model in"):
        views.hidden_state(models, "good", model="other")


def test_laden_units_rank_by_largest_share():
    features = np.array([[0.1, -0.9, 0.2], [0.5, 0.0, -0.1]])  # (T, F)
    assert sentiment_task.laden_units(features, np.array([1.0, 0.5, -4.0]), k=2) == [2, 0]


def test_explore_refuses_a_model_that_is_not_sentiment(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"not a model")
    result = CliRunner().invoke(main, ["explore", "--sentiment", str(tmp_path), "--no-browser"])
    assert result.exit_code == 1 and "model.safetensors" in result.output


# -- in a real browser ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(models):
    with BackgroundServer(create_app(models)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(server):
    _check_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(TIMEOUT_MS)
        pg = context.new_page()
        errors = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.route(
            "**/*", lambda r: r.continue_() if r.request.url.startswith(server.url) else r.abort()
        )
        yield pg
        context.close()
        browser.close()
        assert not errors, errors


def test_browser_shows_the_task_models_running_sentiment(page, server):
    page.goto(f"{server.url}?view=hidden-state")
    section = page.locator('section[data-view="hidden-state"]')
    expect(section).to_have_attribute("data-ready", "true")
    picker = section.locator('[data-role="model"]')
    expect(picker).to_be_visible()  # two models: the picker shows
    picker.select_option("task")
    expect(section).to_have_attribute("data-model", "task")
    text = "a dull plot but brilliant and funny acting"
    section.locator('[data-role="text"]').fill(text)
    expect(section).to_have_attribute("data-words", "8")
    settle(section)
    expected = api(server, "hidden-state", {"text": text, "model": "task"})
    expect(section).to_have_attribute("data-step", "7")
    assert float(section.get_attribute("data-prediction")) == pytest.approx(
        expected["prediction"][-1], abs=1e-6
    )
    top = ",".join(str(u) for u in expected["top_units"])
    expect(section).to_have_attribute("data-top-units", top)
    assert section.locator(".laden-row").count() == len(expected["top_units"]) == 6
    assert section.locator(".hs-col").count() == 8
    section.locator('.word[data-i="1"]').click()  # back to "dull"
    expect(section).to_have_attribute("data-step", "1")
    assert float(section.get_attribute("data-prediction")) == pytest.approx(
        expected["prediction"][1], abs=1e-6
    )
    assert "most sentiment-laden units" in section.locator(".laden-list").inner_text()
    page.screenshot(path=str(_artifacts() / "hidden-state-task-model.png"), full_page=True)
    picker.select_option("explorer")
    expect(section).to_have_attribute("data-model", "explorer")
    expect(section.locator(".laden-row")).to_have_count(2)


def _artifacts():
    from test_explorer_browser import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
