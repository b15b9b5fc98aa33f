"""The raw table a reader produces: cells with the row numbers a person sees, and how to read them.

Shared by every reader (:mod:`.csv_reader`, :mod:`.xlsx_reader`) and by :mod:`.table`, which
picks the reader; turning cells into canonical records is ``core.ingest.normalise``'s job.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

__all__ = ["DEFAULT_MAX_EXPANDED_BYTES", "Cell", "RawRow", "RawTable", "ReadOptions"]

# Ten times the default import limit of 200 MB; the store passes its own (core.config).
DEFAULT_MAX_EXPANDED_BYTES = 10 * 200 * 2**20

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
    max_expanded_bytes: int = DEFAULT_MAX_EXPANDED_BYTES  # the most a workbook may expand to
