"""Variance: how each bank account's month differs from the month before, from its budget, and
how much of its reconciliation is left unexplained.

Per account (by account key, after the aliases) and month (``YYYY-MM``):

- ``movement``: the sum of the account's records dated in the month (+ money in, - money out);
- ``previous`` and ``change``: the month before's movement, and this month's less it (none for
  the account's first month);
- ``budget`` and ``budget_variance``: the budget file's amount and the movement less it, when a
  budget is given (signed as movements are);
- ``unexplained``: the unexplained difference of the bank reconciliation statement
  (``core.banking.brs``) as of the month's last day, when a reconciliation's result is given;
  for stored datasets, the statement of the newest saved run covering the month
  (:func:`unexplained_of_saved_runs`).

A budget line may name a value of a dimension (a cost centre, a project): it is compared with
the account's records carrying that value in the dimension column chosen, in a row of its own.

A figure past its threshold is a breach and becomes an alert: an unexplained difference larger
(in size) than ``RECON_RECONCILIATION_THRESHOLD`` (1,000.00), a change or a budget variance
larger than ``RECON_VARIANCE_ALERT_THRESHOLD`` (5,000.00). A figure exactly at its threshold is
no breach. Sums are DuckDB DECIMAL, figures ``Decimal``: exact.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

import duckdb
import pyarrow as pa
from sqlalchemy import select

from core import config
from core.accounts import load_aliases
from core.banking.alerts import AlertDraft, raise_alerts
from core.banking.brs import bank_reconciliation_statement
from core.banking.saved import run_accounts, saved_run_reconciliation
from core.domain.accounts import account_label, accounts_by_key, resolve_account_key
from core.domain.findings import RowError
from core.domain.records import TRANSACTION_COLUMNS
from core.ingest.datasets import load_dataset_table
from core.matching.engine import MatchResult
from core.store import Store
from core.store.models import DatasetRecord, Run

__all__ = ["DEFAULT_DIMENSIONS", "Budget", "SavedUnexplained", "VarianceReport", "VarianceRow", "dimension_columns", "month_end",
           "parse_budget", "previous_month", "records_of_datasets", "statement_side_datasets", "unexplained_by_month",
           "unexplained_of_saved_runs", "variance_alerts", "variance_of_datasets", "variance_report"]

DEFAULT_DIMENSIONS = ("cost_centre", "project", "department", "branch")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Budget(NamedTuple):
    """Budget amounts by (account key, dimension value or ``""``, month), and the file's spelling of each account."""

    amounts: dict[tuple[str, str, str], Decimal]
    labels: dict[str, str]


class VarianceRow(NamedTuple):
    account: str
    dimension: str  # "" for the account as a whole
    month: str
    currency: str
    movement: Decimal
    previous: Decimal | None
    change: Decimal | None
    budget: Decimal | None
    budget_variance: Decimal | None
    unexplained: Decimal | None


class VarianceReport(NamedTuple):
    """The rows in order of account, dimension and month; ``heatmap``: (account, dimension value or ``""``, month,
    movement) for the dimension chosen, or per account when none is."""

    rows: list[VarianceRow]
    heatmap: list[tuple[str, str, str, Decimal]]
    dimension: str | None
    reconciliation_threshold: Decimal
    variance_threshold: Decimal
    # (account as the rows name it, month) -> where its unexplained difference comes from, for stored datasets.
    unexplained_from: Mapping[tuple[str, str], SavedUnexplained] | None = None


class SavedUnexplained(NamedTuple):
    """An account's unexplained difference in a month, from the statement of a saved run as of a date."""

    difference: Decimal
    run_id: int
    as_of: dt.date


def month_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_end(month: str) -> dt.date:
    year, number = int(month[:4]), int(month[5:7])
    return dt.date(year, number, calendar.monthrange(year, number)[1])


def previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1:04d}-12" if number == 1 else f"{year:04d}-{number - 1:02d}"


def _months_from(first: str, last: str) -> list[str]:
    months = [last]
    while months[-1] > first:
        months.append(previous_month(months[-1]))
    return months[::-1]


