"""Datasets as the Datasets and Reconcile pages show them: what was imported, as books or statement.

A dataset's role is read from what it is and how it was used: a bank statement format, or a
file with statement balances, is a statement; a dataset a run read as its books is books, as its
statement a statement; otherwise a file of several accounts is books and one of a single account
a statement. A retired dataset (:mod:`core.ingest.retirement`) is listed as such and not offered
to runs. Nothing here changes the store.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import NamedTuple

import pandas as pd
from sqlalchemy import select

from core.accounts import known_accounts, load_aliases
from core.domain.money import format_amount
from core.exports.writers import frame_to_csv_bytes
from core.ingest.datasets import load_dataset_table
from core.store import Store
from core.store.models import DatasetRecord, DatasetRetirement, Run, StatementRecord

__all__ = ["BOOKS", "STATEMENT", "DatasetEntry", "ReconcileChoices", "accounts_missing_from_books", "dataset_catalogue", "dataset_csv",
           "dataset_preview", "datasets_frame", "reconcile_choices"]

BOOKS = "books"
STATEMENT = "statement"
_STATEMENT_FORMATS = ("mt940", "camt053", "bai2", "ofx", "pdf")


class DatasetEntry(NamedTuple):
    """One imported dataset with what the pages say of it."""

    dataset: DatasetRecord
    role: str  # books | statement
    accounts: dict[str, str]  # key (after the aliases) -> label
    balances: list[str]  # one line per statement: account, period, opening -> closing
    runs: list[int]  # the runs that read it, oldest first
    retired_by: str | None = None
    retired_at: dt.datetime | None = None


class ReconcileChoices(NamedTuple):
    """The datasets a run may pair: books first, statements next, and the pair offered first."""

    books: list[DatasetEntry]
    statements: list[DatasetEntry]
    books_guess: str | None
    statement_guess: str | None


def _balance_line(s: StatementRecord) -> str:
    period = f"{s.period_from or '?'} to {s.period_to or '?'}"
    opening = format_amount(s.opening) if s.opening is not None else "?"
    closing = format_amount(s.closing) if s.closing is not None else "?"
    return f"{s.account} {s.currency} {period}: {opening} -> {closing}"


def _role(record: DatasetRecord, has_statements: bool, as_books: bool, as_statement: bool) -> str:
    if record.format in _STATEMENT_FORMATS or has_statements:
        return STATEMENT
    if as_books != as_statement:
        return BOOKS if as_books else STATEMENT
    return BOOKS if record.account_count > 1 else STATEMENT


def dataset_catalogue(store: Store, *, include_retired: bool = True) -> list[DatasetEntry]:
    """Every dataset, newest first, with its role, accounts, statement balances, runs and retirement."""
    with store.session() as session:
        records = list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at.desc(), DatasetRecord.name)))
        statements = list(session.scalars(select(StatementRecord).order_by(StatementRecord.account, StatementRecord.period_from)))
        runs = session.execute(select(Run.id, Run.internal_dataset_id, Run.external_dataset_id).order_by(Run.id)).all()
        retired = {r.dataset_id: r for r in session.scalars(select(DatasetRetirement))}
    balances: dict[str, list[str]] = defaultdict(list)
    for statement in statements:
        balances[statement.dataset_id].append(_balance_line(statement))
    used: dict[str, list[int]] = defaultdict(list)
    as_books, as_statement = set(), set()
    for run_id, internal, external in runs:
        used[internal].append(run_id)
        used[external].append(run_id)
        as_books.add(internal)
        as_statement.add(external)
    aliases = load_aliases(store)
    entries = []
    for record in records:
        if record.id in retired and not include_retired:
            continue
        accounts = {a.key: a.label for a in sorted(known_accounts(store, [record], aliases), key=lambda a: (a.label, a.key))}
        gone = retired.get(record.id)
        entries.append(DatasetEntry(record, _role(record, record.id in balances, record.id in as_books, record.id in as_statement),
                                    accounts, balances.get(record.id, []), sorted(set(used.get(record.id, []))),
                                    gone.retired_by if gone else None, gone.retired_at if gone else None))
    return entries


def datasets_frame(entries: list[DatasetEntry]) -> pd.DataFrame:
    """The Datasets grid: one row per dataset, with human column titles."""
    return pd.DataFrame({
        "Role": [e.role for e in entries],
        "Source file": [e.dataset.name for e in entries],
        "Profile": [e.dataset.profile or "automatic" for e in entries],
        "Format": [e.dataset.format for e in entries],
        "Rows": [e.dataset.row_count for e in entries],
        "From": [e.dataset.date_from for e in entries],
        "To": [e.dataset.date_to for e in entries],
        "Accounts": [", ".join(e.accounts.values()) for e in entries],
        "Statement balances": ["; ".join(e.balances) for e in entries],
        "Imported by": [e.dataset.created_by for e in entries],
        "Imported": [e.dataset.created_at for e in entries],
        "Runs": [", ".join(map(str, e.runs)) for e in entries],
        "Retired": [f"by {e.retired_by} on {e.retired_at:%Y-%m-%d %H:%M}" if e.retired_by else "" for e in entries],
        "Flag": ["⚠ unbalanced" if e.dataset.unbalanced else "" for e in entries],
        "SHA-256": [e.dataset.id[:12] for e in entries],
    })


def dataset_preview(store: Store, dataset_id: str, rows: int = 20) -> pd.DataFrame:
    """The first ``rows`` records of a dataset, exactly as imported (amounts stay ``Decimal``)."""
    return load_dataset_table(store, dataset_id).slice(0, max(0, rows)).to_pandas()


def dataset_csv(store: Store, dataset_id: str) -> bytes:
    """Every record of a dataset as CSV (UTF-8, a header row, amounts as exact text, text safe in a spreadsheet)."""
    return frame_to_csv_bytes(load_dataset_table(store, dataset_id).to_pandas())


def reconcile_choices(store: Store) -> ReconcileChoices:
    """The datasets not retired, by role; the pair offered first is the books of most accounts and the
    newest statement whose accounts are all in those books (else the newest statement)."""
    entries = dataset_catalogue(store, include_retired=False)
    books = [e for e in entries if e.role == BOOKS]
    statements = [e for e in entries if e.role == STATEMENT]
    books_guess = max(books, key=lambda e: (len(e.accounts), e.dataset.created_at)) if books else None
    fitting = [s for s in statements if books_guess is not None and s.accounts and set(s.accounts) <= set(books_guess.accounts)]
    statement_guess = (fitting or statements or [None])[0]
    return ReconcileChoices(books, statements, books_guess.dataset.id if books_guess else None,
                            statement_guess.dataset.id if statement_guess else None)


def accounts_missing_from_books(books: DatasetEntry, statement: DatasetEntry) -> list[str]:
    """The statement's accounts (by label) that the books do not hold, compared by key after the aliases."""
    return [label for key, label in statement.accounts.items() if key not in books.accounts]
