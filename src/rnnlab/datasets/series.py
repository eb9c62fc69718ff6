"""Real time series for forecasting, read from the data files inside pinned package archives.

    >>> s = load_series("airline")
    >>> s.values.shape, s.season, s.dates[0]
    ((144, 1), 12, '1949-01')

| name | registry entry: member | points | season |
|---|---|---|---|
| co2 | series-statsmodels: statsmodels/datasets/co2/co2.csv | 2284 weekly 1958–2001 | 52 |
| sunspots | series-statsmodels: .../sunspots/sunspots.csv | 309 yearly 1700–2008 | 11 |
| macro | series-statsmodels: .../macrodata/macrodata.csv | 203 quarterly × 12 | 4 |
| airline | series-sktime: sktime/datasets/data/Airline/Airline.csv | 144 monthly | 12 |
| sunspots-monthly | series-pmdarima: pmdarima/datasets/data/sunspots.txt.gz | 2820 monthly | 132 |

The archives are fetched once with `pip download` and checked by sha256 (`datasets.fetch`); the
members are read in memory with `zipfile` — no package is installed or imported for its data.
The season is the period the seasonal-naive baseline and MASE use (the 11-year solar cycle for
the sunspot series, a year for the others; 4 quarters for macro).

Missing values: the weekly CO2 file leaves 59 weeks empty; they are filled by linear
interpolation between the neighbouring weeks and reported (`Series.missing`, `Series.note`).
The other files have none. `macro` is the multivariate series: 12 quarterly US macroeconomic
indicators, 1959Q1–2009Q3; the target is real GDP and the other 11 are inputs (see
`docs/forecasting.md` for why this series).
"""

from __future__ import annotations

import gzip
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._validation import describe
from .download import DatasetError, fetch

_MAX_MEMBER = 4 << 20  # every member is < 100 kB; refuse absurd sizes


@dataclass(frozen=True)
class Series:
    """A regularly spaced series: `values` (T, F) float64 with the target in column `target`.

    Arguments:
        name: the series name ("co2", ...).
        values: (T, F) observations, no NaN (missing ones filled, see `missing`).
        columns: the F column names.
        target: index of the column to forecast.
        dates: T labels ("1958-03-29", "1949-01", "1700", "1959Q1").
        freq: "weekly", "monthly", "quarterly" or "yearly".
        season: the seasonal period (steps) of seasonal naive and MASE.
        missing: how many target values were missing in the file (filled by interpolation).
        source: registry entry and archive member it was read from.
    """

    name: str
    values: np.ndarray
    columns: tuple[str, ...]
    target: int
    dates: tuple[str, ...]
    freq: str
    season: int
    missing: int = 0
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def y(self) -> np.ndarray:
        """The target column, (T,)."""
        return self.values[:, self.target]

    def note(self) -> str:
        """One line on the series and its missing values."""
        extra = "; ".join(self.notes)
        return (
            f"{self.name}: {len(self.dates)} {self.freq} points {self.dates[0]}–{self.dates[-1]}, "
            f"{len(self.columns)} column(s), season {self.season}; "
            f"{self.missing} missing value(s) filled by linear interpolation"
            + (f"; {extra}" if extra else "")
        )


@dataclass(frozen=True)
class _Spec:
    entry: str
    member: str
    freq: str
    season: int
    parse: Callable[[bytes], tuple[np.ndarray, tuple[str, ...], tuple[str, ...], int]]


def _csv_rows(raw: bytes, member: str) -> tuple[list[str], list[list[str]]]:
    lines = [ln for ln in raw.decode("utf-8").splitlines() if ln.strip()]
    header = [h.strip().strip('"') for h in lines[0].split(",")]
    rows = [ln.split(",") for ln in lines[1:]]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise DatasetError(
                f"{member} line {number}: expected {len(header)} fields, got {len(row)}"
            )
    return header, rows


def _number(text: str) -> float:
    text = text.strip().strip('"')
    return float("nan") if text in ("", "NA", "NaN") else float(text)


def _parse_co2(raw: bytes):
    _, rows = _csv_rows(raw, "co2.csv")
    dates = tuple(f"{r[0][:4]}-{r[0][4:6]}-{r[0][6:8]}" for r in rows)
    values = np.array([[_number(r[1])] for r in rows])
    return values, ("co2",), dates, 0


def _parse_sunspots(raw: bytes):
    _, rows = _csv_rows(raw, "sunspots.csv")
    dates = tuple(str(int(float(r[0]))) for r in rows)
    return np.array([[_number(r[1])] for r in rows]), ("sunactivity",), dates, 0


