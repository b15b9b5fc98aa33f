"""Holdings reconciliation: units per folio and scheme in the books against the registrars'.

Mutual-fund distributors keep investors' transactions (BUY, SELL, switches, reversals); the
registrars (CAMS, KFintech) send transaction feeds or holdings reports. Both sides are
rolled up to units per (folio, product) as of a date and compared:

- ``matched``: both hold the position and the units agree within the tolerance (0.001);
- ``mismatched``: both hold it and the units differ (``difference`` = books less registrar);
- ``registrar_only`` / ``internal_only``: only one side holds units.

Positions that are zero on the side that has them are not reported. Registrar layouts are
TOML files in ``registrars/``; a file is read with the layout whose fields it has.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tomllib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from core.atomic import replace_atomically
from core.money import AmountError, parse_amount
from core.records import RowError

__all__ = ["HoldingRow", "INTERNAL_TYPES", "Positions", "fetch_registrar_files", "load_registrar_layouts", "read_internal",
           "read_internal_from_mongo", "read_registrar", "reconcile_holdings", "reconcile_sources", "save_holdings_run",
           "write_holdings_outputs", "write_results_to_mongo"]

DEFAULT_TOLERANCE = Decimal("0.001")
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


class Layout(BaseModel):
    """A registrar file layout: which field holds what, and how transaction types count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    registrar: str
    kind: Literal["transactions", "holdings"]
    fields: dict[str, str]
    types: dict[str, tuple[str, ...]] = {}


class Position(NamedTuple):
    units: Decimal
    product_name: str


Positions = dict[tuple[str, str], Position]


class HoldingRow(NamedTuple):
    folio: str
    product: str
    status: str
    internal_units: Decimal
    registrar_units: Decimal
    difference: Decimal
    registrar: str
    product_name: str


def registrars_dir() -> Path:
    return Path(os.environ.get("RECON_REGISTRARS_DIR") or Path(__file__).resolve().parents[1] / "registrars")


def load_registrar_layouts(folder: Path | None = None) -> dict[str, Layout]:
    layouts = {}
    for path in sorted((folder or registrars_dir()).glob("*.toml")):
        try:
            layouts[path.stem] = Layout.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ValueError(f"{path}: not a valid registrar layout ({exc})") from None
    return layouts


def _key(value) -> str:
    return re.sub(r"\s+", " ", str(value if value is not None else "")).strip()


def _units(value, file: str, row: int, column: str) -> tuple[Decimal | None, RowError | None]:
    if isinstance(value, Decimal):
        return value, None
    if isinstance(value, int):
        return Decimal(value), None
    try:
        parsed = parse_amount(_key(value), ".")
    except AmountError as exc:
        return None, RowError(file, row, column, _key(value), str(exc))
    if parsed is None:
        return None, RowError(file, row, column, "", "the units are missing")
    return parsed, None


