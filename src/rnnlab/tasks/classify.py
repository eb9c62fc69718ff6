"""`rnnlab classify --model DIR "a sentence"`: a trained sentiment model's verdict on a sentence,
with the prediction after each prefix of it (how each word moved the verdict).

    c = classify_text(load_sentiment_model("runs/sentiment"), "not good at all")
    c.label, c.probability      # the verdict and its probability
    c.prefix_p                  # P(positive) after "not", "not good", "not good at", ...

For words w_1..w_T, p_t = P(positive | w_1..w_t) is the model run on the first t words as if the
sentence ended there (all T prefixes in one padded batch: Embedding(mask_zero) makes the
padding invisible, so row t is exactly the model on t words; the explorer's hidden-state view
uses the same `prefix_features`). A word's contribution is
p_t − p_{t−1} (for the first word, p_1 − 0.5: the move away from "undecided"). Words outside
the vocabulary are read as the shared unknown id and marked; a text with no word, or with no
word the model knows, is refused with a message rather than answered with a meaningless 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np

from ..datasets.sentiment import LABEL_NAMES, WordVocab, tokenize
from ..io import load_model
from ..layers import Dense, Embedding
from ..model import Sequential

MODEL_NAME = "model.safetensors"
MEMBERS_DIR = "members"  # the ensemble of a task run: P is the mean over its members


@dataclass
class Classification:
    """The verdict on one text: its words (those read), which are known, P(positive) after
    each prefix, each word's contribution, the label and its probability."""

    words: list[str]
    known: list[bool]
    prefix_p: list[float]
    contributions: list[float]
    label: str
    probability: float
    truncated: int  # words beyond the model's max_words, not read


def load_sentiment_model(path: str | Path) -> Sequential:
    """The model of a `rnnlab task sentiment` run: DIR/model.safetensors (or the file itself),
    checked to be Embedding(mask_zero) → ... → Dense(1, sigmoid) with a word vocabulary."""
    path = Path(path)
    file = path / MODEL_NAME if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(
            f"{path}: no {MODEL_NAME} (expected the --out directory of `rnnlab task sentiment`)"
        )
    model = load_model(file)
    meta = model.metadata if isinstance(model.metadata, dict) else {}
    layers = model.layers
    if (
        "words" not in meta
        or not layers
        or not isinstance(layers[0], Embedding)
        or not layers[0].mask_zero
        or not isinstance(layers[-1], Dense)
        or layers[-1].units != 1
        or layers[-1].activation != "sigmoid"
    ):
        kind = meta.get("task", "unknown")
        raise ValueError(
            f"{file}: expected a sentiment model (word Embedding(mask_zero) first, "
            f"Dense(1, sigmoid) last, a word vocabulary in its metadata), got a model of task "
            f"{kind!r} with layers {[type(layer).__name__ for layer in layers]}"
        )
    vocab = WordVocab.from_config(meta["words"])
    if layers[0].input_dim != len(vocab):
        raise ValueError(
            f"{file}: the Embedding takes {layers[0].input_dim} ids, the vocabulary has "
            f"{len(vocab)}"
        )
    return model


def load_sentiment_models(path: str | Path) -> list[Sequential]:
    """Every model of a `rnnlab task sentiment` run: DIR/members/*.safetensors (the ensemble
    whose mean P the run reported) if present, else [the one model]."""
    path = Path(path)
    first = load_sentiment_model(path)
    folder = path / MEMBERS_DIR if path.is_dir() else path.parent / MEMBERS_DIR
    files = sorted(folder.glob("member-*.safetensors")) if folder.is_dir() else []
    models = [load_sentiment_model(f) for f in files] or [first]
    for model, file in zip(models, files, strict=False):
        if model.metadata["words"] != first.metadata["words"]:
            raise ValueError(f"{file}: another word vocabulary than {path}'s model")
    return models


