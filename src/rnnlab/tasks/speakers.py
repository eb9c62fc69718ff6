"""`rnnlab task speakers`: which of 9 speakers uttered /ae/, from LPC cepstrum frames.

Data: `rnnlab.datasets.japanese_vowels` (UCI Japanese Vowels, 270 train / 370 test, series of
7-29 frames × 12 coefficients). Each coefficient is standardised with the training set's mean
and standard deviation; 10 % of the training utterances (stratified: 3 per speaker, seeded)
are the validation set of early stopping.

Model: frames (B, T, 12), zero-padded → Masking(0) → a recurrent layer (H) of any registered
family (--cell, LSTM by default) or Bidirectional of it → the state after the last real frame
(B, H) → Dropout → Dense(9, softmax), trained with sparse
categorical cross-entropy and Adam (tasks/classification.py: early stopping on validation
accuracy, ties broken by validation loss). A standardised real frame is never all zeros (checked),
so the mask is exactly the padding.

Baselines in the same run: majority class (of the training set) and 1-nearest-neighbour on
each utterance's mean and standard deviation of its frames (a sequence summary with no
order). Published marks on this split are in docs/tasks.md.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import losses, optimizers
from .._validation import check_choice, check_positive_float, check_positive_int, check_rate
from ..datasets.japanese_vowels import JapaneseVowels
from ..layers import Bidirectional, Dense, Dropout, Masking, cells_by_units, layer_for_cell
from ..model import Sequential
from .classification import (
    balance_line,
    class_balance,
    class_probabilities,
    classification_metrics,
    fit_early_stopping,
    summary_lines,
)
from .run import Budget, ProgressLine, markdown_table, prepare_out, write_report, write_results

TASK = "speakers"
MODEL_NAME = "model.safetensors"
CELLS = tuple(cells_by_units())  # every family a layer can be made of from `units` alone
#: test accuracy on this split, as published (docs/tasks.md has the sources)
PUBLISHED = {
    "passing-through regions (Kudo et al. 1999)": 94.1,
    "5-state continuous HMM (Kudo et al. 1999)": 96.2,
}


@dataclass
class SpeakerTaskSettings:
    """The model and training settings of a `rnnlab task speakers` run."""

    cell: str = "lstm"
    bidirectional: bool = False
    units: int = 64
    dropout: float = 0.2
    batch_size: int = 16
    learning_rate: float = 3e-3
    clipnorm: float = 5.0
    patience: int = 15
    max_epochs: int = 300
    validation_per_class: int = 3
    seed: int = 0

    def validate(self) -> None:
        who = "SpeakerTaskSettings"
        check_choice(self.cell, who, "cell", CELLS)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(
                f"{who}: expected bidirectional True or False, got {self.bidirectional!r}"
            )
        for name in ("units", "batch_size", "patience", "max_epochs", "validation_per_class"):
            check_positive_int(getattr(self, name), who, name)
        for name in ("learning_rate", "clipnorm"):
            check_positive_float(getattr(self, name), who, name)
        check_rate(self.dropout, who, "dropout")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"{who}: expected seed to be an int, got {self.seed!r}")


def build_model(n_features: int, n_classes: int, s: SpeakerTaskSettings) -> Sequential:
    """The compiled classifier of the module docstring."""
    s.validate()
    rnn_type = layer_for_cell(s.cell)
    rnn = rnn_type(s.units, name=s.cell, seed=s.seed + 1)
    layers = [
        Masking(0.0, name="masking"),
        Bidirectional(rnn, name="bidirectional", seed=s.seed + 1) if s.bidirectional else rnn,
    ]
    if s.dropout:
        layers.append(Dropout(s.dropout, name="dropout", seed=s.seed + 3))
    layers.append(Dense(n_classes, activation="softmax", name="output", seed=s.seed + 2))
    model = Sequential(layers, name="speakers", seed=s.seed)
    model.build((None, n_features))
    model.compile(
        optimizer=optimizers.Adam(learning_rate=s.learning_rate, global_clipnorm=s.clipnorm),
        loss=losses.SparseCategoricalCrossentropy(),
    )
    return model


def pad_frames(series, idx) -> np.ndarray:
    """(len(idx), T, D) float32 frames, right-padded with zero frames to the longest."""
    T = max(len(series[i]) for i in idx)
    x = np.zeros((len(idx), T, series[idx[0]].shape[1]), dtype=np.float32)
    for row, i in enumerate(idx):
        x[row, : len(series[i])] = series[i]
    return x


def standardise(train: list[np.ndarray], *others: list[np.ndarray]):
    """(mean, std, standardised train, standardised others...) with per-coefficient statistics
    of the training frames; refuses a real frame that would read as padding (all zeros)."""
    frames = np.concatenate(train)  # (ΣT, D)
    mean, std = frames.mean(axis=0), np.maximum(frames.std(axis=0), 1e-8)
    out = []
    for group in (train, *others):
        scaled = [(s - mean) / std for s in group]
        if any((~s.any(axis=1)).any() for s in scaled):
            raise ValueError("standardise: a real frame is all zeros and would read as padding")
        out.append(scaled)
    return mean, std, *out


def stratified_holdout(labels: np.ndarray, per_class: int, seed: int):
    """(keep, held) indices: `per_class` seeded picks of every class held out."""
    rng = np.random.default_rng(seed + 104729)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) <= per_class:
            raise ValueError(
                f"stratified_holdout: class {c} has {len(members)} items, need more than "
                f"{per_class} to hold {per_class} out"
            )
        held.extend(rng.choice(members, size=per_class, replace=False))
    held = np.sort(np.array(held, dtype=np.int64))
    return np.setdiff1d(np.arange(len(labels)), held), held


def summary_1nn(train: list[np.ndarray], y_train: np.ndarray, test: list[np.ndarray]) -> np.ndarray:
    """1-nearest-neighbour labels on [mean, std] of each series' frames (Euclidean)."""

    def summary(group):
        return np.array([np.concatenate([s.mean(axis=0), s.std(axis=0)]) for s in group])

    a, b = summary(train), summary(test)  # (N, 2D), (M, 2D)
    d = (b**2).sum(1)[:, None] - 2 * b @ a.T + (a**2).sum(1)[None, :]  # (M, N)
    return y_train[d.argmin(axis=1)]


