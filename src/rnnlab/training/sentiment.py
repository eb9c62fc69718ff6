"""Sentence sentiment: the recipe that trains the explorer's classifier (and the examples').

The model is  word ids → Embedding(V_w, E, mask_zero) → GRU(H) → Dense(1, sigmoid), trained on
P(positive) with binary cross-entropy and Adam with global-norm clipping, on a
`rnnlab.datasets.SentimentDataset` (e.g. `load_vader_movies()`):

    >>> run = train_sentiment(rnnlab.datasets.load_vader_movies(), seconds=20, log=print)
    >>> run.accuracy, run.model.metadata["words"]           # the word vocabulary is saved too

Batches hold sentences of similar length (sorted by length, the batches shuffled each epoch),
so a batch is only as long as its longest sentence: about half the work of padding every
sentence to the longest one, as one array for `Sequential.fit` would. Each batch is one
`Sequential.train_on_batch`. Training stops after `max_epochs`, or once `seconds` have passed
(but not before one epoch); the weights of the epoch with the best validation accuracy are kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import losses, optimizers
from .._validation import check_positive_float, check_positive_int
from ..datasets.sentiment import SentimentDataset, WordVocab, tokenize
from ..layers import GRU, Dense, Embedding
from ..model import Sequential


@dataclass
class SentimentSettings:
    """Sizes and training settings of a sentiment classifier run."""

    units: int = 32
    embedding: int = 32
    max_vocab: int = 4000  # words kept (by frequency, seen at least min_count times)
    min_count: int = 2
    max_words: int = 50  # words read per sentence (the rest is cut)
    batch_size: int = 32
    learning_rate: float = 3e-3
    clipnorm: float = 5.0
    max_epochs: int = 12
    seed: int = 0

    def validate(self) -> None:
        for name in (
            "units",
            "embedding",
            "max_vocab",
            "min_count",
            "max_words",
            "batch_size",
            "max_epochs",
        ):
            check_positive_int(getattr(self, name), "SentimentSettings", name)
        for name in ("learning_rate", "clipnorm"):
            check_positive_float(getattr(self, name), "SentimentSettings", name)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"SentimentSettings: expected seed to be an int, got {self.seed!r}")


@dataclass
class SentimentRun:
    """A finished train_sentiment run: the model (optimizer and loss dropped; its metadata
    holds the word vocabulary, label names and the result), the vocabulary, the validation
    accuracy of the kept weights, the epochs run and the seconds taken."""

    model: Sequential
    words: WordVocab
    accuracy: float
    epochs: int
    seconds: float


def build_sentiment_model(n_words: int, s: SentimentSettings) -> Sequential:
    """A compiled Embedding(mask_zero) → GRU → Dense(1, sigmoid) classifier."""
    s.validate()
    model = Sequential(
        [
            Embedding(n_words, s.embedding, mask_zero=True, name="embedding", seed=s.seed),
            GRU(s.units, name="gru", seed=s.seed + 1),
            Dense(1, activation="sigmoid", name="output", seed=s.seed + 2),
        ],
        name="sentiment",
        seed=s.seed,
    )
    model.build((None,))
    model.compile(
        optimizer=optimizers.Adam(learning_rate=s.learning_rate, global_clipnorm=s.clipnorm),
        loss=losses.BinaryCrossentropy(),
    )
    return model


def encode_sentences(texts: list[str], words: WordVocab, max_words: int) -> list[np.ndarray]:
    """Word ids of each text's first `max_words` tokens (an empty text reads as one OOV id)."""
    out = []
    for text in texts:
        ids, _ = words.encode(tokenize(text)[:max_words])
        out.append(ids if len(ids) else np.array([WordVocab.OOV]))
    return out


