"""`rnnlab task sentiment`: sentence polarity of rated movie-review snippets, many-to-one.

Data: `rnnlab.datasets.load_vader_movies()` (its pinned archive and its split, unchanged): the
10,072 snippets whose mean rating is at least 0.5 away from neutral, 9,065 train / 1,007
held out. Protocols:

- split (default): the loader's held-out 1,007 are the test set; 10 % of its train part
  (seeded) is the validation set that early stopping and the baselines' choices use.
- cv (`--cv K`, the protocol the MR literature reports): all 10,072 sentences in K folds
  (a seeded permutation, fold k = positions ≡ k mod K: disjoint and covering); each fold is
  the test set once, 10 % of the rest validation; the budget is shared equally; the metrics
  are the means over folds (and their standard deviation), the saved model is fold 1's.

Model: word ids (B, T) → Embedding(V, E, mask_zero) (B, T, E) → Dropout → a recurrent layer
(H) of any registered family (--cell, GRU by default), or Bidirectional of it (2H) → pooling
→ Dropout → Dense(1, sigmoid) = P(positive) (B, 1):

    last:  v = h_T (the state after the last real word; both directions' for a BiRNN)
    mean:  v = Σ_t m_t h_t / Σ_t m_t          max: v_k = max_{t: m_t} h_{t,k}

trained with binary cross-entropy and Adam (global-norm clipping), early stopping on
validation accuracy (tasks/classification.py). While the budget has room, more models are
trained with new seeds (`restarts`); the prediction is the mean of their P(positive) (choosing
the best single one on the 906 validation sentences proved to be noise: validation 0.785-0.805,
test 0.77-0.805 for the same settings). The model saved as model.safetensors, which the
explorer shows, is the best single one on validation; `members/` holds them all.

Baselines in the same run on the same test set: majority class, VADER and bag-of-words
logistic regression (tasks/text_baselines.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import click
import numpy as np

from .. import losses, optimizers
from .._validation import check_choice, check_positive_float, check_positive_int, check_rate
from ..datasets.sentiment import LABEL_NAMES, SentimentDataset, WordVocab
from ..layers import (
    Bidirectional,
    Dense,
    Dropout,
    Embedding,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    cells_by_units,
    layer_for_cell,
)
from ..model import Sequential
from ..training.sentiment import encode_sentences, pad_batch
from . import text_baselines
from .classification import (
    balance_line,
    class_balance,
    class_probabilities,
    classification_metrics,
    fit_early_stopping,
    summary_lines,
)
from .run import Budget, ProgressLine, markdown_table, prepare_out, write_report, write_results

TASK = "sentiment"
MODEL_NAME = "model.safetensors"
MEMBERS_DIR = "members"
CELLS = tuple(cells_by_units())  # every family a layer can be made of from `units` alone
POOLINGS = ("last", "mean", "max")
#: Kim (2014), Table 2, accuracy on MR (Pang & Lee 2005 sentence polarity, 10-fold CV)
PUBLISHED = {
    "RAE (Socher et al. 2011)": 77.7,
    "MV-RNN (Socher et al. 2012)": 79.0,
    "CNN-static (Kim 2014)": 81.0,
}


@dataclass
class SentimentTaskSettings:
    """The model and training settings of a `rnnlab task sentiment` run."""

    cell: str = "gru"
    bidirectional: bool = False
    pooling: str = "last"
    units: int = 64
    embedding: int = 64
    dropout: float = 0.5
    max_vocab: int = 12000
    min_count: int = 1
    max_words: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    patience: int = 4
    max_epochs: int = 40
    validation_fraction: float = 0.1
    restarts: int = 8  # models (new seeds) trained while the budget allows; P is their mean
    cv: int = 0  # 0: the loader's split; K ≥ 2: K-fold cross-validation
    seed: int = 0

    def validate(self) -> None:
        who = "SentimentTaskSettings"
        check_choice(self.cell, who, "cell", CELLS)
        check_choice(self.pooling, who, "pooling", POOLINGS)
        if not isinstance(self.bidirectional, bool):
            raise ValueError(
                f"{who}: expected bidirectional True or False, got {self.bidirectional!r}"
            )
        for name in (
            "units",
            "embedding",
            "max_vocab",
            "min_count",
            "max_words",
            "batch_size",
            "restarts",
            "patience",
            "max_epochs",
        ):
            check_positive_int(getattr(self, name), who, name)
        for name in ("learning_rate", "clipnorm"):
            check_positive_float(getattr(self, name), who, name)
        check_rate(self.dropout, who, "dropout")
        check_rate(self.validation_fraction, who, "validation_fraction")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(
                f"{who}: expected validation_fraction in (0, 1), got {self.validation_fraction}"
            )
        if isinstance(self.cv, bool) or not isinstance(self.cv, int) or self.cv == 1 or self.cv < 0:
            raise ValueError(
                f"{who}: expected cv = 0 (the loader's split) or ≥ 2 folds, got {self.cv!r}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"{who}: expected seed to be an int, got {self.seed!r}")


def build_model(n_words: int, s: SentimentTaskSettings) -> Sequential:
    """The compiled classifier of the module docstring over `n_words` word ids."""
    s.validate()
    rnn_type = layer_for_cell(s.cell)
    rnn = rnn_type(s.units, return_sequences=s.pooling != "last", name=s.cell, seed=s.seed + 1)
    layers = [Embedding(n_words, s.embedding, mask_zero=True, name="embedding", seed=s.seed)]
    if s.dropout:
        layers.append(Dropout(s.dropout, name="dropout_embedding", seed=s.seed + 3))
    layers.append(
        Bidirectional(rnn, name="bidirectional", seed=s.seed + 1) if s.bidirectional else rnn
    )
    if s.pooling == "mean":
        layers.append(GlobalAveragePooling1D(name="pooling"))
    elif s.pooling == "max":
        layers.append(GlobalMaxPooling1D(name="pooling"))
    if s.dropout:
        layers.append(Dropout(s.dropout, name="dropout_features", seed=s.seed + 4))
    layers.append(Dense(1, activation="sigmoid", name="output", seed=s.seed + 2))
    model = Sequential(layers, name="sentiment", seed=s.seed)
    model.build((None,))
    model.compile(
        optimizer=optimizers.Adam(learning_rate=s.learning_rate, global_clipnorm=s.clipnorm),
        loss=losses.BinaryCrossentropy(),
    )
    return model


# -- splits --------------------------------------------------------------------------------------
def cv_folds(n: int, k: int, seed: int = 0) -> list[np.ndarray]:
    """K disjoint index arrays covering range(n): a seeded permutation dealt round-robin."""
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= n:
        raise ValueError(f"cv_folds: expected 2 ≤ k ≤ n = {n} folds, got {k!r}")
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[i::k]) for i in range(k)]


def holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held) index arrays: a seeded `fraction` of range(n) held out (at least one)."""
    perm = np.random.default_rng(seed + 7919).permutation(n)
    n_held = min(n - 1, max(1, round(fraction * n)))
    return np.sort(perm[n_held:]), np.sort(perm[:n_held])


