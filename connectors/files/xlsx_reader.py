"""XLSX workbooks: merged cells filled in, cached formula values, typed cells kept typed.

Numbers become exact ``Decimal`` as the spreadsheet shows them; date cells become dates.
Numbers stored as text stay text and are parsed like any CSV cell.

A workbook is a ZIP archive that may expand a thousand times: its declared sizes are
checked before anything is parsed (``detect.check_expansion``), and the sheet is read once,
streaming, serving values and the check for formulas without saved values together. Memory
holds the rows kept, not the sheet's XML; a sheet of formulas without saved values is
refused after its first ones, not after all of them.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zlib
from decimal import Decimal
from typing import NamedTuple

from connectors.files.detect import SourceFormatError, check_expansion
from connectors.files.raw import Cell, RawRow, RawTable, ReadOptions
from core.domain.findings import RowError
from core.domain.money import AmountError, decimal_from_spreadsheet

__all__ = ["read_xlsx_table"]


# What openpyxl raises on a damaged workbook: a broken archive, a broken deflate stream,
# broken XML, or parts that do not fit together.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, KeyError, IndexError, OSError, ValueError, TypeError, AttributeError,
            SyntaxError, NotImplementedError)
# Enough to show what is wrong; the rest of such a sheet is not read.
_MAX_FORMULA_ERRORS = 100
_MAX_CELL_ERRORS = 1000
_MAX_MERGED_CELLS = 1_000_000
_LAST_ROW = 1_048_576


def read_xlsx_table(data: bytes, name: str, options: ReadOptions = ReadOptions()) -> tuple[RawTable | None, list[RowError]]:
    """Read one sheet (the named one, else the first with data) into typed cells."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_expansion(archive.infolist(), options.max_expanded_bytes)
    except SourceFormatError as exc:
        return None, [RowError(name, None, None, None, str(exc))]
    except _DAMAGED as exc:
        return None, [_damaged(name, exc)]
    try:
        return _read(data, name, options)
    except _DAMAGED as exc:
        return None, [_damaged(name, exc)]


def _damaged(name: str, exc: Exception) -> RowError:
    return RowError(name, None, None, None, f"the workbook cannot be read; it is damaged or truncated ({type(exc).__name__}: {exc})")


class _Workbook(NamedTuple):
    """What reading a sheet needs: the archive, shared strings, date styles, and each sheet's part."""

    archive: zipfile.ZipFile
    strings: list
    epoch: dt.datetime
    date_formats: set
    timedelta_formats: set
    parts: dict[str, str]  # sheet title -> its part in the archive, in workbook order


def _open(data: bytes) -> _Workbook:
    """The workbook's parts without its sheets: openpyxl's read-only mode parses a whole sheet
    up front when it declares no dimensions, so sheets are opened here, one stream each."""
    # Start-up speed, here and below: openpyxl (a seventh of a second) loads on the first workbook; a CSV never needs it.
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.styles.stylesheet import apply_stylesheet

    reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
    reader.read_manifest()
    reader.read_strings()
    reader.read_workbook()
    apply_stylesheet(reader.archive, reader.wb)
    parts = {sheet.name: rel.target for sheet, rel in reader.parser.find_sheets()
             if rel.target in reader.valid_files and "chartsheet" not in rel.Type}
    return _Workbook(reader.archive, reader.shared_strings, reader.wb.epoch, reader.wb._date_formats, reader.wb._timedelta_formats, parts)


def _read(data: bytes, name: str, options: ReadOptions) -> tuple[RawTable | None, list[RowError]]:
    workbook = _open(data)
    try:
        titles = list(workbook.parts)
        if options.sheet and options.sheet not in workbook.parts:
            return None, [RowError(name, None, None, options.sheet, f"no sheet named {options.sheet!r}; the sheets are {titles}")]
        if not titles:
            return None, [RowError(name, None, None, None, "the workbook holds no worksheet")]
        sheets = tuple(title for title in titles if _has_data(workbook, title))
        title = options.sheet or (sheets[0] if sheets else titles[0])
        rows, errors = _sheet_rows(workbook, title, name)
    finally:
        workbook.archive.close()
    if errors:
        return None, errors
    if not rows:
        return None, [RowError(name, None, None, title, f"sheet {title!r} is empty")]
    return RawTable(rows, "xlsx", [], excel_epoch=workbook.epoch, sheet=title, sheets=sheets), []


