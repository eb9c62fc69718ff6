"""Loss curves of a training run, written as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def save_figure(fig, path, format: str = "png") -> Path:
    """Write a matplotlib figure atomically (temp file, fsync, os.replace) and close it."""
    import matplotlib.pyplot as plt

    from ..io import atomic_open

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=format)
    finally:
        plt.close(fig)
    return path


def plot_loss_curve(
    history: list[dict[str, float]],
    path: str | os.PathLike,
    title: str = "training",
    x_key: str = "tokens",
    val_label: str = "validation",
) -> Path:
    """Plot train_loss and val_loss (nats per token) against `x_key`; write `path` atomically.

    history: entries like {"tokens": ..., "seconds": ..., "train_loss": ..., "val_loss": ...}.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        raise ValueError("plot_loss_curve: the history is empty; nothing to plot")
    path = Path(path)
    xs = np.array([h[x_key] for h in history], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    for key, label in (("train_loss", "training (running mean)"), ("val_loss", val_label)):
        ys = np.array([h.get(key, np.nan) for h in history], dtype=float)
        if np.isfinite(ys).any():
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_xlabel({"tokens": "characters seen", "seconds": "seconds"}.get(x_key, x_key))
    ax.set_ylabel("loss (nats per character)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)
    return path
