"""The explorer in a real headless Chromium (Playwright), against a real uvicorn server.

Each view exposes its state in data-* attributes, so these tests check values, not pixels.
A screenshot of every view is written to tests/artifacts/ (gitignored) for a human to look at.

Skipped (with the reason) only when /usr/bin/chromium is absent and RNNLAB_REQUIRE_BROWSER is
not "1"; CI sets it, and then a missing browser fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from rnnlab.viz.models import ExplorerModels
from rnnlab.viz.server import BackgroundServer, create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWS = (
    "unroll",
    "hidden-state",
    "weight-sharing",
    "generation",
    "vanishing-gradients",
    "bptt-flow",
)
TIMEOUT_MS = 10_000


def _check_browser():
    if CHROMIUM.exists():
        return
    if os.environ.get("RNNLAB_REQUIRE_BROWSER") == "1":
        pytest.fail(
            f"RNNLAB_REQUIRE_BROWSER=1 but {CHROMIUM} is missing "
            "(install Debian's chromium package)"
        )
    pytest.skip(
        f"{CHROMIUM} is not installed (apt-get install chromium); "
        "set RNNLAB_REQUIRE_BROWSER=1 to make this a failure"
    )


@pytest.fixture(scope="module")
def server():
    with BackgroundServer(create_app(ExplorerModels.for_tests())) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser():
    _check_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    pg.errors = []  # console errors and uncaught exceptions, checked after each test
    pg.expected_errors = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(f"uncaught: {e}"))
    # the page must never reach anything but our server (it works offline)
    pg.foreign = []

    def route(r):
        if r.request.url.startswith(server.url):
            r.continue_()
        else:
            pg.foreign.append(r.request.url)
            r.abort()

    pg.route("**/*", route)
    yield pg
    errors = [e for e in pg.errors if not any(x in e for x in pg.expected_errors)]
    context.close()
    assert not errors, errors
    assert not pg.foreign, pg.foreign


def expect(locator):
    from playwright.sync_api import expect as pw_expect

    return pw_expect(locator)


def open_view(page, server, view):
    page.goto(f"{server.url}?view={view}")
    section = page.locator(f'section[data-view="{view}"]')
    expect(section).to_have_attribute("data-ready", "true")
    return section


def api(server, view, params):
    return httpx.post(f"{server.url}api/view/{view}", json=params).json()


def number(section, name):
    return float(section.get_attribute(f"data-{name}"))


def settle(section):
    """Wait until the view's animation (if any) has finished."""
    expect(section).not_to_have_attribute("data-animating", "true")


# -- every view -----------------------------------------------------------------------------


@pytest.mark.parametrize("view", VIEWS)
def test_each_view_opens_draws_and_is_screenshot(page, server, view):
    section = open_view(page, server, view)
    assert section.is_visible()
    for other in VIEWS:
        if other != view:
            assert page.locator(f'section[data-view="{other}"]').is_hidden()
    expect(page.locator(f'#nav a[data-nav="{view}"]')).to_have_attribute("aria-current", "page")
    expect(section.locator(".status")).not_to_have_attribute("data-state", "error")
    settle(section)
    if view == "unroll":
        expect(section).to_have_attribute("data-steps", "5")
        expect(section).to_have_attribute("data-step", "5")
        assert section.locator(".u-step").count() == 5
    elif view == "hidden-state":
        expected = api(server, view, {})
        expect(section).to_have_attribute("data-words", str(len(expected["words"])))
        assert number(section, "prediction") == pytest.approx(expected["prediction"][-1])
    elif view == "weight-sharing":
        expected = api(server, view, {})
        expect(section).to_have_attribute("data-params-shared", str(expected["params_shared"]))
        expect(section).to_have_attribute("data-params-untied", str(expected["params_untied"]))
    elif view == "generation":
        expect(section).to_have_attribute("data-temperature", "0.8")
        expect(section).to_have_attribute("data-seed", "0")
        expect(section).to_have_attribute("data-playing", "false")
        first = api(server, view, {"steps": 120})["steps"][0]
        expect(section).to_have_attribute("data-sampled", first["sampled"])
    elif view == "vanishing-gradients":
        expect(section).to_have_attribute("data-length", "50")
        expect(section).to_have_attribute("data-step", "0")
        assert section.locator("polyline.series").count() == 6  # 3 cells x 2 inits
    elif view == "bptt-flow":
        expect(section).to_have_attribute("data-phase", "forward")
        expect(section).to_have_attribute("data-step", "0")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"explorer-{view}.png"), full_page=True)


