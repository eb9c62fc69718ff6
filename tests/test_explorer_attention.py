"""The explorer's attention view (rnnlab.viz.attention, static/view-attention.js): its data
equal the library's decoding of the same model directory, for a g2p and a translate model;
its errors; and the page in a real headless Chromium (state read from data-* attributes).

The two models are tiny and untrained (seeded): what is tested is that the page shows exactly
what `decode` answers, not that the answers are good.
"""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

import test_explorer_browser as browser_tests
from rnnlab.datasets import tatoeba
from rnnlab.seq2seq import Vocabulary
from rnnlab.tasks.seq2seq_train import build_model, decode, save_model_dir
from rnnlab.viz.data import compute
from rnnlab.viz.models import ExplorerModels
from rnnlab.viz.server import BackgroundServer, create_app

LETTERS = list("abcdefghijklmnopqrstuvwxyz'")
PHONEMES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW".split()
ENGLISH = "I have to go to sleep . you are my friend ? the cat".split()
FRENCH = "je dois aller dormir . tu es mon ami ? le chat".split()


def _save(folder, task, src_tokens, tgt_tokens, attention="general", seed=0):
    from rnnlab.tasks.g2p import g2p_settings

    settings = g2p_settings(attention=attention, seed=seed, units=16, embed_dim=8)
    sv, tv = Vocabulary(src_tokens), Vocabulary(tgt_tokens)
    model = build_model(settings, len(sv), len(tv))
    for value in model.params.values():  # sharper, seed-fixed weights: peaked attention
        value *= 3.0
    folder.mkdir()
    save_model_dir(folder, task, model, sv, tv)
    return model, sv, tv


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """runs/g2p, runs/fra (translate) and runs/plain (g2p without attention)."""
    root = tmp_path_factory.mktemp("runs")
    nets = {
        "g2p": _save(root / "g2p", "g2p", LETTERS, PHONEMES),
        "fra": _save(root / "fra", "translate", ENGLISH, FRENCH, attention="bahdanau", seed=1),
        "plain": _save(root / "plain", "g2p", LETTERS, PHONEMES, attention="none", seed=2),
    }
    (root / "other").mkdir()
    (root / "other" / "model.json").write_text(json.dumps({"task": "sentiment"}))
    (root / "other" / "model.safetensors").write_bytes(b"")
    return root, nets


@pytest.fixture
def models(zoo):
    m = ExplorerModels.for_tests()
    m.seq2seq_dirs = [zoo[0]]
    return m


def test_view_lists_the_seq2seq_models_only(models, zoo):
    data = compute("attention", models, {})
    root = zoo[0].as_posix()
    assert data["models"] == [
        {"name": f"{root}/fra", "task": "translate"},
        {"name": f"{root}/g2p", "task": "g2p"},
        {"name": f"{root}/plain", "task": "g2p"},
    ]
    assert data["model"] == f"{root}/fra" and data["text"] == "I have to go to sleep."


@pytest.mark.parametrize("name", ["g2p", "fra"])
def test_view_equals_the_librarys_decoding(models, zoo, name):
    root, nets = zoo
    model, sv, tv = nets[name]
    text = "Sleep" if name == "g2p" else "you are my cat ?"
    data = compute(
        "attention", models, {"model": f"{root.as_posix()}/{name}", "text": text, "beam": 3}
    )
    tokens = list("sleep") if name == "g2p" else tatoeba.tokenize(text)
    assert data["source"] == [*tokens, "</s>"] and data["unknown"] == []
    for key, width in (("greedy", 1), ("beam", 3)):
        (want,) = decode(model, sv, tv, [tokens], beam_width=width, return_attention=True)
        side = data[key]
        assert side["tokens"] == want.tokens
        weights = np.array(side["attention"])
        assert weights.shape == want.attention.shape == (len(side["rows"]), len(tokens) + 1)
        np.testing.assert_allclose(weights, want.attention, rtol=1e-3, atol=1e-6)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=2e-3)
        assert side["rows"][: len(want.tokens)] == want.tokens
        assert side["score"] == pytest.approx(want.score, rel=1e-4)
    assert data["agree"] == (data["greedy"]["tokens"] == data["beam"]["tokens"])
    assert data["attention_type"] == ("general" if name == "g2p" else "bahdanau")


def test_view_unknown_tokens_and_no_attention(models, zoo):
    root = zoo[0].as_posix()
    data = compute("attention", models, {"model": f"{root}/fra", "text": "the dog ?"})
    assert data["unknown"] == ["dog"] and data["source"] == ["the", "<oov>", "?", "</s>"]
    plain = compute("attention", models, {"model": f"{root}/plain", "text": "cat"})
    assert plain["has_attention"] is False and plain["greedy"]["attention"] == []


def test_view_errors(models, zoo):
    root = zoo[0].as_posix()
    for params, message in (
        ({"model": "nope"}, "unknown model 'nope'"),
        ({"model": f"{root}/other"}, "unknown model"),
        ({"model": f"{root}/g2p", "text": "two words"}, "reads one word"),
        ({"text": "x" * 201}, "at most 200 characters"),
        ({"beam": 0}, r"beam to be an int in \[1, 10\]"),
        ({"beam": 11}, "beam"),
        ({"beam": True}, "beam"),
        ({"text": 3}, "text to be a string"),
        ({"model": f"{root}/fra", "text": "?" * 61}, "at most 60 tokens"),
    ):
        with pytest.raises(ValueError, match=message):
            compute("attention", models, params)