def _date(value, file: str, row: int, column: str) -> tuple[dt.date | None, RowError | None]:
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    text = _key(value)
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
    from connectors.registrar.files import read_registrar_rows

    rows, errors = read_registrar_rows(data, name)
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
        units, problem = _units(fields.get(f["units"]), name, number, f["units"])
        day, date_problem = _date(fields.get(f["date"]), name, number, f["date"])
        problems = [p for p in (problem, date_problem) if p]
        sign = 1
        if layout.kind == "transactions":
            code = _key(fields.get(f["type"])).upper()
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
        key = (_key(fields.get(f["folio"])), _key(fields.get(f["product"])))
        totals[key] += sign * (abs(units) if layout.kind == "transactions" else units)
        names.setdefault(key, _key(fields.get(f.get("product_name", ""), "")))
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
    from connectors.files.detect import SourceFormatError, detect_format
    from connectors.files.table import read_table

    try:
        fmt = detect_format(data, name)
    except SourceFormatError as exc:
        return {}, [RowError(name, None, None, None, str(exc))]
    if fmt not in ("csv", "xlsx"):
        return {}, [RowError(name, None, None, None, f"a {fmt} file does not hold the books' holdings transactions")]
    table, errors = read_table(data, name, fmt=fmt)
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
        units, problem = _units(cell("units"), name, row.number, titles[index["units"]])
        day, date_problem = _date(cell("date"), name, row.number, titles[index["date"]])
        kind = re.sub(r"[^A-Z0-9]+", "_", _key(cell("type")).upper()).strip("_")
        problems = [p for p in (problem, date_problem) if p]
        if kind not in INTERNAL_TYPES:
            problems.append(RowError(name, row.number, titles[index["type"]], kind, f"transaction type {kind!r} is not known; "
                                     f"use one of {', '.join(sorted(INTERNAL_TYPES))}"))
        if problems:
            errors += problems
            continue
        if day > as_of:
            continue
        key = (_key(cell("folio")), _key(cell("product")))
        totals[key] += INTERNAL_TYPES[kind] * abs(units)
        if "product_name" in index:
            names.setdefault(key, _key(cell("product_name")))
    return {k: Position(v, names.get(k, "")) for k, v in totals.items()}, errors


def reconcile_holdings(internal: Positions, registrars: list[tuple[str, Positions]],
                       tolerance: Decimal = DEFAULT_TOLERANCE) -> list[HoldingRow]:
    """Compare the books with every registrar's positions; a position belongs to the registrar whose file holds its product."""
    registrar_of_product: dict[str, str] = {}
    merged: dict[tuple[str, str], tuple[Decimal, str, str]] = {}
    for registrar, positions in registrars:
        for (folio, product), position in positions.items():
            registrar_of_product.setdefault(product, registrar)
            units, _, name = merged.get((folio, product), (Decimal(0), registrar, position.product_name))
            merged[(folio, product)] = (units + position.units, registrar, name or position.product_name)
    rows = []
    for key in sorted(set(internal) | set(merged)):
        folio, product = key
        ours = internal.get(key, Position(Decimal(0), "")).units
        theirs, registrar, name = merged.get(key, (Decimal(0), registrar_of_product.get(product, ""), ""))
        name = name or internal.get(key, Position(Decimal(0), "")).product_name
        in_books, at_registrar = key in internal and ours != 0, key in merged and theirs != 0
        if not in_books and not at_registrar:
            continue
        if in_books and at_registrar:
            status = "matched" if abs(ours - theirs) <= tolerance else "mismatched"
        else:
            status = "internal_only" if in_books else "registrar_only"
        rows.append(HoldingRow(folio, product, status, ours, theirs, ours - theirs, registrar, name))
    return rows


def reconcile_sources(internal: tuple[str, bytes] | Positions, registrars: list[tuple[str, bytes]], as_of: dt.date,
                      tolerance: Decimal = DEFAULT_TOLERANCE):
    """Read the books (a file's name and bytes, or positions already rolled up, as from
    MongoDB) and every registrar file, registrars in parallel, then compare.

    Returns:
        ``(rows, warnings, errors)``; no rows when any source has errors.
    """
    layouts = load_registrar_layouts()
    with ThreadPoolExecutor(max_workers=max(1, len(registrars))) as pool:
        loaded = list(pool.map(lambda item: read_registrar(item[1], item[0], as_of, layouts), registrars))
        books, errors = read_internal(internal[1], internal[0], as_of) if isinstance(internal, tuple) else (internal, [])
    warnings = [w for _, _, found, _ in loaded for w in found]
    errors += [e for _, _, _, problems in loaded for e in problems]
    if errors:
        return [], warnings, errors
    return reconcile_holdings(books, [(name, positions) for name, positions, _, _ in loaded], tolerance), warnings, []


