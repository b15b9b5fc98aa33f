"""Canonical CSV at full speed: files already in the canonical shape, read by DuckDB.

Scripts and other systems often hand over exactly what ``import --out`` writes, and many
exports come close: a header of canonical names or titles the import recognises (``Value
Date``, ``IBAN``), ISO dates and plain decimal amounts. Such a file is read and written to
Parquet by DuckDB without a Python loop. The fast path only accepts a file it reads exactly
as the general import would (same columns, ids, scale and values, which a test checks); any
doubt, such as a bad cell, a padded value or a title row, sends the file to the general
import, which finds and reports the problems row by row.
"""

from __future__ import annotations

import csv
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import duckdb

from core import config
from core.domain.money import MAX_DIGITS, MAX_SCALE
from core.domain.records import (CREDIT_MARKERS, DATE_COLUMNS, DEBIT_MARKERS, TRANSACTION_COLUMNS, extra_columns, is_currency_code,
                                 map_titles, normalise_title)
from core.ingest.known_layouts import fits_a_signature

__all__ = ["SPACES", "CanonicalStats", "ReadAhead", "copy_to_parquet", "load_canonical_csv", "within_import_limit", "write_canonical_parquet"]

# The characters Python's ``str.strip`` removes, as the general import does (``str.isspace``),
# by code point; a field starting or ending with one is padded.
SPACES = (9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, *range(8192, 8203), 8232, 8233, 8239, 8287, 12288)
# Working columns of the read, dropped before the table is used; a file's own column of the
# same name sends the file to the general import.
_FLAGS = ("_bad", "_scale")
_SCRATCH = (*_FLAGS, "_row")
# A field's first and last code points, computed once in the read (``_first_3``, ``_last_3``).
_EDGE = re.compile(r"_(?:first|last)_[0-9]+")
_AMOUNT = rf"-?[0-9]{{1,{MAX_DIGITS - MAX_SCALE}}}(\.[0-9]{{1,{MAX_SCALE}}})?"


class CanonicalStats(NamedTuple):
    rows: int
    accounts: int
    date_from: object
    date_to: object
    scale: int
    columns: list[str]


class _Header(NamedTuple):
    names: list[str]  # the file's titles, in order
    source: dict[str, str]  # canonical column -> the title it is read from
    extra: dict[str, str]  # other columns, under the names the general import gives them -> title


def _header(path: Path) -> _Header | None:
    """The file's titles and what each is read as, when the general import would map them the same plain way."""
    with path.open("rb") as handle:
        first = handle.readline(65536)
    try:
        text = first.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        return None
    if not text or text.startswith("\ufeff"):
        return None
    try:
        names = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None
    if any(not n or n != n.strip() or n.startswith("source_") or "\n" in n or n in _SCRATCH or _EDGE.fullmatch(n) for n in names):
        return None
    normalised = [normalise_title(n) for n in names]
    if len(set(normalised)) != len(normalised):
        return None  # the general import would tell alike titles apart by number
    if set(normalised) & {"status", "state", "info"} or fits_a_signature(set(normalised)):
        return None  # pending rows to leave out, or a known layout: the general import's rules
    # Columns mapped as the general import maps them without a profile. Debit and credit
    # columns in place of an amount, a debit/credit indicator, or an account or currency
    # written above the header need its rules: such a file goes there. Debit and credit
    # columns beside an amount are kept as extra columns there, and so here.
    mapping = map_titles(normalised, {})
    if not {"date", "amount", "account", "currency"} <= set(mapping) or set(mapping) - set(TRANSACTION_COLUMNS) - {"debit", "credit"}:
        return None
    mapping = {name: index for name, index in mapping.items() if name in TRANSACTION_COLUMNS}
    return _Header(names, {name: names[index] for name, index in mapping.items()},
                   {name: names[index] for name, index in extra_columns(names, mapping).items()})


_EMPTY = "''"


def _is_space(code: str) -> str:
    """Whether a code point is one ``str.strip`` removes, as ranges and lists of at most three.

    A longer ``IN`` list is planned by DuckDB as a join against the list, and that join lets
    a parallel ``CREATE TABLE AS`` store the rows out of the file's order.
    """
    runs: list[list[int]] = []
    for point in SPACES:
        if runs and point == runs[-1][-1] + 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    ranges = [f"{code} BETWEEN {run[0]} AND {run[-1]}" for run in runs if len(run) > 2]
    singles = [point for run in runs if len(run) <= 2 for point in run]
    lists = [f"{code} IN ({', '.join(map(str, singles[i:i + 3]))})" for i in range(0, len(singles), 3)]
    return "(" + " OR ".join(ranges + lists) + ")"


