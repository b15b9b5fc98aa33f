"""The audit log as a table: who did what to which entity, with the state before and after in words."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import and_, select

from core.store import Store
from core.store.models import AuditEntry

__all__ = ["audit_frame"]


def audit_frame(store: Store, actor: str = "", action: str = "", entity: str = "", since: dt.date | None = None,
                until: dt.date | None = None, limit: int = 5000, *, entity_type: str = "", entity_id: str = "") -> pd.DataFrame:
    """The audit log, newest first, filtered by who, what, which entity (type or id) and when."""
    conditions = []
    if entity_type:
        conditions.append(AuditEntry.entity_type == entity_type)
    if entity_id:
        conditions.append(AuditEntry.entity_id == entity_id)
    if actor:
        conditions.append(AuditEntry.actor == actor)
    if action:
        conditions.append(AuditEntry.action == action)
    if entity:
        conditions.append((AuditEntry.entity_type == entity) | (AuditEntry.entity_id == entity))
    if since:
        conditions.append(AuditEntry.at >= dt.datetime.combine(since, dt.time.min, dt.UTC))
    if until:
        conditions.append(AuditEntry.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, dt.UTC))
    with store.session() as session:
        rows = session.execute(select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.entity_type,
                                      AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
                               .where(and_(True, *conditions)).order_by(AuditEntry.id.desc()).limit(limit)).all()
    frame = pd.DataFrame(rows, columns=["id", "at", "actor", "action", "entity_type", "entity_id", "before", "after"])
    for column in ("before", "after"):
        frame[column] = [_state_in_words(state) for state in frame[column]]
    return frame


def _state_in_words(state) -> str:
    if not state:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(state.items()))

