"""Rows of a registrar file as dictionaries by field name, whatever the file really is.

DBF is read with dbfread: numbers as exact ``Decimal`` (never floats), Latin-1 text with
undecodable bytes dropped, and no memo file needed. A ".dbf" or ".xls" that is really an
XLSX workbook or delimited text is recognised by its first bytes and read as such.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from decimal import Decimal, InvalidOperation

from dbfread import DBF, FieldParser

from connectors.files.detect import SourceFormatError, detect_format
from connectors.files.raw import ReadOptions
from connectors.files.table import read_table
from core.domain.findings import RowError

__all__ = ["read_registrar_rows"]

# First byte of a dBASE/FoxPro table header (version and memo flags).
_DBF_VERSIONS = {0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0xCB, 0xE5, 0xF5, 0xFB}


def _looks_like_dbf(data: bytes) -> bool:
    if len(data) < 32 or data[0] not in _DBF_VERSIONS:
        return False
    header_length = int.from_bytes(data[8:10], "little")
    record_length = int.from_bytes(data[10:12], "little")
    return 33 <= header_length <= len(data) and record_length > 0 and 1 <= data[2] <= 12 and 1 <= data[3] <= 31


def read_registrar_rows(data: bytes, name: str, options: ReadOptions = ReadOptions()) -> tuple[list[tuple[int, dict]] | None, list[RowError]]:
    """``([(row number, {FIELD: value})], errors)``; field names upper-cased."""
    if _looks_like_dbf(data):
        return _read_dbf(data, name)
    try:
        fmt = detect_format(data, name, options.max_expanded_bytes)
    except SourceFormatError as exc:
        return None, [RowError(name, None, None, None, str(exc))]
    if fmt not in ("csv", "xlsx"):
        return None, [RowError(name, None, None, None, f"a {fmt} file is not a registrar file")]
    table, errors = read_table(data, name, options, fmt)
    if table is None:
        return None, errors
    header = [str(c or "").strip().upper() for c in table.rows[0].cells]
    rows = [(r.number, {h: c for h, c in zip(header, r.cells) if h}) for r in table.rows[1:]]
    return rows, []


def _read_dbf(data: bytes, name: str):
    class ExactParser(FieldParser):
        def parseN(self, field, value):  # noqa: N802 - dbfread's naming
            text = value.strip().strip(b"\x00").decode("ascii", "replace")
            if not text:
                return None
            try:
                return Decimal(text)
            except InvalidOperation:
                raise ValueError(f"{text!r} is not a number") from None

        parseF = parseN  # noqa: N815

    handle, path = tempfile.mkstemp(suffix=".dbf")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            table = DBF(path, encoding="latin-1", char_decode_errors="ignore", ignore_missing_memofile=True,
                        parserclass=ExactParser, raw=False)
            rows = []
            for number, record in enumerate(table, start=1):
                rows.append((number, {k.upper(): v for k, v in record.items()}))
        except (ValueError, EOFError, OSError, KeyError, IndexError, UnicodeError) as exc:
            return None, [RowError(name, None, None, None, f"the DBF file cannot be read ({type(exc).__name__}: {exc})")]
    finally:
        os.unlink(path)
    return rows, []


def as_date(value) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None
