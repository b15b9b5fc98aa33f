"""Writing tables out. Text cells that a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from typing import TextIO

import pyarrow as pa

__all__ = ["frame_to_csv_bytes", "frame_to_xlsx_bytes", "neutralise_formula", "write_canonical_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(text: str) -> str:
    """Prefix a quote so ``=HYPERLINK(...)`` in a description is shown, never run."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _cell(value: object, neutralise: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return neutralise_formula(str(value)) if neutralise else str(value)


def write_canonical_csv(table: pa.Table, handle: TextIO, *, neutralise: bool = False, batch_rows: int = 50_000) -> None:
    """Write canonical rows as UTF-8 CSV: exact decimal amounts, ISO dates, one header row.

    Decimal and date columns are turned into text by Arrow (the same text ``str(Decimal)``
    and ``date.isoformat`` give), so Python only hands whole rows of text to the writer.

    Args:
        neutralise: for files meant for a spreadsheet, defuse text cells that would run as
            formulas. Files for scripts (``import --out``) keep text verbatim.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(table.column_names)
    for batch in table.to_batches(max_chunksize=batch_rows):
        writer.writerows(zip(*(_text_column(column, neutralise) for column in batch.columns)))


def _text_column(column: pa.Array, neutralise: bool) -> list[str]:
    """A column's cells as the CSV's text: empty for a missing value."""
    kind = column.type
    if pa.types.is_decimal(kind) or pa.types.is_date(kind):
        return column.cast(pa.string()).fill_null("").to_pylist()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        cells = column.fill_null("").to_pylist()
        return [neutralise_formula(c) for c in cells] if neutralise else cells
    return [_cell(v, neutralise) for v in column.to_pylist()]


def _safe_cell(value: object) -> object:
    """Text is neutralised; numbers, dates and empty cells keep their type."""
    if isinstance(value, str):
        return neutralise_formula(value)
    return value


def frame_to_csv_bytes(frame) -> bytes:
    """A table as UTF-8 CSV (with a byte-order mark, so spreadsheets read the encoding)."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([neutralise_formula(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        writer.writerow(["" if v is None else (neutralise_formula(v) if isinstance(v, str) else _cell(v, False)) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def frame_to_xlsx_bytes(frame, sheet: str = "data") -> bytes:
    """A table as an XLSX workbook: amounts as exact numbers, dates as dates, text never run.

    XlsxWriter writes a ``Decimal`` with all its digits; its guessing of formulas, links and
    numbers inside text is switched off, and text is neutralised as well.
    """
    import io

    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True, "constant_memory": True, "strings_to_formulas": False,
                                            "strings_to_urls": False, "strings_to_numbers": False})
    worksheet = workbook.add_worksheet(sheet[:31] or "data")
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    worksheet.write_row(0, 0, [neutralise_formula(str(c)) for c in frame.columns])
    for number, row in enumerate(frame.itertuples(index=False), start=1):
        for column, value in enumerate(row):
            value = _spreadsheet_value(value)
            if value is None:
                continue
            if isinstance(value, dt.datetime):
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


def _spreadsheet_value(value: object) -> object:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if type(value).__module__ == "numpy":
        value = value.item()
    if isinstance(value, (dict, list, tuple)):
        return neutralise_formula(str(value))
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return _safe_cell(value)