def _parse_macro(raw: bytes):
    header, rows = _csv_rows(raw, "macrodata.csv")
    dates = tuple(f"{int(float(r[0]))}Q{int(float(r[1]))}" for r in rows)
    columns = tuple(header[2:])
    values = np.array([[_number(v) for v in r[2:]] for r in rows])
    return values, columns, dates, columns.index("realgdp")


def _parse_airline(raw: bytes):
    _, rows = _csv_rows(raw, "Airline.csv")
    dates = tuple(r[0].strip() for r in rows)
    return np.array([[_number(r[1])] for r in rows]), ("passengers",), dates, 0


def _parse_monthly_sunspots(raw: bytes):
    numbers = np.array(gzip.decompress(raw).decode("ascii").split(), dtype=np.float64)
    dates = tuple(f"{1749 + k // 12}-{k % 12 + 1:02d}" for k in range(numbers.size))
    return numbers[:, None], ("sunspots",), dates, 0


SERIES: dict[str, _Spec] = {
    "co2": _Spec(
        "series-statsmodels", "statsmodels/datasets/co2/co2.csv", "weekly", 52, _parse_co2
    ),
    "sunspots": _Spec(
        "series-statsmodels",
        "statsmodels/datasets/sunspots/sunspots.csv",
        "yearly",
        11,
        _parse_sunspots,
    ),
    "macro": _Spec(
        "series-statsmodels",
        "statsmodels/datasets/macrodata/macrodata.csv",
        "quarterly",
        4,
        _parse_macro,
    ),
    "airline": _Spec(
        "series-sktime", "sktime/datasets/data/Airline/Airline.csv", "monthly", 12, _parse_airline
    ),
    "sunspots-monthly": _Spec(
        "series-pmdarima",
        "pmdarima/datasets/data/sunspots.txt.gz",
        "monthly",
        132,
        _parse_monthly_sunspots,
    ),
}


def series_names() -> list[str]:
    return list(SERIES)


def read_member(archive: str | os.PathLike, member: str) -> bytes:
    """The bytes of `member` of a wheel (zip), read in memory."""
    try:
        with zipfile.ZipFile(archive) as wheel:
            try:
                item = wheel.getinfo(member)
            except KeyError:
                raise DatasetError(f"{archive} has no member {member}") from None
            if item.file_size > _MAX_MEMBER:
                raise DatasetError(f"{member} in {archive} is {item.file_size:,} bytes")
            return wheel.read(item)
    except (zipfile.BadZipFile, OSError) as err:
        raise DatasetError(f"cannot read {archive}: {err}") from err


def fill_missing(values: np.ndarray) -> tuple[np.ndarray, int]:
    """NaNs filled by linear interpolation column by column (at the ends: the nearest value);
    returns (filled copy, how many values were missing over all columns)."""
    out = np.array(values, dtype=np.float64, copy=True)
    count = 0
    for j in range(out.shape[1]):
        col = out[:, j]
        bad = np.isnan(col)
        if bad.all():
            raise DatasetError(f"column {j} has no values")
        if bad.any():
            idx = np.arange(col.size)
            col[bad] = np.interp(idx[bad], idx[~bad], col[~bad])
            count += int(bad.sum())
    return out, count


def parse_series(name: str, raw: bytes, source: str = "") -> Series:
    """A `Series` from the raw bytes of its archive member (see the table above)."""
    spec = _spec(name)
    try:
        values, columns, dates, target = spec.parse(raw)
    except (ValueError, IndexError, UnicodeDecodeError, OSError) as err:
        raise DatasetError(f"series {name!r}: cannot parse {spec.member}: {err}") from None
    if values.ndim != 2 or values.shape[0] != len(dates) or values.shape[0] < 8:
        raise DatasetError(f"series {name!r}: {values.shape} values for {len(dates)} dates")
    filled, missing = fill_missing(values)
    return Series(
        name=name,
        values=filled,
        columns=columns,
        target=target,
        dates=dates,
        freq=spec.freq,
        season=spec.season,
        missing=missing,
        source=source or f"{spec.entry}: {spec.member}",
    )


def load_series(
    name: str,
    home: str | os.PathLike | None = None,
    *,
    progress: Callable[[str], object] | None = None,
) -> Series:
    """Series `name` (one of `series_names()`), fetching its pinned archive once."""
    spec = _spec(name)
    archive = fetch(spec.entry, home=home, progress=progress)
    return parse_series(name, read_member(archive, spec.member), f"{spec.entry}: {spec.member}")


def _spec(name: str) -> _Spec:
    if not isinstance(name, str) or name not in SERIES:
        raise ValueError(f"expected a series name in {list(SERIES)}, got {describe(name)}")
    return SERIES[name]
