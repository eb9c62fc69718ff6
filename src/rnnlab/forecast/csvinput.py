"""A user's series from a CSV file: a date column and one or more value columns.

Dates may be days (2024-03-01), months (2024-03), quarters (2024Q1) or years (2024); they must
increase by one regular step (a day, a week, a month, a quarter or a year, taken from the first
two rows). Every problem names the file's line (the header is line 1):

    line 7: cannot parse the date '2024-13' in column 'month'
    line 9: column 'sales': expected a number, got 'n/a'
    line 12: gap: expected 2024-11 after 2024-10, got 2024-12
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})\s*-?Q([1-4])$", re.IGNORECASE)
_YEAR = re.compile(r"^(\d{4})$")


class CSVError(ValueError):
    """A CSV that cannot be forecast; the message names the line and what is wrong."""


@dataclass(frozen=True)
class UserSeries:
    dates: list[str]
    values: np.ndarray  # (T, F)
    columns: list[str]
    unit: str  # "day", "week", "month", "quarter", "year"
    step: int  # in the unit's base: days, months or years

    def future_dates(self, h: int) -> list[str]:
        return [_label(self.dates[-1], self.unit, self.step * (k + 1)) for k in range(h)]


def parse_date(text: str) -> tuple[str, int]:
    """(kind, ordinal): days since 0001-01-01, months since year 0, or years."""
    text = text.strip()
    if m := _DAY.match(text):
        return "day", date(int(m[1]), int(m[2]), int(m[3])).toordinal()
    if m := _MONTH.match(text):
        month = int(m[2])
        if not 1 <= month <= 12:
            raise ValueError(f"month {month}")
        return "month", int(m[1]) * 12 + month - 1
    if m := _QUARTER.match(text):
        return "quarter", int(m[1]) * 4 + int(m[2]) - 1
    if m := _YEAR.match(text):
        return "year", int(m[1])
    raise ValueError("unknown format")


def _label(last: str, unit: str, ahead: int) -> str:
    kind, n = parse_date(last)
    n += ahead
    if kind == "day":
        return date.fromordinal(n).isoformat()
    if kind == "month":
        return f"{n // 12}-{n % 12 + 1:02d}"
    if kind == "quarter":
        return f"{n // 4}Q{n % 4 + 1}"
    return str(n)


def _name_step(kind: str, step: int) -> str:
    if kind == "day":
        return {1: "day", 7: "week"}.get(step, f"{step} days")
    return kind if step == 1 else f"{step} {kind}s"


def read_series_csv(
    path, date_column: str, value_columns: list[str], *, min_points: int = 3
) -> UserSeries:
    """Parse and check the CSV (see the module docstring); CSVError names the line."""
    path = Path(path)
    if not path.is_file():
        raise CSVError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise CSVError(f"{path}: cannot read it as UTF-8 text ({err})") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise CSVError(f"{path}: empty file, expected a header line and data lines")
    header = [h.strip() for h in rows[0]]
    for col in [date_column, *value_columns]:
        if col not in header:
            raise CSVError(f"{path} line 1: no column {col!r} in the header {header}")
    di = header.index(date_column)
    vi = [header.index(c) for c in value_columns]
    kinds, ordinals, values, dates = [], [], [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise CSVError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            kind, n = parse_date(row[di])
        except ValueError:
            raise CSVError(
                f"{path} line {line}: cannot parse the date {row[di]!r} in column "
                f"{date_column!r} (expected YYYY-MM-DD, YYYY-MM, YYYYQn or YYYY)"
            ) from None
        if kinds and kind != kinds[0]:
            raise CSVError(
                f"{path} line {line}: the date {row[di]!r} is a {kind}, the earlier "
                f"ones are {kinds[0]}s"
            )
        vals = []
        for j, col in zip(vi, value_columns, strict=False):
            cell = row[j].strip()
            try:
                v = float(cell)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                what = "an empty value" if not cell else repr(cell)
                raise CSVError(f"{path} line {line}: column {col!r}: expected a number, got {what}")
            vals.append(v)
        kinds.append(kind)
        ordinals.append(n)
        values.append(vals)
        dates.append(row[di].strip())
        if len(ordinals) >= 2:
            step = ordinals[1] - ordinals[0]
            if step <= 0:
                raise CSVError(
                    f"{path} line {line}: the dates must increase, got {dates[-2]} then {dates[-1]}"
                )
            got = ordinals[-1] - ordinals[-2]
            if got != step:
                expected = _label(dates[-2], kind, step)
                raise CSVError(
                    f"{path} line {line}: gap: expected {expected} after {dates[-2]} "
                    f"(one {_name_step(kind, step)}), got {dates[-1]}"
                )
    if len(values) < min_points:
        last = f" (the last data line is line {len(rows)})" if values else ""
        raise CSVError(f"{path}: {len(values)} data point(s){last}; expected at least {min_points}")
    arr = np.array(values, dtype=np.float64)
    for j, col in enumerate(value_columns):
        if np.all(arr[:, j] == arr[0, j]):
            raise CSVError(
                f"{path}: column {col!r} is constant ({arr[0, j]:g} on every line): "
                f"there is nothing to forecast"
            )
    kind = kinds[0]
    step = ordinals[1] - ordinals[0]
    unit = _name_step(kind, step) if kind == "day" else kind
    return UserSeries(dates, arr, list(value_columns), unit, step)
