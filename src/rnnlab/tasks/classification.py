"""What the many-to-one classification tasks share (`rnnlab task sentiment`, `... speakers`):
the metrics, the class balance, and training on variable-length sequences with early stopping
on validation accuracy within a time budget.

Metrics, for true classes y and predictions ŷ over K classes:

    confusion[i, j] = #{n : y_n = i, ŷ_n = j}                         (rows: the truth)
    accuracy        = Σ_i confusion[i, i] / N
    F1_k            = 2 P_k R_k / (P_k + R_k)   with  P_k = C[k,k] / Σ_i C[i,k],
                                                     R_k = C[k,k] / Σ_j C[k,j]
    macro_f1        = (1/K) Σ_k F1_k        (a class never predicted and never present: F1 = 0
                                              is not counted; one never predicted but present: 0)

Training (`fit_early_stopping`): batches of sequences of similar length (sorted by length,
shuffled each epoch, each padded only to its longest member), one `train_on_batch` each; after
every epoch the validation accuracy is measured and the best weights are kept (ties: the
lower validation cross-entropy); training stops
after `patience` epochs without improvement, at `max_epochs`, or when the budget is spent
(checked after every batch, so a budget shorter than an epoch still ends on time).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model import Sequential
from ..training.sentiment import length_batches
from .run import Budget, ProgressLine

#: makes a (B, T, ...) batch of the sequences at `idx` of a list, padded with zeros
Pad = Callable[[Sequence[np.ndarray], np.ndarray], np.ndarray]


# -- metrics -------------------------------------------------------------------------------------
def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(K, K) int64 counts, row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"confusion_matrix: expected as many predictions as labels, got {y_pred.size} "
            f"and {y_true.size}"
        )
    for name, ys in (("labels", y_true), ("predictions", y_pred)):
        if ys.size and (ys.min() < 0 or ys.max() >= n_classes):
            raise ValueError(f"confusion_matrix: {name} outside [0, {n_classes})")
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def macro_f1(cm: np.ndarray) -> float:
    """The mean over classes of F1 (module docstring) from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, present = cm.sum(axis=0), cm.sum(axis=1)
    counted = (predicted + present) > 0
    denom = predicted + present  # 2TP + FP + FN
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    return float(f1[counted].mean()) if counted.any() else 0.0


def classification_metrics(y_true, y_pred, n_classes: int) -> dict[str, Any]:
    """{"accuracy", "macro_f1", "confusion"} of predictions against labels."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    n = int(cm.sum())
    if n == 0:
        raise ValueError("classification_metrics: expected at least one labelled example")
    return {
        "accuracy": float(np.trace(cm) / n),
        "macro_f1": macro_f1(cm),
        "confusion": cm.tolist(),
    }


def class_balance(labels, names: Sequence[str]) -> dict[str, Any]:
    """Counts per class, the majority class and its share: what the report says about
    imbalance ("imbalanced" when the largest class is over 1.5 times the smallest)."""
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=len(names))
    if len(counts) != len(names):
        raise ValueError(f"class_balance: labels outside [0, {len(names)})")
    top = int(counts.argmax())
    low = max(int(counts.min()), 1)
    return {
        "counts": {name: int(c) for name, c in zip(names, counts, strict=True)},
        "majority": names[top],
        "majority_share": float(counts[top] / max(labels.size, 1)),
        "imbalanced": bool(counts[top] > 1.5 * low),
    }


def balance_line(split: str, balance: dict[str, Any]) -> str:
    """One sentence on a split's class balance for the report."""
    counts = ", ".join(f"{k} {v:,}" for k, v in balance["counts"].items())
    verdict = "imbalanced" if balance["imbalanced"] else "balanced"
    return (
        f"{split}: {counts} — {verdict}; the majority class ({balance['majority']}) is "
        f"{100 * balance['majority_share']:.1f}%"
    )