def test_view_without_models_says_how_to_make_one(tmp_path):
    m = ExplorerModels.for_tests()
    m.seq2seq_dirs = [tmp_path]
    data = compute("attention", m, {})
    assert data["models"] == [] and "rnnlab task g2p" in data["hint"]
    with pytest.raises(ValueError, match="no seq2seq models are available"):
        compute("attention", m, {"model": "x"})


# -- in the browser ------------------------------------------------------------------------------
# Chromium as test_explorer_browser launches it (skipped without it, unless CI requires it)
browser = browser_tests.browser
page = browser_tests.page  # console errors and foreign requests fail the test
expect = browser_tests.expect


@pytest.fixture(scope="module")
def server(zoo):
    m = ExplorerModels.for_tests()
    m.seq2seq_dirs = [zoo[0]]
    with BackgroundServer(create_app(m)) as srv:
        yield srv


def test_page_shows_greedy_and_beam_heatmaps_and_follows_the_controls(page, server, zoo):
    root = zoo[0].as_posix()
    page.goto(f"{server.url}?view=attention")
    section = page.locator('section[data-view="attention"]')
    expect(section).to_have_attribute("data-ready", "true")
    expect(section).to_have_attribute("data-task", "translate")
    expect(section).to_have_attribute("data-models", "3")
    # switch to the g2p model and type a word
    section.locator('[data-role="model"]').select_option(f"{root}/g2p")
    expect(section).to_have_attribute("data-task", "g2p")
    section.locator('[data-role="text"]').fill("phone")
    expect(section).to_have_attribute("data-text", "phone")
    want = httpx.post(
        f"{server.url}api/view/attention", json={"model": f"{root}/g2p", "text": "phone"}
    ).json()
    expect(section).to_have_attribute("data-greedy", want["greedy"]["text"])
    expect(section).to_have_attribute("data-beam", want["beam"]["text"])
    expect(section).to_have_attribute("data-cols", "6")
    for search in ("greedy", "beam"):
        table = section.locator(f'[data-role="heatmap-{search}"]')
        cells = table.locator("td.att-cell")
        rows = len(want[search]["attention"])
        assert cells.count() == rows * 6
        # every drawn weight is the server's, row by row
        got = [float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.weight)")]
        np.testing.assert_allclose(np.reshape(got, (rows, 6)), want[search]["attention"])
        assert table.locator("thead th").all_inner_texts()[1:] == ["p", "h", "o", "n", "e", "</s>"]
    # the beam width control
    section.locator('[data-role="beam"]').fill("2")
    expect(section).to_have_attribute("data-beam-width", "2")
    browser_tests.ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(browser_tests.ARTIFACTS / "explorer-attention.png"), full_page=True)


def test_page_reports_errors_and_recovers(page, server, zoo):
    page.expected_errors.append("400")
    root = zoo[0].as_posix()
    page.goto(f"{server.url}?view=attention")
    section = page.locator('section[data-view="attention"]')
    expect(section).to_have_attribute("data-ready", "true")
    section.locator('[data-role="model"]').select_option(f"{root}/g2p")
    expect(section).to_have_attribute("data-task", "g2p")
    section.locator('[data-role="text"]').fill("two words")
    expect(section.locator(".status")).to_have_attribute("data-state", "error")
    assert "one word" in section.get_attribute("data-error")
    section.locator('[data-role="text"]').fill("word")
    expect(section).to_have_attribute("data-text", "word")
    expect(section.locator(".status")).to_have_attribute("data-state", "ok")
    # a model without attention: outputs, no heatmaps
    section.locator('[data-role="model"]').select_option(f"{root}/plain")
    expect(section).to_have_attribute("data-model", f"{root}/plain")
    assert section.locator("td.att-cell").count() == 0
    expect(section.locator('[data-role="panel-beam"]')).to_contain_text("no attention")


def test_view_finds_runs_and_results_under_the_working_folder(tmp_path, monkeypatch, zoo):
    """Without models.seq2seq_dirs the view looks in ./runs and ./results, two levels deep."""
    import shutil

    shutil.copytree(zoo[0] / "g2p", tmp_path / "runs" / "g2p")
    shutil.copytree(zoo[0] / "fra", tmp_path / "results" / "nested" / "fra")
    monkeypatch.chdir(tmp_path)
    data = compute("attention", ExplorerModels.for_tests(), {"model": "runs/g2p", "text": "cat"})
    assert [m["name"] for m in data["models"]] == ["results/nested/fra", "runs/g2p"]
    assert data["greedy"]["attention"] and data["source"] == ["c", "a", "t", "</s>"]


def test_explore_seq2seq_option_gives_the_view_its_folders(tmp_path, monkeypatch, zoo):
    from click.testing import CliRunner

    from rnnlab.cli import main
    from rnnlab.viz import server as viz_server

    made = ExplorerModels.for_tests()
    monkeypatch.setattr(ExplorerModels, "load_or_train", classmethod(lambda cls, **kw: made))
    served = []
    monkeypatch.setattr(viz_server, "serve", lambda app, sock, **kw: served.append(kw["view"]))
    args = ["explore", "--no-browser", "--port", "0", "--view", "attention"]
    res = CliRunner().invoke(main, [*args, "--seq2seq", str(zoo[0] / "g2p")])
    assert res.exit_code == 0, res.output
    assert served == ["attention"] and made.seq2seq_dirs == [zoo[0] / "g2p"]
    data = compute("attention", made, {})
    assert [m["name"] for m in data["models"]] == [(zoo[0] / "g2p").as_posix()]
    res = CliRunner().invoke(main, [*args, "--seq2seq", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "does not exist" in res.output
