"""One holdings reconciliation end to end, the same for the command line and the page.

Read the books (a file, or a database such as MongoDB) and the registrar files, compare, keep
the run, and, when asked, write the command line's files and the results back to the books'
database. Nothing is kept when any source has findings; a database that cannot be reached is
one.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from connectors.sources.base import HoldingsBooks
from connectors.sources.mongodb import MongoDBError, open_mongodb_books
from core.domain.findings import RowError
from core.holdings.compare import DEFAULT_TOLERANCE, HoldingRow, reconcile_sources
from core.holdings.positions import Positions, read_internal_from_books
from core.holdings.runs import save_holdings_run, write_holdings_outputs, write_results_to_books
from core.store import Store
from core.store.models import HoldingsRun

__all__ = ["HoldingsOutcome", "read_source_files", "run_holdings", "run_holdings_from_mongodb"]


class HoldingsOutcome(NamedTuple):
    run: HoldingsRun | None
    rows: list[HoldingRow]
    warnings: list[str]
    errors: list[RowError]
    summary: dict | None = None  # the command line's summary.json, when ``out`` was given


def read_source_files(paths: list[Path]) -> tuple[list[tuple[str, bytes]], list[RowError]]:
    """Files as ``(name, bytes)``, or a finding for each one that cannot be read."""
    sources, errors = [], []
    for path in paths:
        try:
            sources.append((path.name, path.read_bytes()))
        except OSError as exc:
            errors.append(RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})"))
    return sources, errors


def run_holdings(store: Store, books: tuple[str, bytes] | Positions | HoldingsBooks, registrars: list[tuple[str, bytes]], as_of: dt.date,
                 tolerance: Decimal = DEFAULT_TOLERANCE, *, user: str, books_name: str | None = None, out: Path | None = None,
                 write_back: HoldingsBooks | None = None) -> HoldingsOutcome:
    """Reconcile the books against the registrars' files as of a date, and keep the run.

    Args:
        books: the books' file as ``(name, bytes)``, positions already rolled up, or the books' database
            (rolled up inside it).
        registrars: each registrar file as ``(name, bytes)``.
        books_name: how the run names the books when they are not a file (a collection, say).
        out: a folder for ``holdings.csv`` and ``summary.json`` (the command line's contract).
        write_back: the books' database, to store the results in as well.

    Returns:
        The run (``None`` when a source has findings), its rows, warnings and findings. A
        write-back the database refuses is a warning: the run is kept all the same.
    """
    name = books[0] if isinstance(books, tuple) else books_name or "books"
    if isinstance(books, HoldingsBooks):
        try:
            books, errors = read_internal_from_books(books, as_of, name)
        except MongoDBError as exc:
            errors = [RowError(name, None, None, None, str(exc))]
        if errors:
            return HoldingsOutcome(None, [], [], errors)
    rows, warnings, errors = reconcile_sources(books, registrars, as_of, tolerance)
    if errors:
        return HoldingsOutcome(None, [], warnings, errors)
    run = save_holdings_run(store, rows, as_of, tolerance, [name] + [registrar for registrar, _ in registrars], user)
    summary = write_holdings_outputs(rows, out, as_of, tolerance) if out is not None else None
    if write_back is not None:
        try:
            write_results_to_books(write_back, rows, as_of)
        except MongoDBError as exc:
            warnings = [*warnings, f"holdings run {run.id} is kept, but its results were not written back: {exc}"]
    return HoldingsOutcome(run, rows, warnings, [], summary)


def run_holdings_from_mongodb(store: Store, uri: str, collection: str, registrars: list[tuple[str, bytes]], as_of: dt.date,
                              tolerance: Decimal = DEFAULT_TOLERANCE, *, user: str, write_back: bool = False) -> HoldingsOutcome:
    """:func:`run_holdings` with the books in MongoDB: connect, reconcile, keep the run, write back.

    Args:
        uri: the server's address (``mongodb://host:27017``).
        collection: the transactions' ``database.collection``; the run names the books by it.
        write_back: also store the results in ``holdings_results`` of the same database.

    Returns:
        As :func:`run_holdings`; a server that cannot be reached is a finding on the collection.
    """
    try:
        books = open_mongodb_books(uri, collection)
    except MongoDBError as exc:
        return HoldingsOutcome(None, [], [], [RowError(collection, None, None, None, str(exc))])
    return run_holdings(store, books, registrars, as_of, tolerance, user=user, books_name=collection,
                        write_back=books if write_back else None)
