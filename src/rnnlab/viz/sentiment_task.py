"""The hidden-state view over a model trained by `rnnlab task sentiment` (any Embedding(mask_zero)
→ ... → Dense(1, sigmoid) classifier: GRU or LSTM, one or two directions, last/mean/max
pooling), and the "sentiment-laden" units of either sentiment model.

For words w_1..w_t the view needs, after each word t, the vector the output layer reads and
P(positive). Both come from running the model on the prefix w_1..w_t as if the sentence ended
there (`rnnlab.tasks.classify.prefix_features`, the same numbers `rnnlab classify` prints):

    features  f_t  (T, F)     the output layer's input after t words (F = H, or 2H for a BiRNN;
                              for last pooling f_t is the state h_t itself)
    logit     z_t = w · f_t + b,   P(positive | w_1..w_t) = σ(z_t)

Unit k adds w_k f_{t,k} to the logit. The "most sentiment-laden" units of a sentence are the
ones whose share of the logit is largest somewhere in it, max_t |w_k f_{t,k}|; their sign says
which way they push (w_k f_{t,k} > 0: towards positive).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..datasets.sentiment import WordVocab
from ..model import Sequential
from ..tasks.classify import prefix_features

TOP_UNITS = 6


def _r5(x) -> float:
    """x rounded to 5 significant digits, as every number of the explorer's views."""
    return float(f"{float(x):.5g}")


def laden_units(features: np.ndarray, weight: np.ndarray, k: int | None = None) -> list[int]:
    """The k units with the largest max_t |w_u f_{t,u}|, largest first. features (T, F),
    weight (F,); k defaults to a quarter of the units, 1 to TOP_UNITS."""
    share = np.abs(features * weight[None, :]).max(axis=0)  # (F,)
    k = max(1, min(TOP_UNITS, len(share) // 4)) if k is None else k
    return [int(u) for u in np.argsort(-share, kind="stable")[: min(k, len(share))]]


def model_choices(models) -> list[str]:
    """The sentiment models the view can show: "explorer", and "task" when one was given."""
    return ["explorer"] + (["task"] if getattr(models, "task_sentiment", None) is not None else [])


def extras(models, features: np.ndarray, weight: np.ndarray, which: str) -> dict[str, Any]:
    """What the view adds to either model's data: the laden units, the output weights, which
    model this is and the models to choose from (name → one-line description)."""
    weight = np.asarray(weight, dtype=np.float64)
    names = {"explorer": "the explorer's GRU (trained on first start)"}
    if getattr(models, "task_sentiment", None) is not None:
        names["task"] = "rnnlab task sentiment: " + describe_task_model(models.task_sentiment)
    return {
        "top_units": laden_units(np.asarray(features, dtype=np.float64), weight),
        "readout": [_r5(w) for w in weight],
        "model": which,
        "models": names,
    }


def view_data(models, words: list[str]) -> dict[str, Any]:
    """The hidden-state view's data (`rnnlab.viz.data.hidden_state`) for the task model."""
    model: Sequential = models.task_sentiment
    vocab = WordVocab.from_config(model.metadata["words"])
    ids, known = vocab.encode(words)
    features, p = prefix_features(model, ids)  # (T, F), (T,)
    return {
        "view": "hidden-state",
        "words": words,
        "known": [bool(k) for k in known],
        "units": int(features.shape[1]),
        "h": [[_r5(v) for v in row] for row in features],
        "prediction": [_r5(v) for v in p],
        "label_names": list(model.metadata.get("labels", ["negative", "positive"])),
        **extras(models, features, model.layers[-1].params["weight"][0], "task"),
    }


def describe_task_model(model: Sequential) -> str:
    """One line naming the task model's layers and test accuracy, for the view's picker."""
    layers = [
        type(layer).__name__ for layer in model.layers if "Dropout" not in type(layer).__name__
    ]
    acc = (model.metadata or {}).get("test_accuracy")
    return " → ".join(layers) + (f" (test accuracy {acc:.3f})" if acc is not None else "")


__all__ = [
    "TOP_UNITS",
    "describe_task_model",
    "extras",
    "laden_units",
    "model_choices",
    "view_data",
]
