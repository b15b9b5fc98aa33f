"""The raw table a reader produces: cells with the row numbers a person sees."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from connectors.files.detect import SourceFormatError, detect_format

__all__ = ["Cell", "RawRow", "RawTable", "ReadOptions", "read_table"]

Cell = str | Decimal | dt.date | None


class RawRow(NamedTuple):
    number: int
    cells: list[Cell]


class RawTable(NamedTuple):
    """Every non-blank row of one sheet or text file, in file order.

    Text files give ``str`` cells; workbooks give ``str``, ``Decimal``, ``date`` or ``None``.
    ``excel_epoch`` is the date serial numbers count from, for workbooks; ``sheet`` is the
    sheet read and ``sheets`` every sheet of the workbook that holds data, in order.
    """

    rows: list[RawRow]
    format: str
    warnings: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    excel_epoch: dt.datetime | None = None
    sheet: str | None = None
    sheets: tuple[str, ...] = ()


class ReadOptions(NamedTuple):
    encoding: str | None = None
    delimiter: str | None = None
    quotechar: str = '"'
    sheet: str | None = None


def read_table(data: bytes, name: str, options: ReadOptions = ReadOptions(), fmt: str | None = None):
    """Read any supported file into a :class:`RawTable`.

    Returns:
        ``(table, errors)``: table is ``None`` when the file could not be read at all.
    """
    from connectors.files import csv_reader, xlsx_reader
    from core.domain.findings import RowError

    try:
        fmt = fmt or detect_format(data, name)
    except SourceFormatError as exc:
        return None, [RowError(name, None, None, None, str(exc))]
    reader = {"csv": csv_reader.read_csv_table, "xlsx": xlsx_reader.read_xlsx_table}.get(fmt)
    if reader is None:
        return None, [RowError(name, None, None, None, f"format {fmt!r} is not known")]
    return reader(data, name, options)