def length_batches(
    ids: list[np.ndarray], batch_size: int, rng: np.random.Generator | None
) -> list[np.ndarray]:
    """Index batches of sentences of similar length (sorted by length; shuffled with rng)."""
    order = np.argsort([len(s) for s in ids], kind="stable")
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(ids: list[np.ndarray], idx) -> np.ndarray:
    """(len(idx), T) int64 ids, right-padded with 0 to the longest sentence of the batch."""
    T = max(len(ids[i]) for i in idx)
    x = np.zeros((len(idx), T), dtype=np.int64)
    for row, i in enumerate(idx):
        x[row, : len(ids[i])] = ids[i]
    return x


def sentiment_accuracy(model: Sequential, ids: list[np.ndarray], labels: np.ndarray) -> float:
    """Share of sentences whose P(positive) > 0.5 agrees with the label."""
    correct = 0
    for idx in length_batches(ids, 256, None):
        p = model.predict(pad_batch(ids, idx), batch_size=256)[:, 0]  # (B,)
        correct += int(((p > 0.5) == (labels[idx] == 1)).sum())
    return correct / max(len(ids), 1)


def train_sentiment(
    data: SentimentDataset,
    settings: SentimentSettings | None = None,
    *,
    seconds: float = math.inf,
    log: Callable[[str], Any] | None = None,
) -> SentimentRun:
    """Train a classifier on `data`'s train split for at most `seconds` (one epoch at least) or
    `settings.max_epochs`, keeping the epoch with the best validation accuracy.

    Raises ValueError for bad settings, RuntimeError if the loss stops being finite.
    """
    s = SentimentSettings() if settings is None else settings
    s.validate()
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"train_sentiment: expected seconds > 0, got {seconds!r}")
    if not isinstance(data, SentimentDataset):
        raise TypeError(f"train_sentiment: expected a SentimentDataset, got {type(data).__name__}")
    say = log if log is not None else (lambda line: None)
    started = time.perf_counter()
    words = WordVocab.from_texts(data.texts("train"), max_size=s.max_vocab, min_count=s.min_count)
    x_train = encode_sentences(data.texts("train"), words, s.max_words)
    y_train = data.labels("train")
    x_val = encode_sentences(data.texts("validation"), words, s.max_words)
    y_val = data.labels("validation")
    model = build_sentiment_model(len(words), s)
    rng = np.random.default_rng(s.seed)
    say(
        f"training sentiment: GRU({s.units}) on {len(x_train):,} rated movie-review "
        f"sentences, {len(words) - 2:,} words, for up to {seconds:.0f} s"
    )
    best, best_acc, epochs = model.get_weights(), -1.0, 0
    deadline = started + seconds
    out_of_time = False
    for epoch in range(s.max_epochs):
        for idx in length_batches(x_train, s.batch_size, rng):
            logs = model.train_on_batch(
                pad_batch(x_train, idx), y_train[idx, None].astype(np.float32)
            )
            if not math.isfinite(logs["loss"]):
                raise RuntimeError(f"training the sentiment model failed: {model.nonfinite_report}")
            if epoch > 0 and time.perf_counter() > deadline:  # one epoch at least
                out_of_time = True
                break
        epochs = epoch + 1
        out_of_time = out_of_time or time.perf_counter() > deadline
        acc = sentiment_accuracy(model, x_val, y_val)
        if acc > best_acc:
            best, best_acc = model.get_weights(), acc
        if out_of_time:
            break
    model.set_weights(best)
    elapsed = time.perf_counter() - started
    say(
        f"sentiment: {epochs} epoch(s) in {elapsed:.1f} s, validation accuracy "
        f"{100 * best_acc:.1f}% ({len(x_val):,} sentences)"
    )
    model.optimizer = model.loss = None  # not needed to run it; keeps the file small
    model.metadata = {
        "words": words.to_config(),
        "labels": list(data.label_names),
        "dataset": data.name,
        "max_words": s.max_words,
        "validation_accuracy": round(best_acc, 4),
        "trained_seconds": round(elapsed, 1),
    }
    return SentimentRun(model, words, best_acc, epochs, elapsed)


__all__ = [
    "SentimentRun",
    "SentimentSettings",
    "build_sentiment_model",
    "encode_sentences",
    "length_batches",
    "pad_batch",
    "sentiment_accuracy",
    "train_sentiment",
]
