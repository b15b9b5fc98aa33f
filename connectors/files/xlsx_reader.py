"""XLSX workbooks: merged cells filled in, cached formula values, typed cells kept typed.

Numbers become exact ``Decimal`` as the spreadsheet shows them; date cells become dates.
Numbers stored as text stay text and are parsed like any CSV cell.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

from connectors.files.table import Cell, RawRow, RawTable, ReadOptions
from core.money import AmountError, decimal_from_spreadsheet
from core.records import RowError

__all__ = ["read_xlsx_table"]


def read_xlsx_table(data: bytes, name: str, options: ReadOptions = ReadOptions()) -> tuple[RawTable | None, list[RowError]]:
    """Read one sheet (the named one, else the first with data) into typed cells."""
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
        return None, [RowError(name, None, None, None, f"the workbook cannot be read; it is damaged or truncated ({exc})")]
    if options.sheet:
        if options.sheet not in workbook.sheetnames:
            return None, [RowError(name, None, None, options.sheet, f"no sheet named {options.sheet!r}; the sheets are {workbook.sheetnames}")]
        sheet = workbook[options.sheet]
    else:
        sheet = next((ws for ws in workbook.worksheets if ws.max_row > 1 or ws.max_column > 1), workbook.worksheets[0])
    _fill_merged_cells(sheet)
    rows: list[RawRow] = []
    errors: list[RowError] = []
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        cells = []
        for index, value in enumerate(values):
            try:
                cells.append(_cell(value))
            except AmountError as exc:
                errors.append(RowError(name, number, _column_letter(index), str(value), str(exc)))
                cells.append(None)
        if any(c is not None and (not isinstance(c, str) or c.strip()) for c in cells):
            rows.append(RawRow(number, cells))
    if errors:
        return None, errors
    if not rows:
        return None, [RowError(name, None, None, sheet.title, f"sheet {sheet.title!r} is empty")]
    return RawTable(rows, "xlsx", [], excel_epoch=workbook.epoch), []


def _fill_merged_cells(sheet) -> None:
    """A merged range shows its top-left value in every cell it covers; so do we."""
    for merged in list(sheet.merged_cells.ranges):
        value = sheet.cell(merged.min_row, merged.min_col).value
        sheet.unmerge_cells(str(merged))
        for row in range(merged.min_row, merged.max_row + 1):
            for col in range(merged.min_col, merged.max_col + 1):
                sheet.cell(row, col).value = value


def _cell(value: object) -> Cell:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return decimal_from_spreadsheet(value)
    if isinstance(value, Decimal):
        return value
    return str(value)


def _column_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)
