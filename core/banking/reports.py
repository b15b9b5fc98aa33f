"""The banking reports by account and period, as plain values: what the HTTP API answers.

Each function reads what the banking pages read, through the same core calls (the saved run's
bank reconciliation statement, the cash position, transfers, the dimensional flows, the
variance report) and narrows it to one account and one period. A period is a month
(``YYYY-MM``: from its first day to its last) or a day (``YYYY-MM-DD``: from the first of its
month to that day). Amounts stay ``Decimal``; the caller writes them as strings.

Posting one bank transaction (:func:`post_transaction`) posts it by posting rules, once, like
``python -m core gl post`` does for a whole dataset.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select

from core import config
from core.accounts import load_aliases
from core.banking.brs import LINES
from core.banking.cash import cash_position, dimension_flows, dimension_pivot, position_by_dimension
from core.banking.ledger import LedgerError, cash_accounts_by_bank_key
from core.banking.posting import PostingRuleError, load_posting_rules, post_records
from core.banking.saved import run_accounts
from core.banking.signoff import SignOffError, account_lock, account_statement
from core.banking.transfers import transfer_report
from core.banking.variance import statement_side_datasets, variance_of_datasets
from core.domain.accounts import resolve_account_key
from core.ingest.datasets import list_datasets, load_dataset_table
from core.store import Store
from core.store.models import DatasetRecord, Journal, Run

__all__ = ["BankingReportError", "NotFound", "Period", "cash_position_of", "dimensional_analysis_of", "parse_period", "post_transaction",
           "reconciliation_of", "transfer_tracking_of", "variance_of"]

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class BankingReportError(ValueError):
    """A report that cannot be made from what was asked; the message says why."""


class NotFound(BankingReportError):
    """What was asked for is not in the store."""


class Period(NamedTuple):
    """The first day and the last day of a period."""

    date_from: dt.date
    as_of: dt.date

    @property
    def month(self) -> str:
        return f"{self.as_of.year:04d}-{self.as_of.month:02d}"


def parse_period(text: str) -> Period:
    """``YYYY-MM`` (the whole month) or ``YYYY-MM-DD`` (the month up to that day).

    Raises:
        BankingReportError: neither form.
    """
    text = (text or "").strip()
    month = _MONTH.match(text)
    try:
        if month:
            year, number = int(month[1]), int(month[2])
            return Period(dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1]))
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise BankingReportError(f"period {text!r}: write a month as YYYY-MM or a day as YYYY-MM-DD") from None
    return Period(day.replace(day=1), day)


def _key(store: Store, account: str | None) -> tuple[str | None, dict[str, str]]:
    aliases = load_aliases(store)
    return (resolve_account_key(account, aliases) if account and account.strip() else None), aliases


def _run_for(store: Store, key: str, aliases: dict[str, str], run_id: int | None) -> tuple[int, str]:
    """The run to reconcile the account from (the one named, else the newest that holds it) and the account's label in it."""
    with store.session() as session:
        if run_id is not None:
            runs = [session.get(Run, run_id)]
            if runs[0] is None:
                raise NotFound(f"no run {run_id}")
        else:
            runs = list(session.scalars(select(Run).where(Run.status == "completed").order_by(Run.id.desc()).limit(200)))
    # A run scoped to accounts says which; one over every account is looked into only when no scoped run holds it.
    scoped = [r for r in runs if r.accounts and key in {resolve_account_key(a, aliases) for a in r.accounts}]
    for run in scoped + [r for r in runs if not r.accounts or run_id is not None]:
        labels = run_accounts(store, run.id)
        if key in labels:
            return run.id, labels[key]
    raise NotFound(f"no reconciliation run holds account {key}" + (f" (run {run_id})" if run_id is not None else ""))


