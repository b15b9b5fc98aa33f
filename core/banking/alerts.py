"""Alerts: figures past their thresholds, kept for a person to see and acknowledge.

Transfers between own accounts in transit too long (``core.banking.transfers``), unexplained
differences and movements' variances past their thresholds (``core.banking.variance``) are
drafted as :class:`AlertDraft` values and raised here. An alert is raised once: raising the
same kind, account, period and subject again (a rerun of the same report) adds nothing. An
analyst acknowledges an alert; the raise and the acknowledgement are in the audit log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select, tuple_
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.auth import Account, acting_user
from core.store import Store, lost_to_another_writer, record_audit
from core.store.models import Alert, utc_now
from core.webhooks import emit

__all__ = ["ACKNOWLEDGE_ROLE", "AlertDraft", "AlertError", "acknowledge_alert", "list_alerts", "raise_alerts"]

ACKNOWLEDGE_ROLE = "analyst"


class AlertError(ValueError):
    """An alert that cannot be acknowledged; the message says why."""


class AlertDraft(NamedTuple):
    """An alert before it is raised. ``period`` is a month ``YYYY-MM`` or a day ``YYYY-MM-DD``;
    ``subject`` what within it (a transfer's record id), empty for an account's figure."""

    kind: str
    account: str
    period: str
    subject: str
    amount: Decimal
    threshold: Decimal
    message: str


def raise_alerts(store: Store, drafts: Iterable[AlertDraft], *, actor: str = "system") -> list[Alert]:
    """Store the drafts not raised before, in one transaction, each raise audited.

    Returns:
        the alerts added now (none for drafts already raised, acknowledged or not).
    """
    drafts = list({(d.kind, d.account, d.period, d.subject): d for d in drafts}.values())
    if not drafts:
        return []
    try:
        return _add_new_alerts(store, drafts, actor)
    except DBAPIError as exc:
        if not isinstance(exc, IntegrityError) and not lost_to_another_writer(exc):
            raise
        # Another process raised some of the same alerts at the same moment: theirs stand; the rest are added now.
        return _add_new_alerts(store, drafts, actor)


def _add_new_alerts(store: Store, drafts: list[AlertDraft], actor: str) -> list[Alert]:
    added: list[Alert] = []
    with store.session(serialised=True) as session:
        known = {tuple(row) for row in session.execute(
            select(Alert.kind, Alert.account, Alert.period, Alert.subject)
            .where(tuple_(Alert.kind, Alert.account, Alert.period).in_([(d.kind, d.account, d.period) for d in drafts])))}
        for draft in drafts:
            if (draft.kind, draft.account, draft.period, draft.subject) in known:
                continue
            alert = Alert(**draft._asdict())
            session.add(alert)
            added.append(alert)
        session.flush()
        for alert in added:
            record_audit(session, actor, "raise_alert", "alert", str(alert.id), None, _state(alert))
            emit(session, "alert.raised", {"alert_id": alert.id, "kind": alert.kind, "account": alert.account, "period": alert.period,
                                           "subject": alert.subject, "amount": format(alert.amount, "f"),
                                           "threshold": format(alert.threshold, "f"), "message": alert.message})
    return added


def list_alerts(store: Store, *, open_only: bool = False, limit: int | None = None) -> list[Alert]:
    """Alerts, newest first; ``open_only`` leaves out the acknowledged ones."""
    query = select(Alert).order_by(Alert.created_at.desc(), Alert.id.desc())
    if open_only:
        query = query.where(Alert.acknowledged_at.is_(None))
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return list(session.scalars(query))


def acknowledge_alert(store: Store, alert_id: int, *, actor: Account, note: str = "") -> Alert:
    """Record that a person has seen the alert and taken it in hand.

    Raises:
        ``AlertError`` for an unknown alert, one already acknowledged, or an actor without the
        analyst role.
    """
    try:
        with store.session(serialised=True) as session:
            by = acting_user(session, actor, ACKNOWLEDGE_ROLE, AlertError).username
            alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
            if alert is None:
                raise AlertError(f"there is no alert {alert_id}")
            if alert.acknowledged_at is not None:
                raise AlertError(f"alert {alert_id} was acknowledged by {alert.acknowledged_by} already")
            before = _state(alert)
            alert.acknowledged_by = by
            alert.acknowledged_at = utc_now()
            record_audit(session, by, "acknowledge_alert", "alert", str(alert.id), before,
                         {**_state(alert), "note": note.strip()[:500]})
    except DBAPIError as exc:
        if lost_to_another_writer(exc):
            raise AlertError("someone else was acknowledging alerts at the same moment; reload and try again") from None
        raise
    return alert


def _state(alert: Alert) -> dict:
    return {"kind": alert.kind, "account": alert.account, "period": alert.period, "subject": alert.subject,
            "amount": str(alert.amount), "threshold": str(alert.threshold),
            "acknowledged_by": alert.acknowledged_by,
            "acknowledged_at": alert.acknowledged_at.isoformat() if isinstance(alert.acknowledged_at, dt.datetime) else None}