def _edges(index: int, name: str) -> str:
    """The first and last code points of a text field, for :func:`_padded`."""
    field = f"coalesce({_q(name)}, {_EMPTY})"
    return f"unicode({field}) AS _first_{index}, unicode(right({field}, 1)) AS _last_{index}"


def _padded(index: int) -> str:
    """Whether a text field starts or ends with a character ``str.strip`` removes (its first and last code points)."""
    return f"({_is_space(f'r._first_{index}')} OR {_is_space(f'r._last_{index}')})"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_canonical_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> CanonicalStats | None:
    """Read a canonical CSV once into the DuckDB table ``table`` (canonical columns and types).

    Returns:
        The table's figures, or ``None`` when the file is not plainly canonical; no table is
        left behind then, and the caller uses the general import.
    """
    header = _header(path)
    if header is None:
        return None
    names, source_of = header.names, header.source

    def cell(column: str) -> str:
        return f"r.{_q(source_of[column])}"

    source = (f"read_csv('{str(path).replace(chr(39), chr(39) * 2)}', header = true, delim = ',', quote = '\"', escape = '\"', "
              "columns = {" + ", ".join("'" + n.replace("'", "''") + "': 'VARCHAR'" for n in names) + "}, strict_mode = true, "
              "null_padding = false, auto_detect = false, encoding = 'utf-8')")
    # One read: each row typed, with a flag for anything the general import could read
    # differently. Dates, amounts and currencies are checked by pattern (a year 0000 is a date
    # to DuckDB, not to Python); any other text must not be padded, as the general import
    # would strip it.
    typed = {source_of[c] for c in ("amount", "currency", *DATE_COLUMNS) if c in source_of}
    untyped = [(index, n) for index, n in enumerate(names) if n not in typed]
    doubts = [_padded(index) for index, _ in untyped]
    for column in (c for c in DATE_COLUMNS if c in source_of):
        doubts.append(f"({cell(column)} IS NOT NULL AND (NOT regexp_full_match({cell(column)}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
                      f"OR starts_with({cell(column)}, '0000') OR try_cast({cell(column)} AS DATE) IS NULL))")
    doubts += [f"{cell('date')} IS NULL", f"{cell('amount')} IS NULL", f"NOT regexp_full_match({cell('amount')}, '{_AMOUNT}')"]
    select = []
    for column in TRANSACTION_COLUMNS:
        if column == "id":
            if "id" in source_of:
                select.append(f"{cell('id')} AS id")
                doubts.append(f"{cell('id')} IS NULL")
            else:
                # Derived ids are made from the file's text and number identical rows in file
                # order, as the general import makes them.
                content = " || chr(31) || ".join(f"coalesce(r.{_q(n)}, {_EMPTY})" for n in names)
                number = f"row_number() OVER (PARTITION BY {content} ORDER BY r._row)"
                select.append(f"substr(sha256(({content}) || chr(30) || CAST({number} AS VARCHAR)), 1, 20) AS id")
        elif column not in source_of:
            select.append(f"CAST(NULL AS DATE) AS {column}" if column in DATE_COLUMNS else f"{_EMPTY} AS {_q(column)}")
        elif column in DATE_COLUMNS:
            select.append(f"try_cast({cell(column)} AS DATE) AS {column}")
        elif column == "amount":
            select.append(f"try_cast({cell('amount')} AS DECIMAL(18, {MAX_SCALE})) AS amount")
        elif column == "currency":
            select.append(f"upper(coalesce({cell('currency')}, {_EMPTY})) AS currency")
        else:
            select.append(f"coalesce({cell(column)}, {_EMPTY}) AS {_q(column)}")
    extra = list(header.extra)
    select += [f"coalesce(r.{_q(title)}, {_EMPTY}) AS {_q(name)}" for name, title in header.extra.items()]
    amount = cell("amount")
    select += [f"({' OR '.join(doubts)}) AS _bad",
               f"CAST(CASE WHEN strpos({amount}, '.') > 0 THEN strlen({amount}) - strpos({amount}, '.') ELSE 0 END AS TINYINT) AS _scale"]
    # The window numbering identical rows reorders them: the file's order is restored.
    edges = "".join(f", {_edges(index, n)}" for index, n in untyped)
    if "id" in source_of:
        source, order = f"(SELECT *{edges} FROM {source})", ""
    else:
        source, order = f"(SELECT row_number() OVER () AS _row, *{edges} FROM {source})", " ORDER BY r._row"
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(select)} FROM {source} r{order}")
        unique = "count(DISTINCT id) = count(*)" if "id" in source_of else "true"
        # Unsigned amounts with a type column of debit/credit markers: the general import signs them.
        markers = ", ".join(f"'{m}'" for m in sorted(set(DEBIT_MARKERS + CREDIT_MARKERS) - {"-", "+"}))
        indicated = f"coalesce(bool_and(upper(type) IN ({markers})) AND min(amount) >= 0, false)" if "type" in source_of else "false"
        bad, rows, unique, scale, currencies, accounts, first, last, indicated = con.execute(f"""
            SELECT count(*) FILTER (WHERE _bad), count(*), {unique}, coalesce(max(_scale), 0), list(DISTINCT currency),
                   count(DISTINCT account), min(date), max(date), {indicated}
            FROM {table}
        """).fetchone()
        if bad or rows == 0 or not unique or indicated or any(c and not is_currency_code(c) for c in currencies):
            con.execute(f"DROP TABLE {table}")
            return None
        scale = max(2, scale)
        con.execute(f"ALTER TABLE {table} ALTER amount TYPE DECIMAL(18, {scale})")
        for column in _FLAGS:
            con.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        return None
    return CanonicalStats(rows, accounts, first, last, scale, list(TRANSACTION_COLUMNS) + extra)