def run_speakers(
    data: JapaneseVowels,
    settings: SpeakerTaskSettings | None = None,
    *,
    seconds: float = 300,
    out: str | Path | None = None,
    progress: ProgressLine | None = None,
) -> dict[str, Any]:
    """Train and evaluate (module docstring) within `seconds`; returns the results record and,
    given `out`, writes out/results.json, out/report.md and out/model.safetensors."""
    s = SpeakerTaskSettings() if settings is None else settings
    s.validate()
    if not isinstance(data, JapaneseVowels):
        raise TypeError(f"run_speakers: expected JapaneseVowels data, got {type(data).__name__}")
    started = time.perf_counter()
    budget = Budget(seconds)
    if progress is not None:
        progress.budget = budget
    y_all, y_test = data.train.labels, data.test.labels
    keep, held = stratified_holdout(y_all, s.validation_per_class, s.seed)
    mean, std, x_all, x_test = standardise(data.train.series, data.test.series)
    x_train, x_val = [x_all[i] for i in keep], [x_all[i] for i in held]
    n_classes = len(data.train.classes)
    model = build_model(data.train.dimensions, n_classes, s)
    fit = fit_early_stopping(
        model,
        x_train,
        y_all[keep],
        x_val,
        y_all[held],
        pad=pad_frames,
        target=lambda labels: labels,
        budget=budget,
        batch_size=s.batch_size,
        patience=s.patience,
        max_epochs=s.max_epochs,
        seed=s.seed,
        progress=progress,
    )
    if progress is not None:
        progress.close()
    p = class_probabilities(model, x_test, pad_frames)  # (N_test, 9)
    metrics = classification_metrics(y_test, p.argmax(axis=1), n_classes)
    label = int(np.bincount(y_all[keep]).argmax())
    baselines = {
        "majority": classification_metrics(y_test, np.full(len(y_test), label), n_classes),
        "summary_1nn": classification_metrics(
            y_test, summary_1nn(x_train, y_all[keep], x_test), n_classes
        ),
    }
    names = [f"speaker {c}" for c in data.train.classes]
    config = {
        **asdict(s),
        "dataset": "japanese-vowels",
        "train": len(keep),
        "validation": len(held),
        "test": len(y_test),
        "class_balance": {
            "train": class_balance(y_all[keep], names),
            "test": class_balance(y_test, names),
        },
        "fit": {
            "epochs": fit.epochs,
            "best_epoch": fit.best_epoch,
            "stopped": fit.stopped,
            "val_accuracy": fit.best_accuracy,
        },
        "parameters": model.count_params(),
    }
    wrong = np.flatnonzero(p.argmax(axis=1) != y_test)[:10]
    examples = [
        {
            "test_index": int(i),
            "speaker": data.test.classes[y_test[i]],
            "predicted": data.test.classes[int(p[i].argmax())],
            "p": round(float(p[i].max()), 4),
            "frames": len(x_test[i]),
        }
        for i in wrong
    ]
    record = {
        "task": TASK,
        "metrics": metrics,
        "baselines": baselines,
        "config": config,
        "seconds": time.perf_counter() - started,
        "examples": examples,
    }
    if out is not None:
        model.optimizer = model.loss = None
        model.metadata = {
            "task": TASK,
            "classes": list(data.train.classes),
            "mean": mean.tolist(),
            "std": std.tolist(),
            "settings": asdict(s),
            "test_accuracy": round(metrics["accuracy"], 4),
        }
        model.save(Path(out) / MODEL_NAME)
        write_results(out, **record)
        write_report(out, report(record))
    return record