def reconciliation_of(store: Store, account: str, period: Period, *, run_id: int | None = None, book_opening: Decimal | None = None,
                      bank_closing: Decimal | None = None, with_items: bool = False) -> dict:
    """The bank reconciliation statement of ``account`` on the period's last day, from the run named or
    the newest run holding the account, with the decisions taken since (as the Bank reconciliation page)."""
    key, aliases = _key(store, account)
    if key is None:
        raise BankingReportError("name the account")
    found_run, label = _run_for(store, key, aliases, run_id)
    try:
        brs = account_statement(store, found_run, label, period.as_of, book_opening=book_opening, bank_closing=bank_closing)
    except SignOffError as exc:
        raise BankingReportError(str(exc)) from None
    summary = brs.summary["accounts"][brs.lines[0].account]
    lines = {x.line: x.amount for x in brs.lines}
    lock = account_lock(store, label)
    answer = {"account": label, "as_of": period.as_of, "run_id": found_run, "currency": summary.get("currency"),
              "bank_closing_source": summary.get("bank_closing", {}).get("source"),
              "lines": {name: lines[name] for name in LINES},
              "balanced": lines["unexplained_difference"] == 0,
              "locked_to": lock.as_of if lock is not None else None}
    items = brs.items.to_pylist()
    answer["item_counts"] = {name: sum(1 for i in items if i["line"] == name) for name in LINES if any(i["line"] == name for i in items)}
    if with_items:
        answer["items"] = items
    return answer


def cash_position_of(store: Store, period: Period, account: str | None = None) -> dict:
    """The cash position per bank account and currency on the period's last day (as the Cash position page)."""
    key, aliases = _key(store, account)
    positions, errors = cash_position(store, period.as_of)
    if errors:
        raise BankingReportError("; ".join(e.message for e in errors))
    rows = [p for p in positions or [] if key is None or resolve_account_key(p.account, aliases) == key]
    if key is not None and not rows:
        raise NotFound(f"no statement of account {account} has started by {period.as_of}")
    return {"as_of": period.as_of, "positions": [{"account": p.account, "currency": p.currency, "opening": p.opening,
                                                   "opening_date": p.opening_date, "movement": p.movement, "balance": p.balance,
                                                   "source": p.source} for p in rows]}


def _statement_datasets(store: Store) -> list[DatasetRecord]:
    return statement_side_datasets(store)


def transfer_tracking_of(store: Store, period: Period, account: str | None = None, *, actor: str = "system") -> dict:
    """Transfers between own accounts paired by the period's last day, and those still in transit
    (aged in business days), over the statement datasets (as the Variance page); ``account``
    keeps those with a leg on it. Overdue ones raise their alert once, as on the page."""
    key, aliases = _key(store, account)
    report = transfer_report(store, _statement_datasets(store), period.as_of, actor=actor)

    def on_account(*legs) -> bool:
        return key is None or any(leg.key == key for leg in legs)

    def leg(x) -> dict:
        return {"account": x.account, "record_id": x.record_id, "date": x.date, "amount": x.amount, "currency": x.currency,
                "reference": x.reference}

    return {"as_of": period.as_of, "threshold_business_days": report.threshold,
            "transfers": [{"out": leg(t.out), "in": leg(t.incoming), "business_days": t.business_days, "difference": t.difference,
                           "rule": t.rule} for t in report.transfers if on_account(t.out, t.incoming)],
            "ambiguous": [{"leg": leg(a.leg), "candidates": [leg(c) for c in a.candidates]}
                          for a in report.ambiguous if on_account(a.leg, *a.candidates)],
            "in_transit": [{"leg": leg(x.leg), "age_business_days": x.age, "overdue": x.overdue}
                           for x in report.in_transit if on_account(x.leg)]}


def dimensional_analysis_of(store: Store, period: Period, dimension: str | None = None, account: str | None = None) -> dict:
    """Cash on the GL cash accounts per value of a dimension over the period (opening, movement,
    closing) and the period's flows by value and month (as the Cash position page). With
    ``account``, only the GL cash account of that bank account."""
    import pyarrow.compute as pc

    dimension = dimension or config.ledger_dimensions()[0]
    if dimension not in config.ledger_dimensions():
        raise BankingReportError(f"dimension {dimension!r}: the dimensions are {', '.join(config.ledger_dimensions())}")
    key, aliases = _key(store, account)
    flows = dimension_flows(store, dimension, period.date_from, period.as_of)
    if key is None:
        rows, errors = position_by_dimension(store, dimension, period.date_from, period.as_of)
        if errors:
            raise BankingReportError("; ".join(e.message for e in errors))
        positions = [{"value": r.value, "currency": r.currency, "opening": r.opening, "movement": r.movement, "closing": r.closing}
                     for r in rows]
    else:
        cash = {resolve_account_key(bank, aliases): code for bank, code in cash_accounts_by_bank_key(store).items()}
        if key not in cash:
            raise NotFound(f"account {account} has no GL cash account in the chart of accounts")
        flows = flows.filter(pc.equal(flows["gl_account"], cash[key]))
        positions = None
    months, pivot = dimension_pivot(flows)
    return {"dimension": dimension, "date_from": period.date_from, "as_of": period.as_of, "positions": positions, "months": months,
            "flows": [{"value": value, "currency": currency, "by_month": cells} for value, currency, cells in pivot]}


