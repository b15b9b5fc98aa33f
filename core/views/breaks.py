"""The breaks grid: every break of a run with its age, the filters on it, and the aging summary.

Each break keeps its account as written (``account``) and carries the account's key after the
aliases (``account_key``, :mod:`core.domain.accounts`): the account filter goes by key, so one
account written two ways is one choice.

Amounts stay ``Decimal``; filters on amounts are applied to those exact values, never in SQL
text comparison.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

import pandas as pd
from sqlalchemy import func, select

from core.accounts import load_aliases
from core.domain.accounts import account_key, account_label, aliases_digest, resolve_account_key
from core.domain.money import Amount, canonical_decimal, totals_per_currency
from core.store import Store
from core.review import REASON_CODES
from core.store.models import Break
from core.views.format import Grid, readable_grid

__all__ = ["AGE_BUCKETS", "BREAK_TITLES", "SELECTED_TITLES", "SIDE_NAMES", "BreakFilters", "breaks_grid", "account_choices", "aging_summary", "breaks_stamp", "filter_breaks", "load_breaks",
           "money_per_currency"]


AGE_BUCKETS = ("0-7", "8-30", "31-90", "90+")


BREAK_COLUMNS = ["id", "version", "side", "account", "date", "amount", "currency", "reference", "description", "reason", "status",
                 "resolution", "first_seen_on", "pending_decision_id", "run_id", "record_id"]


class BreakFilters(NamedTuple):
    accounts: tuple[str, ...] = ()  # account keys
    sides: tuple[str, ...] = ()
    age_buckets: tuple[str, ...] = ()
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    statuses: tuple[str, ...] = ("open",)
    reasons: tuple[str, ...] = ()


def breaks_stamp(store: Store, run_id: int) -> tuple[int, int, str]:
    """Changes whenever a break of the run is added or changed (its count and versions), or the
    alias table changes (which changes the breaks' account keys)."""
    with store.session() as session:
        count, versions = session.execute(select(func.count(Break.id), func.coalesce(func.sum(Break.version), 0))
                                          .where(Break.run_id == run_id)).one()
    return int(count), int(versions), aliases_digest(load_aliases(store))


def load_breaks(store: Store, run_id: int, today: dt.date | None = None) -> pd.DataFrame:
    """Every break of a run with its age in days and age bucket, and its account's key (``account_key``).

    Read with plain SQL and converted column by column (amounts to exact ``Decimal``), which
    keeps 100,000 breaks well under a second.
    """
    today = today or dt.date.today()
    names = ", ".join(BREAK_COLUMNS)
    with store.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(f"SELECT {names} FROM breaks WHERE run_id = {int(run_id)} ORDER BY account, date, id")
        rows = cursor.fetchall()
        cursor.close()
    frame = pd.DataFrame.from_records(rows, columns=BREAK_COLUMNS)
    if frame.empty:
        return frame.assign(account_key=pd.Series(dtype="object"), age_days=pd.Series(dtype="int64"), age_bucket=pd.Series(dtype="object"))
    aliases = load_aliases(store)
    keys = {text: resolve_account_key(text, aliases) for text in frame["account"].unique()}
    frame.insert(frame.columns.get_loc("account") + 1, "account_key", frame["account"].map(keys))
    frame["amount"] = [canonical_decimal(a if isinstance(a, Decimal) else Decimal(a)) for a in frame["amount"]]
    for column in ("date", "first_seen_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    days = (pd.Timestamp(today) - pd.to_datetime(frame["first_seen_on"])).dt.days
    frame["age_days"] = days.astype("int64")
    frame["age_bucket"] = pd.cut(days, bins=[-10**9, 7, 30, 90, 10**9], labels=list(AGE_BUCKETS)).astype(str)
    return frame


def filter_breaks(frame: pd.DataFrame, filters: BreakFilters) -> pd.DataFrame:
    """The breaks that pass the filters.

    Accounts go by key (a spelling stands for its key); the amount range applies to the absolute amount.
    """
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    keys = tuple(account_key(a) for a in filters.accounts)
    for column, wanted in (("account_key", keys), ("side", filters.sides), ("status", filters.statuses),
                           ("reason", filters.reasons), ("age_bucket", filters.age_buckets)):
        if wanted:
            keep &= frame[column].isin(wanted)
    if filters.amount_min is not None:
        keep &= pd.Series([abs(a) >= filters.amount_min for a in frame["amount"]], index=frame.index)
    if filters.amount_max is not None:
        keep &= pd.Series([abs(a) <= filters.amount_max for a in frame["amount"]], index=frame.index)
    return frame[keep].reset_index(drop=True)


def account_choices(frame: pd.DataFrame) -> dict[str, str]:
    """The accounts of a breaks frame for a filter: key -> label (its most common spelling), in order of label."""
    if frame.empty:
        return {}
    labels = {key: account_label(part["account"].value_counts().to_dict()) for key, part in frame.groupby("account_key")}
    return dict(sorted(labels.items(), key=lambda item: (item[1], item[0])))


def aging_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Breaks per age bucket and side: how many, and their absolute amount."""
    totals = {}
    if not frame.empty:
        for (bucket, side), part in frame.groupby(["age_bucket", "side"]):
            totals[(bucket, side)] = (len(part), sum((abs(a) for a in part["amount"]), Decimal(0)))
    return pd.DataFrame([{"age": bucket, "side": side, "breaks": totals.get((bucket, side), (0, Decimal(0)))[0],
                          "amount": totals.get((bucket, side), (0, Decimal(0)))[1]}
                         for bucket in AGE_BUCKETS for side in ("internal", "external")])


def money_per_currency(frame: pd.DataFrame, column: str) -> dict[str, Decimal]:
    """The total of an amount column per currency, currencies in alphabetical order."""
    totals = totals_per_currency(Amount(amount, currency) for currency, amount in zip(frame["currency"], frame[column]))
    return {currency: total.number for currency, total in totals.items()}



SIDE_NAMES = {"internal": "books", "external": "statement"}

BREAK_TITLES = {"id": "Break", "marks": "Flags", "side_name": "Side", "account": "Account", "date": "Date", "amount": "Amount",
                "currency": "Currency", "reference": "Reference", "description": "Description", "reason": "Why open",
                "status": "Status", "resolution_name": "Resolution", "assignee": "Assigned to", "due_on": "Due", "comments": "Comments",
                "age_days": "Age (days)"}

SELECTED_TITLES = {"id": "Break", "side_name": "Side", "account": "Account", "date": "Date", "amount": "Amount", "currency": "Currency",
                   "reference": "Reference", "description": "Description", "status": "Status"}


def breaks_grid(frame: pd.DataFrame, titles: dict[str, str] | None = None) -> Grid:
    """Breaks as a readable grid: titled columns, the side as books or statement, the resolution by
    its name (blank while open), amounts in their currency's form, dates as dates.

    ``marks`` (from :func:`core.views.followup.with_follow_up`) follows the break's id when present:
    a break waiting for an approver, or overdue, shows it there.
    """
    frame = frame.assign(side_name=[SIDE_NAMES.get(s, s) for s in frame["side"]] if len(frame) else [],
                         resolution_name=[REASON_CODES.get(r, r) if isinstance(r, str) else "" for r in frame["resolution"]]
                         if len(frame) else [])
    return readable_grid(frame, titles or BREAK_TITLES, money={"amount": "currency"}, dates=("date", "due_on"))