def prefix_features(model: Sequential, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(features (T, F), P(positive) (T,)) of the model on ids[:1], ids[:2], ..., ids[:T]:
    one padded batch of the T prefixes through the layers before the output (each layer's
    mask passed on, as in Sequential.forward), then the output layer. `features` is what the
    output layer reads after each word."""
    T = len(ids)
    batch = np.zeros((T, T), dtype=np.int64)  # row t: the first t + 1 ids, then padding
    for t in range(T):
        batch[t, : t + 1] = ids[: t + 1]
    y, mask = batch, None
    for layer in model.layers[:-1]:
        out = layer.forward(y, mask=mask, training=False)
        mask = layer.compute_mask(mask, inputs=y)
        y = out
    p = model.layers[-1].forward(y, training=False)[:, 0]  # (T,)
    return np.asarray(y, dtype=np.float64), p.astype(np.float64)


def prefix_probabilities(model: Sequential, ids: np.ndarray) -> np.ndarray:
    """(T,) P(positive) of the model on ids[:1], ids[:2], ..., ids[:T] (`prefix_features`)."""
    return prefix_features(model, ids)[1]


def classify_text(model: Sequential | list[Sequential], text: str) -> Classification:
    """The module docstring's verdict, by one model or by the mean P(positive) of several
    sharing one vocabulary. Raises ValueError for a text with no word or no known word (the
    message says which words were read)."""
    if not isinstance(text, str):
        raise TypeError(f"classify: expected a str, got {type(text).__name__}")
    models = [model] if isinstance(model, Sequential) else list(model)
    if not models:
        raise ValueError("classify: expected a model, got an empty list")
    model = models[0]
    vocab = WordVocab.from_config(model.metadata["words"])
    words = tokenize(text)
    if not words:
        raise ValueError(f"classify: no words in {text!r:.60} (letters or digits are needed)")
    limit = int(model.metadata.get("max_words", len(words)))
    truncated = max(0, len(words) - limit)
    words = words[:limit]
    ids, known = vocab.encode(words)
    if not known.any():
        raise ValueError(
            f"classify: none of the words {words[:8]} is in the model's vocabulary of "
            f"{len(vocab) - 2:,} words, so there is nothing to judge (it would say 0.5)"
        )
    p = np.mean([prefix_probabilities(m, ids) for m in models], axis=0)  # (T,)
    contributions = np.diff(p, prepend=0.5)
    names = model.metadata.get("labels", list(LABEL_NAMES))
    positive = p[-1] > 0.5
    return Classification(
        words,
        [bool(k) for k in known],
        [float(v) for v in p],
        [float(v) for v in contributions],
        names[1] if positive else names[0],
        float(p[-1] if positive else 1 - p[-1]),
        truncated,
    )


def format_classification(c: Classification) -> str:
    """The verdict and a table of the prefixes, for a terminal."""
    lines = [f"{c.label} ({c.probability:.3f})", "", "  word            P(positive)   change"]
    for word, known, p, d in zip(c.words, c.known, c.prefix_p, c.contributions, strict=True):
        shown = word if known else f"{word} (?)"
        bar = ("+" if d > 0 else "-") * min(20, round(abs(d) * 40))
        lines.append(f"  {shown:<16}{p:>10.3f}   {d:+.3f} {bar}")
    if not all(c.known):
        lines.append("  (?) not in the model's vocabulary: read as the shared unknown word")
    if c.truncated:
        lines.append(f"  ({c.truncated} more word(s) beyond the model's limit were not read)")
    return "\n".join(lines)


@click.command("classify")
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="The --out directory of `rnnlab task sentiment` (or its model.safetensors).",
)
@click.argument("text")
def classify(model_dir: Path, text: str) -> None:
    """Say whether TEXT is positive or negative, and how each word moved the verdict."""
    try:
        models = load_sentiment_models(model_dir)
        result = classify_text(models, text)
    except (OSError, ValueError) as err:  # FormatError is a ValueError
        raise click.ClickException(str(err)) from None
    click.echo(format_classification(result))
    if len(models) > 1:
        click.echo(f"  (the mean of the run's {len(models)} models)")


__all__ = [
    "Classification",
    "classify",
    "classify_text",
    "format_classification",
    "load_sentiment_model",
    "load_sentiment_models",
    "prefix_features",
    "prefix_probabilities",
]