def test_nav_switches_views_with_history(page, server):
    open_view(page, server, "unroll")
    page.click('#nav a[data-nav="bptt-flow"]')
    expect(page.locator('section[data-view="bptt-flow"]')).to_have_attribute("data-ready", "true")
    assert page.url.endswith("?view=bptt-flow")
    assert page.locator('section[data-view="unroll"]').is_hidden()
    page.go_back()
    expect(page.locator('section[data-view="unroll"]')).to_be_visible()
    assert page.url.endswith("?view=unroll")


# -- interactions --------------------------------------------------------------------------------


def test_unroll_typing_changes_the_steps_and_hover_lights_every_copy(page, server):
    section = open_view(page, server, "unroll")
    settle(section)
    section.locator('[data-role="text"]').fill("abc")
    expect(section).to_have_attribute("data-steps", "3")
    expect(section).to_have_attribute("data-text", "abc")
    settle(section)
    expect(section).to_have_attribute("data-step", "3")
    section.locator('.u-step .chip[data-matrix="W_hh"]').nth(1).hover()
    expect(section).to_have_attribute("data-highlight", "W_hh")
    expect(section).to_have_attribute("data-lit-count", "3")
    assert section.locator('.u-step .chip.lit[data-matrix="W_hh"]').count() == 3
    assert section.locator('.u-step .chip.lit[data-matrix="W_xh"]').count() == 0
    section.locator('.legend-item[data-matrix="W_xh"]').hover()
    expect(section).to_have_attribute("data-highlight", "W_xh")
    page.mouse.move(5, 5)
    expect(section).to_have_attribute("data-highlight", "none")


def test_unroll_shows_the_servers_error_and_recovers(page, server):
    page.expected_errors.append("400")  # the browser logs the failed fetch
    section = open_view(page, server, "unroll")
    section.locator('[data-role="text"]').fill("héllo€")
    expect(section.locator(".status")).to_have_attribute("data-state", "error")
    assert "vocabulary" in section.get_attribute("data-error")
    section.locator('[data-role="text"]').fill("hello there")
    expect(section).to_have_attribute("data-steps", "11")
    expect(section.locator(".status")).to_have_attribute("data-state", "ok")


def test_hidden_state_follows_the_sentence_word_by_word(page, server):
    section = open_view(page, server, "hidden-state")
    settle(section)
    text = "the movie was great but the ending was bad"
    section.locator('[data-role="text"]').fill(text)
    expect(section).to_have_attribute("data-words", "9")
    settle(section)
    expect(section).to_have_attribute("data-step", "8")
    expected = api(server, "hidden-state", {"text": text})
    assert number(section, "prediction") == pytest.approx(expected["prediction"][-1])
    assert section.locator(".hs-col").count() == 9
    section.locator('.word[data-i="2"]').click()  # go back to "was"
    expect(section).to_have_attribute("data-step", "2")
    assert number(section, "prediction") == pytest.approx(expected["prediction"][2])
    assert section.locator(".hs-col.future").count() == 6


def test_weight_sharing_counts_follow_the_length(page, server):
    section = open_view(page, server, "weight-sharing")
    shared = int(section.get_attribute("data-params-shared"))
    section.locator('[data-role="text"]').fill("to be")
    expect(section).to_have_attribute("data-steps", "4")
    expect(section).to_have_attribute("data-params-untied", str(4 * shared))
    assert float(section.get_attribute("data-sum-check")) < 1e-4
    assert section.locator(".ws-band").count() == 3
    section.locator('.ws-band[data-matrix="W_hh"] .ws-step[data-t="2"]').hover()
    expect(section).to_have_attribute("data-selected-step", "2")


