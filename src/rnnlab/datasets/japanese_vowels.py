"""Japanese Vowels (UCI): speaker identification from LPC cepstrum frames, read from .ts text.

Nine male speakers each uttered the Japanese vowels /ae/ in succession; a 12-degree linear
prediction analysis gives, per 25.6 ms frame, 12 LPC cepstrum coefficients, so an utterance is
a (T, 12) series with T between 7 and 29. 270 utterances for training (30 per speaker) and 370
for testing (24 to 88 per speaker: the test set is imbalanced). Kudo, Toyama & Shimbo 1999.

The data come from the pinned sktime wheel (`fetch("japanese-vowels")`), whose members
`sktime/datasets/data/JapaneseVowels/JapaneseVowels_{TRAIN,TEST}.ts` are read as text by the
small reader below: sktime is never imported or installed. The .ts format (the UEA/UCR
archive's):

    # comment lines
    @problemName JapaneseVowels
    @univariate false
    @dimensions 12
    @equalLength false
    @classLabel true 1 2 3 4 5 6 7 8 9
    @data
    v,v,...,v:v,v,...,v: ... :LABEL          one series a line: D dimensions split by ':',
                                             each T comma-separated values, then the label

    >>> data = load_japanese_vowels()
    >>> data.train.series[0].shape, data.train.labels[0]
    ((20, 12), 0)
"""

from __future__ import annotations

import math
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .download import DatasetError, fetch

NAME = "japanese-vowels"
MEMBER = "sktime/datasets/data/JapaneseVowels/JapaneseVowels_{split}.ts"
_MAX_BYTES = 16 << 20  # each file is < 1 MB; refuse absurd sizes


@dataclass(frozen=True)
class TsData:
    """Labelled multivariate series read from a .ts file.

    Arguments:
        series: one float64 array (T_i, D) per series, T_i ≥ 1.
        labels: int64 (N,), indices into `classes`.
        classes: the class labels as the file names them (the @classLabel order).
        name: the @problemName.
    """

    series: list[np.ndarray]
    labels: np.ndarray
    classes: tuple[str, ...]
    name: str

    @property
    def dimensions(self) -> int:
        return self.series[0].shape[1] if self.series else 0


def parse_ts(text: str, source: str = "<text>") -> TsData:
    """Read .ts text (module docstring). Every series must have the declared number of
    dimensions, all of the same length, finite values and a declared class label. A malformed
    line raises DatasetError naming `source` and the line number."""
    if not isinstance(text, str):
        raise TypeError(f"parse_ts: expected str, got {type(text).__name__}")
    header: dict[str, str] = {}
    classes: tuple[str, ...] | None = None
    series: list[np.ndarray] = []
    labels: list[int] = []
    in_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()

        def fail(why: str, line=line, number=number) -> DatasetError:
            return DatasetError(f"{source}, line {number}: {why}: {line[:60]!r}")

        if not line or line.startswith("#"):
            continue
        if not in_data:
            if not line.startswith("@"):
                raise fail("expected a @keyword header line or # comment before @data")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                if classes is None:
                    raise fail("@data before '@classLabel true ...'")
                in_data = True
            elif key == "classlabel":
                words = value.split()
                if not words or words[0].lower() != "true" or len(words) < 2:
                    raise fail("expected '@classLabel true LABEL LABEL ...'")
                classes = tuple(words[1:])
            else:
                header[key] = value.strip()
            continue
        *dims, label = line.split(":")
        want = int(header.get("dimensions", len(dims)))
        if len(dims) != want or not dims:
            raise fail(f"expected {want} dimensions and a label split by ':', got {len(dims)}")
        if label.strip() not in classes:
            raise fail(f"class label {label.strip()!r} is not one of {list(classes)}")
        if any(v.strip() == "?" for d in dims for v in d.split(",")):
            raise fail("missing values ('?') are not supported")
        try:
            values = [[float(v) for v in d.split(",")] for d in dims]
        except ValueError as err:
            raise fail(f"not a number ({err})") from None
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise fail(f"dimensions of different lengths {sorted(lengths)}")
        array = np.array(values, dtype=np.float64).T  # (T, D)
        if not all(math.isfinite(v) for v in array.ravel()):
            raise fail("non-finite values are not supported")
        series.append(array)
        labels.append(classes.index(label.strip()))
    if not in_data:
        raise DatasetError(f"{source}: no @data section")
    if not series:
        raise DatasetError(f"{source}: the @data section holds no series")
    return TsData(series, np.array(labels, dtype=np.int64), classes, header.get("problemname", ""))


@dataclass(frozen=True)
class JapaneseVowels:
    """The train and test sets (`TsData`, classes "1".."9" = speakers 1..9)."""

    train: TsData
    test: TsData

    def summary(self) -> str:
        def part(d: TsData) -> str:
            lengths = [len(s) for s in d.series]
            return f"{len(d.series)} utterances ({min(lengths)}-{max(lengths)} frames)"

        return (
            f"{NAME}: {len(self.train.classes)} speakers, {self.train.dimensions} LPC cepstrum "
            f"coefficients per frame; train {part(self.train)}, test {part(self.test)}"
        )


def read_archive(archive: str | os.PathLike) -> JapaneseVowels:
    """Both splits read out of the sktime wheel (a zip file) in memory."""
    splits = {}
    try:
        with zipfile.ZipFile(archive) as wheel:
            for split in ("TRAIN", "TEST"):
                member = MEMBER.format(split=split)
                try:
                    info = wheel.getinfo(member)
                except KeyError:
                    raise DatasetError(f"dataset {NAME!r}: {archive} has no {member}") from None
                if info.file_size > _MAX_BYTES:
                    raise DatasetError(f"dataset {NAME!r}: {member} is {info.file_size:,} bytes")
                text = wheel.read(member).decode("utf-8")
                splits[split] = parse_ts(text, member)
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError) as err:
        raise DatasetError(f"dataset {NAME!r}: cannot read {archive}: {err}") from err
    train, test = splits["TRAIN"], splits["TEST"]
    if train.classes != test.classes or train.dimensions != test.dimensions:
        raise DatasetError(f"dataset {NAME!r}: the train and test files disagree on classes")
    return JapaneseVowels(train, test)


def load_japanese_vowels(
    home: str | os.PathLike | None = None, *, progress: Callable[[str], object] | None = None
) -> JapaneseVowels:
    """Fetch (once; pip, sha256-pinned) and read the Japanese Vowels train and test sets."""
    return read_archive(fetch(NAME, home=home, progress=progress))


__all__ = ["JapaneseVowels", "TsData", "load_japanese_vowels", "parse_ts", "read_archive"]
