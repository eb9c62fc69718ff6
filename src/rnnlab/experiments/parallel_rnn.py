"""`rnnlab experiment parallel-rnn`: LSTM, GRU, minGRU, minLSTM and LRU as character models of
Shakespeare, at equal parameter count and equal wall time (issue 17; docs/parallel-rnn.md).

Every model is the char-LM recipe of rnnlab.training.train_char_lm, Embedding(V, 64) → one
recurrent layer → Dense(V), trained by TBPTT (k1 = 64, B = 32, Adam 2e-3, clip 5) on the demo
split of `rnnlab.datasets.load_shakespeare()` (34 plays train, 4 validation). The recurrent
layer's units are chosen per family so that the WHOLE model's parameter count is nearest the
LSTM's at 256 units (multiples of 16, where the compiled kernels serve). `seconds` is the total
budget, split equally: each model trains seconds / 5, the validation probes (the first 8,000
validation characters, every `eval_every` updates) inside its budget; the final validation
loss reads the whole validation split, outside the budget. Equal tokens: the probe losses of
every model interpolated at the fewest characters any model trained on.

    DIR/results.json   {"task": "parallel-rnn", "metrics": {"lstm": {"val_loss": ..., "tokens":
                       ..., ...}, ...}, "baselines": {}, "config": {...}, "seconds": ...}
    DIR/report.md      the table and the verdicts in words
    DIR/loss-vs-time.png, DIR/loss-vs-tokens.png   the probe curves
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..cells import get_cell
from ..datasets import TextCorpus
from ..training.charlm import CharLMSettings, train_char_lm

MODELS = ("lstm", "gru", "mingru", "minlstm", "lru")
#: the model whose parameter count the others match: the demo's LSTM at 256 units
REFERENCE = ("lstm", 256)
PROBE_CHARS = 8_000


def model_params(cell: str, units: int, vocab_size: int, base: CharLMSettings) -> int:
    """Parameters of the whole char model: embedding (V, E), the recurrent layers' cells, and
    the head (V, H) + (V) — counted from the shapes, nothing built."""
    family = get_cell(cell)()
    sizes = [base.embedding] + [units] * (base.layers - 1)
    recurrent = sum(
        int(np.prod(shape)) for size in sizes for shape in family.param_shapes(size, units).values()
    )
    return vocab_size * base.embedding + recurrent + units * vocab_size + vocab_size


def matched_units(cell: str, target: int, vocab_size: int, base: CharLMSettings) -> int:
    """The units (a multiple of 16) whose whole model is nearest `target` parameters."""

    def count(k: int) -> int:
        return model_params(cell, 16 * k, vocab_size, base)

    lo, hi = 1, 512
    while lo < hi:  # the fewest 16-unit blocks reaching the target (counts grow with units)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < target else (lo, mid)
    return 16 * min((k for k in (lo - 1, lo) if k >= 1), key=lambda k: abs(count(k) - target))


def probe_at(history: list[dict[str, float]], key: str, value: float) -> float | None:
    """The probe validation loss at `key` = value, linear between probes (None before the
    first)."""
    points = [
        (h[key], h["val_loss"]) for h in history if math.isfinite(h.get("val_loss", math.nan))
    ]
    if not points or value < points[0][0]:
        return None
    xs, ys = zip(*points, strict=True)
    return float(np.interp(value, xs, ys))


def run(
    corpus: TextCorpus,
    seconds: float,
    out: str | Path,
    *,
    models: tuple[str, ...] = MODELS,
    base: CharLMSettings | None = None,
    eval_every: int = 50,
    final_chars: int | None = None,
    log: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Train every model for seconds / len(models), write the folder, return results.json's
    dict. `base` holds the shared settings (its cell and units are replaced per model)."""
    say = log if log is not None else (lambda line: None)
    if not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"parallel-rnn: expected seconds > 0, got {seconds!r}")
    bad = [m for m in models if m not in MODELS]
    if not models or bad:
        raise ValueError(f"parallel-rnn: expected models from {list(MODELS)}, got {list(models)}")
    base = CharLMSettings() if base is None else base
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from ..datasets import CharVocab

    vocab = CharVocab.from_text(
        "".join(d.text for d in corpus.train) + "".join(d.text for d in corpus.validation)
    )
    target = model_params(REFERENCE[0], REFERENCE[1], len(vocab), base)
    each = seconds / len(models)
    say(f"parallel-rnn: {len(models)} models × {each:.0f} s, ~{target:,} parameters each")
    started = time.perf_counter()
    metrics, histories = {}, {}
    for name in models:
        units = matched_units(name, target, len(vocab), base)
        settings = CharLMSettings(**{**base.to_config(), "cell": name, "units": units})
        result = train_char_lm(
            corpus, settings, seconds=each, vocab=vocab, eval_every=eval_every,
            probe_chars=PROBE_CHARS, final_chars=final_chars,
            log=lambda line, n=name: say(f"  {n}: {line}"),
        )  # fmt: skip
        prog = result.progress
        histories[name] = prog.history
        metrics[name] = {
            "val_loss": round(result.val_loss, 4),
            "tokens": prog.tokens,
            "steps": prog.steps,
            "train_seconds": round(prog.seconds, 1),
            "tokens_per_s": round(prog.tokens / max(prog.seconds, 1e-9), 1),
            "units": units,
            "params": result.model.count_params(),
        }
        say(f"{name}: val_loss {result.val_loss:.4f} after {prog.tokens:,} characters")
    common = min(m["tokens"] for m in metrics.values())
    for name, history in histories.items():
        value = probe_at(history, "tokens", common)
        metrics[name]["probe_val_loss_at_equal_tokens"] = None if value is None else round(value, 4)
    results = {
        "task": "parallel-rnn",
        "metrics": metrics,
        "baselines": {},
        "config": {
            "dataset": corpus.name,
            "vocab_size": len(vocab),
            "seconds_per_model": each,
            "budget": "seconds total, split equally between the models",
            "matched_to": f"{REFERENCE[0]} {REFERENCE[1]} units: {target:,} parameters",
            "equal_tokens": common,
            "probe_chars": PROBE_CHARS,
            "final_chars": final_chars or "the whole validation split",
            "settings": {k: v for k, v in base.to_config().items() if k not in ("cell", "units")},
        },
        "seconds": round(time.perf_counter() - started, 1),
        "examples": [],
    }
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    plot_curves(histories, out)
    (out / "report.md").write_text(report(results), encoding="utf-8")
    return results