def test_generation_controls(page, server):
    section = open_view(page, server, "generation")
    slider = section.locator('[data-role="temperature"]')
    slider.focus()
    page.keyboard.press("ArrowRight")  # 0.8 -> 0.85
    expect(section).to_have_attribute("data-temperature", "0.85")
    section.locator('[data-role="seed"]').fill("7")
    expect(section).to_have_attribute("data-seed", "7")
    expected = api(server, "generation", {"temperature": 0.85, "seed": 7, "steps": 120})
    expect(section).to_have_attribute("data-step", "0")
    step = section.locator('[data-role="step"]')
    step.click()
    expect(section).to_have_attribute("data-step", "1")
    step.click()
    expect(section).to_have_attribute("data-step", "2")
    expect(section).to_have_attribute("data-generated", expected["text"][:3])
    section.locator('[data-role="play"]').click()
    expect(section).to_have_attribute("data-playing", "true")
    expect(section).not_to_have_attribute("data-step", "2")
    section.locator('[data-role="pause"]').click()
    expect(section).to_have_attribute("data-playing", "false")
    paused_at = section.get_attribute("data-step")
    page.wait_for_timeout(700)
    assert section.get_attribute("data-step") == paused_at
    assert int(paused_at) >= 3
    assert len(section.get_attribute("data-generated")) == int(paused_at) + 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer-generation-playing.png"), full_page=True)


def test_vanishing_gradients_spectral_radius_changes_the_series(page, server):
    section = open_view(page, server, "vanishing-gradients")
    settle(section)
    before = section.get_attribute("data-signature")
    slider = section.locator('[data-role="spectral-radius"]')
    slider.focus()
    page.keyboard.press("End")  # the maximum: 3.0
    expect(section).to_have_attribute("data-spectral-radius", "3")
    after = section.get_attribute("data-signature")
    assert after != before
    rnn_first = dict(kv.split(":") for kv in after.split(","))["rnn"]
    expected = api(server, "vanishing-gradients", {"spectral_radius": 3.0})
    assert float(rnn_first) == pytest.approx(expected["series"][0]["norms"][0])
    settle(section)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / "explorer-vanishing-gradients-exploding.png"), full_page=True
    )
    section.locator('[data-role="init-random"]').check()
    expect(section).to_have_attribute("data-init", "random")
    section.locator('[data-role="clip-on"]').check()
    expect(section).to_have_attribute("data-clip", "1")
    settle(section)
    assert section.locator(".readout tbody tr").count() == 6
    assert section.locator(".clip-line").count() == 1


def test_bptt_steps_forward_then_backward(page, server):
    section = open_view(page, server, "bptt-flow")
    expect(section).to_have_attribute("data-frames", "8")  # "hello": 4 steps, there and back
    step = section.locator('[data-role="step"]')
    for expected_step in ("1", "2", "3"):
        step.click()
        expect(section).to_have_attribute("data-step", expected_step)
        expect(section).to_have_attribute("data-phase", "forward")
    step.click()
    expect(section).to_have_attribute("data-phase", "backward")
    expect(section).to_have_attribute("data-step", "3")
    data = api(server, "bptt-flow", {"text": "hello"})
    assert number(section, "accum-xh") == pytest.approx(data["backward"][0]["dW_xh_accum_norm"])
    step.click()
    step.click()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "explorer-bptt-flow-backward.png"), full_page=True)
    step.click()
    expect(section).to_have_attribute("data-step", "0")
    expect(section).to_have_attribute("data-complete", "true")
    assert number(section, "accum-hh") == pytest.approx(data["final"]["dW_hh_norm"], rel=1e-4)
    assert "max |diff|" in section.locator(".final").inner_text()
    section.locator('[data-role="back"]').click()
    expect(section).to_have_attribute("data-complete", "false")


def test_api_errors_reach_the_page_as_json(page, server):
    open_view(page, server, "unroll")
    result = page.evaluate("""async () => {
        const r = await fetch('/api/view/unroll', {method: 'POST',
            headers: {'Content-Type': 'application/json'}, body: '{"text": '});
        return [r.status, await r.json()];
    }""")
    page.expected_errors.append("400")
    assert result[0] == 400 and "malformed JSON" in result[1]["error"]
    assert json.loads(json.dumps(result[1]))  # plain JSON
