"""Underwriting metrics: what an underwriter judges a business by, from its statement rows.

Pure functions over rows that carry their running balance (:class:`BalancedRow`) and the
statement period as the statement states it (:class:`Period`). Every figure says which rows it
came from (:class:`Figure`), so a person can drill down from a number to the lines behind it.

Definitions (the ``underwrite`` contract):

- average daily balance: the mean of the end-of-day balances of every calendar day of the
  period (a day without rows keeps the last balance; before the first row, the opening
  balance), rounded half-up to the cent;
- negative-balance days: days whose end-of-day balance is below zero;
- deposits: all money in (total and count); true revenue: deposits less those an exclusion rule
  names (transfers between own accounts, loan and advance proceeds, refunds and reversals);
- NSF events: NSF and returned-item fee lines, one line one event; overdraft events likewise;
- advance positions: debits of one amount to one counterparty recurring about every business
  day (daily) or every week (weekly): counterparty, frequency, amount, first and last date;
- holdback: the advance payments as a share of true revenue.

The rules are data (``rules.toml`` beside this module, or another file of the same shape).
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["AdvancePosition", "BalancedRow", "Figure", "Period", "RulesError", "UnderwritingRules", "advance_positions",
           "average_daily_balance", "daily_balances", "deposits", "holdback", "load_rules", "metrics", "monthly_metrics",
           "negative_balance_days", "nsf_events", "overdraft_events", "true_revenue"]

CENT = Decimal("0.01")
DEFAULT_RULES = Path(__file__).with_name("rules.toml")


class BalancedRow(NamedTuple):
    """A statement row with the balance after it (``None`` when the statement prints none)."""

    id: str
    date: dt.date
    amount: Decimal
    balance: Decimal | None
    description: str = ""
    counterparty: str = ""


class Period(NamedTuple):
    """The statement period as the statement states it, and the balance it opens with."""

    start: dt.date
    end: dt.date
    opening: Decimal


class Figure(NamedTuple):
    value: Decimal | int | None
    row_ids: tuple[str, ...]


class AdvancePosition(NamedTuple):
    counterparty: str
    frequency: str  # daily | weekly
    amount: Decimal  # each payment, as a positive amount
    first: dt.date
    last: dt.date
    count: int
    row_ids: tuple[str, ...]


class RulesError(ValueError):
    """The rules file is not valid; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExcludeRule(_Strict):
    name: str
    matches: tuple[str, ...] = Field(min_length=1)


class Patterns(_Strict):
    matches: tuple[str, ...] = ()


class AdvanceRule(_Strict):
    daily_at_least: int = Field(default=5, ge=2)
    weekly_at_least: int = Field(default=3, ge=2)


class UnderwritingRules(_Strict):
    exclude: tuple[ExcludeRule, ...] = ()
    nsf: Patterns = Patterns()
    overdraft: Patterns = Patterns()
    advances: AdvanceRule = AdvanceRule()


