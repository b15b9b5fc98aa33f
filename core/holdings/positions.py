"""Positions: units per (folio, product) as of a date, rolled up from the books' transactions
(a file, or a database through :mod:`connectors.sources`) or from a registrar's file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from connectors.files.detect import SourceFormatError, detect_format
from connectors.files.raw import ReadOptions
from connectors.files.table import read_table
from connectors.registrar.files import read_registrar_rows
from connectors.sources.base import HoldingsBooks
from core import config
from core.domain.findings import RowError
from core.domain.money import AmountError, parse_amount
from core.holdings.layouts import Layout, load_registrar_layouts

__all__ = ["INTERNAL_TYPES", "Position", "Positions", "read_internal", "read_internal_from_books", "read_registrar"]


# Transaction types of the books, as systems commonly name them, and their effect on units.
INTERNAL_TYPES = {
    "BUY": 1, "PURCHASE": 1, "SIP": 1, "SWITCH_IN": 1, "TRANSFER_IN": 1, "DIVIDEND_REINVESTMENT": 1, "BONUS": 1,
    "SELL": -1, "REDEMPTION": -1, "SWITCH_OUT": -1, "TRANSFER_OUT": -1,
    "BUY_REVERSAL": -1, "PURCHASE_REVERSAL": -1, "SWITCH_IN_REVERSAL": -1,
    "SELL_REVERSAL": 1, "REDEMPTION_REVERSAL": 1, "SWITCH_OUT_REVERSAL": 1,
}


_INTERNAL_FIELDS = {
    "folio": ("folio_no", "folio", "folio_number"),
    "product": ("product_code", "scheme_code", "product", "prodcode"),
    "product_name": ("scheme_name", "product_name", "scheme"),
    "type": ("transaction_type", "txn_type", "type"),
    "date": ("transaction_date", "trade_date", "date"),
    "units": ("units", "quantity"),
}


class Position(NamedTuple):
    units: Decimal
    product_name: str


Positions = dict[tuple[str, str], Position]


def _collapse_whitespace(value) -> str:
    return re.sub(r"\s+", " ", str(value if value is not None else "")).strip()


def _parse_units(value, file: str, row: int, column: str) -> tuple[Decimal | None, RowError | None]:
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, int):
        return Decimal(value), None
    try:
        parsed = parse_amount(_collapse_whitespace(value), ".")
    except AmountError as exc:
        return None, RowError(file, row, column, _collapse_whitespace(value), str(exc))
    if parsed is None:
        return None, RowError(file, row, column, "", "the units are missing")
    return parsed, None


def _parse_date(value, file: str, row: int, column: str) -> tuple[dt.date | None, RowError | None]:
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = _collapse_whitespace(value)
    for fmt in ("%Y-%m-%d", "%d-%b-%Y", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y", "%d-%b-%y", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date(), None
        except ValueError:
            continue
    return None, RowError(file, row, column, text, "not a date")


def read_registrar(data: bytes, name: str, as_of: dt.date, layouts: dict[str, Layout] | None = None):
    """A registrar file's units per (folio, product) as of a date.

    Returns:
        ``(registrar name, Positions, warnings, errors)``.
    """
    rows, errors = read_registrar_rows(data, name, ReadOptions(max_expanded_bytes=config.max_expanded_bytes()))
    if rows is None:
        return "", {}, [], errors
    if not rows:
        return "", {}, [], [RowError(name, None, None, None, "the registrar file holds no rows")]
    layouts = layouts if layouts is not None else load_registrar_layouts()
    present = set().union(*(set(fields) for _, fields in rows))
    layout = next((l for l in layouts.values() if {f.upper() for f in l.fields.values()} <= present), None)
    if layout is None:
        known = ", ".join(f"{n} ({', '.join(l.fields.values())})" for n, l in layouts.items())
        return "", {}, [], [RowError(name, 1, None, None, f"no registrar layout fits the fields {sorted(present)}; known layouts: {known}")]
    f = {k: v.upper() for k, v in layout.fields.items()}
    add = {t.upper() for t in layout.types.get("add", ())}
    subtract = {t.upper() for t in layout.types.get("subtract", ())}
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    names: dict[tuple[str, str], str] = {}
    warnings, report_dates = [], set()
    for number, fields in rows:
        units, problem = _parse_units(fields.get(f["units"]), name, number, f["units"])
        day, date_problem = _parse_date(fields.get(f["date"]), name, number, f["date"])
        problems = [p for p in (problem, date_problem) if p]
        sign = 1
        if layout.kind == "transactions":
            code = _collapse_whitespace(fields.get(f["type"])).upper()
            if code in add:
                sign = 1
            elif code in subtract:
                sign = -1
            else:
                problems.append(RowError(name, number, f["type"], code,
                                         f"transaction type {code!r} is not in the {layout.registrar} layout's add or subtract lists"))
        if problems:
            errors += problems
            continue
        if layout.kind == "transactions" and day > as_of:
            continue
        report_dates.add(day)
        key = (_collapse_whitespace(fields.get(f["folio"])), _collapse_whitespace(fields.get(f["product"])))
        totals[key] += sign * (abs(units) if layout.kind == "transactions" else units)
        names.setdefault(key, _collapse_whitespace(fields.get(f.get("product_name", ""), "")))
    if layout.kind == "holdings" and report_dates and report_dates != {as_of}:
        warnings.append(f"{name}: the holdings report is dated {', '.join(str(d) for d in sorted(report_dates))}, not {as_of}")
    positions = {key: Position(units, names.get(key, "")) for key, units in totals.items()}
    return layout.registrar, positions, warnings, errors


def read_internal(data: bytes, name: str, as_of: dt.date):
    """The books' transactions from a CSV/XLSX file, rolled up as of a date.

    Columns are recognised by the names books commonly use (folio_no, product_code,
    scheme_name, transaction_type, transaction_date or trade_date, units).

    Returns:
        ``(Positions, errors)``.
    """
    try:
        fmt = detect_format(data, name, config.max_expanded_bytes())
    except SourceFormatError as exc:
        return {}, [RowError(name, None, None, None, str(exc))]
    if fmt not in ("csv", "xlsx"):
        return {}, [RowError(name, None, None, None, f"a {fmt} file does not hold the books' holdings transactions")]
    table, errors = read_table(data, name, ReadOptions(max_expanded_bytes=config.max_expanded_bytes()), fmt)
    if table is None:
        return {}, errors
    header = [re.sub(r"[^a-z0-9]+", "_", str(c or "").strip().lower()).strip("_") for c in table.rows[0].cells]
    index = {}
    for role, names in _INTERNAL_FIELDS.items():
        found = next((header.index(n) for n in names if n in header), None)
        if found is not None:
            index[role] = found
    missing = [role for role in ("folio", "product", "type", "date", "units") if role not in index]
    if missing:
        return {}, [RowError(name, table.rows[0].number, None, None,
                             f"no column for {', '.join(missing)} (looked for {', '.join(_INTERNAL_FIELDS[m][0] for m in missing)})")]
    titles = [str(c or "") for c in table.rows[0].cells]
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    names: dict[tuple[str, str], str] = {}
    for row in table.rows[1:]:
        cell = lambda role: row.cells[index[role]] if index[role] < len(row.cells) else None  # noqa: E731
        units, problem = _parse_units(cell("units"), name, row.number, titles[index["units"]])
        day, date_problem = _parse_date(cell("date"), name, row.number, titles[index["date"]])
        kind = re.sub(r"[^A-Z0-9]+", "_", _collapse_whitespace(cell("type")).upper()).strip("_")
        problems = [p for p in (problem, date_problem) if p]
        if kind not in INTERNAL_TYPES:
            problems.append(RowError(name, row.number, titles[index["type"]], kind, f"transaction type {kind!r} is not known; "
                                     f"use one of {', '.join(sorted(INTERNAL_TYPES))}"))
        if problems:
            errors += problems
            continue
        if day > as_of:
            continue
        key = (_collapse_whitespace(cell("folio")), _collapse_whitespace(cell("product")))
        totals[key] += INTERNAL_TYPES[kind] * abs(units)
        if "product_name" in index:
            names.setdefault(key, _collapse_whitespace(cell("product_name")))
    return {k: Position(v, names.get(k, "")) for k, v in totals.items()}, errors


def read_internal_from_books(books: HoldingsBooks, as_of: dt.date, source: str = "MongoDB") -> tuple[Positions, list[RowError]]:
    """The books' transactions in a database (:class:`connectors.sources.base.HoldingsBooks`), rolled up inside it.

    The database sums the units that add and those that take away per folio and product; the
    two exact totals are subtracted here. A transaction type that is not known is a finding.

    Args:
        source: the name findings give the books (the file name for a file).
    """
    adds = sorted(t for t, sign in INTERNAL_TYPES.items() if sign > 0)
    takes = sorted(t for t, sign in INTERNAL_TYPES.items() if sign < 0)
    positions: Positions = {}
    errors = []
    for total in books.unit_totals(as_of, adds, takes):
        key = (_collapse_whitespace(total.folio), _collapse_whitespace(total.product))
        if total.unknown:
            errors.append(RowError(source, None, "transaction_type", None,
                                   f"folio {key[0]}, product {key[1]}: {total.unknown} transaction(s) of a type that is not known; "
                                   f"use one of {', '.join(sorted(INTERNAL_TYPES))}"))
            continue
        positions[key] = Position(total.added - total.taken, _collapse_whitespace(total.name))
    return positions, errors
