"""Writing tables out: one rule for every file a person may open in a spreadsheet.

Downloads (CSV, XLSX), ``import --out``, ``match --out``, ``holdings --out`` and any later
export follow it:

- A text cell a spreadsheet would run as a formula gets a leading ``'``: one that starts with
  a tab, CR or LF, or whose first character after any blanks (any Unicode space, no-break
  spaces included, and invisible format characters such as zero-width spaces and the
  byte-order mark) is ``= + - @`` or their full-width forms ``＝ ＋ － ＠``. Numbers are not
  text: a negative amount stays the number ``-12.50``; a text cell ``-7`` becomes ``'-7``.
- A CSV field holding CR or LF is quoted, so it reads back as one record everywhere.
- An empty cell (None, NaN, NaT, NA) is written empty; an integer column that pandas holds as
  floats (because of a missing value) is written as integers; decimals exactly; a
  date-and-time column that holds only dates as ISO dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable
from decimal import Decimal
from typing import TextIO

import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["frame_to_csv_bytes", "frame_to_xlsx_bytes", "neutralise_formula", "neutralised_sql", "write_canonical_csv",
           "write_csv_rows"]

FORMULA_LEADS = "=+-@\uff1d\uff0b\uff0d\uff20"
# Characters a spreadsheet may pass over before a formula, as ranges of code points: every character
# Python calls a space, and every invisible format character (Unicode category Cf: zero-width spaces
# and joiners, the byte-order mark, direction marks). A test holds this to ``unicodedata``.
BLANK_RANGES = ((0x9, 0xD), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
                (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x1680, 0x1680), (0x180E, 0x180E),
                (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
                (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3),
                (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F))


def _pattern(escape) -> str:
    """The rule as a regular expression; ``escape`` writes a code point as Python's ``re`` or RE2 reads it."""
    blanks = "".join(escape(first) if first == last else f"{escape(first)}-{escape(last)}" for first, last in BLANK_RANGES)
    leads = "".join(escape(ord(c)) for c in FORMULA_LEADS)
    return f"^(?:[{escape(9)}{escape(13)}{escape(10)}]|[{blanks}]*[{leads}])"


_FORMULA = re.compile(_pattern(lambda code: f"\\U{code:08x}"))
# The same rule for Arrow and DuckDB, which both use RE2.
FORMULA_RE2 = _pattern(lambda code: f"\\x{{{code:x}}}")


def neutralise_formula(text: str) -> str:
    """Prefix a quote so ``=HYPERLINK(...)`` in a description is shown, never run."""
    return "'" + text if _FORMULA.match(text) else text


def neutralised_sql(expression: str) -> str:
    """A DuckDB SQL expression applying ``neutralise_formula`` to a text ``expression``."""
    return f"CASE WHEN regexp_matches({expression}, '{FORMULA_RE2}') THEN '''' || {expression} ELSE {expression} END"


def _neutralise_column(column: pa.Array) -> pa.Array:
    flagged = pc.match_substring_regex(column, FORMULA_RE2)
    if not pc.any(flagged).as_py():
        return column
    return pc.if_else(flagged, pc.utf8_replace_slice(column, start=0, stop=0, replacement="'"), column)


class _RecordsEndingInLf:
    """Where a CSV writer set to end records with CRLF puts them: each record then ends in LF.

    Python's CSV writer quotes a field only for the characters of its own line terminator: with
    LF alone, a field holding a lone CR went out bare and was read back as two records. Told
    CRLF, it quotes fields holding either; each ``write`` is one whole record, so its last two
    characters are the terminator.
    """

    def __init__(self, handle: TextIO) -> None:
        self._write = handle.write

    def write(self, record: str) -> int:
        return self._write(record[:-2] + "\n")


def _csv_writer(handle: TextIO, carriage_returns: bool = True):
    """A CSV writer with LF line ends; ``carriage_returns``: some field may hold a CR."""
    if carriage_returns:
        return csv.writer(_RecordsEndingInLf(handle), lineterminator="\r\n")
    return csv.writer(handle, lineterminator="\n")


def _missing(value: object) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    if isinstance(value, Decimal):
        return value.is_nan()
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' NA and NaT, without importing pandas here


def _plain(value: object) -> object:
    """A cell as None, neutralised text, or a bool, int, float, Decimal, date or datetime."""
    if _missing(value):
        return None
    if type(value).__module__ == "numpy":
        value = value.item()
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, (bool, int, float, Decimal, dt.date)):
        return value
    return neutralise_formula(str(value))


