"""The baselines of `rnnlab task sentiment`, computed in the same run on the same split.

- majority: every sentence gets the training set's most frequent label.
- vader: the real VADER (Hutto & Gilbert 2014), `vaderSentiment.SentimentIntensityAnalyzer`
  from the optional dependency `vaderSentiment` (`pip install rnnlab[tasks]`). Its compound
  score c ∈ [-1, 1] gives positive if c > 0, negative if c < 0; a sentence with c = 0 (no word
  of the lexicon, about one in eight here) gets the training majority label. VADER is a lexicon
  *and* rules (negation, "but", boosters, capitals, punctuation): reading only its lexicon out of
  the pinned archive would mean re-writing those rules by hand, so the package itself runs.
- bow_logistic: logistic regression on binary bag-of-words features (unigrams and bigrams,
  `rnnlab.datasets.sentiment.tokenize`), scikit-learn (optional: `rnnlab[tasks]`); the inverse
  regularisation C ∈ {0.25, 1, 4} is chosen on the validation split, like the RNN's epoch.

Each baseline returns its predicted labels (0 negative, 1 positive); an absent optional
dependency raises `MissingDependency` naming the package and the extra to install.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..datasets.sentiment import tokenize

BOW_C = (0.25, 1.0, 4.0)
EXTRA = "pip install 'rnnlab[tasks]'"


class MissingDependency(ImportError):
    """An optional package a baseline needs is not installed; the message says which."""


def majority(y_train: np.ndarray, n_test: int) -> np.ndarray:
    """The most frequent training label (ties: the smaller label) for every test item."""
    label = int(np.bincount(np.asarray(y_train, dtype=np.int64)).argmax())
    return np.full(n_test, label, dtype=np.int64)


def vader_scores(texts: Sequence[str]) -> np.ndarray:
    """VADER's compound score of each text, (N,) in [-1, 1]."""
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError:
        raise MissingDependency(
            f"the VADER baseline needs the vaderSentiment package ({EXTRA})"
        ) from None
    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(t)["compound"] for t in texts], dtype=np.float64)


def vader(texts: Sequence[str], y_train: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """(labels, facts): positive for compound > 0, negative for < 0, the training majority
    for 0; facts["no_opinion"] is the share of texts VADER scored 0."""
    scores = vader_scores(texts)
    fallback = int(np.bincount(np.asarray(y_train, dtype=np.int64)).argmax())
    labels = np.where(scores > 0, 1, np.where(scores < 0, 0, fallback)).astype(np.int64)
    return labels, {"no_opinion": float((scores == 0).mean()) if len(scores) else 0.0}


def bow_logistic(
    train: Sequence[str],
    y_train: np.ndarray,
    validation: Sequence[str],
    y_validation: np.ndarray,
    test: Sequence[str],
    seed: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(test labels, facts {"c", "features"}) of a bag-of-words logistic regression fitted on
    `train`, its C chosen by accuracy on `validation`."""
    try:
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise MissingDependency(f"the bag-of-words baseline needs scikit-learn ({EXTRA})") from None
    vectorizer = CountVectorizer(
        tokenizer=tokenize, lowercase=False, token_pattern=None, ngram_range=(1, 2), binary=True
    )
    a_train = vectorizer.fit_transform(list(train))  # (N, features) sparse
    a_val, a_test = vectorizer.transform(list(validation)), vectorizer.transform(list(test))
    best, best_acc, best_c = None, -1.0, BOW_C[0]
    for c in BOW_C:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(a_train, y_train)
        acc = float((model.predict(a_val) == y_validation).mean())
        if acc > best_acc:
            best, best_acc, best_c = model, acc, c
    labels = best.predict(a_test).astype(np.int64)
    return labels, {"c": best_c, "features": int(a_train.shape[1])}


__all__ = ["BOW_C", "MissingDependency", "bow_logistic", "majority", "vader", "vader_scores"]
