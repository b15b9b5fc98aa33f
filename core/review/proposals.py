"""Proposed matches approved (the group becomes ``confirmed``) or rejected (its records
become open breaks again), one at a time or a whole queue at once, all or none.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import case, insert, select, update

from core.auth import Account
from core.review import _shared
from core.review._shared import (ConflictError, Outcome, ReviewError, _conflict, _deciding, _now, _refuse_if_locked, _user_as_stored,
                                 approval_threshold, decision_amount)
from core.review.unmatch import _reopen_groups
from core.store import Store, bulk_insert, chunks
from core.store.chain import chain_rows
from core.store.models import AuditEntry, Decision, MatchGroup, MatchItem, User

__all__ = ["approve_proposed", "approve_proposed_many", "reject_proposed", "reject_proposed_many"]


def approve_proposed(store: Store, group_id: int, version: int, actor: Account) -> Outcome:
    """Confirm a proposed match."""
    return approve_proposed_many(store, {group_id: version}, actor)[0]


def reject_proposed(store: Store, group_id: int, version: int, actor: Account, comment: str = "") -> Outcome:
    """Reject a proposed match: its records go back to the open breaks."""
    return reject_proposed_many(store, {group_id: version}, actor, comment)[0]


def approve_proposed_many(store: Store, seen: dict[int, int], actor: Account) -> list[Outcome]:
    """Confirm proposed matches, each at the version its reviewer saw: all of them or none.

    Each group gets its own decision and audit entry, as if approved one by one; the rows go
    in as bulk inserts, so a queue of thousands is decided in one short transaction. A group
    whose amount (:func:`decision_amount`) is above the approval threshold is not confirmed
    but waits, still proposed, for an approver other than its maker, as manual matches do.

    Returns:
        One outcome per group, in order of group id: ``applied`` or ``pending``.
    """
    return _decide_proposed(store, seen, actor, approve=True, comment="")


def reject_proposed_many(store: Store, seen: dict[int, int], actor: Account, comment: str = "") -> list[Outcome]:
    """Reject proposed matches, all or none: their records go back to the open breaks."""
    return _decide_proposed(store, seen, actor, approve=False, comment=comment)


def _decide_proposed(store: Store, seen: dict[int, int], actor: Account, *, approve: bool, comment: str) -> list[Outcome]:
    ids = sorted(seen)
    action, status = ("approve_match", "confirmed") if approve else ("reject_match", "rejected")
    with _deciding(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        if not ids:
            return []
        runs = _check_proposed(session, ids, seen)
        amounts = _group_amounts(session, ids) if approve else {}
        threshold = approval_threshold()
        waiting = {g for g in ids if approve and amounts[g] > threshold}
        now = _now()
        decisions = chain_rows(session, Decision, (
            {"parent_id": None, "run_id": runs[g], "target_type": "group", "target_id": str(g), "action": action, "reason_code": None,
             "comment": comment, "amount": amounts.get(g), "status": "pending" if g in waiting else "applied", "made_by": by.username,
             "made_by_id": by.id, "made_at": now, "payload": {"group_id": g} if g in waiting else None} for g in ids))
        decision_of = dict(zip(ids, session.scalars(insert(Decision).returning(Decision.id, sort_by_parameter_order=True), decisions)))
        taken = _move_proposed(session, [g for g in ids if g not in waiting], seen, by, status=status)
        _move_proposed(session, sorted(waiting), seen, by, waiting_for={g: decision_of[g] for g in waiting})
        reopened = {} if approve else _reopen_groups(session, store.data_dir, taken, "rejected_proposal")
        audit = []
        for g in ids:
            after = {"status": "proposed" if g in waiting else status, "version": seen[g] + 1, "decision_id": decision_of[g]}
            if not approve:
                after["reopened_breaks"] = reopened.get(g, [])
            audit.append({"at": now, "actor": by.username, "action": f"{action}_requested" if g in waiting else action,
                          "entity_type": "group", "entity_id": str(g), "before": {"status": "proposed", "version": seen[g]},
                          "after": after})
        bulk_insert(session, AuditEntry, chain_rows(session, AuditEntry, audit))
        return [Outcome(decision_of[g], "pending" if g in waiting else "applied") for g in ids]


def _check_proposed(session, ids: list[int], seen: dict[int, int]) -> dict[int, int]:
    """Check proposed groups are at the versions their reviewer saw, free to decide and not in a locked period: group -> run.

    The update in :func:`_move_proposed` checks again what it changes (someone may decide in
    between), and any difference undoes it all.
    """
    found = {}
    for chunk in chunks(ids, _shared.IDS_PER_QUERY):
        found.update((g.id, g) for g in session.execute(
            select(MatchGroup.id, MatchGroup.run_id, MatchGroup.version, MatchGroup.status, MatchGroup.pending_decision_id,
                   MatchGroup.updated_by, MatchGroup.updated_at).where(MatchGroup.id.in_(chunk))).all())
    for group_id in ids:
        group = found.get(group_id)
        if group is not None and group.version != seen[group_id]:
            raise _conflict("match", group)
        if group is None or group.status != "proposed":
            raise ReviewError(f"match {group_id} is not a proposed match")
        if group.pending_decision_id is not None:
            raise ReviewError(f"match {group_id} waits for an approver (decision {group.pending_decision_id})")
    members = []
    for chunk in chunks(ids, _shared.IDS_PER_QUERY):
        members += session.execute(select(MatchItem.record_id, MatchItem.account, MatchItem.date).where(MatchItem.group_id.in_(chunk))).all()
    _refuse_if_locked(session, members)
    return {g: found[g].run_id for g in ids}


def _group_amounts(session, ids: list[int]) -> dict[int, Decimal]:
    """Each group's amount as the approval threshold measures it (:func:`decision_amount`)."""
    items: dict[int, list] = {g: [] for g in ids}
    for chunk in chunks(ids, _shared.IDS_PER_QUERY):
        for item in session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.amount).where(MatchItem.group_id.in_(chunk))):
            items[item.group_id].append(item)
    return {g: decision_amount(members) for g, members in items.items()}


def _move_proposed(session, ids: list[int], seen: dict[int, int], by: User, *, status: str | None = None,
                   waiting_for: dict[int, int] | None = None) -> list:
    """Move proposed groups still at the versions seen, and free, to ``status`` or to wait for
    their decision (``waiting_for``: group -> pending decision). Any other finding undoes it all."""
    taken = []
    for chunk in chunks(ids, _shared.IDS_PER_QUERY):
        values = {"status": status} if status else {"pending_decision_id": case({g: waiting_for[g] for g in chunk}, value=MatchGroup.id)}
        taken += session.execute(
            update(MatchGroup).where(MatchGroup.id.in_(chunk), MatchGroup.status == "proposed", MatchGroup.pending_decision_id.is_(None))
            .values(version=MatchGroup.version + 1, updated_by=by.username, updated_at=_now(), **values)
            .returning(MatchGroup.id, MatchGroup.version, MatchGroup.run_id)
            .execution_options(synchronize_session=False)).all()
    changed = [g.id for g in taken if g.version != seen[g.id] + 1]
    if len(taken) != len(ids) or changed:
        gone = sorted(set(ids) - {g.id for g in taken}) + changed
        raise ConflictError(f"match {gone[0]} was changed by someone else just now; reload and decide again")
    session.expire_all()
    return sorted(taken, key=lambda g: g.id)

