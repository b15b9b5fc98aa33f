"""Transfers between own accounts: the out leg on one bank account paired with the in leg on another.

A company moving money from one of its accounts to another shows it twice: money out on the
first account's statement, money in on the second's, often a day or two apart and, across
currencies, at a rate. This pass pairs the two legs over the statements of several own accounts:

- a *transfer leg* is a record whose counterparty names another own account (by account key,
  after the aliases), or whose type says it is a transfer (``TRANSFER``, ``TRF``, ``XFER``);
- an out leg (money out) pairs with an in leg (money in) on another account when at least one
  of them is a transfer leg, a counterparty naming an own account names the other leg's
  account, the dates are at most ``window`` business days apart (default 3), and the amounts
  are the same with opposite sign; across currencies, when a rates file is given, the two
  legs in the reporting currency may differ by at most ``fx_tolerance_pct`` percent of the
  out leg;
- the closest pairs go first (fewest business days apart, then the same reference, then the
  smallest difference); where one leg has two equally close partners, the choice is left to a
  person (the legs are listed as ambiguous), never guessed. The order of the input does not
  change the result.

The out legs without an in leg by the date are *in transit*, aged in business days (Saturday
and Sunday are not business days, as in the matching engine); one in transit for more than the
threshold (``RECON_TRANSFER_TRANSIT_DAYS``, default 3) raises an alert once.

Why a pass of its own and not a pass of the rule set: the engine pairs the books' records with
the statement's (two sides, keyed by account); a transfer pairs two records of the same side on
two different accounts, so it runs beside the engine, over the statements' records or a run's
statement-side breaks.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa

from core import config
from core.accounts import load_aliases
from core.banking.alerts import AlertDraft, raise_alerts
from core.banking.rates import Rates
from core.domain.accounts import resolve_account_key
from core.ingest.datasets import load_dataset_table
from core.store import Store

__all__ = ["AmbiguousLeg", "InTransit", "Leg", "Transfer", "TransferReport", "business_day_index", "business_days_between",
           "legs_from_tables", "match_transfers", "transfer_alerts", "transfer_report"]

TRANSFER_TYPES = ("TRANSFER", "TRF", "XFER")
DEFAULT_WINDOW = 3
DEFAULT_FX_TOLERANCE_PCT = Decimal("1")


class Leg(NamedTuple):
    """One record as a possible leg of a transfer. ``key`` is its account's key after the aliases."""

    record_id: str
    account: str
    key: str
    date: dt.date
    amount: Decimal
    currency: str
    reference: str
    counterparty_key: str
    marked: bool  # the counterparty names another own account, or the type says transfer


class Transfer(NamedTuple):
    """A pair of legs. ``difference``: in leg plus out leg in the reporting currency (0 in one currency)."""

    out: Leg
    incoming: Leg
    business_days: int
    difference: Decimal
    rule: str  # same_amount | fx_tolerance


class AmbiguousLeg(NamedTuple):
    """A leg with more than one equally close partner: a person chooses."""

    leg: Leg
    candidates: tuple[Leg, ...]


class InTransit(NamedTuple):
    """An out leg with no in leg yet, its age in business days on the report's date, and whether that is too long."""

    leg: Leg
    age: int
    overdue: bool


class TransferReport(NamedTuple):
    as_of: dt.date
    threshold: int
    transfers: list[Transfer]
    ambiguous: list[AmbiguousLeg]
    in_transit: list[InTransit]