# -- one train / validation / test split ---------------------------------------------------------
@dataclass
class SplitResult:
    model: Sequential  # the member with the best validation accuracy
    members: list[Sequential]
    words: WordVocab
    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    notes: dict[str, Any]
    fit: dict[str, Any]
    test_p: np.ndarray  # (N_test,) P(positive)


def _run_split(
    texts: list[str],
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    s: SentimentTaskSettings,
    budget: Budget,
    progress: ProgressLine | None,
) -> SplitResult:
    pick = lambda idx: [texts[i] for i in idx]  # noqa: E731
    words = WordVocab.from_texts(pick(train), max_size=s.max_vocab, min_count=s.min_count)
    xs = {
        k: encode_sentences(pick(idx), words, s.max_words)
        for k, idx in (("train", train), ("val", val), ("test", test))
    }
    members, fits = _fit_restarts(words, xs, y[train], y[val], s, budget, progress)
    member_p = np.stack([class_probabilities(m, xs["test"], pad_batch)[:, 1] for m in members])
    p = member_p.mean(axis=0)  # (N_test,): the members' mean P(positive)
    metrics = classification_metrics(y[test], (p > 0.5).astype(np.int64), 2)
    best = int(np.argmax([f.best_accuracy for f in fits]))  # the best single on validation
    metrics["members"] = [float(((q > 0.5) == (y[test] == 1)).mean()) for q in member_p]
    metrics["best_single"] = metrics["members"][best]
    baselines: dict[str, dict[str, Any]] = {}
    notes: dict[str, Any] = {}
    baselines["majority"] = classification_metrics(
        y[test], text_baselines.majority(y[train], len(test)), 2
    )
    try:
        labels, facts = text_baselines.vader(pick(test), y[train])
        baselines["vader"] = classification_metrics(y[test], labels, 2)
        notes["vader"] = facts
    except text_baselines.MissingDependency as err:
        notes["vader"] = {"skipped": str(err)}
    try:
        labels, facts = text_baselines.bow_logistic(
            pick(train), y[train], pick(val), y[val], pick(test), seed=s.seed
        )
        baselines["bow_logistic"] = classification_metrics(y[test], labels, 2)
        notes["bow_logistic"] = facts
    except text_baselines.MissingDependency as err:
        notes["bow_logistic"] = {"skipped": str(err)}
    fit_facts = {
        "members": len(members),
        "epochs": [f.epochs for f in fits],
        "best_epoch": [f.best_epoch for f in fits],
        "stopped": [f.stopped for f in fits],
        "restarts": [f.best_accuracy for f in fits],
        "val_accuracy": fits[best].best_accuracy,
    }
    return SplitResult(members[best], members, words, metrics, baselines, notes, fit_facts, p)


