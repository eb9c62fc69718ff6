"""Static exports of the explorer's views for slides and papers: PNG, SVG, GIF or HTML.

    rnnlab viz vanishing-gradients --out vanishing.svg --spectral-radius 1.5
    rnnlab viz bptt-flow --out bptt.gif --text "hello"

    >>> from rnnlab.viz.export import export
    >>> export("unroll", "unroll.png", ExplorerModels.for_tests(), {"text": "hello"})

The figure of a view is drawn with matplotlib from exactly the data the explorer shows
(`rnnlab.viz.data.compute`). A GIF animates it over the view's steps (time steps, sampled
characters, or the backward pass), one frame per step; an HTML file is one self-contained page
(the figure as inline SVG and the view's data as JSON, no external resources). Every file is
written atomically: a temp file next to the target, then os.replace.
"""

from __future__ import annotations

import html
import io as _io
import json
import math
import os
import re
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..io import atomic_write
from . import data as viz_data

FORMATS = ("png", "svg", "gif", "html")
MAX_FRAMES = 60
TITLES = {
    "unroll": "Unrolling an Elman network in time",
    "hidden-state": "Hidden-state dynamics of a sentiment GRU",
    "weight-sharing": "Parameter sharing: one matrix, a contribution from every step",
    "generation": "Character generation, one sample at a time",
    "vanishing-gradients": "Vanishing and exploding gradients",
    "bptt-flow": "Backpropagation through time, step by step",
}
_CMAP = "RdBu_r"