def _csv_text(value: object) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv_rows(handle: TextIO, rows: Iterable[Iterable[object]]) -> None:
    """Write rows of Python values as CSV under the rule (text neutralised, CR/LF quoted)."""
    _csv_writer(handle).writerows([_csv_text(v) for v in row] for row in rows)


def write_canonical_csv(table: pa.Table, handle: TextIO, *, batch_rows: int = 50_000) -> None:
    """Write canonical rows as UTF-8 CSV: exact decimal amounts, ISO dates, one header row.

    Decimal and date columns are turned into text by Arrow (the same text ``str(Decimal)``
    and ``date.isoformat`` give) and text is neutralised by Arrow too, so Python only hands
    whole rows of text to the writer.
    """
    write_csv_rows(handle, [table.column_names])
    for batch in table.to_batches(max_chunksize=batch_rows):
        columns = [_text_column(column) for column in batch.columns]
        carriage_returns = any(cr for _, cr in columns)
        _csv_writer(handle, carriage_returns).writerows(zip(*(cells for cells, _ in columns)))


def _text_column(column: pa.Array) -> tuple[list[str], bool]:
    """A column's cells as the CSV's text (empty for a missing value), and whether one holds a CR."""
    kind = column.type
    if pa.types.is_decimal(kind) or pa.types.is_date(kind):
        return column.cast(pa.string()).fill_null("").to_pylist(), False
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = _neutralise_column(column.fill_null(""))
        return text.to_pylist(), bool(pc.any(pc.match_substring(text, "\r")).as_py())
    cells = [_csv_text(v) for v in column.to_pylist()]
    return cells, any("\r" in c for c in cells)


def _frame_columns(frame) -> list[list[object]]:
    """A frame's columns as lists of cells, None for missing, read as the rule says.

    A float column whose values are all whole numbers was an integer column with a gap;
    a date-and-time column whose values all fall at midnight (no time zone) holds dates.
    """
    import pandas as pd  # start-up speed: the command line writes no frames and never loads pandas for it

    columns = []
    for position in range(frame.shape[1]):
        series = frame.iloc[:, position]
        cells = [None if _missing(v) else v for v in series.tolist()]
        present = [v for v in cells if v is not None]
        if pd.api.types.is_float_dtype(series.dtype) and all(float(v).is_integer() for v in present):
            cells = [None if v is None else int(v) for v in cells]
        elif (pd.api.types.is_datetime64_any_dtype(series.dtype) and getattr(series.dtype, "tz", None) is None
              and all(v == v.normalize() for v in present)):
            cells = [None if v is None else v.date() for v in cells]
        columns.append(cells)
    return columns


def _frame_rows(frame) -> Iterable[tuple]:
    return zip(*_frame_columns(frame)) if frame.shape[1] else iter(())


def frame_to_csv_bytes(frame) -> bytes:
    """A table as UTF-8 CSV (with a byte-order mark, so spreadsheets read the encoding)."""
    buffer = io.StringIO()
    write_csv_rows(buffer, [[str(c) for c in frame.columns]])
    write_csv_rows(buffer, _frame_rows(frame))
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def frame_to_xlsx_bytes(frame, sheet: str = "data") -> bytes:
    """A table as an XLSX workbook: amounts as exact numbers, dates as dates, text never run.

    XlsxWriter writes a ``Decimal`` with all its digits; its guessing of formulas, links and
    numbers inside text is switched off, and text is neutralised as well.
    """
    import xlsxwriter  # start-up speed: loaded on the first XLSX download only

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    worksheet = workbook.add_worksheet(sheet[:31] or "data")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    worksheet.write_row(0, 0, [neutralise_formula(str(c)) for c in frame.columns])
    for number, row in enumerate(_frame_rows(frame), start=1):
        for column, value in enumerate(row):
            value = _plain(value)
            if value is None:
                continue
            if isinstance(value, dt.datetime):
                if value.tzinfo is not None:
                    value = value.astimezone(dt.UTC).replace(tzinfo=None)
                worksheet.write_datetime(number, column, value, moment_format)
            elif isinstance(value, dt.date):
                worksheet.write_datetime(number, column, dt.datetime.combine(value, dt.time()), date_format)
            elif isinstance(value, str):
                worksheet.write_string(number, column, value)
            elif isinstance(value, bool):
                worksheet.write_boolean(number, column, value)
            else:
                worksheet.write_number(number, column, value)
    workbook.close()
    return buffer.getvalue()
