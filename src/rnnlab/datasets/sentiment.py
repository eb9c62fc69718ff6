"""Rated movie-review sentences (Hutto & Gilbert 2014) as a binary sentiment dataset.

The source archive of vaderSentiment 3.3.2 carries the data of the VADER paper as a nested
archive, `additional_resources/hutto_ICWSM_2014.tar.gz`. Its member
`hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt` holds 10,605 sentence-level snippets of
rottentomatoes.com reviews (from Pang & Lee 2004), one per line:

    ID <tab> MEAN-SENTIMENT-RATING <tab> TEXT

where the rating is the mean of at least 20 human ratings on a scale from -4 (extremely
negative) to +4 (extremely positive). Both archives are read in memory with `tarfile`: nothing
is extracted to disk and nothing of the package is imported or run by this module.

    >>> data = load_vader_movies()
    >>> data.summary()
    'vader-movies: train 9,065 sentences (49.6% positive); validation 1,007 sentences (49.6% ...'
    >>> words = WordVocab.from_texts([s.text for s in data.train], max_size=4000)
    >>> ids, known = words.encode(tokenize("the movie was great"))
"""

from __future__ import annotations

import io
import json
import math
import numbers
import os
import re
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_rate, check_seed, describe
from .corpus import Document, split_by_document
from .download import DatasetError, fetch
from .registry import info

NAME = "vader-movies"
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
MOVIE_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
LICENCE_MEMBER = "LICENSE.txt"
LABEL_NAMES = ("negative", "positive")
RATING_RANGE = (-4.0, 4.0)
_MAX_INNER_BYTES = 64 << 20  # the nested archive is ~2.4 MB; refuse absurd sizes


# -- the data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snippet:
    """One rated sentence: its id in the source file, text, mean rating in [-4, 4], and label
    (1 positive, 0 negative, None when the rating is within the neutral band)."""

    id: int
    text: str
    rating: float
    label: int | None


@dataclass(frozen=True)
class SentimentDataset:
    """Labelled sentences split into train and validation.

    Arguments:
        name: the registry name.
        train, validation: lists of `Snippet`, every one with a label (0 or 1).
        label_names: ("negative", "positive"): label k is named label_names[k].
        neutral_band: snippets with |rating| < neutral_band were dropped.
        dropped: how many snippets were dropped as neutral.
        licence, citation: of the source.
    """

    name: str
    train: list[Snippet]
    validation: list[Snippet]
    label_names: tuple[str, str] = LABEL_NAMES
    neutral_band: float = 0.0
    dropped: int = 0
    licence: str = ""
    citation: str = ""

    def texts(self, split: str = "train") -> list[str]:
        return [s.text for s in self._split(split)]

    def labels(self, split: str = "train") -> np.ndarray:
        """The labels of `split` as an int64 array (0 negative, 1 positive)."""
        return np.array([s.label for s in self._split(split)], dtype=np.int64)

    def _split(self, split: str) -> list[Snippet]:
        if split == "train":
            return self.train
        if split == "validation":
            return self.validation
        if split == "all":
            return [*self.train, *self.validation]
        raise ValueError(
            f"SentimentDataset: expected split in ['train', 'validation', 'all'], got {split!r}"
        )

    def summary(self) -> str:
        def part(items: list[Snippet]) -> str:
            pos = sum(s.label for s in items)
            return f"{len(items):,} sentences ({100 * pos / max(len(items), 1):.1f}% positive)"

        return (
            f"{self.name}: train {part(self.train)}; validation {part(self.validation)}; "
            f"{self.dropped} near-neutral sentences (|rating| < {self.neutral_band}) dropped"
        )


def _read_nested(archive: str | os.PathLike) -> tuple[bytes, str | None]:
    """(movie snippets file, licence text or None) read from the sdist, all in memory."""
    try:
        with tarfile.open(archive, mode="r:*") as outer:
            members = {m.name: m for m in outer.getmembers()}
            inner_member = next(
                (m for name, m in members.items() if name.split("/", 1)[-1] == INNER_ARCHIVE), None
            )
            if inner_member is None or not inner_member.isfile():
                raise DatasetError(f"dataset {NAME!r}: {archive} has no {INNER_ARCHIVE}")
            if inner_member.size > _MAX_INNER_BYTES:
                raise DatasetError(
                    f"dataset {NAME!r}: {INNER_ARCHIVE} in {archive} is "
                    f"{inner_member.size:,} bytes, more than expected"
                )
            inner_bytes = outer.extractfile(inner_member).read()
            licence = None
            lic = next(
                (
                    m
                    for name, m in members.items()
                    if name.split("/", 1)[-1] == LICENCE_MEMBER and m.isfile()
                ),
                None,
            )
            if lic is not None:
                licence = outer.extractfile(lic).read().decode("utf-8", "replace").strip()
        with tarfile.open(fileobj=io.BytesIO(inner_bytes), mode="r:*") as inner:
            try:
                member = inner.getmember(MOVIE_MEMBER)
            except KeyError:
                raise DatasetError(
                    f"dataset {NAME!r}: {INNER_ARCHIVE} in {archive} has no {MOVIE_MEMBER}"
                ) from None
            if not member.isfile():
                raise DatasetError(f"dataset {NAME!r}: {MOVIE_MEMBER} is not a regular file")
            data = inner.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetError(f"dataset {NAME!r}: cannot read {archive}: {err}") from err
    return data, licence