def _parser(workbook: _Workbook, title: str):
    """openpyxl's streaming sheet parser, keeping both a cell's saved value and its formula."""
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser  # start-up speed: see _open

    class Parser(WorkSheetParser):
        def parse_cell(self, element):
            cell = super().parse_cell(element)
            formula = element.find(FORMULA_TAG)
            cell["formula"] = None if formula is None else "=" + (formula.text or "")
            return cell

    source = workbook.archive.open(workbook.parts[title])
    return source, Parser(source, workbook.strings, data_only=True, epoch=workbook.epoch, date_formats=workbook.date_formats,
                          timedelta_formats=workbook.timedelta_formats)


def _has_data(workbook: _Workbook, title: str) -> bool:
    """Whether the sheet holds a value other than a lone title in A1; reads only up to the first such value."""
    source, parser = _parser(workbook, title)
    with source:
        for number, cells in parser.parse():
            if number > _LAST_ROW or any(c["value"] not in (None, "") and (number > 1 or c["column"] > 1) for c in cells):
                return True  # past the last row, reading it says why
    return False


def _sheet_rows(workbook: _Workbook, title: str, name: str) -> tuple[list[RawRow], list[RowError]]:
    """Every non-blank row of the sheet in one streaming pass, with merged ranges filled in.

    Blank rows are not kept; the sheet's width (counting blank cells and merged ranges, as a
    spreadsheet does) is given to every row.
    """
    rows: dict[int, list[Cell]] = {}
    errors: list[RowError] = []
    formulas: list[RowError] = []
    width = 0
    source, parser = _parser(workbook, title)
    with source:
        for number, parsed in parser.parse():
            if number > _LAST_ROW:
                # The XML parser keeps an emptied element per row read: rows past a spreadsheet's
                # last one would grow memory with the file.
                return [], [RowError(name, number, None, None, f"sheet {title!r} has rows past row {_LAST_ROW:,}, "
                                                               "a spreadsheet's last row; the workbook is damaged or not a spreadsheet")]
            cells: list[Cell] = []
            for cell in parsed:
                index = cell["column"] - 1
                value = cell["value"]
                width = max(width, index + 1)
                if cell["formula"] is not None and value is None:
                    formulas.append(RowError(name, number, _column_letter(index), cell["formula"],
                                             f"the cell on sheet {title!r} holds a formula without a saved value; "
                                             "open and save the file in a spreadsheet first"))
                    continue
                if value is None:
                    continue
                if index >= len(cells):
                    cells.extend([None] * (index + 1 - len(cells)))
                try:
                    cells[index] = _cell(value)
                except AmountError as exc:
                    errors.append(RowError(name, number, _column_letter(index), str(value), str(exc)))
            if len(formulas) >= _MAX_FORMULA_ERRORS or len(errors) >= _MAX_CELL_ERRORS:
                break
            if cells:
                rows[number] = cells
        merged = parser.merged_cells
    if formulas:
        return [], formulas
    if errors:
        return [], errors
    if merged is not None:
        filled = _fill_merged_cells(rows, merged.mergeCell, name, title)
        if isinstance(filled, RowError):
            return [], [filled]
        width = max(width, filled)
    # Every row as wide as the sheet, as a spreadsheet shows it: derived ids hash the whole row.
    kept = [RawRow(number, cells + [None] * (width - len(cells))) for number, cells in sorted(rows.items())
            if any(c is not None and (not isinstance(c, str) or c.strip()) for c in cells)]
    return kept, []


def _fill_merged_cells(rows: dict[int, list[Cell]], ranges, name: str, title: str) -> int | RowError:
    """A merged range shows its top-left value in every cell it covers; so do we.

    Returns:
        The sheet's width including the ranges, or a finding for a range too large to fill
        (``A1:XFD1048576`` would be seventeen billion cells).
    """
    from openpyxl.worksheet.cell_range import CellRange  # start-up speed: see _open

    width = 0
    for merged in ranges:
        bounds = CellRange(merged.ref)
        top = rows.get(bounds.min_row, [])
        value = top[bounds.min_col - 1] if bounds.min_col - 1 < len(top) else None
        if value is None:
            continue
        if bounds.size["rows"] * bounds.size["columns"] > _MAX_MERGED_CELLS:
            return RowError(name, bounds.min_row, _column_letter(bounds.min_col - 1), merged.ref,
                            f"the merged range {merged.ref} on sheet {title!r} covers {bounds.size['rows'] * bounds.size['columns']:,} "
                            "cells; unmerge it")
        width = max(width, bounds.max_col)
        for number in range(bounds.min_row, bounds.max_row + 1):
            cells = rows.setdefault(number, [])
            if len(cells) < bounds.max_col:
                cells.extend([None] * (bounds.max_col - len(cells)))
            for col in range(bounds.min_col - 1, bounds.max_col):
                cells[col] = value
    return width


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
    from openpyxl.utils import get_column_letter  # start-up speed: see _open

    return get_column_letter(index + 1)
