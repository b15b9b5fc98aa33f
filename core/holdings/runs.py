"""What a holdings reconciliation keeps and writes: its rows as Parquet and its figures in the
store, the command line's ``holdings.csv`` and ``summary.json``, results written back to the
books' database, and the registrar files fetched over SFTP with their hashes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from connectors.sources.base import Fetched, FileSource, HoldingsBooks
from core.atomic import replace_atomically
from core.exports.writers import write_csv_rows
from core.holdings.compare import HoldingRow
from core.store import record_audit
from core.store.models import FetchedFile, HoldingsRun

__all__ = ["fetch_registrar_files", "save_holdings_run", "write_holdings_outputs", "write_results_to_books"]


def save_holdings_run(store, rows: list[HoldingRow], as_of: dt.date, tolerance: Decimal, sources: list[str], user: str):
    """Keep a holdings reconciliation: its rows as Parquet, its figures in the database."""
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


def write_results_to_books(books: HoldingsBooks, rows: list[HoldingRow], as_of: dt.date) -> int:
    """Store the results in the books' database, replacing that date's results; returns how many."""
    return books.replace_results(as_of, [{"folio": r.folio, "product": r.product, "product_name": r.product_name, "status": r.status,
                                          "internal_units": r.internal_units, "registrar_units": r.registrar_units,
                                          "difference": r.difference, "registrar": r.registrar} for r in rows])


def fetch_registrar_files(store, source: FileSource, target: Path, **retry) -> list[Fetched]:
    """Fetch registrar files (over SFTP, say) and record their hashes; files seen before are skipped.

    Returns:
        The newly fetched files.
    """
    with store.session() as session:
        seen = set(session.scalars(select(FetchedFile.sha256)))
    fetched = source.fetch(target, already_seen=seen, **retry)
    with store.session() as session:
        for item in fetched:
            session.add(FetchedFile(sha256=item.sha256, source=source.describe(item.remote_path), local_path=str(item.local_path),
                                    size=item.size))
    return fetched