def parse_snippets(raw: bytes | str, neutral_band: float = 0.0) -> list[Snippet]:
    """Parse `ID<tab>RATING<tab>TEXT` lines (UTF-8) into snippets, in file order.

    Labels: 1 if rating ≥ neutral_band and rating > 0, 0 if rating ≤ -neutral_band and
    rating < 0, else None. Blank lines are skipped; any other malformed line raises
    DatasetError naming its line number.
    """
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    out: list[Snippet] = []
    seen: set[int] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        try:
            if len(parts) != 3:
                raise ValueError("expected 3 tab-separated fields")
            ident, rating = int(parts[0]), float(parts[1])
            if not math.isfinite(rating) or not RATING_RANGE[0] <= rating <= RATING_RANGE[1]:
                raise ValueError(f"rating {parts[1]!r} is outside [-4, 4]")
            if ident in seen:
                raise ValueError(f"id {ident} occurs twice")
        except ValueError as err:
            raise DatasetError(
                f"dataset {NAME!r}: line {number} of {MOVIE_MEMBER}: {err}: {line[:80]!r}"
            ) from None
        seen.add(ident)
        sentence = " ".join(parts[2].split())
        if rating > 0 and rating >= neutral_band:
            label = 1
        elif rating < 0 and rating <= -neutral_band:
            label = 0
        else:
            label = None
        out.append(Snippet(ident, sentence, rating, label))
    return out


def read_movie_snippets(archive: str | os.PathLike, neutral_band: float = 0.0) -> list[Snippet]:
    """All rated snippets of a vaderSentiment source archive, in file order (see
    `parse_snippets`), labelled with the given neutral band."""
    data, _ = _read_nested(archive)
    try:
        snippets = parse_snippets(data, neutral_band)
    except UnicodeDecodeError as err:
        raise DatasetError(f"dataset {NAME!r}: {MOVIE_MEMBER} is not UTF-8: {err}") from None
    if not snippets:
        raise DatasetError(f"dataset {NAME!r}: {MOVIE_MEMBER} in {archive} holds no snippets")
    return snippets


def load_vader_movies(
    home: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    neutral_band: float = 0.5,
    seed: int | None = None,
    *,
    progress: Callable[[str], object] | None = None,
) -> SentimentDataset:
    """The 10,605 rated movie-review sentences as positive/negative labels, split in two.

    Fetches (once) and verifies the vaderSentiment 3.3.2 source archive (`fetch("vader-movies")`,
    pip with hash checking), reads the nested archive in memory, labels each sentence positive
    (mean rating ≥ neutral_band, > 0) or negative (≤ -neutral_band, < 0) and drops the rest.

    Split (deterministic, `split_by_document` over the snippets by id): with seed=None, every
    round(1 / validation_fraction)-th snippet in id order (evenly spaced) goes to validation;
    an int seed shuffles first. With the defaults (0.1, neutral band 0.5):
    10,072 labelled sentences (533 near-neutral ones dropped), 9,065 train and 1,007
    validation, 49.6 % positive in both.

    Arguments:
        home: cache root (see `fetch`); default `$RNNLAB_HOME` or `~/.cache/rnnlab`.
        validation_fraction: share of sentences for validation, in [0, 1).
        neutral_band: drop sentences whose |mean rating| is below this, in [0, 4).
        seed: None for the documented split, an int for a shuffled one.
        progress: passed to `fetch` (e.g. `print`).
    """
    who = "load_vader_movies"
    check_rate(validation_fraction, who, "validation_fraction")
    check_seed(seed, who)
    if (
        isinstance(neutral_band, bool)
        or not isinstance(neutral_band, numbers.Real)
        or not 0 <= neutral_band < 4
    ):
        raise ValueError(f"{who}: expected neutral_band in [0, 4), got {neutral_band!r}")
    archive = fetch(NAME, home=home, progress=progress)
    data, licence_text = _read_nested(archive)
    snippets = parse_snippets(data, float(neutral_band))
    return make_dataset(snippets, validation_fraction, seed, float(neutral_band), licence_text)