def dimension_columns(table: pa.Table, names: Iterable[str] = DEFAULT_DIMENSIONS) -> list[str]:
    """The dimension columns the records carry (beyond the canonical ones) with at least one value."""
    found = []
    for name in names:
        if name in table.column_names and name not in TRANSACTION_COLUMNS:
            values = table.column(name).to_pylist()
            if any(v not in (None, "") for v in values):
                found.append(name)
    return found


def parse_budget(text: str, name: str = "budget", aliases: Mapping[str, str] | None = None) -> tuple[Budget | None, list[RowError]]:
    """Read a budget file: CSV with ``account``, ``month`` (``YYYY-MM``), ``amount`` and, optionally, ``dimension``.

    Every problem is found at once, one line each: a missing column, a blank account, a month
    or amount that is not one, a line given twice (same account, dimension and month).

    Returns:
        ``(Budget | None, errors)``: with errors, no budget.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("account", "month", "amount") if c not in header]
    if missing:
        return None, [RowError(name, 1, c, None, f"the budget has no {c!r} column (columns: account, dimension (optional), "
                                                 f"month, amount)") for c in missing]
    reader.fieldnames = header
    errors: list[RowError] = []
    amounts: dict[tuple[str, str, str], Decimal] = {}
    seen: dict[tuple[str, str, str], int] = {}
    spellings: dict[str, dict[str, int]] = {}
    for row_number, row in enumerate(reader, start=2):
        account, month, amount_text = ((row.get(c) or "").strip() for c in ("account", "month", "amount"))
        dimension = (row.get("dimension") or "").strip()
        if not any((account, month, amount_text, dimension)):
            continue
        row_errors = []
        if not account:
            row_errors.append(RowError(name, row_number, "account", "", "the account is blank"))
        if not _MONTH.match(month):
            row_errors.append(RowError(name, row_number, "month", month, f"{month!r} is not a month (YYYY-MM)"))
        try:
            amount = Decimal(amount_text)
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            row_errors.append(RowError(name, row_number, "amount", amount_text, f"{amount_text!r} is not an amount"))
        if row_errors:
            errors += row_errors
            continue
        key = (resolve_account_key(account, aliases), dimension, month)
        if key in seen:
            errors.append(RowError(name, row_number, "month", month, f"{account} {dimension + ' ' if dimension else ''}{month} "
                                                                    f"is budgeted already on row {seen[key]}"))
            continue
        seen[key] = row_number
        amounts[key] = amount
        counts = spellings.setdefault(key[0], {})
        counts[account] = counts.get(account, 0) + 1
    if errors:
        return None, errors
    return Budget(amounts, {k: account_label(v) for k, v in spellings.items()}), []


def unexplained_by_month(result: MatchResult, months: Iterable[str], *, statements: Iterable = (),
                         bank_closings: Mapping[str, Decimal] | None = None, book_openings: Mapping[str, Decimal] | None = None,
                         aliases: Mapping[str, str] | None = None) -> tuple[dict[tuple[str, str], Decimal], list[RowError]]:
    """Each account's unexplained difference as of each month's last day (``core.banking.brs``).

    Returns:
        ``({(account key, month): difference}, errors)``; the statement's findings for a month
        carry that month's end in their message.
    """
    statements = list(statements)
    found: dict[tuple[str, str], Decimal] = {}
    errors: list[RowError] = []
    for month in sorted(set(months)):
        brs, brs_errors = bank_reconciliation_statement(result, month_end(month), statements=statements, bank_closings=bank_closings,
                                                        book_openings=book_openings, aliases=aliases)
        errors += [e._replace(message=f"as of {month_end(month)}: {e.message}") for e in brs_errors]
        if brs is not None:
            for line in brs.lines:
                if line.line == "unexplained_difference":
                    found[resolve_account_key(line.account, aliases), month] = line.amount
    return found, errors


def unexplained_of_saved_runs(store: Store, months: Iterable[str], account_keys: Iterable[str],
                              ) -> tuple[dict[tuple[str, str], SavedUnexplained], list[RowError]]:
    """Each account's unexplained difference per month, from the newest saved run covering the month.

    A completed run covers a month when its period (open at an end it leaves empty) reaches
    into the month and it holds a record of the account on or before the statement's date: the
    month's last day, or the run's last day when its period ends sooner. Its statement
    (:func:`core.banking.saved.saved_run_reconciliation`, with every decision taken since and
    the bank balance its statements give) is the account's; when it cannot be made (no bank
    balance, two currencies), the account has no figure that month and the finding says why.

    Args:
        months: ``YYYY-MM``.
        account_keys: account keys, after the aliases.

    Returns:
        ``({(account key, month): SavedUnexplained}, errors)``.
    """
    with store.session() as session:
        runs = list(session.scalars(select(Run).where(Run.status == "completed").order_by(Run.started_at.desc(), Run.id.desc())))
    aliases = load_aliases(store)
    held: dict[int, dict[str, str]] = {}
    found: dict[tuple[str, str], SavedUnexplained] = {}
    errors: list[RowError] = []
    for month in sorted(set(months)):
        first, last = dt.date(int(month[:4]), int(month[5:7]), 1), month_end(month)
        for key in sorted(set(account_keys)):
            for run in runs:
                if (run.period_from and run.period_from > last) or (run.period_to and run.period_to < first):
                    continue
                if run.id not in held:
                    # A run of named accounts holds those (the statement finds none of another); else, ask its records.
                    held[run.id] = ({resolve_account_key(a, aliases): a for a in run.accounts} if run.accounts
                                    else run_accounts(store, run.id))
                if key not in held[run.id]:
                    continue
                as_of = min(last, run.period_to) if run.period_to else last
                brs, brs_errors = saved_run_reconciliation(store, run.id, as_of, account=held[run.id][key])
                if brs_errors:
                    errors += [e._replace(message=f"run {run.id} as of {as_of}: {e.message}") for e in brs_errors]
                    break
                if brs.lines:
                    found[key, month] = SavedUnexplained(brs.line(brs.lines[0].account, "unexplained_difference"), run.id, as_of)
                    break
    return found, errors


def variance_report(records: pa.Table, *, budget: Budget | None = None, unexplained: Mapping[tuple[str, str], Decimal] | None = None,
                    dimension: str | None = None, aliases: Mapping[str, str] | None = None,
                    reconciliation_threshold: Decimal | None = None, variance_threshold: Decimal | None = None,
                    name: str = "records") -> tuple[VarianceReport | None, list[RowError]]:
    """The variance rows of every account in the records, month by month.

    Args:
        records: canonical records of the accounts (a statement dataset, a ledger's records).
        budget: a budget file read by :func:`parse_budget`.
        unexplained: (account key, month) -> unexplained difference (:func:`unexplained_by_month`).
        dimension: the records' column a budget's dimension values (and the heatmap) are of.
        reconciliation_threshold, variance_threshold: the thresholds (default: ``core.config``).

    Returns:
        ``(VarianceReport | None, errors)``: an account with records in two currencies, a
        dimension column the records lack, or a budget with dimension values and no dimension
        chosen is an error.
    """
    reconciliation_threshold = config.reconciliation_threshold() if reconciliation_threshold is None else reconciliation_threshold
    variance_threshold = config.variance_alert_threshold() if variance_threshold is None else variance_threshold
    errors: list[RowError] = []
    if dimension is not None and dimension not in records.column_names:
        errors.append(RowError(name, None, dimension, None, f"the records have no {dimension!r} column"))
    if budget is not None and dimension is None and any(d for _, d, _ in budget.amounts):
        errors.append(RowError("budget", None, "dimension", None, "the budget gives dimension values: choose the records' "
                                                                  "dimension column they are values of"))
    if errors:
        return None, errors
    texts = [t for t in set(records.column("account").to_pylist()) if t is not None]
    keys = {t: resolve_account_key(t, aliases) for t in texts}
    counts = dict(zip(*_count_accounts(records)))
    labels = {key: account_label(spellings) for key, spellings in accounts_by_key(counts, aliases).items()}
    con = duckdb.connect()
    con.register("variance_records", records)
    con.register("variance_keys", pa.table({"text": pa.array(list(keys), pa.string()),
                                            "account": pa.array(list(keys.values()), pa.string())}))
    dimension_sql = f'coalesce(CAST(r."{dimension}" AS VARCHAR), \'\')' if dimension else "''"
    sums = con.execute(f"""
        SELECT k.account, {dimension_sql} AS dimension, strftime(r.date, '%Y-%m') AS month, sum(r.amount) AS movement,
               string_agg(DISTINCT r.currency, ' ' ORDER BY r.currency) AS currencies
        FROM variance_records r JOIN variance_keys k ON k.text = r.account
        WHERE r.date IS NOT NULL GROUP BY ALL
    """).fetchall()
    con.close()
    by_dimension: dict[tuple[str, str, str], Decimal] = {}
    totals: dict[tuple[str, str], Decimal] = {}
    currencies: dict[str, set[str]] = {}
    for account, dim, month, movement, found_currencies in sums:
        by_dimension[account, dim, month] = by_dimension.get((account, dim, month), Decimal(0)) + movement
        totals[account, month] = totals.get((account, month), Decimal(0)) + movement
        currencies.setdefault(account, set()).update(found_currencies.split())
    for account in sorted(currencies):
        if len(currencies[account]) > 1:
            errors.append(RowError(name, None, "currency", labels.get(account, account), f"account {labels.get(account, account)!r} "
                                   f"holds records in {' and '.join(sorted(currencies[account]))}: a variance is of one currency"))
    if errors:
        return None, errors
    if budget is not None:
        labels = {**{k: v for k, v in budget.labels.items() if k not in labels}, **labels}
    lines: dict[tuple[str, str], set[str]] = {}
    for account, month in totals:
        lines.setdefault((account, ""), set()).add(month)
    for (account, dim, month) in (budget.amounts if budget else {}):
        lines.setdefault((account, dim), set()).add(month)
    rows: list[VarianceRow] = []
    for (account, dim), months in sorted(lines.items()):
        recorded = sorted(m for (a, m) in totals if a == account)
        first = min([*recorded, *months])
        for month in _months_from(first, max(months)):
            movement = _movement(totals, by_dimension, account, dim, month)
            previous = _movement(totals, by_dimension, account, dim, previous_month(month)) if month > first else None
            planned = budget.amounts.get((account, dim, month)) if budget else None
            rows.append(VarianceRow(labels.get(account, account), dim, month, next(iter(currencies.get(account, {""}))), movement,
                                    previous, None if previous is None else movement - previous, planned,
                                    None if planned is None else movement - planned,
                                    (unexplained or {}).get((account, month)) if not dim else None))
    heatmap = sorted((labels.get(a, a), d, m, v) for (a, d, m), v in by_dimension.items()) if dimension else \
        sorted((labels.get(a, a), "", m, v) for (a, m), v in totals.items())
    return VarianceReport(rows, heatmap, dimension, reconciliation_threshold, variance_threshold), []


def _count_accounts(records: pa.Table) -> tuple[list[str], list[int]]:
    counted = records.group_by("account").aggregate([("account", "count")])
    pairs = [(a, c) for a, c in zip(counted.column("account").to_pylist(), counted.column("account_count").to_pylist()) if a is not None]
    return [a for a, _ in pairs], [c for _, c in pairs]


def _movement(totals, by_dimension, account: str, dim: str, month: str) -> Decimal:
    found = totals.get((account, month)) if not dim else by_dimension.get((account, dim, month))
    return Decimal(0) if found is None else found


def variance_alerts(report: VarianceReport) -> list[AlertDraft]:
    """One alert per figure past its threshold (larger in size; at the threshold is no breach)."""
    drafts = []
    for row in report.rows:
        where = f"{row.account}{' ' + row.dimension if row.dimension else ''} in {row.month}"
        if row.unexplained is not None and abs(row.unexplained) > report.reconciliation_threshold:
            drafts.append(AlertDraft("unexplained_difference", row.account, row.month, row.dimension, row.unexplained,
                                     report.reconciliation_threshold,
                                     f"{where}: unexplained difference {row.unexplained} {row.currency} is past the reconciliation "
                                     f"threshold {report.reconciliation_threshold}"))
        if row.change is not None and abs(row.change) > report.variance_threshold:
            drafts.append(AlertDraft("variance_previous", row.account, row.month, row.dimension, row.change, report.variance_threshold,
                                     f"{where}: movement {row.movement} {row.currency} differs from the month before "
                                     f"({row.previous}) by {row.change}, past the variance threshold {report.variance_threshold}"))
        if row.budget_variance is not None and abs(row.budget_variance) > report.variance_threshold:
            drafts.append(AlertDraft("variance_budget", row.account, row.month, row.dimension, row.budget_variance,
                                     report.variance_threshold,
                                     f"{where}: movement {row.movement} {row.currency} differs from the budget ({row.budget}) "
                                     f"by {row.budget_variance}, past the variance threshold {report.variance_threshold}"))
    return drafts


def statement_side_datasets(store: Store) -> list[DatasetRecord]:
    """The datasets reconciliations took as the statement side (the banks' records), newest first."""
    with store.session() as session:
        return list(session.scalars(select(DatasetRecord).where(DatasetRecord.id.in_(select(Run.external_dataset_id)))
                                    .order_by(DatasetRecord.created_at.desc(), DatasetRecord.name)))


def records_of_datasets(store: Store, datasets: Iterable) -> pa.Table:
    """The records of stored datasets in one table (columns one of them lacks are empty in its rows)."""
    tables = [load_dataset_table(store, d) for d in datasets]
    if not tables:
        return pa.table({"account": pa.array([], pa.string()), "date": pa.array([], pa.date32()),
                         "amount": pa.array([], pa.decimal128(18, 2)), "currency": pa.array([], pa.string())})
    return pa.concat_tables(tables, promote_options="permissive")


def variance_of_datasets(store: Store, datasets: Iterable, *, budget: Budget | None = None, dimension: str | None = None,
                         unexplained: Mapping[tuple[str, str], Decimal] | None = None,
                         actor: str = "system") -> tuple[VarianceReport | None, list[RowError]]:
    """The variance report of stored datasets (with the alias table), its breaches raised as alerts (once).

    Args:
        datasets: ``DatasetRecord`` or ids, typically the statements of the bank accounts.
        budget, dimension: as :func:`variance_report` takes them.
        unexplained: as :func:`variance_report` takes it; by default each account's month is
            read from the newest saved run covering it (:func:`unexplained_of_saved_runs`),
            and ``unexplained_from`` says which.

    Returns:
        ``(VarianceReport | None, errors)``: a statement that could not be made is a finding
        beside the report, not instead of it.
    """
    aliases = load_aliases(store)
    records = records_of_datasets(store, datasets)
    sources: dict[tuple[str, str], SavedUnexplained] | None = None
    notes: list[RowError] = []
    if unexplained is None:
        months = {d.strftime("%Y-%m") for d in records.column("date").to_pylist() if d is not None}
        keys = {resolve_account_key(t, aliases) for t in set(records.column("account").to_pylist()) if t is not None}
        sources, notes = unexplained_of_saved_runs(store, months, keys)
        unexplained = {k: v.difference for k, v in sources.items()}
    report, errors = variance_report(records, budget=budget, dimension=dimension, unexplained=unexplained, aliases=aliases,
                                     name="datasets")
    if report is None:
        return None, errors
    raise_alerts(store, variance_alerts(report), actor=actor)
    if sources is not None:
        sources = {(row.account, row.month): sources[key, row.month] for row in report.rows if not row.dimension
                   for key in [resolve_account_key(row.account, aliases)] if (key, row.month) in sources}
    return report._replace(unexplained_from=sources), notes
