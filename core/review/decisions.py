"""Maker-checker: decisions waiting for a second person, and that person's verdict.

A decision over the approval threshold waits, ``pending``, for someone with the approver
role; nobody approves their own decision, told apart by user id. An approval applies what
the maker asked for; a refusal frees the records.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select

from core.auth import Account, canonical_username
from core.review._shared import ConflictError, Outcome, ReviewError, _deciding, _record_decision, _update_if_unchanged, _user_as_stored
from core.review.breaks import _create_manual_group
from core.review.unmatch import _reopen_items
from core.store import Store, record_audit
from core.store.models import Break, Decision, MatchGroup, User

__all__ = ["PendingDecision", "decide_pending", "pending_decisions"]


class PendingDecision(NamedTuple):
    id: int
    action: str
    target: str
    amount: Decimal | None
    reason_code: str | None
    comment: str
    made_by: str
    made_at: dt.datetime
    made_by_id: int | None = None


def pending_decisions(store: Store) -> list[PendingDecision]:
    """Decisions waiting for an approver, oldest first. Any approver but the maker may decide."""
    with store.session() as session:
        decided = select(Decision.parent_id).where(Decision.parent_id.is_not(None))
        rows = session.scalars(select(Decision).where(Decision.status == "pending", Decision.id.not_in(decided))
                               .order_by(Decision.made_at, Decision.id)).all()
    return [PendingDecision(r.id, r.action, f"{r.target_type} {r.target_id}", r.amount, r.reason_code, r.comment, r.made_by, r.made_at,
                            r.made_by_id) for r in rows]


def _made_by(decision: Decision, user: User) -> bool:
    """Whether ``user`` made the decision: by user id (by name only for decisions older than ids)."""
    if decision.made_by_id is not None:
        return decision.made_by_id == user.id
    return canonical_username(decision.made_by) == user.username


def decide_pending(store: Store, decision_id: int, approve: bool, actor: Account, comment: str = "") -> Outcome:
    """Approve (apply) or refuse a pending decision. The maker can never decide their own."""
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "approver")
        pending = session.get(Decision, decision_id)
        if pending is None or pending.status != "pending":
            raise ReviewError(f"decision {decision_id} is not waiting for approval")
        if session.scalar(select(Decision.id).where(Decision.parent_id == decision_id)):
            raise ConflictError(f"decision {decision_id} has already been decided")
        if _made_by(pending, by):
            raise ReviewError("nobody may approve their own decision; another approver must decide")
        verdict = _record_decision(session, by, "approve" if approve else "refuse", pending.target_type, pending.target_id,
                          run_id=pending.run_id, status="approved" if approve else "refused", amount=pending.amount,
                          comment=comment, parent_id=pending.id)
        payload = pending.payload or {}
        if pending.action in ("resolve", "manual_match"):
            rows = session.scalars(select(Break).where(Break.id.in_(payload["break_ids"])).order_by(Break.id)).all()
            for row in rows:
                if row.pending_decision_id != pending.id:
                    raise ConflictError(f"break {row.id} changed since decision {pending.id} was made")
            for row in rows:
                values = {"pending_decision_id": None}
                if approve:
                    values |= ({"status": "resolved", "resolution": pending.reason_code} if pending.action == "resolve"
                               else {"status": "matched"})
                _update_if_unchanged(session, Break, row.id, row.version, by, **values)
            if approve and pending.action == "manual_match":
                maker = Decision(made_by=pending.made_by, reason_code=pending.reason_code, comment=pending.comment)
                _create_manual_group(session, maker, list(rows), Decimal(payload["difference"]))
        elif pending.action in ("unmatch", "approve_match"):
            group = session.get(MatchGroup, payload["group_id"])
            if group.pending_decision_id != pending.id:
                raise ConflictError(f"match {group.id} changed since decision {pending.id} was made")
            applied = {"status": "unmatched" if pending.action == "unmatch" else "confirmed"} if approve else {}
            _update_if_unchanged(session, MatchGroup, group.id, group.version, by, pending_decision_id=None, **applied)
            if approve and pending.action == "unmatch":
                _reopen_items(session, store.data_dir, session.get(MatchGroup, group.id), "unmatched_by_user")
        record_audit(session, by.username, "approve" if approve else "refuse", "decision", str(pending.id),
                     {"status": "pending", "action": pending.action, "made_by": pending.made_by},
                     {"status": verdict.status, "decision_id": verdict.id})
        return Outcome(verdict.id, verdict.status)