def summary_lines(record: dict[str, Any]) -> list[str]:
    """The test accuracy and macro-F1 of a run and of each baseline, one line each (what the
    task commands print at the end)."""
    m = record["metrics"]
    lines = [f"test accuracy {m['accuracy']:.4f}, macro-F1 {m['macro_f1']:.4f}"]
    width = max((len(name) for name in record["baselines"]), default=0) + 1
    for name, b in record["baselines"].items():
        lines.append(
            f"  {name:<{width}} accuracy {b['accuracy']:.4f}, macro-F1 {b['macro_f1']:.4f}"
        )
    return lines


# -- batches and prediction ----------------------------------------------------------------------
def class_probabilities(model: Sequential, xs: Sequence[np.ndarray], pad: Pad) -> np.ndarray:
    """(N, K) class probabilities of every sequence: a Dense(1, sigmoid) output p gives
    [1 - p, p], a Dense(K, softmax) output its K probabilities."""
    out: np.ndarray | None = None
    for idx in length_batches(list(xs), 256, None):
        p = model.predict(pad(xs, idx), batch_size=256)  # (B, 1) or (B, K)
        p = np.concatenate([1 - p, p], axis=1) if p.shape[1] == 1 else p
        if out is None:
            out = np.zeros((len(xs), p.shape[1]), dtype=np.float64)
        out[idx] = p
    if out is None:
        raise ValueError("class_probabilities: expected at least one sequence")
    return out


# -- training ------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What `fit_early_stopping` did: epochs run, the best epoch and its validation accuracy,
    why it stopped ("patience", "max_epochs" or "budget"), and each epoch's numbers."""

    epochs: int
    best_epoch: int
    best_accuracy: float
    stopped: str
    history: list[dict[str, float]] = field(default_factory=list)


def fit_early_stopping(
    model: Sequential,
    x: Sequence[np.ndarray],
    y: np.ndarray,
    x_val: Sequence[np.ndarray],
    y_val: np.ndarray,
    *,
    pad: Pad,
    target: Callable[[np.ndarray], np.ndarray],
    budget: Budget,
    batch_size: int = 32,
    patience: int = 4,
    max_epochs: int = 100,
    seed: int = 0,
    progress: ProgressLine | None = None,
) -> FitResult:
    """Train `model` (compiled) on (x, y), keep the weights of the best validation accuracy
    (module docstring). `target(labels)` is what the loss takes for a batch's labels.

    Raises RuntimeError if the loss stops being finite."""
    if len(x) == 0 or len(x_val) == 0:
        raise ValueError(
            f"fit_early_stopping: expected training and validation sequences, got "
            f"{len(x)} and {len(x_val)}"
        )
    rng = np.random.default_rng(seed)
    best, best_acc, best_loss, best_epoch = model.get_weights(), -1.0, math.inf, 0
    history: list[dict[str, float]] = []
    stopped, epoch = "max_epochs", 0
    for epoch in range(1, max_epochs + 1):
        losses = []
        for idx in length_batches(list(x), batch_size, rng):
            logs = model.train_on_batch(pad(x, idx), target(y[idx]))
            if not math.isfinite(logs["loss"]):
                raise RuntimeError(f"training failed: {model.nonfinite_report}")
            losses.append(logs["loss"])
            if progress is not None:
                progress.update(epoch=epoch, loss=float(np.mean(losses[-50:])), best=best_acc)
            if budget.expired():
                break
        p_val = class_probabilities(model, x_val, pad)  # (N_val, K)
        acc = float((p_val.argmax(axis=1) == y_val).mean())
        val_loss = float(-np.log(np.maximum(p_val[np.arange(len(y_val)), y_val], 1e-12)).mean())
        history.append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_accuracy": acc,
                "val_loss": val_loss,
            }
        )
        if acc > best_acc or (acc == best_acc and val_loss < best_loss):
            best, best_acc, best_loss, best_epoch = model.get_weights(), acc, val_loss, epoch
        if budget.expired():
            stopped = "budget"
            break
        if epoch - best_epoch >= patience:
            stopped = "patience"
            break
    model.set_weights(best)
    return FitResult(epoch, best_epoch, best_acc, stopped, history)


__all__ = [
    "FitResult",
    "balance_line",
    "class_balance",
    "class_probabilities",
    "classification_metrics",
    "confusion_matrix",
    "fit_early_stopping",
    "macro_f1",
    "summary_lines",
]
