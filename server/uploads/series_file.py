"""An uploaded CSV series, read in a parse worker, every cap checked as the rows go by.

A first row that is not all numbers is a header.  ``column`` is a header name or a 0-based index;
without it the file must have exactly one column.  Any line ending is read (``\\n``, ``\\r\\n``, a
lone ``\\r``).  Refused, with the row (1-based, as in the file) and the column where they apply:
more than ``max_series_bytes``; not UTF-8; a first line with more than ``max_series_columns``
separators (before a row is built); a row of more columns; a cell over ``max_cell_chars``; more than
``max_series_values`` values (counted while reading, not after); a cell that is not a finite number;
a series that cannot be normalised (:func:`engine.data.series.make_series`).  Every message quotes the
file's text through :func:`engine.config.fields.quote`, so it is a few hundred characters at most.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math

import numpy as np

from engine.config import quote
from engine.data import Series, SeriesError, make_series
from server.settings import Settings
from server.uploads.limits import UploadRefused, too_big

__all__ = ["read_series"]

_NAMES_SHOWN = 8  # header names listed in a message


def _refuse(message: str, row: int | None = None, column: str | None = None, field: str = "series"):
    return UploadRefused("series", message, field, row=row, column=column)


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _names(header: list[str]) -> str:
    shown = ", ".join(quote(h, 40) for h in header[:_NAMES_SHOWN])
    return shown + (f" and {len(header) - _NAMES_SHOWN:,} more" if len(header) > _NAMES_SHOWN else "")


def read_rows(text: str, limits: Settings):
    """Yield (row number, cells) of every non-blank row, refusing a row or cell over the caps."""
    first_end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=len(text))
    if text.count(",", 0, first_end) >= limits.max_series_columns:
        raise _refuse(f"the CSV file's first row has more than {limits.max_series_columns:,} columns; at most "
                      f"{limits.max_series_columns:,} are allowed", 1)
    reader = csv.reader(io.StringIO(text, newline=""))
    previous = csv.field_size_limit(limits.max_cell_chars)  # process-wide; a parse worker reads one file at a time
    try:
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                row = reader.line_num
                if "field larger than field limit" in str(e):
                    raise _refuse(f"row {row} has a cell over {limits.max_cell_chars:,} characters; at most "
                                  f"{limits.max_cell_chars:,} are allowed", row) from None
                raise _refuse(f"row {row} is not valid CSV: {quote(str(e))}", row) from None
            if len(cells) > limits.max_series_columns:
                raise _refuse(f"row {reader.line_num} has {len(cells):,} columns; at most "
                              f"{limits.max_series_columns:,} are allowed", reader.line_num)
            if any(c.strip() for c in cells):
                yield reader.line_num, cells
    finally:
        csv.field_size_limit(previous)


DEFAULT_LIMITS = Settings()


def read_series(data: bytes, column: str | int | None = None, limits: Settings = DEFAULT_LIMITS) -> Series:
    """The chosen column of the CSV ``data`` as a :class:`engine.data.series.Series`; raises :class:`UploadRefused`."""
    if len(data) > limits.max_series_bytes:
        raise too_big("series", "the CSV file", len(data), limits.max_series_bytes)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _refuse(f"the CSV file is not UTF-8 text (byte {e.start})") from None
    rows = read_rows(text, limits)
    first_row, first = next(rows, (None, None))
    if first is None:
        raise _refuse("the CSV file has no rows")
    header = [c.strip() for c in first] if any(_number(c) is None for c in first) else None
    index, name = _column(first_row, first, header, column)
    values = np.empty(min(limits.max_series_values, len(text) // 2 + 1))
    n = 0
    for row, cells in rows if header else _chain((first_row, first), rows):
        if n == limits.max_series_values:
            raise _refuse(f"the series has more than {limits.max_series_values:,} values; at most "
                          f"{limits.max_series_values:,} are allowed", row, name)
        if index >= len(cells):
            raise _refuse(f"row {row} has {len(cells)} column(s); column {quote(name)} is missing", row, name)
        value = _number(cells[index].strip())
        if value is None:
            raise _refuse(f"row {row}, column {quote(name)}: {quote(cells[index])} is not a finite number", row, name)
        values[n] = value
        n += 1
    try:
        return make_series(name, values[:n].copy())
    except SeriesError as e:
        raise _refuse(e.message, column=e.column) from None


def _chain(first, rows):
    yield first
    yield from rows


def _column(row: int, first: list[str], header: list[str] | None, column: str | int | None) -> tuple[int, str]:
    """(index, name) of the chosen column, or :class:`UploadRefused` naming what there is."""
    width = len(first)
    if column is None:
        if width != 1:
            named = _names(header) if header else f"0 to {width - 1}"
            raise _refuse(f"the CSV file has {width:,} columns; choose one ({named})", row, field="column")
        index = 0
    elif isinstance(column, int) and not isinstance(column, bool):
        if not 0 <= column < width:
            raise _refuse(f"column {column} does not exist; the file has columns 0 to {width - 1}", row,
                          field="column")
        index = column
    else:
        if header is None or column not in header:
            known = _names(header) if header else "none: the file has no header row"
            raise _refuse(f"no column named {quote(column)}; the header names {known}", row, field="column")
        index = header.index(column)
    return index, header[index] if header else f"column {index + 1}"


def read_series_upload(data: bytes, column, limits: Settings) -> tuple[str, np.ndarray, float, float, dict]:
    """The parse worker's job for a CSV: the series as plain values, and the ``series_loaded`` fields."""
    s = read_series(data, column, limits)
    fields = {"type": "series_loaded", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
              "name": s.name, "length": len(s.values), "mean": s.mean, "std": s.std}
    return s.name, s.values, s.mean, s.std, fields