def business_day_index(day: dt.date) -> int:
    """Monday to Friday count one each; a Saturday or Sunday is the Monday after (as the engine's index)."""
    days = day.toordinal() - 1  # 0001-01-01 was a Monday
    return (days // 7) * 5 + min(days % 7, 5)


def business_days_between(earlier: dt.date, later: dt.date) -> int:
    return business_day_index(later) - business_day_index(earlier)


def _normalised_reference(text: str) -> str:
    return "".join(c for c in (text or "").upper() if c.isalnum()).lstrip("0")


def legs_from_tables(tables: Iterable[pa.Table], aliases: Mapping[str, str] | None = None) -> list[Leg]:
    """Every record of the tables (canonical records, or a run's breaks) as a :class:`Leg`."""
    rows = [row for table in tables for row in table.to_pylist()]
    own = {resolve_account_key(r["account"], aliases) for r in rows if r.get("account")}
    legs = []
    for r in rows:
        if not r.get("account") or r.get("amount") is None or r.get("date") is None:
            continue
        key = resolve_account_key(r["account"], aliases)
        counterparty = resolve_account_key(r["counterparty"], aliases) if r.get("counterparty") else ""
        counterparty = counterparty if counterparty in own and counterparty != key else ""
        typed = (r.get("type") or "").strip().upper() in TRANSFER_TYPES
        legs.append(Leg(str(r.get("id", r.get("record_id"))), r["account"], key, r["date"], Decimal(r["amount"]),
                        r.get("currency") or "", r.get("reference") or "", counterparty, bool(counterparty) or typed))
    return legs


def match_transfers(legs: Iterable[Leg], as_of: dt.date, *, window: int = DEFAULT_WINDOW, rates: Rates | None = None,
                    fx_tolerance_pct: Decimal = DEFAULT_FX_TOLERANCE_PCT, threshold: int | None = None) -> TransferReport:
    """Pair the out legs with the in legs, and age the out legs left in transit on ``as_of``.

    Args:
        legs: the records of several own accounts (:func:`legs_from_tables`); those dated after
            ``as_of`` are left out.
        window: the most business days between the two legs.
        rates: a rates file, to pair legs of two currencies; without it, only legs of one currency pair.
        fx_tolerance_pct: across currencies, the most the legs may differ in the reporting
            currency, in percent of the out leg.
        threshold: business days in transit past which a leg is overdue (``RECON_TRANSFER_TRANSIT_DAYS``).
    """
    threshold = config.transfer_transit_days() if threshold is None else threshold
    legs = sorted((leg for leg in legs if leg.date <= as_of), key=lambda leg: (leg.key, leg.date, leg.record_id, leg.amount))
    outs = [leg for leg in legs if leg.amount < 0]
    ins_by_amount: dict[Decimal, list[Leg]] = defaultdict(list)
    ins = sorted((leg for leg in legs if leg.amount > 0), key=lambda leg: (business_day_index(leg.date), leg.key, leg.record_id))
    in_days = [business_day_index(leg.date) for leg in ins]
    for leg in ins:
        ins_by_amount[leg.amount].append(leg)
    candidates: list[tuple[tuple, Leg, Leg, Decimal, str]] = []
    for out in outs:
        partners = [(leg, Decimal(0), "same_amount") for leg in ins_by_amount.get(-out.amount, ()) if leg.currency == out.currency]
        if rates is not None:
            day = business_day_index(out.date)
            near = ins[bisect.bisect_left(in_days, day - window):bisect.bisect_right(in_days, day + window)]
            partners += [(leg, diff, "fx_tolerance") for leg in near if leg.currency != out.currency
                         for diff in [_fx_difference(out, leg, rates, fx_tolerance_pct)] if diff is not None]
        for leg, diff, rule in partners:
            days = abs(business_days_between(out.date, leg.date))
            if leg.key == out.key or days > window or not (out.marked or leg.marked):
                continue
            if (out.counterparty_key and out.counterparty_key != leg.key) or (leg.counterparty_key and leg.counterparty_key != out.key):
                continue
            same_reference = bool(_normalised_reference(out.reference)) and \
                _normalised_reference(out.reference) == _normalised_reference(leg.reference)
            candidates.append(((days, not same_reference, abs(diff)), out, leg, diff, rule))
    transfers, ambiguous = _pair_closest_first(candidates)
    paired = {t.out for t in transfers} | {t.incoming for t in transfers}
    left_for_a_person = {a.leg for a in ambiguous}
    in_transit = []
    for leg in outs:
        if leg.marked and leg not in paired and leg not in left_for_a_person:
            age = business_days_between(leg.date, as_of)
            in_transit.append(InTransit(leg, age, age > threshold))
    in_transit.sort(key=lambda x: (-x.age, x.leg.key, x.leg.record_id))
    return TransferReport(as_of, threshold, transfers, ambiguous, in_transit)


def _fx_difference(out: Leg, incoming: Leg, rates: Rates, tolerance_pct: Decimal) -> Decimal | None:
    """The in leg plus the out leg in the reporting currency, when within the tolerance; else ``None``."""
    sent = rates.convert(-out.amount, out.currency, out.date)
    received = rates.convert(incoming.amount, incoming.currency, incoming.date)
    if sent is None or received is None:
        return None
    difference = received - sent
    return difference if abs(difference) * 100 <= sent * tolerance_pct else None


def _pair_closest_first(candidates) -> tuple[list[Transfer], list[AmbiguousLeg]]:
    """Take the pairs level by level of closeness; within a level, a leg in two pairs is left for a person."""
    levels: dict[tuple, list] = defaultdict(list)
    for candidate in candidates:
        levels[candidate[0]].append(candidate)
    taken: set[Leg] = set()
    doubtful: dict[Leg, set[Leg]] = {}
    transfers: list[Transfer] = []
    for level in sorted(levels):
        open_pairs = [c for c in levels[level] if not ({c[1], c[2]} & taken) and c[1] not in doubtful and c[2] not in doubtful]
        uses = Counter(leg for c in open_pairs for leg in (c[1], c[2]))
        for _, out, incoming, diff, rule in open_pairs:
            if uses[out] > 1 or uses[incoming] > 1:
                doubtful.setdefault(out, set()).add(incoming)
                doubtful.setdefault(incoming, set()).add(out)
                continue
            taken |= {out, incoming}
            transfers.append(Transfer(out, incoming, abs(business_days_between(out.date, incoming.date)), diff, rule))
    transfers.sort(key=lambda t: (t.out.date, t.out.key, t.out.record_id))
    ambiguous = [AmbiguousLeg(leg, tuple(sorted(others, key=lambda x: (x.key, x.date, x.record_id))))
                 for leg, others in sorted(doubtful.items(), key=lambda item: (item[0].key, item[0].date, item[0].record_id))]
    return transfers, ambiguous


def transfer_alerts(report: TransferReport) -> list[AlertDraft]:
    """One alert per out leg in transit past the threshold."""
    return [AlertDraft("transfer_in_transit", x.leg.account, x.leg.date.isoformat(), x.leg.record_id, x.leg.amount,
                       Decimal(report.threshold),
                       f"transfer of {x.leg.amount} {x.leg.currency} out of {x.leg.account} on {x.leg.date} has no in leg on "
                       f"another own account after {x.age} business days (threshold {report.threshold})")
            for x in report.in_transit if x.overdue]


def transfer_report(store: Store, datasets: Iterable, as_of: dt.date, *, window: int = DEFAULT_WINDOW,
                    rates: Rates | None = None, fx_tolerance_pct: Decimal = DEFAULT_FX_TOLERANCE_PCT,
                    threshold: int | None = None, actor: str = "system") -> TransferReport:
    """Pair the transfers of stored statement datasets and raise the alerts of the overdue ones (once).

    Args:
        datasets: the statement datasets of the own accounts (``DatasetRecord`` or ids).
    """
    legs = legs_from_tables([load_dataset_table(store, d) for d in datasets], load_aliases(store))
    report = match_transfers(legs, as_of, window=window, rates=rates, fx_tolerance_pct=fx_tolerance_pct, threshold=threshold)
    raise_alerts(store, transfer_alerts(report), actor=actor)
    return report
