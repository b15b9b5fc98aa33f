"""Writing an export's file with DuckDB, a batch at a time, under the writers' formula rule.

Every text column goes through ``neutralised_sql`` (the rule of :mod:`core.exports.writers`,
in SQL), so a description ``=HYPERLINK(...)``, `` =1+1`` or ``＝1+1`` is written with a leading
``'``. Then:

- CSV and Parquet: DuckDB's ``COPY`` streams the rows to the file (UTF-8, one header row, LF
  line ends, fields holding CR or LF quoted; Parquet compressed with zstd);
- XLSX: rows are fetched in Arrow batches and written by XlsxWriter in constant-memory mode,
  a new sheet (``data``, ``data 2`` ...) past 1,048,575 rows, each with the header row.

DuckDB works under a memory limit and spills to the system's temporary folder, so ten million
rows never sit in Python. The file's SHA-256 and size are read back from the disk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from core import config
from core.exports.writers import neutralise_formula, neutralised_sql

__all__ = ["SHEET_ROWS", "Written", "write_export"]

SHEET_ROWS = 1_048_575  # rows of data in one sheet: Excel's 1,048,576 less the header
_XLSX_BATCH = 20_000
MEMORY_LIMIT = "512MB"
SAFE_FIRST = (48, 127)  # code points "0" to DEL: a text starting with one (but "=", "@") is no formula


class Written(NamedTuple):
    row_count: int
    file_size: int
    sha256: str


def write_export(store, request: dict, path: Path, *, sheet_rows: int = SHEET_ROWS) -> Written:
    """Write the rows ``request`` asks for to ``path`` in its format.

    Args:
        request: a canonical request (``ExportRequest.canonical``).
        sheet_rows: rows of data per XLSX sheet (smaller in tests).
    """
    import duckdb

    from core.exports import sources

    with tempfile.TemporaryDirectory(prefix="recon-export-") as folder:
        source, conditions = sources.stage_source(store, request, Path(folder))
        settings = config.duckdb_settings() | {"memory_limit": MEMORY_LIMIT, "preserve_insertion_order": "true"}
        Path(settings["temp_directory"]).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(config=settings)
        try:
            fmt = request["format"]
            query = _select(con, source, conditions, tidy_decimals=request["kind"] != "transactions", empty_as_null=fmt != "parquet")
            if fmt == "xlsx":
                rows = _write_xlsx(con, query, path, sheet_rows)
            else:
                options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet, COMPRESSION zstd"
                rows = con.execute(f"COPY ({query}) TO {_literal(str(path))} ({options})").fetchone()[0]
        finally:
            con.close()
    return Written(int(rows), path.stat().st_size, file_sha256(path))


def _select(con, source: str, conditions: list[str], tidy_decimals: bool, empty_as_null: bool) -> str:
    """The SELECT writing the source's columns: text neutralised; amounts kept from the store
    with as few decimal places as their values need (at least two); ``empty_as_null``: empty
    text written as a missing value (CSV and XLSX write both as an empty cell)."""
    columns = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    scales = _decimal_scales(con, source, [name for name, kind, *_ in columns if kind.startswith("DECIMAL")]) if tidy_decimals else {}
    expressions = []
    for name, kind, *_ in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        if kind == "VARCHAR":
            text = f"NULLIF({quoted}, '')" if empty_as_null else quoted
            expressions.append(f"{_neutralised(text)} AS {quoted}")
        elif name in scales:
            expressions.append(f"CAST({quoted} AS DECIMAL(28, {scales[name]})) AS {quoted}")
        else:
            expressions.append(quoted)
    return f"SELECT {', '.join(expressions)} FROM {source}{where}"


def _neutralised(expression: str) -> str:
    """``neutralised_sql``, run only on text whose first character could start a formula: one
    from ``0`` to DEL other than ``=`` and ``@`` never does (the rule's blanks and leads are
    below ``0`` or beyond ASCII), and most text starts with a letter or digit."""
    first = f"unicode({expression})"
    return f"CASE WHEN {first} BETWEEN {SAFE_FIRST[0]} AND {SAFE_FIRST[1]} AND {first} NOT IN (61, 64) THEN {expression} " \
           f"ELSE {neutralised_sql(expression)} END"


def _decimal_scales(con, source: str, names: list[str]) -> dict[str, int]:
    if not names:
        return {}
    checks = []
    for name in names:
        quoted = '"' + name.replace('"', '""') + '"'
        checks += [f"coalesce(bool_and({quoted} = round({quoted}, {s})), true)" for s in range(2, 6)]
    found = con.execute(f"SELECT {', '.join(checks)} FROM {source}").fetchall()[0]
    scales = {}
    for position, name in enumerate(names):
        fits = found[position * 4:(position + 1) * 4]
        scales[name] = next((s for s, ok in zip(range(2, 6), fits) if ok), 6)
    return scales


def _write_xlsx(con, query: str, path: Path, sheet_rows: int) -> int:
    import xlsxwriter

    relation = con.sql(query)
    names = relation.columns
    reader = relation.to_arrow_reader(_XLSX_BATCH)
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
                                               "strings_to_numbers": False, "tmpdir": tempfile.gettempdir()})
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    moment_format = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet, row, total, sheets = None, sheet_rows, 0, 0
    try:
        for batch in reader:
            for values in zip(*(column.to_pylist() for column in batch.columns)):
                if row >= sheet_rows:
                    sheets += 1
                    sheet = workbook.add_worksheet("data" if sheets == 1 else f"data {sheets}")
                    sheet.write_row(0, 0, [neutralise_formula(n) for n in names])
                    row = 0
                row += 1
                total += 1
                for column, value in enumerate(values):
                    _write_cell(sheet, row, column, value, date_format, moment_format)
        if sheet is None:
            sheet = workbook.add_worksheet("data")
            sheet.write_row(0, 0, [neutralise_formula(n) for n in names])
    finally:
        workbook.close()
    return total


def _write_cell(sheet, row: int, column: int, value, date_format, moment_format) -> None:
    """One cell, text already neutralised in SQL: numbers as numbers, dates as dates."""
    if value is None:
        return
    if isinstance(value, str):
        sheet.write_string(row, column, value)
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        sheet.write_datetime(row, column, value, moment_format)
    elif isinstance(value, dt.date):
        sheet.write_datetime(row, column, dt.datetime.combine(value, dt.time()), date_format)
    elif isinstance(value, (int, float, Decimal)):
        sheet.write_number(row, column, value)
    else:
        sheet.write_string(row, column, neutralise_formula(str(value)))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