def make_dataset(
    snippets: Sequence[Snippet],
    validation_fraction: float = 0.1,
    seed: int | None = None,
    neutral_band: float = 0.0,
    licence_text: str | None = None,
) -> SentimentDataset:
    """Drop unlabelled snippets and split the rest (see `load_vader_movies`)."""
    labelled = [s for s in snippets if s.label is not None]
    if len(labelled) < 2:
        raise DatasetError(
            f"dataset {NAME!r}: {len(labelled)} labelled sentence(s); expected thousands"
        )
    width = len(str(max(s.id for s in labelled)))
    by_name = {f"{s.id:0{width}d}": s for s in labelled}
    docs = [Document(name, s.text) for name, s in by_name.items()]
    train, validation = split_by_document(docs, validation_fraction, seed)
    entry = info(NAME)
    licence = entry.licence
    if licence_text:
        licence += f"\n\nLicence of the archive ({LICENCE_MEMBER}):\n\n{licence_text}\n"
    return SentimentDataset(
        NAME,
        [by_name[d.name] for d in train],
        [by_name[d.name] for d in validation],
        LABEL_NAMES,
        neutral_band,
        len(snippets) - len(labelled),
        licence,
        entry.citation,
    )


# -- words ---------------------------------------------------------------------------------------
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[!?]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words (letters and digits, inner apostrophes kept: "didn't") and the marks
    "!" and "?"; other punctuation is dropped. Curly apostrophes count as straight ones."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize: expected str, got {describe(text)}")
    return _WORD.findall(text.lower().replace("\u2019", "'"))


class WordVocab:
    """Words <-> int ids for an Embedding(mask_zero=True): 0 is padding, 1 is "out of
    vocabulary" (OOV), the words take ids 2, 3, ... in order of decreasing frequency.

    Arguments:
        words: the known words in id order (distinct, non-empty strings).
    """

    PAD, OOV = 0, 1
    RESERVED = ("<pad>", "<oov>")

    def __init__(self, words: Iterable[str]):
        if isinstance(words, str) or not isinstance(words, Iterable):
            raise TypeError(f"WordVocab: expected a list of words, got {describe(words)}")
        words = list(words)
        for i, w in enumerate(words):
            if not isinstance(w, str) or not w or w in self.RESERVED:
                raise ValueError(
                    f"WordVocab: expected non-empty word strings, got {w!r} at index {i}"
                )
        self._words = words
        self._ids = {w: i + 2 for i, w in enumerate(words)}
        if len(self._ids) != len(words):
            raise ValueError("WordVocab: the words must be distinct")

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], max_size: int = 4000, min_count: int = 2
    ) -> WordVocab:
        """The `max_size` most frequent tokens (ties: alphabetical) seen ≥ min_count times."""
        for name, value in (("max_size", max_size), ("min_count", min_count)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"WordVocab.from_texts: expected {name} ≥ 1, got {value!r}")
        counts = Counter(w for text in texts for w in tokenize(text))
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(ranked[:max_size])

    @property
    def words(self) -> list[str]:
        return list(self._words)

    def __len__(self) -> int:
        """Number of ids including padding and OOV: the Embedding's input_dim."""
        return len(self._words) + 2

    def __contains__(self, word: object) -> bool:
        return word in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WordVocab) and self._words == other._words

    def __hash__(self) -> int:
        return hash(tuple(self._words))

    def __repr__(self) -> str:
        return f"WordVocab({len(self._words)} words + padding + OOV)"

    def encode(self, tokens: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 (N,), known bool (N,)) for a list of tokens; unknown ones get OOV."""
        if isinstance(tokens, str):
            raise TypeError("WordVocab.encode: expected a list of tokens (see tokenize), got a str")
        ids = np.array([self._ids.get(t, self.OOV) for t in tokens], dtype=np.int64)
        return ids, ids != self.OOV

    def decode(self, ids) -> list[str]:
        """The tokens of ids (padding dropped, OOV as "<oov>")."""
        out = []
        for i in np.asarray(ids, dtype=np.int64).ravel():
            if not 0 <= i < len(self):
                raise ValueError(f"WordVocab.decode: id {int(i)} is out of range [0, {len(self)})")
            if i != self.PAD:
                out.append(self.RESERVED[1] if i == self.OOV else self._words[i - 2])
        return out

    def to_config(self) -> dict:
        return {"words": list(self._words), "pad_id": self.PAD, "oov_id": self.OOV}

    @classmethod
    def from_config(cls, config: dict | str) -> WordVocab:
        if isinstance(config, str):
            config = json.loads(config)
        if (
            not isinstance(config, dict)
            or not isinstance(config.get("words"), list)
            or config.get("pad_id", 0) != 0
            or config.get("oov_id", 1) != 1
        ):
            raise ValueError(
                f"WordVocab.from_config: expected {{'words': [...], 'pad_id': 0, "
                f"'oov_id': 1}}, got {describe(config)}"
            )
        return cls(config["words"])


__all__ = [
    "LABEL_NAMES",
    "SentimentDataset",
    "Snippet",
    "WordVocab",
    "load_vader_movies",
    "make_dataset",
    "parse_snippets",
    "read_movie_snippets",
    "tokenize",
]
