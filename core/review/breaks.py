"""Open breaks decided by a person: resolved with a reason code, or matched by hand.

A manual match groups open breaks of one account and currency; its net difference must be
within the tolerance, or it needs a reason code. Over the approval threshold either waits
for an approver (:mod:`core.review.decisions`).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from core import config
from core.auth import Account
from core.domain.money import Amount, sub, sum_amounts
from core.review._shared import (REASON_CODES, Outcome, ReviewError, _break_state, _conflict, _deciding, _now, _record_decision,
                                 _refuse_if_locked, _update_if_unchanged, _user_as_stored, approval_threshold, decision_amount)
from core.store import Store, record_audit
from core.store.models import Break, Decision, MatchGroup, MatchItem, Run

__all__ = ["manual_match", "manual_match_tolerance", "net_difference", "net_difference_per_currency", "resolve_break",
           "resolve_breaks"]


def manual_match_tolerance() -> Decimal:
    """A manual match nets to within this without a reason code (``RECON_MANUAL_MATCH_TOLERANCE``)."""
    return config.manual_match_tolerance()


def _open_breaks(session, break_ids: list[int], versions: dict[int, int]) -> list[Break]:
    """The breaks, checked to be at the versions their author saw, open, not waiting and not in a locked period."""
    rows = session.scalars(select(Break).where(Break.id.in_(break_ids))).all()
    found = {row.id for row in rows}
    missing = [i for i in break_ids if i not in found]
    if missing:
        raise ReviewError(f"no break {missing[0]}")
    for row in rows:
        if row.id in versions and row.version != versions[row.id]:
            raise _conflict("break", row)
    for row in rows:
        if row.status != "open":
            raise ReviewError(f"break {row.id} is {row.status}, not open")
        if row.pending_decision_id is not None:
            raise ReviewError(f"break {row.id} waits for an approver (decision {row.pending_decision_id})")
    _refuse_if_locked(session, rows)
    return sorted(rows, key=lambda r: r.id)


def resolve_break(store: Store, break_id: int, version: int, reason_code: str, comment: str, actor: Account) -> Outcome:
    """Close an open break with a reason code; above the threshold it waits for an approver."""
    return resolve_breaks(store, {break_id: version}, reason_code, comment, actor)[0]


def resolve_breaks(store: Store, seen: dict[int, int], reason_code: str, comment: str, actor: Account) -> list[Outcome]:
    """Close open breaks with one reason code, each at the version its author saw: all of them or none.

    Each break gets its own decision and audit entry, as if resolved one by one, and each is
    weighed against the approval threshold on its own: above it, that break waits for an
    approver while the others are resolved.

    Args:
        seen: break id -> the version its author saw.

    Returns:
        One outcome per break, in order of break id: ``applied`` or ``pending``.

    Raises:
        ReviewError: an unknown reason code, ``other`` without a comment, or a break that is
            not open, waits for an approver or changed since it was seen; nothing is changed.
    """
    if reason_code not in REASON_CODES:
        raise ReviewError(f"unknown reason code {reason_code!r}; use one of {', '.join(REASON_CODES)}")
    if not comment.strip() and reason_code == "other":
        raise ReviewError("a resolution with reason 'other' needs a comment")
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        if not seen:
            return []
        rows = _open_breaks(session, sorted(seen), seen)
        return [_resolve(session, by, row, seen[row.id], reason_code, comment) for row in rows]


def _resolve(session, by, row: Break, version: int, reason_code: str, comment: str) -> Outcome:
    before = _break_state(row)
    amount = decision_amount([row])
    pending = amount > approval_threshold()
    decision = _record_decision(session, by, "resolve", "break", str(row.id), run_id=row.run_id, amount=amount,
                                reason_code=reason_code, comment=comment, status="pending" if pending else "applied",
                                payload={"break_ids": [row.id]})
    if pending:
        _update_if_unchanged(session, Break, row.id, version, by, pending_decision_id=decision.id)
    else:
        _update_if_unchanged(session, Break, row.id, version, by, status="resolved", resolution=reason_code)
    after = _break_state(session.get(Break, row.id))
    record_audit(session, by.username, "resolve" if not pending else "resolve_requested", "break", str(row.id), before,
                 after | {"reason_code": reason_code, "comment": comment, "decision_id": decision.id})
    return Outcome(decision.id, decision.status)


def manual_match(store: Store, break_ids: list[int], versions: dict[int, int], actor: Account, *,
                 reason_code: str | None = None, comment: str = "") -> Outcome:
    """Group open breaks by hand.

    The records must share account and currency. Their net difference (statement total less
    books total; or the plain sum when all are on one side, such as an entry and its
    reversal) must be within the manual-match tolerance, or a reason code is required.
    """
    if len(set(break_ids)) < 2:
        raise ReviewError("a manual match needs at least two records")
    if reason_code is not None and reason_code not in REASON_CODES:
        raise ReviewError(f"unknown reason code {reason_code!r}")
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        rows = _open_breaks(session, sorted(set(break_ids)), versions)
        if len({(r.account, r.currency) for r in rows}) > 1:
            raise ReviewError("the records are on different accounts or currencies; they cannot be matched")
        difference = net_difference(rows)
        if abs(difference) > manual_match_tolerance() and reason_code is None:
            raise ReviewError(f"the records differ by {difference}; give a reason code to match them anyway")
        size = decision_amount(rows)
        pending = size > approval_threshold()
        decision = _record_decision(session, by, "manual_match", "breaks", ",".join(str(r.id) for r in rows), run_id=rows[0].run_id,
                           amount=size, reason_code=reason_code, comment=comment, status="pending" if pending else "applied",
                           payload={"break_ids": [r.id for r in rows], "difference": str(difference)})
        befores = {r.id: _break_state(r) for r in rows}
        for row in rows:
            _update_if_unchanged(session, Break, row.id, versions[row.id], by,
                  **({"pending_decision_id": decision.id} if pending else {"status": "matched"}))
        if not pending:
            _create_manual_group(session, decision, rows, difference)
        for row in rows:
            record_audit(session, by.username, "manual_match" if not pending else "manual_match_requested", "break", str(row.id),
                         befores[row.id], _break_state(session.get(Break, row.id)) | {"decision_id": decision.id})
        return Outcome(decision.id, decision.status)


def net_difference(rows) -> Decimal:
    """Statement total less books total; the plain sum when every record is on one side.

    ``rows``: anything with ``side``, ``amount`` and ``currency`` (breaks, grid rows).

    Raises:
        CurrencyError: the records are in more than one currency; they have no net difference.
    """
    if not rows:
        return Decimal(0)
    currency = rows[0].currency
    sides = {r.side for r in rows}
    if len(sides) == 1:
        return sum_amounts((Amount(r.amount, r.currency) for r in rows), currency).number
    statement = sum_amounts((Amount(r.amount, r.currency) for r in rows if r.side == "external"), currency)
    books = sum_amounts((Amount(r.amount, r.currency) for r in rows if r.side == "internal"), currency)
    return sub(statement, books).number


def net_difference_per_currency(rows) -> dict[str, Decimal]:
    """:func:`net_difference` of the records of each currency, currencies in alphabetical order."""
    currencies = sorted({r.currency for r in rows})
    return {currency: net_difference([r for r in rows if r.currency == currency]) for currency in currencies}


def _create_manual_group(session, decision: Decision, rows: list[Break], difference: Decimal) -> MatchGroup:
    run_id = rows[0].run_id
    last = session.scalar(select(MatchGroup.match_id).where(MatchGroup.run_id == run_id).order_by(MatchGroup.match_id.desc()).limit(1))
    engine_groups = session.get(Run, run_id).summary.get("groups", {}).get("total", 0)
    group = MatchGroup(run_id=run_id, match_id=max(last or 0, engine_groups) + 1, rule="manual", status="confirmed",
                       amount_diff=difference, days_diff=0, explanation=f"matched by hand by {decision.made_by}"
                       + (f" ({REASON_CODES[decision.reason_code]})" if decision.reason_code else "")
                       + (f": {decision.comment}" if decision.comment else ""),
                       updated_by=decision.made_by, updated_at=_now())
    session.add(group)
    session.flush()
    for row in rows:
        session.add(MatchItem(group_id=group.id, run_id=run_id, side=row.side, dataset_id=row.dataset_id, record_id=row.record_id,
                              account=row.account, date=row.date, amount=row.amount, currency=row.currency))
    return group