def load_rules(path: Path | None = None) -> UnderwritingRules:
    """The rules in ``path`` (by default the shipped ``rules.toml``); every pattern must compile."""
    path = path or DEFAULT_RULES
    try:
        rules = UnderwritingRules(**tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise RulesError(f"{path}: {exc}") from None
    for pattern in [p for r in rules.exclude for p in r.matches] + list(rules.nsf.matches) + list(rules.overdraft.matches):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RulesError(f"{path}: {pattern!r} is not a regular expression ({exc})") from None
    return rules


def _matches(row: BalancedRow, patterns: Iterable[str]) -> bool:
    text = f"{row.description} {row.counterparty}"
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def _days(period: Period) -> list[dt.date]:
    return [period.start + dt.timedelta(days=i) for i in range((period.end - period.start).days + 1)]


def daily_balances(rows: Sequence[BalancedRow], period: Period) -> list[tuple[dt.date, Decimal, str | None]]:
    """Every calendar day of the period with its end-of-day balance and the row that set it.

    Rows are taken in statement order; a row without a printed balance carries the previous
    balance plus its amount.
    """
    by_day: dict[dt.date, tuple[Decimal, str]] = {}
    balance = period.opening
    for row in rows:
        balance = row.balance if row.balance is not None else balance + row.amount
        by_day[row.date] = (balance, row.id)
    out = []
    current, source = period.opening, None
    for day in _days(period):
        if day in by_day:
            current, source = by_day[day]
        out.append((day, current, source))
    return out


def average_daily_balance(rows: Sequence[BalancedRow], period: Period) -> Figure:
    days = daily_balances(rows, period)
    mean = sum((b for _, b, _ in days), Decimal(0)) / len(days)
    return Figure(mean.quantize(CENT, rounding=ROUND_HALF_UP), tuple(sorted({s for _, _, s in days if s})))


def negative_balance_days(rows: Sequence[BalancedRow], period: Period) -> Figure:
    negative = [(day, source) for day, balance, source in daily_balances(rows, period) if balance < 0]
    return Figure(len(negative), tuple(dict.fromkeys(s for _, s in negative if s)))


def deposits(rows: Sequence[BalancedRow]) -> tuple[Figure, Figure]:
    """``(total, count)`` of all money in."""
    money_in = [r for r in rows if r.amount > 0]
    ids = tuple(r.id for r in money_in)
    return Figure(sum((r.amount for r in money_in), Decimal(0)), ids), Figure(len(money_in), ids)


def true_revenue(rows: Sequence[BalancedRow], rules: UnderwritingRules, own_accounts: Iterable[str] = ()
                 ) -> tuple[Figure, dict[str, tuple[str, ...]]]:
    """Deposits less those an exclusion rule names, and the rows each rule left out.

    Args:
        own_accounts: the applicant's other account numbers; a deposit naming one is a transfer
            between own accounts.
    """
    own = [a for a in own_accounts if a]
    excluded: dict[str, list[str]] = defaultdict(list)
    kept = []
    for row in (r for r in rows if r.amount > 0):
        rule = next((r.name for r in rules.exclude if _matches(row, r.matches)), None)
        if rule is None and any(a in f"{row.description} {row.counterparty}".replace(" ", "") for a in own):
            rule = "transfer between own accounts"
        if rule is None:
            kept.append(row)
        else:
            excluded[rule].append(row.id)
    return (Figure(sum((r.amount for r in kept), Decimal(0)), tuple(r.id for r in kept)),
            {name: tuple(ids) for name, ids in excluded.items()})


def nsf_events(rows: Sequence[BalancedRow], rules: UnderwritingRules) -> Figure:
    found = [r.id for r in rows if r.amount < 0 and _matches(r, rules.nsf.matches)]
    return Figure(len(found), tuple(found))


def overdraft_events(rows: Sequence[BalancedRow], rules: UnderwritingRules) -> Figure:
    found = [r.id for r in rows if r.amount < 0 and _matches(r, rules.overdraft.matches)]
    return Figure(len(found), tuple(found))


_REFERENCE = re.compile(r"\b[\w/#-]*\d[\w/#-]*\b")


def counterparty_of(row: BalancedRow) -> str:
    """Who a debit goes to: the counterparty, else the description without its references and dates."""
    name = row.counterparty or _REFERENCE.sub(" ", row.description)
    return " ".join(name.upper().replace(".", " ").replace(",", " ").split())


def advance_positions(rows: Sequence[BalancedRow], rules: UnderwritingRules) -> list[AdvancePosition]:
    """Debits of one amount to one counterparty recurring daily (business days) or weekly."""
    groups: dict[tuple[str, Decimal], list[BalancedRow]] = defaultdict(list)
    for row in rows:
        if row.amount < 0:
            groups[(counterparty_of(row), -row.amount)].append(row)
    positions = []
    for (counterparty, amount), members in groups.items():
        dates = sorted({r.date for r in members})
        if len(dates) < 2:
            continue
        gap = statistics.median((b - a).days for a, b in zip(dates, dates[1:], strict=False))
        if gap <= 3 and len(dates) >= rules.advances.daily_at_least:
            frequency = "daily"
        elif 5 <= gap <= 9 and len(dates) >= rules.advances.weekly_at_least:
            frequency = "weekly"
        else:
            continue
        positions.append(AdvancePosition(counterparty, frequency, amount, dates[0], dates[-1], len(members),
                                         tuple(r.id for r in members)))
    return sorted(positions, key=lambda p: (p.first, p.counterparty, p.amount))


def holdback(positions: Sequence[AdvancePosition], revenue: Decimal) -> Decimal | None:
    """Advance payments as a share of true revenue, to four places; ``None`` without revenue."""
    paid = sum((p.amount * p.count for p in positions), Decimal(0))
    return None if revenue <= 0 else (paid / revenue).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def metrics(rows: Sequence[BalancedRow], period: Period, rules: UnderwritingRules, own_accounts: Iterable[str] = ()) -> dict:
    """Every figure over the period, each with the rows it came from (values as exact text)."""
    within = [r for r in rows if period.start <= r.date <= period.end]
    adb = average_daily_balance(within, period)
    total, count = deposits(within)
    revenue, excluded = true_revenue(within, rules, own_accounts)
    nsf = nsf_events(within, rules)
    overdraft = overdraft_events(within, rules)
    negative = negative_balance_days(within, period)
    positions = advance_positions(within, rules)
    share = holdback(positions, revenue.value)
    return {
        "period": {"start": str(period.start), "end": str(period.end), "opening_balance": str(period.opening)},
        "average_daily_balance": str(adb.value),
        "total_deposits": str(total.value),
        "deposit_count": count.value,
        "true_revenue": str(revenue.value),
        "nsf_count": nsf.value,
        "overdraft_count": overdraft.value,
        "negative_balance_days": negative.value,
        "mca_positions": [{"counterparty": p.counterparty, "frequency": p.frequency, "amount": str(p.amount), "first": str(p.first),
                           "last": str(p.last), "count": p.count, "row_ids": list(p.row_ids)} for p in positions],
        "holdback": None if share is None else str(share),
        "rows": {"average_daily_balance": list(adb.row_ids), "deposits": list(total.row_ids), "true_revenue": list(revenue.row_ids),
                 "excluded_from_revenue": {k: list(v) for k, v in excluded.items()}, "nsf": list(nsf.row_ids),
                 "overdraft": list(overdraft.row_ids), "negative_balance_days": list(negative.row_ids)},
    }


def monthly_metrics(rows: Sequence[BalancedRow], period: Period, rules: UnderwritingRules, own_accounts: Iterable[str] = ()) -> list[dict]:
    """:func:`metrics` for each calendar month the period touches, clipped to the period; a
    month opens with the end-of-day balance of the day before it."""
    balances = {day: balance for day, balance, _ in daily_balances(rows, period)}
    out = []
    month = period.start.replace(day=1)
    while month <= period.end:
        last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
        start, end = max(month, period.start), min(last, period.end)
        opening = period.opening if start == period.start else balances[start - dt.timedelta(days=1)]
        figures = metrics(rows, Period(start, end, opening), rules, own_accounts)
        out.append({"month": f"{month:%Y-%m}", **figures})
        month = last + dt.timedelta(days=1)
    return out