def report(record: dict[str, Any]) -> str:
    """report.md: the accuracy beside the baselines and the published marks, class balance."""
    m, c = record["metrics"], record["config"]
    cell = ("Bi" if c["bidirectional"] else "") + c["cell"].upper()
    rows = [[f"{cell}({c['units']}), this run", m["accuracy"], m["macro_f1"]]]
    rows += [[name, b["accuracy"], b["macro_f1"]] for name, b in record["baselines"].items()]
    rows += [[f"{name} (published)", v / 100, ""] for name, v in PUBLISHED.items()]
    errors = round((1 - m["accuracy"]) * c["test"])
    lines = [
        "# Speaker identification (Japanese Vowels)",
        "",
        f"Test accuracy **{m['accuracy']:.4f}** ({errors} of {c['test']} utterances wrong), "
        f"macro-F1 {m['macro_f1']:.4f}, in {record['seconds']:.0f} s; early stopping kept "
        f"epoch {c['fit']['best_epoch']} of {c['fit']['epochs']} ({c['fit']['stopped']}).",
        "",
        markdown_table(["model", "accuracy", "macro_f1"], rows),
        "",
        "Class balance: "
        + "; ".join(balance_line(k, v) for k, v in c["class_balance"].items())
        + ". The test set's imbalance is why macro-F1 is reported beside accuracy.",
        "",
        f"Confusion matrix (rows true speaker, columns predicted): {m['confusion']}.",
        "",
        "Files: `results.json`, `model.safetensors`.",
    ]
    return "\n".join(lines)


@click.command("speakers")
@click.option("--cell", type=click.Choice(CELLS), default="lstm", show_default=True)
@click.option("--bidirectional", is_flag=True, help="Read each utterance both ways.")
@click.option("--units", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option("--seconds", type=click.FloatRange(min=1.0), default=300.0, show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs/speakers"), show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
def speakers_command(cell, bidirectional, units, seconds, out, seed) -> None:
    """Speaker identification from LPC cepstrum frames (UCI Japanese Vowels)."""
    from ..datasets.japanese_vowels import load_japanese_vowels

    try:
        out = prepare_out(out, resume=False)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    settings = SpeakerTaskSettings(cell=cell, bidirectional=bidirectional, units=units, seed=seed)
    data = load_japanese_vowels(progress=lambda t: click.echo(t, err=True))
    click.echo(data.summary(), err=True)
    record = run_speakers(
        data, settings, seconds=seconds, out=out, progress=ProgressLine(Budget(seconds), "speakers")
    )
    click.echo("\n".join(summary_lines(record)))
    click.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / MODEL_NAME}")


__all__ = [
    "PUBLISHED",
    "SpeakerTaskSettings",
    "build_model",
    "pad_frames",
    "run_speakers",
    "speakers_command",
    "standardise",
    "stratified_holdout",
    "summary_1nn",
]