def _fmt(path: Path) -> str:
    ext = path.suffix.lower().lstrip(".")
    if ext not in FORMATS:
        raise ValueError(
            f"export: expected a file name ending in "
            f"{', '.join('.' + f for f in FORMATS)}, got {str(path)!r}"
        )
    return ext


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _vec(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _show(label: str) -> str:
    return {"\n": "\\n", " ": "␣", "\t": "\\t"}.get(label, label)


def _limit(a: np.ndarray) -> float:
    finite = np.abs(a[np.isfinite(a)])
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def _heatmap(ax, matrix: np.ndarray, vmax: float | None = None, upto: int | None = None, **kw):
    """imshow of (rows, time) with a symmetric colour scale; columns ≥ upto left blank."""
    m = np.array(matrix, dtype=float)
    if upto is not None:
        m[:, upto:] = np.nan
    lim = vmax if vmax is not None else _limit(np.asarray(matrix, dtype=float))
    im = ax.imshow(m, aspect="auto", cmap=_CMAP, vmin=-lim, vmax=lim, interpolation="nearest", **kw)
    rows = m.shape[0]
    step = 1 if rows <= 16 else (4 if rows <= 64 else 16)
    ax.set_yticks(range(0, rows, step), [f"h{i}" for i in range(0, rows, step)], fontsize=7)
    return im


# -- one drawing function per view: draw(fig, result, params, upto) -> subtitle or None ------------
def _draw_unroll(fig, r, params, upto):
    T = len(r["steps"])
    ax_h, ax_p = fig.subplots(2, 1, height_ratios=[3, 1.4])
    hs = np.array([s["h"] for s in r["steps"]], dtype=float).T  # (H, T)
    im = _heatmap(ax_h, hs, vmax=1.0, upto=upto)
    fig.colorbar(im, ax=ax_h, label="h_t (tanh units)", shrink=0.9)
    ax_h.set_ylabel(f"hidden unit (H = {r['hidden_size']})")
    ax_h.set_xticks(range(T), [_show(t) for t in r["tokens"]])
    ax_h.set_xlabel("input character x_t")
    norms = ", ".join(f"‖{m['name']}‖ = {m['norm']:.3g}" for m in r["matrices"])
    ax_h.set_title(
        f"h_t = tanh(W_xh x_t + W_hh h_(t−1) + b); the same W at every step. {norms}", fontsize=9
    )
    k = len(r["steps"][0]["top"])
    probs = np.full((k, T), np.nan)
    for t, step in enumerate(r["steps"][: upto if upto is not None else T]):
        for i, item in enumerate(step["top"]):
            probs[i, t] = item["p"]
            ax_p.text(
                t,
                i,
                f"{_show(item['char'])}\n{item['p']:.2f}",
                ha="center",
                va="center",
                fontsize=7,
            )
    ax_p.imshow(probs, aspect="auto", cmap="Greens", vmin=0, vmax=1, interpolation="nearest")
    ax_p.set_yticks(range(k), [f"#{i + 1}" for i in range(k)])
    ax_p.set_xticks(range(T), [_show(t) for t in r["tokens"]])
    ax_p.set_title("likeliest next characters, softmax(W_hy h_t + b_y)", fontsize=9)


def _draw_hidden_state(fig, r, params, upto):
    T = len(r["words"])
    ax_h, ax_p = fig.subplots(2, 1, height_ratios=[3, 1.5], sharex=True)
    hs = np.array(r["h"], dtype=float).T  # (H, T)
    im = _heatmap(ax_h, hs, vmax=1.0, upto=upto)
    fig.colorbar(im, ax=ax_h, label="h_t", shrink=0.9)
    ax_h.set_ylabel(f"hidden unit (H = {r['units']})")
    ax_h.set_title("GRU state after each word (grey words: out of vocabulary)", fontsize=9)
    n = T if upto is None else upto
    pred = _vec(r["prediction"])
    ax_p.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax_p.plot(range(n), pred[:n], marker="o", color="C2")
    ax_p.set_ylim(0, 1)
    ax_p.set_xlim(-0.5, T - 0.5)
    ax_p.set_ylabel(f"P({r['label_names'][1]})")
    ax_p.set_xticks(
        range(T), r["words"], rotation=45 if T > 8 else 0, ha="right" if T > 8 else "center"
    )
    for label, known in zip(ax_p.get_xticklabels(), r["known"], strict=True):
        if not known:
            label.set_color("grey")
    ax_p.set_title("running prediction: the output layer read after word t", fontsize=9)


def _draw_weight_sharing(fig, r, params, upto):
    mats = r["matrices"]
    T = len(mats[0]["step_norms"])
    n = T if upto is None else upto
    axes = fig.subplots(len(mats), 2, width_ratios=[3, 1.2], squeeze=False)
    inputs = [
        f"{_show(a)}→{_show(b)}" for a, b in zip(r["tokens"][:-1], r["tokens"][1:], strict=True)
    ]
    for row, m in enumerate(mats):
        ax, ax_m = axes[row]
        norms = _vec(m["step_norms"])
        ax.bar(range(n), norms[:n], color="C0")
        ax.set_xlim(-0.5, T - 0.5)
        ax.set_ylim(0, max(np.nanmax(norms) * 1.15, 1e-12))
        ax.set_ylabel(f"‖step t of ∂L/∂{m['name']}‖", fontsize=8)
        ax.set_xticks(range(T), inputs if T <= 24 else [""] * T, fontsize=7)
        ax.set_title(
            f"{m['name']} {tuple(m['shape'])}: ‖∂L/∂{m['name']}‖ = "
            f"{m['total_norm']:.4g}; ‖Σ_t steps − layer backward‖ = "
            f"{m['sum_check']:.1e}",
            fontsize=9,
        )
        block = (
            np.sum(np.array(m["preview_steps"][:n], dtype=float), axis=0)
            if n
            else np.zeros_like(np.array(m["preview_total"], dtype=float))
        )
        total = np.array(m["preview_total"], dtype=float)
        lim = _limit(total)
        ax_m.imshow(block, cmap=_CMAP, vmin=-lim, vmax=lim, interpolation="nearest")
        ax_m.set_xticks(range(len(m["preview_cols"])), m["preview_cols"], fontsize=6)
        ax_m.set_yticks(range(len(m["preview_rows"])), m["preview_rows"], fontsize=6)
        ax_m.set_title(f"Σ of steps 0..{n - 1}" if n < T else "∂L/∂W (block)", fontsize=8)
    return (
        f"L = Σ_t CE = {r['loss']:.4g}; shared parameters {r['params_shared']:,}, "
        f"untied over {T} steps: {r['params_untied']:,}"
    )


def _draw_generation(fig, r, params, upto):
    steps = r["steps"]
    T = len(steps)
    n = T if upto is None else upto
    ax_t, ax_h, ax_p = fig.subplots(3, 1, height_ratios=[1.1, 2.2, 1.4])
    ax_t.axis("off")
    text = r["prime"] + "".join(s["sampled"] for s in steps[:n])
    wrapped = "\n".join(textwrap.wrap(text.replace("\n", " ⏎ "), 100)[:5])
    ax_t.text(
        0, 1, wrapped, va="top", ha="left", family="monospace", fontsize=8, transform=ax_t.transAxes
    )
    ax_t.set_title(
        f"prime {r['prime']!r}, temperature {r['temperature']}, seed {r['seed']}", fontsize=9
    )
    hs = np.array([s["h"] for s in steps], dtype=float).T
    _heatmap(ax_h, hs, upto=n)
    ax_h.set_ylabel("hidden unit")
    ax_h.set_xlim(-0.5, T - 0.5)
    ax_h.set_title("hidden state while generating (first 32 units)", fontsize=9)
    p_sampled = [
        next((q["p"] for q in s["probs"] if q["char"] == s["sampled"]), np.nan) for s in steps
    ]
    ax_p.bar(range(n), p_sampled[:n], color="C1", label="p(sampled character)")
    ax_p.set_ylim(0, 1)
    ax_p.set_xlim(-0.5, T - 0.5)
    ax_p.set_xlabel("step")
    ax2 = ax_p.twinx()
    ax2.plot(range(n), _vec([s["h_norm"] for s in steps])[:n], color="C0", label="‖h‖")
    ax2.set_ylabel("‖h‖")
    ax_p.set_ylabel("p")
    ax_p.set_title("probability of the sampled character (bars), ‖h‖ (line)", fontsize=9)


def _draw_vanishing(fig, r, params, upto):
    T = r["length"]
    ax = fig.subplots()
    shown_from = 0 if upto is None else T - upto
    for i, s in enumerate(r["series"]):
        norms = _vec(s["norms"])
        norms[norms <= 0] = np.nan
        t = np.arange(T)
        ax.semilogy(
            t[shown_from:],
            norms[shown_from:],
            color=f"C{i}",
            label=f"{s['cell'].upper()} ({s['init']})",
        )
    ax.set_xlim(0, T - 1)
    finite = np.concatenate([_vec(s["norms"]) for s in r["series"]])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size:
        ax.set_ylim(finite.min() / 3, finite.max() * 3)
    ax.set_xlabel("time step t")
    ax.set_ylabel("‖∂L_T / ∂h_t‖")
    ax.grid(alpha=0.3, which="both")
    clip = (params or {}).get("clip")
    ax.set_title(
        f"gradient of a loss on the last step, flowing back in time "
        f"(spectral radius {r['spectral_radius']:g}"
        f"{'' if clip in (None, '') else f', clipped at {clip}'})",
        fontsize=10,
    )
    ax.legend()


def _draw_bptt(fig, r, params, upto):
    T = len(r["forward"])
    n_fwd = T if upto is None else min(upto, T)
    n_bwd = T if upto is None else max(0, upto - T)
    ax_f, ax_l, ax_b = fig.subplots(3, 1, height_ratios=[2, 1, 2])
    hs = np.array([s["h"] for s in r["forward"]], dtype=float).T
    _heatmap(ax_f, hs, vmax=1.0, upto=n_fwd)
    labels = [f"{_show(s['token'])}→{_show(s.get('target', ''))}" for s in r["forward"]]
    ax_f.set_xticks(range(T), labels)
    ax_f.set_ylabel(f"h (H = {r['hidden_size']})")
    for t in range(n_fwd):
        for j, v in enumerate(r["forward"][t]["h"]):
            ax_f.text(
                t,
                j,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(v) > 0.6 else "black",
            )
    ax_f.set_title("forward: states stored for the backward pass", fontsize=9)
    losses = _vec([s["loss"] for s in r["forward"]])
    ax_l.bar(range(n_fwd), losses[:n_fwd], color="C3")
    ax_l.set_xlim(-0.5, T - 0.5)
    ax_l.set_xticks(range(T), labels)
    ax_l.set_ylim(0, max(np.nanmax(losses), 1e-12) * 1.15)
    ax_l.set_ylabel("loss_t")
    back = sorted(r["backward"], key=lambda b: b["t"])
    shown = [b for b in r["backward"][:n_bwd]]
    ts = [b["t"] for b in shown]
    width = 0.4
    ax_b.bar(
        np.array(ts) - width / 2,
        [b["dW_xh_step_norm"] for b in shown],
        width,
        label="‖step t of ∂L/∂W_xh‖",
    )
    ax_b.bar(
        np.array(ts) + width / 2,
        [b["dW_hh_step_norm"] for b in shown],
        width,
        label="‖step t of ∂L/∂W_hh‖",
    )
    ax_b.plot(
        ts, [b["dW_xh_accum_norm"] for b in shown], "o-", color="C0", label="accumulated ∂L/∂W_xh"
    )
    ax_b.plot(
        ts, [b["dW_hh_accum_norm"] for b in shown], "s-", color="C1", label="accumulated ∂L/∂W_hh"
    )
    top = max(
        [b["dW_xh_accum_norm"] or 0 for b in back]
        + [b["dW_hh_accum_norm"] or 0 for b in back]
        + [1e-12]
    )
    ax_b.set_ylim(0, top * 1.2)
    ax_b.set_xlim(-0.5, T - 0.5)
    ax_b.set_xticks(range(T), labels)
    ax_b.set_xlabel("time step t (backward runs from right to left)")
    ax_b.legend(fontsize=7, loc="upper left")
    f = r["final"]
    ax_b.set_title(
        f"backward: ‖∂L/∂W_xh‖ = {f['dW_xh_norm']:.4g}, ‖∂L/∂W_hh‖ = "
        f"{f['dW_hh_norm']:.4g}, ‖∂L/∂W_hy‖ = {f['dW_hy_norm']:.4g}; max |Σ steps − "
        f"layer backward| = {f['check_vs_layer_backward']:.1e}",
        fontsize=9,
    )


_DRAW: dict[str, tuple[Callable, Callable[[dict], int], tuple[float, float]]] = {
    "unroll": (_draw_unroll, lambda r: len(r["steps"]), (10, 6)),
    "hidden-state": (_draw_hidden_state, lambda r: len(r["words"]), (10, 6)),
    "weight-sharing": (
        _draw_weight_sharing,
        lambda r: len(r["matrices"][0]["step_norms"]),
        (11, 8),
    ),
    "generation": (_draw_generation, lambda r: len(r["steps"]), (11, 7)),
    "vanishing-gradients": (_draw_vanishing, lambda r: r["length"], (9, 5.5)),
    "bptt-flow": (_draw_bptt, lambda r: 2 * len(r["forward"]), (10, 8)),
}
EXPORTABLE = tuple(_DRAW)  # the explorer's views with a static figure (not attention, forecast)


def figure(
    view: str, result: dict[str, Any], params: dict[str, Any] | None = None, upto: int | None = None
):
    """The matplotlib Figure of a view's data (`upto`: only the first `upto` steps)."""
    if view not in _DRAW:
        raise ValueError(f"export: unknown view {view!r:.40}; expected one of {list(EXPORTABLE)}")
    fig = _new_figure(*_DRAW[view][2])
    _draw(fig, view, result, params, upto)
    return fig


def _draw(fig, view: str, result, params, upto) -> None:
    subtitle = _DRAW[view][0](fig, result, params, upto)
    fig.suptitle(TITLES[view] + (f"\n{subtitle}" if subtitle else ""), fontsize=11)


def _svg_bytes(fig) -> bytes:
    buf = _io.BytesIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "rnnlab"})
    return buf.getvalue()


