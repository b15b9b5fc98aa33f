"""Canonical CSV at full speed: files already in the canonical shape, read by DuckDB.

Scripts and other systems often hand over exactly what ``import --out`` writes: a header of
canonical names, ISO dates and plain decimal amounts. Such a file is read and written to
Parquet by DuckDB without a Python loop. The fast path only accepts a file it reads exactly
as the general import would (same columns, ids, scale and values, which a test checks); any
doubt, such as a bad cell, a padded value or a title row, sends the file to the general
import, which finds and reports the problems row by row.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import duckdb

from core.imports import ALIASES
from core.money import MAX_DIGITS, MAX_SCALE
from core.records import DATE_COLUMNS, TRANSACTION_COLUMNS, is_currency_code

__all__ = ["CanonicalStats", "copy_to_parquet", "load_canonical_csv", "write_canonical_parquet"]

# A field starting or ending with white space, in fields joined by the unit separator (0x1f).
_PADDED_FIELD = r"(^|\x1f)[\s\p{Z}]|[\s\p{Z}]($|\x1f)"
_ALIAS_NAMES = {name for names in ALIASES.values() for name in names}
_AMOUNT = rf"-?[0-9]{{1,{MAX_DIGITS - MAX_SCALE}}}(\.[0-9]{{1,{MAX_SCALE}}})?"


class CanonicalStats(NamedTuple):
    rows: int
    accounts: int
    date_from: object
    date_to: object
    scale: int
    columns: list[str]


def _header(path: Path) -> list[str] | None:
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
    canonical = set(TRANSACTION_COLUMNS)
    if len(set(names)) != len(names) or not {"date", "amount", "account", "currency"} <= set(names):
        return None
    # A title the general import would map elsewhere (``value date``, ``ref``) could be read
    # differently there; only canonical names and titles it keeps as they are qualify.
    if any(n not in canonical and " ".join(n.replace("_", " ").lower().split()) in _ALIAS_NAMES for n in names):
        return None
    if any(not n or n != n.strip() or n.startswith("source_") or "\n" in n for n in names):
        return None
    return names


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_canonical_csv(con: duckdb.DuckDBPyConnection, path: Path, table: str) -> CanonicalStats | None:
    """Read a canonical CSV once into the DuckDB table ``table`` (canonical columns and types).

    Returns:
        The table's figures, or ``None`` when the file is not plainly canonical; no table is
        left behind then, and the caller uses the general import.
    """
    names = _header(path)
    if names is None:
        return None
    raw = f"_raw_{table}"
    columns = "{" + ", ".join(f"'{n}': 'VARCHAR'" for n in names) + "}"
    try:
        numbered = "row_number() OVER () AS _row, " if "id" not in names else ""
        con.execute(f"""
            CREATE OR REPLACE TABLE {raw} AS SELECT {numbered}*
            FROM read_csv('{str(path).replace("'", "''")}', header = true, delim = ',', quote = '"', escape = '"',
                          columns = {columns}, strict_mode = true, null_padding = false, auto_detect = false, encoding = 'utf-8')
        """)
        # Dates, amounts and currencies are checked by pattern below; any other text must not
        # be padded, as the general import would strip it.
        texts = [n for n in names if n not in ("date", "amount", "currency", *DATE_COLUMNS)]
        joined = " || chr(31) || ".join(f"coalesce({_q(n)}, '')" for n in texts)
        checks = [
            f"count(*) FILTER (WHERE regexp_matches({joined}, '{_PADDED_FIELD}'))" if texts else "0"
        ] + [
            "count(*) FILTER (WHERE date IS NULL OR NOT regexp_full_match(date, '[0-9]{4}-[0-9]{2}-[0-9]{2}') OR try_cast(date AS DATE) IS NULL)",
            f"count(*) FILTER (WHERE amount IS NULL OR NOT regexp_full_match(amount, '{_AMOUNT}'))",
        ] + [
            f"count(*) FILTER (WHERE {c} IS NOT NULL AND (NOT regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') OR try_cast({c} AS DATE) IS NULL))"
            for c in DATE_COLUMNS[1:] if c in names
        ]
        if "id" in names:
            checks.append("count(*) FILTER (WHERE id IS NULL) + count(*) - count(DISTINCT id)")
        bad, rows, scale, currencies, accounts, first, last = con.execute(f"""
            SELECT {' + '.join(checks)}, count(*), coalesce(max(length(split_part(amount, '.', 2))), 0),
                   list(DISTINCT upper(coalesce(currency, ''))), count(DISTINCT coalesce(account, '')),
                   min(try_cast(date AS DATE)), max(try_cast(date AS DATE))
            FROM {raw}
        """).fetchone()
    except duckdb.Error:
        con.execute(f"DROP TABLE IF EXISTS {raw}")
        return None
    if bad or rows == 0 or any(c and not is_currency_code(c) for c in currencies):
        con.execute(f"DROP TABLE IF EXISTS {raw}")
        return None
    scale = max(2, scale)
    extra = [n for n in names if n not in TRANSACTION_COLUMNS]
    content = " || chr(31) || ".join(f"coalesce({_q(n)}, '')" for n in names)
    select = []
    for column in TRANSACTION_COLUMNS:
        if column == "id":
            select.append(_q("id") if "id" in names else
                          f"substr(sha256(({content}) || chr(30) || CAST(row_number() OVER (PARTITION BY {content}) AS VARCHAR)), 1, 20) AS id")
        elif column in DATE_COLUMNS:
            select.append(f"CAST({column} AS DATE) AS {column}" if column in names else f"CAST(NULL AS DATE) AS {column}")
        elif column == "amount":
            select.append(f"CAST(amount AS DECIMAL(18, {scale})) AS amount")
        elif column == "currency":
            select.append("upper(coalesce(currency, '')) AS currency")
        else:
            select.append(f"coalesce({_q(column)}, '') AS {_q(column)}" if column in names else f"'' AS {_q(column)}")
    select += [f"coalesce({_q(n)}, '') AS {_q(n)}" for n in extra]
    # Derived ids number identical rows by a window; the file's row order is restored after it.
    order = "" if "id" in names else " ORDER BY _row"
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(select)} FROM {raw}{order}")
    con.execute(f"DROP TABLE {raw}")
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