def copy_to_parquet(con: duckdb.DuckDBPyConnection, table: str, target: Path) -> None:
    con.execute(f"COPY {table} TO '{str(target).replace(chr(39), chr(39) * 2)}' (FORMAT parquet)")


def write_canonical_parquet(path: Path, target: Path) -> CanonicalStats | None:
    """Read a canonical CSV and write its canonical table to ``target`` as Parquet.

    Returns:
        The table's figures, or ``None`` when the file is not plainly canonical (nothing is
        written then).
    """
    con = duckdb.connect()
    stats = load_canonical_csv(con, path, "canonical")
    if stats is not None:
        copy_to_parquet(con, "canonical", target)
    return stats


class ReadAhead:
    """Canonical CSVs read into one DuckDB database on a background thread, one after the other.

    A command starts this first and imports the rest of what it needs (and opens the store)
    meanwhile; ``take`` then waits for a file and hands its table over under the caller's name.
    """

    def __init__(self, paths: list[Path]) -> None:
        self.con = duckdb.connect(config=config.duckdb_settings())
        pool = ThreadPoolExecutor(max_workers=1)
        self._reads = {path: pool.submit(_read_into, self.con.cursor(), path, f"_ahead_{n}") for n, path in enumerate(dict.fromkeys(paths))}
        pool.shutdown(wait=False)

    def take(self, path: Path, table: str) -> CanonicalStats | None:
        """The file's figures once read, its table renamed ``table``; ``None`` when it is not plainly canonical."""
        stats, ahead = self._reads.pop(path).result()
        if stats is not None:
            self.con.execute(f"DROP TABLE IF EXISTS {table}")
            self.con.execute(f"ALTER TABLE {ahead} RENAME TO {table}")
        return stats

    def has(self, path: Path) -> bool:
        return path in self._reads

    def wait(self) -> None:
        """Let the reads not taken finish (a command stopping early)."""
        for read in self._reads.values():
            read.result()


def within_import_limit(path: Path) -> bool:
    """Whether the file can be read and is no larger than an import accepts."""
    try:
        return path.stat().st_size <= config.max_import_bytes()
    except OSError:
        return False


def _read_into(cursor: duckdb.DuckDBPyConnection, path: Path, table: str) -> tuple[CanonicalStats | None, str]:
    try:
        return (load_canonical_csv(cursor, path, table) if within_import_limit(path) else None), table
    except OSError:
        return None, table
    finally:
        cursor.close()