def _gif_bytes(view: str, result: dict[str, Any], params, fps: float) -> bytes:
    from matplotlib.animation import FuncAnimation, PillowWriter

    _, count, size = _DRAW[view]
    n = count(result)
    stride = max(1, math.ceil(n / MAX_FRAMES))
    frames = list(range(1, n + 1, stride))
    if frames[-1] != n:
        frames.append(n)
    fig = _new_figure(*size)

    def update(k):
        fig.clear()
        _draw(fig, view, result, params, k)
        return []

    anim = FuncAnimation(fig, update, frames=frames + [n] * 3, blit=False, repeat=False)
    with tempfile.TemporaryDirectory(prefix="rnnlab-gif-") as folder:
        tmp = Path(folder) / "out.gif"
        anim.save(tmp, writer=PillowWriter(fps=fps), dpi=80)
        return tmp.read_bytes()


def _html_page(view: str, result: dict[str, Any], svg: bytes) -> str:
    text = svg.decode("utf-8")
    text = re.sub(r"^<\?xml[^>]*\?>\s*", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>\s*", "", text, count=1)
    payload = json.dumps(result, ensure_ascii=False, allow_nan=False, indent=1)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(TITLES[view])
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rnnlab — {title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }}
figure {{ margin: 0; }} figure svg {{ width: 100%; height: auto; }}
pre {{ max-height: 24rem; overflow: auto; background: #f6f6f6; padding: 0.5rem; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>View <code>{html.escape(view)}</code>, computed by rnnlab's engine
(<code>rnnlab.viz.data.compute</code>).</p>
<figure data-view="{html.escape(view)}">
{text}
</figure>
<details><summary>The view's data (JSON)</summary>
<pre id="data-text"></pre>
</details>
<script type="application/json" id="view-data">{payload}</script>
<script>
document.getElementById("data-text").textContent =
  JSON.stringify(JSON.parse(document.getElementById("view-data").textContent), null, 1);
</script>
</body>
</html>
"""


def render(
    view: str,
    result: dict[str, Any],
    fmt: str,
    params: dict[str, Any] | None = None,
    *,
    dpi: int = 110,
    fps: float = 4.0,
) -> bytes:
    """The bytes of a view's figure in format `fmt` ("png", "svg", "gif" or "html")."""
    if fmt not in FORMATS:
        raise ValueError(f"export: expected format in {list(FORMATS)}, got {fmt!r:.20}")
    if view not in _DRAW:
        raise ValueError(f"export: unknown view {view!r:.40}; expected one of {list(EXPORTABLE)}")
    with np.errstate(all="ignore"):  # NaN cells of partial frames are expected
        if fmt == "gif":
            return _gif_bytes(view, result, params, fps)
        fig = figure(view, result, params)
        if fmt == "png":
            buf = _io.BytesIO()
            fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
            return buf.getvalue()
        svg = _svg_bytes(fig)
        return svg if fmt == "svg" else _html_page(view, result, svg).encode("utf-8")


def export(
    view: str,
    out_path: str | os.PathLike,
    models,
    params: dict[str, Any] | None = None,
    *,
    dpi: int = 110,
    fps: float = 4.0,
) -> Path:
    """Compute a view (`rnnlab.viz.data.compute(view, models, params)`) and write its figure
    to `out_path`, in the format its extension names (.png, .svg, .gif, .html), atomically.

    Raises ValueError for an unknown view or extension or a bad parameter (before anything is
    computed or written).
    """
    path = Path(out_path)
    fmt = _fmt(path)
    if view not in EXPORTABLE:
        raise ValueError(f"export: unknown view {view!r:.40}; expected one of {list(EXPORTABLE)}")
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not 20 <= dpi <= 1200:
        raise ValueError(f"export: expected dpi in [20, 1200], got {dpi!r}")
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0.1 <= fps <= 60:
        raise ValueError(f"export: expected fps in [0.1, 60], got {fps!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"export: the folder {str(path.parent)!r} does not exist")
    result = viz_data.compute(view, models, params or {})
    blob = render(view, result, fmt, params, dpi=dpi, fps=fps)
    atomic_write(path, blob)
    return path


# -- the `rnnlab viz` command ----------------------------------------------------------------------
_OPTION_PARAMS = (
    "text",
    "seed",
    "temperature",
    "steps",
    "cells",
    "init",
    "clip",
    "spectral_radius",
    "length",
    "units",
)


@click.command("viz")
@click.argument("view", type=click.Choice(EXPORTABLE))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file: .png, .svg, .gif (animated) or .html (self-contained).",
)
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A char model (rnnlab train) for the generation view.",
)
@click.option("--text", default=None, help="The view's text (the prime, for generation).")
@click.option("--seed", type=int, default=None, help="Sampling / initialisation seed.")
@click.option("--temperature", type=float, default=None, help="generation: in [0, 3].")
@click.option("--steps", type=int, default=None, help="generation: characters to sample.")
@click.option("--cells", default=None, help="vanishing-gradients: e.g. rnn,lstm,gru.")
@click.option("--init", default=None, help="vanishing-gradients: orthogonal or random.")
@click.option("--clip", type=float, default=None, help="vanishing-gradients: clip norm.")
@click.option(
    "--spectral-radius",
    "spectral_radius",
    type=float,
    default=None,
    help="vanishing-gradients: in [0.1, 3].",
)
@click.option("--length", type=int, default=None, help="vanishing-gradients: time steps.")
@click.option("--units", type=int, default=None, help="vanishing-gradients: hidden units.")
@click.option(
    "--dpi", type=click.IntRange(20, 1200), default=110, show_default=True, help="PNG resolution."
)
@click.option(
    "--fps",
    type=click.FloatRange(0.1, 60),
    default=4.0,
    show_default=True,
    help="GIF frames per second.",
)
def viz(view, out, model_path, dpi, fps, **options):
    """Write VIEW of the explorer as a figure (PNG, SVG, GIF or HTML) for slides and papers.

    VIEW is one of: unroll, hidden-state, weight-sharing, generation, vanishing-gradients,
    bptt-flow. Models are loaded from the explorer's cache (trained once, in under a minute,
    if missing); vanishing-gradients needs none.
    """
    from .models import ExplorerModels

    try:
        _fmt(out)  # a bad extension fails before any model is loaded
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    accepted = viz_data.parameters(view)
    params: dict[str, Any] = {}
    for key in _OPTION_PARAMS:
        value = options.get(key)
        if value is None:
            continue
        name = "prime" if key == "text" and view == "generation" else key
        if name not in accepted:
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(
                f"{flag} does not apply to view {view} (its parameters: "
                f"{', '.join(sorted(accepted)) or 'none'})"
            )
        params[name] = value.split(",") if key == "cells" else value
    if model_path is not None and view != "generation":
        raise click.UsageError("--model applies to the generation view only")
    if view == "vanishing-gradients":
        models = None  # fresh layers: no trained model needed
    else:
        models = ExplorerModels.load_or_train(
            model_path=model_path, log=lambda t: click.echo(t, err=True)
        )
    try:
        path = export(view, out, models, params, dpi=dpi, fps=fps)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    click.echo(f"wrote {path}")


__all__ = ["FORMATS", "export", "figure", "render", "viz"]
