"""The VADER movie-review sentences: nested archive read in memory, labels, split, words."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from rnnlab import datasets
from rnnlab.datasets import download as fetch_mod
from rnnlab.datasets import registry
from rnnlab.datasets import sentiment as sent
from rnnlab.datasets.sentiment import WordVocab, tokenize

ARCHIVE = "vaderSentiment-3.3.2.tar.gz"
LINES = [
    "1\t2.26666666667\tThe Rock is destined to be great .",
    "2\t-1.5\tA dull , boring film .",
    "3\t0.2\tIt is a movie .",
    "4\t-0.6\tEffective but too tepid biopic",
    "5\t3.1\tWe\u2019ve seen nothing this good .",
    "6\t-3.875\tThe worst film of the year .",
    "7\t0.5\tMildly fun .",
    "8\t-0.49\tNot quite there .",
    "9\t1.0\tA   fine\tfilm .",
    "10\t-2.0\tAwful .",
]


def tar_bytes(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tf:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tf.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


def make_sdist(path, lines=LINES, inner_name=sent.MOVIE_MEMBER, with_inner=True):
    inner = tar_bytes(
        {
            inner_name: ("\r\n".join(lines) + "\r\n").encode("utf-8"),
            "hutto_ICWSM_2014/_README_.txt": b"readme",
        }
    )
    members = {
        "vaderSentiment-3.3.2/LICENSE.txt": b"The MIT License (MIT)\n\nCopyright",
        "vaderSentiment-3.3.2/setup.py": b"raise SystemExit('never run')\n",
    }
    if with_inner:
        members[f"vaderSentiment-3.3.2/{sent.INNER_ARCHIVE}"] = inner
    path.write_bytes(tar_bytes(members))
    return path


class FakePip:
    """Stands in for `_pip_download`: copies the fake sdist, records how it was called."""

    def __init__(self, source):
        self.source, self.calls = source, []

    def __call__(self, requirement, dest, sdist_sha256=None):
        self.calls.append((requirement, sdist_sha256))
        (dest / ARCHIVE).write_bytes(self.source.read_bytes())
        return subprocess.CompletedProcess(["pip"], 0, "", "")


@pytest.fixture
def fake(tmp_path, monkeypatch):
    sdist = make_sdist(tmp_path / ARCHIVE)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    entry = dataclasses.replace(registry.info("vader-movies"), sha256=digest)
    monkeypatch.setitem(registry._REGISTRY, "vader-movies", entry)
    pip = FakePip(sdist)
    monkeypatch.setattr(fetch_mod, "_pip_download", pip)
    return pip, tmp_path / "home", digest


# -- registry and fetch ------------------------------------------------------------------------
def test_registry_entry_pins_the_source_archive():
    entry = datasets.info("vader-movies")
    assert entry.kind == "pypi" and entry.source == "vaderSentiment==3.3.2" and entry.sdist
    assert entry.archive == ARCHIVE
    assert entry.sha256 == "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
    assert "MIT" in entry.licence and "Hutto" in entry.citation
    assert {"shakespeare", "vader-movies"} <= {d.name for d in datasets.list_datasets()}
    assert not datasets.info("shakespeare").sdist
    with pytest.raises(ValueError, match="sdist=True applies to pypi sources only"):
        dataclasses.replace(entry, kind="url", source="https://example.org/a.tar.gz")


def test_sdist_is_downloaded_in_hash_checking_mode(monkeypatch, tmp_path):
    seen = {}

    def run(cmd, **kwargs):
        seen["cmd"] = cmd
        seen["requirements"] = open(cmd[cmd.index("-r") + 1]).read()
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch_mod.subprocess, "run", run)
    fetch_mod._pip_download("vaderSentiment==3.3.2", tmp_path, sdist_sha256="ab" * 32)
    cmd = seen["cmd"]
    assert cmd[:5] == [sys.executable, "-m", "pip", "download", "--no-deps"]
    assert "--no-binary=:all:" in cmd and "--require-hashes" in cmd
    assert "--only-binary=:all:" not in cmd
    assert cmd[cmd.index("-d") + 1] == str(tmp_path)
    assert seen["requirements"] == f"vaderSentiment==3.3.2 --hash=sha256:{'ab' * 32}\n"


def test_fetch_passes_the_hash_for_an_sdist(fake):
    pip, home, digest = fake
    path = datasets.fetch("vader-movies", home=home)
    assert path == home / "datasets" / "vader-movies" / ARCHIVE
    assert pip.calls == [("vaderSentiment==3.3.2", digest)]


# -- reading -----------------------------------------------------------------------------------
def test_load_from_the_nested_archive(fake):
    pip, home, _ = fake
    data = datasets.load_vader_movies(home=home, validation_fraction=0.25, neutral_band=0.5)
    # ratings 0.2 and -0.49 are within the band: dropped; 0.5 is kept (≥ band)
    assert data.dropped == 2
    kept = data.train + data.validation
    assert sorted(s.id for s in kept) == [1, 2, 4, 5, 6, 7, 9, 10]
    labels = {s.id: s.label for s in kept}
    assert labels == {1: 1, 2: 0, 4: 0, 5: 1, 6: 0, 7: 1, 9: 1, 10: 0}
    assert len(data.validation) == 2  # round(0.25 · 8), evenly spaced
    assert {s.id for s in data.validation}.isdisjoint({s.id for s in data.train})
    again = datasets.load_vader_movies(home=home, validation_fraction=0.25, neutral_band=0.5)
    assert again == data  # deterministic
    shuffled = datasets.load_vader_movies(home=home, validation_fraction=0.25, seed=3)
    assert len(shuffled.validation) == 2
    nine = next(s for s in kept if s.id == 9)
    assert nine.text == "A fine film ." and nine.rating == 1.0  # whitespace normalised
    assert data.labels("train").dtype == np.int64
    assert data.texts("validation") == [s.text for s in data.validation]
    assert "MIT" in data.licence and "Licence of the archive" in data.licence
    assert "Hutto" in data.citation
    assert "2 near-neutral" in data.summary()
    assert len(pip.calls) == 1  # cached afterwards
    with pytest.raises(ValueError, match="expected split"):
        data.texts("test")


def test_neutral_band_zero_keeps_every_signed_rating(fake):
    _, home, _ = fake
    data = datasets.load_vader_movies(home=home, neutral_band=0.0, validation_fraction=0.1)
    assert data.dropped == 0 and len(data.train) + len(data.validation) == 10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"neutral_band": 4.0}, "neutral_band"),
        ({"neutral_band": -0.1}, "neutral_band"),
        ({"neutral_band": True}, "neutral_band"),
    ],
)
def test_load_validates_before_downloading(fake, kwargs, match):
    pip, home, _ = fake
    with pytest.raises(ValueError, match=match):
        datasets.load_vader_movies(home=home, **kwargs)
    assert pip.calls == []


def test_malformed_archives_raise_dataset_error(tmp_path):
    with pytest.raises(datasets.DatasetError, match="has no additional_resources"):
        sent.read_movie_snippets(make_sdist(tmp_path / "a.tar.gz", with_inner=False))
    with pytest.raises(datasets.DatasetError, match="has no hutto_ICWSM_2014/movieReview"):
        sent.read_movie_snippets(make_sdist(tmp_path / "b.tar.gz", inner_name="other.txt"))
    (tmp_path / "c.tar.gz").write_bytes(b"not a tar archive")
    with pytest.raises(datasets.DatasetError, match="cannot read"):
        sent.read_movie_snippets(tmp_path / "c.tar.gz")
    bad = make_sdist(tmp_path / "d.tar.gz", lines=["1\t0.5\tfine", "2\tfive\tbad rating"])
    with pytest.raises(datasets.DatasetError, match="line 2"):
        sent.read_movie_snippets(bad)


@pytest.mark.parametrize(
    "line, match",
    [
        ("1\t4.5\ttoo high", "outside"),
        ("1\tnan\tnot a number", "outside"),
        ("one\t1.0\tbad id", "invalid literal"),
        ("1\t1.0", "3 tab-separated"),
    ],
)
def test_parse_rejects_bad_lines(line, match):
    with pytest.raises(datasets.DatasetError, match=match):
        sent.parse_snippets(line)


def test_parse_rejects_duplicate_ids_and_skips_blank_lines():
    assert len(sent.parse_snippets("1\t1\ta\n\n2\t-1\tb\n")) == 2
    with pytest.raises(datasets.DatasetError, match="occurs twice"):
        sent.parse_snippets("1\t1\ta\n1\t-1\tb\n")


# -- words -------------------------------------------------------------------------------------
def test_tokenize():
    assert tokenize("The movie wasn't GREAT, was it?!") == [
        "the",
        "movie",
        "wasn't",
        "great",
        "was",
        "it",
        "?",
        "!",
    ]
    assert tokenize("We\u2019ve seen ''Conan'' -- 21st century") == [
        "we've",
        "seen",
        "conan",
        "21st",
        "century",
    ]
    assert tokenize("Amélie, naïve") == ["amélie", "naïve"]
    assert tokenize("...") == []
    with pytest.raises(TypeError):
        tokenize(b"bytes")


def test_word_vocab():
    vocab = WordVocab.from_texts(
        ["a good film", "a bad film", "a film", "odd"], max_size=3, min_count=2
    )
    assert vocab.words == ["a", "film"]  # by frequency, then alphabetically; ≥ 2 times
    assert len(vocab) == 4  # + padding + OOV
    ids, known = vocab.encode(["a", "film", "good"])
    assert ids.tolist() == [2, 3, 1] and known.tolist() == [True, True, False]
    assert vocab.decode([0, 2, 1, 3]) == ["a", "<oov>", "film"]
    assert WordVocab.from_config(vocab.to_config()) == vocab
    assert WordVocab.from_config('{"words": ["x"]}').words == ["x"]
    assert "a" in vocab and "good" not in vocab
    ids, known = vocab.encode([])
    assert ids.shape == (0,) and ids.dtype == np.int64
    with pytest.raises(ValueError, match="distinct"):
        WordVocab(["a", "a"])
    with pytest.raises(ValueError, match="non-empty word"):
        WordVocab(["a", "<oov>"])
    with pytest.raises(TypeError, match="a list of tokens"):
        vocab.encode("a film")
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([9])
    with pytest.raises(ValueError, match="max_size"):
        WordVocab.from_texts(["a"], max_size=0)
    with pytest.raises(ValueError, match="pad_id"):
        WordVocab.from_config({"words": ["a"], "pad_id": 3})


# -- the real archive --------------------------------------------------------------------------
@pytest.mark.network
def test_real_fetch(tmp_path):
    home = tmp_path / "home"
    data = datasets.load_vader_movies(home=home)
    archive = home / "datasets" / "vader-movies" / ARCHIVE
    snippets = sent.read_movie_snippets(archive)
    assert len(snippets) == 10_605
    assert [s.id for s in snippets] == list(range(1, 10_606))
    ratings = np.array([s.rating for s in snippets])
    assert -4 <= ratings.min() < -3.5 and 3.5 < ratings.max() <= 4
    assert len(data.train) == 9_065 and len(data.validation) == 1_007 and data.dropped == 533
    assert 0.45 < data.labels("train").mean() < 0.55
    assert "Permission is hereby granted" in data.licence
    assert snippets[2].text == "Effective but too tepid biopic" and snippets[2].label == 0
    assert not any(p.name.startswith(".tmp") for p in archive.parent.iterdir())
