"""Text corpora split into train and validation documents, and a corpus from your own file.

A `TextCorpus` keeps whole documents on one side of the split: a model validated on a play it
never saw measures generalisation, not memory of neighbouring lines.

    >>> corpus = text_file_corpus("notes.txt")          # your own UTF-8 text
    >>> corpus.num_chars("train"), corpus.num_chars("validation")
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._validation import check_rate, check_seed, describe
from .playtext import normalise_newlines

SPLITS = ("train", "validation", "all")


@dataclass(frozen=True)
class Document:
    """One named text (a play, a file); `len(doc)` is its number of characters."""

    name: str
    text: str

    def __len__(self) -> int:
        return len(self.text)


@dataclass(frozen=True)
class TextCorpus:
    """Train and validation documents with the licence of their source.

    Arguments:
        name: what the corpus is ("shakespeare", a file name).
        train, validation: lists of `Document`; no document is in both.
        licence: licence text of the source (what you may do with the text and models of it).
        citation: one line crediting the source.
    """

    name: str
    train: list[Document]
    validation: list[Document]
    licence: str = ""
    citation: str = ""

    def _documents(self, split: str, who: str) -> list[Document]:
        if split not in SPLITS:
            raise ValueError(f"TextCorpus.{who}: expected split in {list(SPLITS)}, got {split!r}")
        if split == "all":
            return [*self.train, *self.validation]
        return self.train if split == "train" else self.validation

    def text(self, split: str = "train") -> str:
        """The documents of `split` ("train", "validation" or "all") joined by a newline."""
        return "\n".join(doc.text for doc in self._documents(split, "text"))

    def num_chars(self, split: str = "train") -> int:
        """Characters of `text(split)`."""
        return len(self.text(split))

    @property
    def train_chars(self) -> int:
        return self.num_chars("train")

    @property
    def validation_chars(self) -> int:
        return self.num_chars("validation")

    def charset(self, split: str = "all") -> str:
        """The sorted distinct characters of `split` as one string."""
        return "".join(sorted(set(self.text(split))))

    def summary(self) -> str:
        """One line: documents and characters per split, character set size."""
        return (
            f"{self.name}: train {len(self.train)} documents, {self.train_chars:,} chars; "
            f"validation {len(self.validation)} documents, {self.validation_chars:,} chars; "
            f"{len(self.charset())} distinct characters"
        )


def split_by_document(
    documents: Sequence[Document], validation_fraction: float = 0.1, seed: int | None = None
) -> tuple[list[Document], list[Document]]:
    """Split whole documents into (train, validation), deterministically.

    The documents are ordered by name (or, with an int `seed`, in the order of
    `np.random.default_rng(seed).permutation`); `k = round(validation_fraction * n)` of them
    (at least 1 when the fraction is positive, at most n - 1) go to validation, evenly spaced:
    positions `floor((j + 0.5) * n / k)` for j = 0..k-1. Both lists keep name order.
    """
    who = "split_by_document"
    if isinstance(documents, (str, bytes)) or not isinstance(documents, Sequence):
        raise TypeError(f"{who}: expected a sequence of Document, got {describe(documents)}")
    for doc in documents:
        if not isinstance(doc, Document):
            raise TypeError(f"{who}: expected a sequence of Document, found {describe(doc)}")
    names = [doc.name for doc in documents]
    if len(set(names)) != len(names):
        raise ValueError(
            f"{who}: document names must be unique, got duplicates "
            f"{sorted({n for n in names if names.count(n) > 1})}"
        )
    fraction = check_rate(validation_fraction, who, "validation_fraction")
    check_seed(seed, who)
    n = len(documents)
    ordered = sorted(documents, key=lambda d: d.name)
    if fraction == 0.0:
        return ordered, []
    if n < 2:
        raise ValueError(
            f"{who}: need at least 2 documents to split with validation_fraction "
            f"{fraction}, got {n}"
        )
    if seed is not None:
        ordered = [ordered[i] for i in np.random.default_rng(int(seed)).permutation(n)]
    k = min(max(1, math.floor(fraction * n + 0.5)), n - 1)
    chosen = {ordered[math.floor((j + 0.5) * n / k)].name for j in range(k)}
    by_name = sorted(documents, key=lambda d: d.name)
    return ([d for d in by_name if d.name not in chosen], [d for d in by_name if d.name in chosen])


def text_file_corpus(path: str | os.PathLike, validation_fraction: float = 0.1) -> TextCorpus:
    """A corpus from one UTF-8 text file: the last lines (about `validation_fraction` of the
    characters) are the validation document, the rest the train document.

    The cut is at the first line boundary at or after `(1 - validation_fraction) * len(text)`
    (or the last one before it), so no line is split. Newlines are normalised to "\\n".

    Raises:
        FileNotFoundError / IsADirectoryError: `path` is missing or a directory.
        ValueError: the bytes are not UTF-8 (position given), the file is empty, or it has
            too few lines to give both splits some text.
    """
    who = "text_file_corpus"
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(f"{who}: expected a file path (str or os.PathLike), got {describe(path)}")
    fraction = check_rate(validation_fraction, who, "validation_fraction")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{who}: no such file: {path}")
    if path.is_dir():
        raise IsADirectoryError(f"{who}: expected a text file, got the directory {path}")
    data = path.read_bytes()
    try:
        text = normalise_newlines(data.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{who}: {path} is not UTF-8 text: byte {data[err.start]:#04x} at "
            f"offset {err.start} cannot be decoded ({err.reason}); convert the "
            f"file to UTF-8 first"
        ) from None
    if not text.strip():
        raise ValueError(f"{who}: {path} is empty (no text to train on)")
    if fraction == 0.0:
        return TextCorpus(path.name, [Document(path.name, text)], [], _USER_LICENCE)
    cut = _line_cut(text, fraction)
    if cut is None:
        lines = text.count("\n") + (not text.endswith("\n"))
        raise ValueError(
            f"{who}: {path} is too short to split ({len(text)} characters, "
            f"{lines} line(s)): need at least two non-empty lines, one for each "
            f"split, or validation_fraction=0"
        )
    return TextCorpus(
        path.name,
        [Document(f"{path.name}[train]", text[:cut])],
        [Document(f"{path.name}[validation]", text[cut:])],
        _USER_LICENCE,
    )


_USER_LICENCE = "your own file: its licence is whatever applies to it"


def _line_cut(text: str, fraction: float) -> int | None:
    """Index just after a newline near (1 - fraction) of the text, leaving text on both sides."""
    target = max(1, min(len(text) - 1, round((1.0 - fraction) * len(text))))
    candidates = [text.find("\n", target - 1), text.rfind("\n", 0, target - 1)]
    for nl in candidates:
        if nl == -1:
            continue
        cut = nl + 1
        if text[:cut].strip() and text[cut:].strip():
            return cut
    return None
