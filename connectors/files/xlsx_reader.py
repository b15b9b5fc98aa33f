"""XLSX workbooks: merged cells filled in, cached formula values, typed cells kept typed.

Numbers become exact ``Decimal`` as the spreadsheet shows them; date cells become dates.
Numbers stored as text stay text and are parsed like any CSV cell.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from decimal import Decimal

from connectors.files.table import Cell, RawRow, RawTable, ReadOptions
from core.money import AmountError, decimal_from_spreadsheet
from core.records import RowError

__all__ = ["read_xlsx_table"]


# What openpyxl raises on a damaged workbook: a broken archive, a broken deflate stream,
# broken XML, or parts that do not fit together.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, IndexError, OSError, ValueError, TypeError, AttributeError,
            SyntaxError, NotImplementedError)


def read_xlsx_table(data: bytes, name: str, options: ReadOptions = ReadOptions()) -> tuple[RawTable | None, list[RowError]]:
    """Read one sheet (the named one, else the first with data) into typed cells."""
    try:
        return _read(data, name, options)
    except _DAMAGED as exc:
        return None, [RowError(name, None, None, None, f"the workbook cannot be read; it is damaged or truncated ({type(exc).__name__}: {exc})")]


def _read(data: bytes, name: str, options: ReadOptions) -> tuple[RawTable | None, list[RowError]]:
    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    if options.sheet:
        if options.sheet not in workbook.sheetnames:
            return None, [RowError(name, None, None, options.sheet, f"no sheet named {options.sheet!r}; the sheets are {workbook.sheetnames}")]
        sheet = workbook[options.sheet]
    else:
        sheet = next((ws for ws in workbook.worksheets if _has_data(ws)), workbook.worksheets[0])
    sheets = tuple(ws.title for ws in workbook.worksheets if _has_data(ws))
    errors = _formulas_without_values(data, name, sheet.title)
    if errors:
        return None, errors
    _fill_merged_cells(sheet)
    rows: list[RawRow] = []
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
    return RawTable(rows, "xlsx", [], excel_epoch=workbook.epoch, sheet=sheet.title, sheets=sheets), []


def _has_data(sheet) -> bool:
    return sheet.max_row > 1 or sheet.max_column > 1


def _formulas_without_values(data: bytes, name: str, title: str) -> list[RowError]:
    """Formula cells whose last computed value was not saved in the file (written by a program
    that does not calculate): their value is unknown, so they are named, not read as blank."""
    import openpyxl

    formulas = openpyxl.load_workbook(io.BytesIO(data), data_only=False, read_only=True)[title]
    values = openpyxl.load_workbook(io.BytesIO(data), data_only=True, read_only=True)[title]
    errors = []
    for formula_row, value_row in zip(formulas.iter_rows(), values.iter_rows()):
        for formula, value in zip(formula_row, value_row):
            if getattr(formula, "data_type", None) == "f" and value.value is None:
                errors.append(RowError(name, formula.row, formula.column_letter, str(formula.value),
                                       f"the cell on sheet {title!r} holds a formula without a saved value; "
                                       "open and save the file in a spreadsheet first"))
    return errors


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