def verdicts(metrics: dict[str, dict[str, Any]]) -> tuple[str, str | None]:
    """(the best validation loss at equal time, the best probe loss at equal tokens)."""
    by_time = min(metrics, key=lambda m: metrics[m]["val_loss"])
    probed = {m: v["probe_val_loss_at_equal_tokens"] for m, v in metrics.items()}
    known = {m: v for m, v in probed.items() if v is not None}
    return by_time, (min(known, key=known.get) if known else None)


def report(results: dict[str, Any]) -> str:
    m, cfg = results["metrics"], results["config"]
    by_time, by_tokens = verdicts(m)
    rows = [
        f"| {name} | {v['units']} | {v['params']:,} | {v['val_loss']:.4f} | {v['tokens']:,} | "
        f"{v['tokens_per_s']:,.0f} | "
        f"{_number(v['probe_val_loss_at_equal_tokens'])} |"
        for name, v in sorted(m.items(), key=lambda kv: kv[1]["val_loss"])
    ]
    return "\n".join([
        "# parallel-rnn: LSTM, GRU, minGRU, minLSTM, LRU on Shakespeare (char-LM)",
        "",
        f"Equal wall time ({cfg['seconds_per_model']:.0f} s of training each; {cfg['budget']}) and "
        f"equal parameter count ({cfg['matched_to']}); validation loss in nats per character "
        f"on {cfg['final_chars']}; the probe column is the loss on the first "
        f"{cfg['probe_chars']:,} validation characters interpolated at "
        f"{cfg['equal_tokens']:,} training characters (the fewest any model saw).",
        "",
        "| model | units | params | val loss (equal time) | chars trained | chars/s "
        "| probe loss at equal chars |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"At equal time the lowest validation loss is **{by_time}**'s; at equal characters "
        f"**{by_tokens or '—'}**'s.",
        "",
        "![loss against time](loss-vs-time.png) ![loss against characters](loss-vs-tokens.png)",
        "",
    ])  # fmt: skip


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def plot_curves(histories: dict[str, list[dict[str, float]]], out: Path) -> None:
    """loss-vs-time.png and loss-vs-tokens.png: each model's probe validation loss."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..viz.curves import save_figure

    for key, label, name in (("seconds", "training seconds", "loss-vs-time.png"),
                             ("tokens", "training characters", "loss-vs-tokens.png")):  # fmt: skip
        fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
        for model, history in histories.items():
            points = [(h[key], h["val_loss"]) for h in history]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, "-o", ms=2.5, label=model)
        ax.set_xlabel(label)
        ax.set_ylabel(f"validation loss, first {PROBE_CHARS:,} chars (nats/char)")
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_title(f"Shakespeare char-LM, equal parameters: loss vs {label}", fontsize=9)
        fig.tight_layout()
        save_figure(fig, out / name)