def reconcile_files(internal: Path, registrars: list[Path], as_of: dt.date, tolerance: Decimal = DEFAULT_TOLERANCE):
    """:func:`reconcile_sources` over files on disk."""
    errors, sources = [], []
    for path in [internal, *registrars]:
        try:
            sources.append((path.name, path.read_bytes()))
        except OSError as exc:
            errors.append(RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})"))
    if errors:
        return [], [], errors
    return reconcile_sources(sources[0], sources[1:], as_of, tolerance)


def save_holdings_run(store, rows: list[HoldingRow], as_of: dt.date, tolerance: Decimal, sources: list[str], user: str):
    """Keep a holdings reconciliation: its rows as Parquet, its figures in the database."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from core.store import record_audit
    from core.store.models import HoldingsRun

    folder = store.data_dir / "holdings"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC)
    path = folder / f"{as_of.isoformat()}_{stamp:%Y%m%dT%H%M%S%f}.parquet"
    scale = max([4] + [max(0, -u.as_tuple().exponent) for r in rows for u in (r.internal_units, r.registrar_units)])
    units = pa.decimal128(28, scale)
    table = pa.table({
        "folio": [r.folio for r in rows], "product": [r.product for r in rows], "product_name": [r.product_name for r in rows],
        "status": [r.status for r in rows], "registrar": [r.registrar for r in rows],
        "internal_units": pa.array([r.internal_units for r in rows], units),
        "registrar_units": pa.array([r.registrar_units for r in rows], units),
        "difference": pa.array([r.difference for r in rows], units),
    })
    with replace_atomically(path) as temporary:
        pq.write_table(table, temporary)
    counts = defaultdict(int)
    for row in rows:
        counts[row.status] += 1
    try:
        with store.session() as session:
            run = HoldingsRun(as_of=as_of, tolerance=str(tolerance), sources=sources, summary=dict(counts),
                              results_path=str(path.relative_to(store.data_dir)), created_by=user, created_at=stamp)
            session.add(run)
            session.flush()
            record_audit(session, user, "reconcile_holdings", "holdings_run", str(run.id), None, {"as_of": str(as_of), **counts})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return run


def write_holdings_outputs(rows: list[HoldingRow], folder: Path, as_of: dt.date, tolerance: Decimal) -> dict:
    """``holdings.csv`` and ``summary.json``, written whole or not at all."""
    from core.exports import write_csv_rows

    folder.mkdir(parents=True, exist_ok=True)
    places = max([3] + [max(0, -u.as_tuple().exponent) for r in rows for u in (r.internal_units, r.registrar_units)])
    quantum = Decimal(1).scaleb(-places)
    counts = defaultdict(int)
    per_registrar: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        counts[row.status] += 1
        per_registrar[row.registrar or "(none)"][row.status] += 1
    summary = {"as_of": as_of.isoformat(), "tolerance": str(tolerance), "positions": len(rows),
               "statuses": {s: counts.get(s, 0) for s in ("matched", "mismatched", "registrar_only", "internal_only")},
               "registrars": {r: dict(sorted(c.items())) for r, c in sorted(per_registrar.items())},
               "internal_units": str(sum((r.internal_units for r in rows), Decimal(0)).quantize(quantum)),
               "registrar_units": str(sum((r.registrar_units for r in rows), Decimal(0)).quantize(quantum))}
    # Both are written under temporary names first; then the old summary.json goes, holdings.csv is renamed into
    # place and summary.json last: a folder holding a summary.json holds a whole set (as with match --out).
    with replace_atomically(folder / "summary.json") as summary_temporary:
        summary_temporary.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        with replace_atomically(folder / "holdings.csv") as temporary:
            with temporary.open("w", newline="", encoding="utf-8") as handle:
                write_csv_rows(handle, [["folio", "product", "status", "internal_units", "registrar_units", "difference",
                                         "registrar"]])
                write_csv_rows(handle, ([row.folio, row.product, row.status, row.internal_units.quantize(quantum),
                                         row.registrar_units.quantize(quantum), row.difference.quantize(quantum), row.registrar]
                                        for row in rows))
            (folder / "summary.json").unlink(missing_ok=True)
    return summary


def read_internal_from_mongo(collection, as_of: dt.date, source: str = "MongoDB") -> tuple[Positions, list[RowError]]:
    """The books' transactions in a MongoDB collection, rolled up inside the database.

    One aggregation pipeline keeps the transactions dated on or before ``as_of`` (by
    ``transaction_date``, else ``trade_date``) and groups them per folio and product, summing
    the units that add and those that take away separately; the two exact totals (store units
    as Decimal128) are subtracted here. Field names are those books commonly use:
    folio_no, product_code, scheme_name, transaction_type, units.

    Args:
        collection: a pymongo collection (or one that behaves like it).
    """
    adds = sorted(t for t, sign in INTERNAL_TYPES.items() if sign > 0)
    takes = sorted(t for t, sign in INTERNAL_TYPES.items() if sign < 0)
    kind = {"$toUpper": "$transaction_type"}
    pipeline = [
        {"$addFields": {"_when": {"$ifNull": ["$transaction_date", "$trade_date"]}}},
        {"$match": {"_when": {"$lte": dt.datetime.combine(as_of, dt.time.max)}}},
        {"$group": {"_id": {"folio": "$folio_no", "product": "$product_code"},
                    "added": {"$sum": {"$cond": [{"$in": [kind, adds]}, "$units", 0]}},
                    "taken": {"$sum": {"$cond": [{"$in": [kind, takes]}, "$units", 0]}},
                    "unknown": {"$sum": {"$cond": [{"$in": [kind, adds + takes]}, 0, 1]}},
                    "name": {"$first": "$scheme_name"}}},
        {"$sort": {"_id.folio": 1, "_id.product": 1}},
    ]
    positions: Positions = {}
    errors = []
    for group in collection.aggregate(pipeline):
        key = (_key(group["_id"].get("folio")), _key(group["_id"].get("product")))
        if group.get("unknown"):
            errors.append(RowError(source, None, "transaction_type", None,
                                   f"folio {key[0]}, product {key[1]}: {group['unknown']} transaction(s) of a type that is not known; "
                                   f"use one of {', '.join(sorted(INTERNAL_TYPES))}"))
            continue
        units = _exact(group.get("added")) - _exact(group.get("taken"))
        positions[key] = Position(units, _key(group.get("name")))
    return positions, errors


def _exact(value) -> Decimal:
    if value is None:
        return Decimal(0)
    if hasattr(value, "to_decimal"):
        return value.to_decimal()
    return Decimal(str(value))


def write_results_to_mongo(collection, rows: list[HoldingRow], as_of: dt.date) -> int:
    """Store the results in a MongoDB collection, units as Decimal128; replaces that date's results."""
    from bson.decimal128 import Decimal128

    moment = dt.datetime.combine(as_of, dt.time())
    collection.delete_many({"as_of": moment})
    documents = [{"as_of": moment, "folio": r.folio, "product": r.product, "product_name": r.product_name, "status": r.status,
                  "internal_units": Decimal128(r.internal_units), "registrar_units": Decimal128(r.registrar_units),
                  "difference": Decimal128(r.difference), "registrar": r.registrar} for r in rows]
    if documents:
        collection.insert_many(documents)
    return len(documents)


def fetch_registrar_files(store, source, target: Path, **retry) -> list:
    """Fetch registrar files over SFTP and record their hashes; files seen before are skipped.

    Returns:
        The newly fetched files.
    """
    from sqlalchemy import select

    from connectors.sftp import fetch_files
    from core.store.models import FetchedFile

    with store.session() as session:
        seen = set(session.scalars(select(FetchedFile.sha256)))
    fetched = fetch_files(source, target, already_seen=seen, **retry)
    with store.session() as session:
        for item in fetched:
            session.add(FetchedFile(sha256=item.sha256, source=f"{source.host}:{item.remote_path}", local_path=str(item.local_path),
                                    size=item.size))
    return fetched