def variance_of(store: Store, period: Period, account: str | None = None, *, dimension: str | None = None,
                actor: str = "system") -> dict:
    """The variance rows of the period's month over the statement datasets (movement, the month
    before, the change), as the Variance page; breaches raise their alert once, as there."""
    key, aliases = _key(store, account)
    report, errors = variance_of_datasets(store, _statement_datasets(store), dimension=dimension, actor=actor)
    if errors:
        raise BankingReportError("; ".join(e.message for e in errors))
    rows = [r for r in (report.rows if report else []) if r.month == period.month
            and (key is None or resolve_account_key(r.account, aliases) == key)]
    return {"month": period.month, "variance_threshold": report.variance_threshold if report else config.variance_alert_threshold(),
            "reconciliation_threshold": report.reconciliation_threshold if report else config.reconciliation_threshold(),
            "rows": [{"account": r.account, "dimension": r.dimension, "currency": r.currency, "movement": r.movement,
                      "previous": r.previous, "change": r.change, "budget": r.budget, "budget_variance": r.budget_variance,
                      "unexplained": r.unexplained} for r in rows]}


def posting_rules_path(name: str | None) -> Path:
    """The posting rules named (a file ``NAME.toml`` of the posting folder), else the configured ones."""
    if not name:
        return config.posting_rules_path()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        raise BankingReportError(f"posting rules {name!r}: give the name of a file in the posting folder, without .toml")
    return config.posting_rules_path().parent / f"{name}.toml"


def post_transaction(store: Store, record_id: str, *, actor: str, dataset: str | None = None, rules: str | None = None) -> dict:
    """Post one bank transaction (a statement record, by its id) to the ledger by posting rules, once.

    Args:
        dataset: the dataset holding it (its id or first characters); without it, the
            statement datasets are searched and the record must be in exactly one.
        rules: the posting rules' name (see :func:`posting_rules_path`).

    Returns:
        ``record_id``, ``dataset_id``, ``outcome`` (``posted``, ``draft`` above the approval
        threshold, ``already`` posted before, ``not_posted`` with the ``reason``) and the journal.

    Raises:
        NotFound: no such record or dataset; BankingReportError: the record is in several
        datasets, or the rules or the ledger refuse.
    """
    import pyarrow.compute as pc

    try:
        posting_rules = load_posting_rules(posting_rules_path(rules))
    except PostingRuleError as exc:
        raise BankingReportError(str(exc)) from None
    if dataset:
        candidates = [d for d in list_datasets(store) if d.id.startswith(dataset)] if len(dataset) >= 6 else []
        if len(candidates) != 1:
            raise NotFound(f"dataset {dataset}: {'several datasets start so' if candidates else 'no dataset has that id'}")
    else:
        candidates = _statement_datasets(store)
    found = []
    for record in candidates:
        table = load_dataset_table(store, record)
        rows = table.filter(pc.equal(table["id"].cast("string"), record_id)).to_pylist()
        found += [(record, row) for row in rows]
    if not found:
        raise NotFound(f"no bank transaction {record_id}" + (f" in dataset {dataset}" if dataset else " in the statement datasets"))
    if len({r.id for r, _ in found}) > 1:
        raise BankingReportError(f"transaction {record_id} is in several datasets ({', '.join(r.id[:12] for r, _ in found)}): "
                                 "name the dataset")
    record, row = found[0]
    try:
        outcome = post_records(store, record.id, [row], posting_rules, actor=actor, aliases=load_aliases(store))
    except LedgerError as exc:
        raise BankingReportError(str(exc)) from None
    with store.session() as session:
        journal = session.scalar(select(Journal).where(Journal.dataset_id == record.id, Journal.record_id == str(row["id"])))
    if outcome.uncovered:
        state, reason = "not_posted", outcome.uncovered[0].reason
    else:
        state = "posted" if outcome.posted else "draft" if outcome.drafts else "already"
        reason = None
    return {"record_id": str(row["id"]), "dataset_id": record.id, "account": row.get("account"), "date": row.get("date"),
            "amount": row.get("amount"), "outcome": state, "reason": reason,
            "journal": None if journal is None else {"id": journal.id, "status": journal.status, "posted_by": journal.posted_by}}