def _fit_restarts(words, xs, y_train, y_val, s: SentimentTaskSettings, budget: Budget, progress):
    """Train up to `s.restarts` models (new seeds) while the budget has room for one more (as
    long as the first took), each with early stopping. Returns (models, their FitResults)."""
    members, fits = [], []
    started, first_took = budget.elapsed(), 0.0
    for r in range(s.restarts):
        if r == 1:
            first_took = budget.elapsed() - started
        if r > 0 and budget.remaining() < first_took:
            break
        model = build_model(len(words), replace(s, seed=s.seed + 10 * r))
        fit = fit_early_stopping(
            model,
            xs["train"],
            y_train,
            xs["val"],
            y_val,
            pad=pad_batch,
            target=lambda labels: labels[:, None].astype(np.float32),
            budget=budget,
            batch_size=s.batch_size,
            patience=s.patience,
            max_epochs=s.max_epochs,
            seed=s.seed + r,
            progress=progress,
        )
        members.append(model)
        fits.append(fit)
        if budget.expired():
            break
    return members, fits


def _mean_metrics(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold means of accuracy and macro-F1 (with their std), the confusion matrices summed."""
    out: dict[str, Any] = {}
    for name in ("accuracy", "macro_f1"):
        values = np.array([r[name] for r in runs])
        out[name] = float(values.mean())
        out[f"{name}_std"] = float(values.std())
    out["confusion"] = np.sum([r["confusion"] for r in runs], axis=0).tolist()
    if all("best_single" in r for r in runs):
        out["best_single"] = float(np.mean([r["best_single"] for r in runs]))
    return out


# -- the task ------------------------------------------------------------------------------------
def run_sentiment(
    data: SentimentDataset,
    settings: SentimentTaskSettings | None = None,
    *,
    seconds: float = 600,
    out: str | Path | None = None,
    progress: ProgressLine | None = None,
    log=None,
) -> dict[str, Any]:
    """Train and evaluate (module docstring) within `seconds`; returns the results record and,
    given `out`, writes out/results.json, out/report.md and out/model.safetensors."""
    s = SentimentTaskSettings() if settings is None else settings
    s.validate()
    if not isinstance(data, SentimentDataset):
        raise TypeError(f"run_sentiment: expected a SentimentDataset, got {type(data).__name__}")
    say = log if log is not None else (lambda line: None)
    started = time.perf_counter()
    budget = Budget(seconds)
    if progress is not None:
        progress.budget = budget
    texts = data.texts("all")
    y = data.labels("all")
    n_train = len(data.train)
    if s.cv:
        folds = cv_folds(len(texts), s.cv, s.seed)
        splits = []
        for k, test in enumerate(folds):
            rest = np.setdiff1d(np.arange(len(texts)), test)
            keep, held = holdout(len(rest), s.validation_fraction, s.seed + k)
            splits.append((rest[keep], rest[held], test))
    else:
        keep, held = holdout(n_train, s.validation_fraction, s.seed)
        splits = [(keep, held, np.arange(n_train, len(texts)))]
    results: list[SplitResult] = []
    for k, (train, val, test) in enumerate(splits):
        share = Budget(max(budget.remaining() / (len(splits) - k), 1e-3))
        if progress is not None:
            progress.label = f"sentiment fold {k + 1}/{len(splits)}" if s.cv else "sentiment"
        results.append(_run_split(texts, y, train, val, test, s, share, progress))
        r = results[-1]
        say(
            f"{f'fold {k + 1}: ' if s.cv else ''}test accuracy {r.metrics['accuracy']:.4f} "
            f"after {r.fit['epochs']} epoch(s) (best {r.fit['best_epoch']}, stopped: "
            f"{r.fit['stopped']})"
        )
    if progress is not None:
        progress.close()
    first = results[0]
    if s.cv:
        metrics = _mean_metrics([r.metrics for r in results])
        metrics["folds"] = [r.metrics["accuracy"] for r in results]
        names = sorted(set.intersection(*(set(r.baselines) for r in results)))
        baselines = {b: _mean_metrics([r.baselines[b] for r in results]) for b in names}
    else:
        metrics, baselines = dict(first.metrics), first.baselines
    train0, val0, test0 = splits[0]
    balance = {
        name: class_balance(y[idx], LABEL_NAMES)
        for name, idx in (("train", train0), ("validation", val0), ("test", test0))
    }
    elapsed = time.perf_counter() - started
    config = {
        **asdict(s),
        "protocol": f"{s.cv}-fold cv" if s.cv else "split",
        "dataset": data.name,
        "neutral_band": data.neutral_band,
        "sentences": len(texts),
        "class_balance": balance,
        "fit": [r.fit for r in results],
        "baseline_notes": first.notes,
        "vocabulary": len(first.words) - 2,
        "parameters": first.model.count_params(),
    }
    examples = _examples(texts, y, splits[0][2], first.test_p)
    record = {
        "task": TASK,
        "metrics": metrics,
        "baselines": baselines,
        "config": config,
        "seconds": elapsed,
        "examples": examples,
    }
    if out is not None:
        _save(first, s, data, Path(out) / MODEL_NAME)
        write_results(out, **record)
        write_report(out, report(record))
    return record


def _examples(texts, y, test, p, n: int = 6) -> list[dict[str, Any]]:
    """A few test sentences (evenly spaced) with their label and P(positive)."""
    picks = np.linspace(0, len(test) - 1, num=min(n, len(test))).astype(int)
    return [
        {
            "text": texts[test[i]],
            "label": LABEL_NAMES[y[test[i]]],
            "p_positive": round(float(p[i]), 4),
        }
        for i in picks
    ]


def _save(
    result: SplitResult, s: SentimentTaskSettings, data: SentimentDataset, path: Path
) -> None:
    """The best member as `path` (the explorer's model), every member under `members/`
    (`rnnlab classify` averages them, as the reported metrics do)."""
    folder = path.parent / MEMBERS_DIR
    folder.mkdir(exist_ok=True)
    for k, model in enumerate(result.members):
        model.optimizer = model.loss = None
        model.metadata = {
            "task": TASK,
            "words": result.words.to_config(),
            "labels": list(data.label_names),
            "dataset": data.name,
            "max_words": s.max_words,
            "settings": asdict(s),
            "member": k,
            "members": len(result.members),
            "test_accuracy": round(result.metrics["members"][k], 4),
            "ensemble_test_accuracy": round(result.metrics["accuracy"], 4),
        }
        model.save(folder / f"member-{k}.safetensors")
    result.model.save(path)


def report(record: dict[str, Any]) -> str:
    """report.md: the result in words, the table beside the baselines, the class balance."""
    m, c = record["metrics"], record["config"]
    cv = c["cv"]
    k = c["fit"][0]["members"]
    rows = [[f"rnn ({_describe(c)}), mean of {k} model(s)", m["accuracy"], m["macro_f1"]]]
    if "best_single" in m:
        rows.append(["rnn, the single best on validation", m["best_single"], ""])
    rows += [[name, b["accuracy"], b["macro_f1"]] for name, b in record["baselines"].items()]
    skipped = [f"- {k}: {v['skipped']}" for k, v in c["baseline_notes"].items() if "skipped" in v]
    best = max(record["baselines"].items(), key=lambda kv: kv[1]["accuracy"], default=None)
    verdict = ""
    if best is not None:
        diff = m["accuracy"] - best[1]["accuracy"]
        verdict = (
            f"The RNN is {abs(100 * diff):.1f} points {'above' if diff >= 0 else 'below'} "
            f"the best baseline ({best[0]})."
        )
    protocol = (
        f"{cv}-fold cross-validation over all {c['sentences']:,} sentences (means over "
        f"folds; the model saved is fold 1's)"
        if cv
        else "the loader's split: 9,065 train (10 % of it for validation), 1,007 test"
    )
    cm = m["confusion"]
    lines = [
        "# Sentiment of movie-review sentences",
        "",
        f"Test accuracy **{m['accuracy']:.4f}**, macro-F1 {m['macro_f1']:.4f} ({protocol}), "
        f"in {record['seconds']:.0f} s. {verdict}",
        "",
        markdown_table(["model", "accuracy", "macro_f1"], rows),
        "",
        f"Confusion matrix of the RNN (rows true, columns predicted; negative, positive): {cm}.",
        "",
        "Class balance: "
        + "; ".join(balance_line(k, v) for k, v in c["class_balance"].items())
        + ".",
        "",
        "Published marks on MR (Pang & Lee 2005 sentence polarity, 10-fold CV; Kim 2014, "
        "Table 2) — a related but not identical set (10,662 sentences, none dropped as neutral): "
        + ", ".join(f"{k} {v}" for k, v in PUBLISHED.items())
        + ".",
        *(["", "Baselines not computed:", *skipped] if skipped else []),
        "",
        'Files: `results.json`, `model.safetensors` (try `rnnlab classify --model DIR "..."`).',
    ]
    return "\n".join(lines)


def _describe(c: dict[str, Any]) -> str:
    cell = c["cell"].upper()
    return f"{'Bi' if c['bidirectional'] else ''}{cell}({c['units']}), {c['pooling']} pooling"


# -- the command ---------------------------------------------------------------------------------
@click.command("sentiment")
@click.option("--cell", type=click.Choice(CELLS), default="gru", show_default=True)
@click.option("--bidirectional", is_flag=True, help="Read each sentence both ways.")
@click.option(
    "--pooling",
    type=click.Choice(POOLINGS),
    default="last",
    show_default=True,
    help="last: the final state; mean/max over the words' states.",
)
@click.option("--units", type=click.IntRange(1, 4096), default=64, show_default=True)
@click.option(
    "--restarts",
    type=click.IntRange(1, 100),
    default=8,
    show_default=True,
    help="Models trained (new seeds) while the budget allows; predictions are their mean.",
)
@click.option(
    "--cv",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="K-fold cross-validation over all sentences (0: the loader's split).",
)
@click.option(
    "--seconds",
    type=click.FloatRange(min=1.0),
    default=600.0,
    show_default=True,
    help="Training budget (all folds together).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs/sentiment"), show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
def sentiment_command(
    cell, bidirectional, pooling, units, restarts, cv, seconds, out, seed
) -> None:
    """Sentence sentiment (rated movie-review snippets) against majority, VADER and
    bag-of-words logistic regression."""
    from ..datasets import load_vader_movies

    if cv == 1:
        raise click.BadParameter(
            "expected 0 (the loader's split) or at least 2 folds, got 1", param_hint="--cv"
        )
    try:
        out = prepare_out(out, resume=False)
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    settings = SentimentTaskSettings(
        cell=cell,
        bidirectional=bidirectional,
        pooling=pooling,
        units=units,
        restarts=restarts,
        cv=cv,
        seed=seed,
    )
    data = load_vader_movies(progress=lambda t: click.echo(t, err=True))
    click.echo(data.summary(), err=True)
    budget = Budget(seconds)
    record = run_sentiment(
        data,
        settings,
        seconds=seconds,
        out=out,
        progress=ProgressLine(budget, "sentiment"),
        log=lambda t: click.echo(t, err=True),
    )
    click.echo("\n".join(summary_lines(record)))
    click.echo(f"wrote {out / 'results.json'}, {out / 'report.md'}, {out / MODEL_NAME}")


__all__ = [
    "CELLS",
    "POOLINGS",
    "PUBLISHED",
    "SentimentTaskSettings",
    "build_model",
    "cv_folds",
    "holdout",
    "report",
    "run_sentiment",
    "sentiment_command",
]
