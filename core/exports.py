"""Writing tables out. Text cells that a spreadsheet would run as a formula are neutralised."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from typing import TextIO

import pyarrow as pa

__all__ = ["neutralise_formula", "write_canonical_csv"]

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

    Args:
        neutralise: for files meant for a spreadsheet, defuse text cells that would run as
            formulas. Files for scripts (``import --out``) keep text verbatim.
    """
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(table.column_names)
    for batch in table.to_batches(max_chunksize=batch_rows):
        columns = [column.to_pylist() for column in batch.columns]
        writer.writerows([_cell(v, neutralise) for v in row] for row in zip(*columns))
