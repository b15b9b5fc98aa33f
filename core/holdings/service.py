"""One holdings reconciliation end to end, the same for the command line and the page.

Read the books and the registrar files, compare, keep the run, and, when asked, write the
command line's files and the results back to the books' database. Nothing is kept when any
source has findings.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from connectors.sources.base import HoldingsBooks
from core.domain.findings import RowError
from core.holdings.compare import DEFAULT_TOLERANCE, HoldingRow, reconcile_sources
from core.holdings.positions import Positions
from core.holdings.runs import save_holdings_run, write_holdings_outputs, write_results_to_books
from core.store import Store
from core.store.models import HoldingsRun

__all__ = ["HoldingsOutcome", "read_source_files", "run_holdings"]


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


def run_holdings(store: Store, books: tuple[str, bytes] | Positions, registrars: list[tuple[str, bytes]], as_of: dt.date,
                 tolerance: Decimal = DEFAULT_TOLERANCE, *, user: str, books_name: str | None = None, out: Path | None = None,
                 write_back: HoldingsBooks | None = None) -> HoldingsOutcome:
    """Reconcile the books against the registrars' files as of a date, and keep the run.

    Args:
        books: the books' file as ``(name, bytes)``, or positions already rolled up (as from a database).
        registrars: each registrar file as ``(name, bytes)``.
        books_name: how the run names the books when they are not a file (a collection, say).
        out: a folder for ``holdings.csv`` and ``summary.json`` (the command line's contract).
        write_back: the books' database, to store the results in as well.

    Returns:
        The run (``None`` when a source has findings), its rows, warnings and findings.
    """
    rows, warnings, errors = reconcile_sources(books, registrars, as_of, tolerance)
    if errors:
        return HoldingsOutcome(None, [], warnings, errors)
    names = [books[0] if isinstance(books, tuple) else books_name or "books"] + [name for name, _ in registrars]
    run = save_holdings_run(store, rows, as_of, tolerance, names, user)
    summary = write_holdings_outputs(rows, out, as_of, tolerance) if out is not None else None
    if write_back is not None:
        write_results_to_books(write_back, rows, as_of)
    return HoldingsOutcome(run, rows, warnings, [], summary)
