"""Static exports (rnnlab.viz.export): valid PNG/SVG/GIF/HTML files, atomic, clear errors."""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from PIL import Image

from rnnlab.viz import data, export
from rnnlab.viz.models import ExplorerModels

# small parameters: a GIF has one frame per step
SMALL = {
    "unroll": {"text": "hey"},
    "hidden-state": {"text": "a good fun movie"},
    "weight-sharing": {"text": "abca"},
    "generation": {"prime": "Hi", "steps": 4},
    "vanishing-gradients": {"length": 6, "units": 4},
    "bptt-flow": {"text": "hey"},
}
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def models():
    return ExplorerModels.for_tests()


def no_external_resources(text: str) -> None:
    """No src/href to anything but a fragment or inline data; URLs only as XML namespace
    names (and the SVG DOCTYPE's identifier, which nothing fetches)."""
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', text):
        assert attr.startswith(("#", "data:image/png;base64,")), attr[:40]
    without_ns = re.sub(r"<!DOCTYPE[^>]*>", "", text)
    without_ns = re.sub(r'xmlns(:\w+)?="[^"]*"', "", without_ns)
    without_ns = re.sub(r'rdf:resource="[^"]*"', "", without_ns)
    assert "http://" not in without_ns and "https://" not in without_ns
    assert "url(http" not in text and "@import" not in text


@pytest.mark.parametrize("view", export.EXPORTABLE)
def test_png_and_svg(tmp_path, models, view):
    png = export.export(view, tmp_path / "fig.png", models, SMALL[view])
    blob = png.read_bytes()
    assert blob[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(blob)) as im:
        assert im.size[0] > 400 and im.size[1] > 300
    svg = export.export(view, tmp_path / "fig.svg", models, SMALL[view])
    root = ET.parse(svg).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert len(list(root.iter(f"{SVG_NS}path"))) > 10
    no_external_resources(svg.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "fig.svg"]  # no temps


@pytest.mark.parametrize("view", export.EXPORTABLE)
def test_gif_is_animated_over_the_steps(tmp_path, models, view):
    path = export.export(view, tmp_path / "anim.gif", models, SMALL[view], fps=10)
    blob = path.read_bytes()
    assert blob[:6] == b"GIF89a"
    with Image.open(io.BytesIO(blob)) as im:
        assert im.is_animated and im.n_frames >= 3


@pytest.mark.parametrize("view", export.EXPORTABLE)
def test_html_is_self_contained(tmp_path, models, view):
    path = export.export(view, tmp_path / "page.html", models, SMALL[view])
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and text.rstrip().endswith("</html>")
    assert text.count("<svg") == 1 and "<?xml" not in text
    svg = text[text.index("<svg") : text.index("</svg>") + len("</svg>")]
    ET.fromstring(svg)  # the inline figure is well-formed SVG
    no_external_resources(text)
    payload = re.search(
        r'<script type="application/json" id="view-data">(.*?)</script>', text, re.S
    ).group(1)
    assert "</" not in payload
    assert json.loads(payload) == data.compute(view, models, SMALL[view])


def test_errors_are_clear_and_write_nothing(tmp_path, models):
    with pytest.raises(ValueError, match=r"expected a file name ending in \.png, \.svg"):
        export.export("unroll", tmp_path / "fig.jpg", models)
    with pytest.raises(ValueError, match="unknown view 'nope'"):
        export.export("nope", tmp_path / "fig.png", models)
    with pytest.raises(ValueError, match="expected text of 1 to 64 characters"):
        export.export("unroll", tmp_path / "fig.png", models, {"text": ""})
    with pytest.raises(ValueError, match="unknown parameter"):
        export.export("unroll", tmp_path / "fig.png", models, {"prime": "a"})
    with pytest.raises(ValueError, match="dpi"):
        export.export("unroll", tmp_path / "fig.png", models, dpi=5)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        export.export("unroll", tmp_path / "missing" / "fig.png", models)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_render_keeps_the_old_file(tmp_path, models, monkeypatch):
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(export, "render", broken)
    with pytest.raises(RuntimeError, match="boom"):
        export.export("unroll", target, models)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


def test_render_and_figure(models):
    result = data.unroll(models, text="ab")
    assert export.render("unroll", result, "svg").startswith(b"<?xml")
    with pytest.raises(ValueError, match="expected format"):
        export.render("unroll", result, "bmp")
    fig = export.figure("unroll", result, upto=1)
    assert fig.get_axes()


# -- the `rnnlab viz` command --------------------------------------------------------------------
@pytest.fixture
def cli_models(models, monkeypatch):
    calls = []

    def fake_load(model_path=None, log=None, **kw):
        calls.append(model_path)
        return models

    monkeypatch.setattr(ExplorerModels, "load_or_train", staticmethod(fake_load))
    return calls


def test_viz_command(tmp_path, cli_models):
    runner = CliRunner()
    out = tmp_path / "bptt.svg"
    result = runner.invoke(export.viz, ["bptt-flow", "--out", str(out), "--text", "hey"])
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    ET.parse(out)
    result = runner.invoke(
        export.viz,
        [
            "generation",
            "--out",
            str(tmp_path / "g.png"),
            "--text",
            "Hi",
            "--seed",
            "3",
            "--temperature",
            "0.5",
            "--steps",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert cli_models == [None, None]


def test_viz_vanishing_gradients_needs_no_models(tmp_path, cli_models):
    result = CliRunner().invoke(
        export.viz,
        [
            "vanishing-gradients",
            "--out",
            str(tmp_path / "v.gif"),
            "--cells",
            "rnn,lstm",
            "--init",
            "random",
            "--clip",
            "2",
            "--spectral-radius",
            "1.5",
            "--length",
            "6",
            "--units",
            "4",
            "--fps",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.gif").read_bytes()[:6] == b"GIF89a"
    assert cli_models == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["unroll", "--out", "x.png", "--temperature", "1"], "--temperature does not apply"),
        (["unroll", "--out", "x.jpg"], "expected a file name ending in"),
        (["unroll", "--out", "x.png", "--text", ""], "expected text of 1 to 64"),
        (["unroll", "--out", "x.png", "--model", "{model}"], "--model applies to the generation"),
        (["nope", "--out", "x.png"], "Invalid value"),
    ],
)
def test_viz_command_errors(tmp_path, cli_models, args, message):
    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    args = [a.replace("x.", str(tmp_path / "x.")).replace("{model}", str(model)) for a in args]
    result = CliRunner().invoke(export.viz, args)
    assert result.exit_code == 2
    assert message in result.output
    assert not any(p.name.startswith("x") for p in tmp_path.iterdir())
