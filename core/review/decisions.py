"""Maker-checker: decisions waiting for a second person, and that person's verdict.

A decision over the approval threshold waits, ``pending``, for someone with the approver
role; nobody approves their own decision, told apart by user id. An approval applies what
the maker asked for; a refusal frees the records.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pyarrow as pa
from sqlalchemy import select

from core.auth import Account
from core.review._shared import (ConflictError, Outcome, ReviewError, _deciding, _made_by, _record_decision, _refuse_if_locked,
                                 _update_if_unchanged, _user_as_stored)
from core.review.imports import decide_unbalanced_import
from core.review.breaks import _create_manual_group
from core.review.unmatch import _reopen_items
from core.runs.folder import confirmed_items_sql, register_group_statuses, run_folder
from core.store import Store, record_audit
from core.store.models import Break, Decision, MatchGroup, MatchItem, Run

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
    account: str = ""  # the account(s) of the records the decision is about, comma-separated
    currency: str = ""  # the currency (or currencies) of ``amount``


def pending_decisions(store: Store) -> list[PendingDecision]:
    """Decisions waiting for an approver, oldest first. Any approver but the maker may decide."""
    with store.session() as session:
        decided = select(Decision.parent_id).where(Decision.parent_id.is_not(None))
        rows = session.scalars(select(Decision).where(Decision.status == "pending", Decision.id.not_in(decided))
                               .order_by(Decision.made_at, Decision.id)).all()
        held: dict[int, set[tuple[str, str]]] = {r.id: set() for r in rows}
        if rows:
            for decision_id, acct, currency in session.execute(select(Break.pending_decision_id, Break.account, Break.currency)
                                                                .where(Break.pending_decision_id.in_(list(held)))).all():
                held[decision_id].add((acct, currency))
            for decision_id, acct, currency in session.execute(
                    select(MatchGroup.pending_decision_id, MatchItem.account, MatchItem.currency)
                    .join(MatchItem, MatchItem.group_id == MatchGroup.id).where(MatchGroup.pending_decision_id.in_(list(held)))).all():
                held[decision_id].add((acct, currency))
    return [_unbalanced_import(r) if r.action == "import_unbalanced" else
            PendingDecision(r.id, r.action, _target(r), r.amount, r.reason_code, r.comment, r.made_by, r.made_at,
                            r.made_by_id, ", ".join(sorted({a for a, _ in held[r.id]})), ", ".join(sorted({c for _, c in held[r.id]})))
            for r in rows]


_DIFFERENCE = re.compile(r"of account (?P<account>.+?) \((?P<currency>[A-Z]{3})\): .*? by (?P<amount>-?\d+(?:\.\d+)?)")


def _unbalanced_import(decision: Decision) -> PendingDecision:
    """A request to import a file that does not add up, with the account, currency and difference of its first
    differing statement (as the request recorded it)."""
    first = next(iter((decision.payload or {}).get("differences", [])), "")
    found = _DIFFERENCE.search(first)
    account, currency, amount = (found["account"], found["currency"], Decimal(found["amount"])) if found else ("", "", None)
    return PendingDecision(decision.id, decision.action, _target(decision), amount, decision.reason_code, decision.comment,
                           decision.made_by, decision.made_at, decision.made_by_id, account, currency)


def _target(decision: Decision) -> str:
    """What a decision is about, as the approver reads it."""
    if decision.action == "import_unbalanced":
        payload = decision.payload or {}
        return f"file {payload.get('name', decision.target_id)}: {'; '.join(payload.get('differences', []))}"
    return f"{decision.target_type} {decision.target_id}"


def decide_pending(store: Store, decision_id: int, approve: bool, actor: Account, comment: str = "") -> Outcome:
    """Approve (apply) or refuse a pending decision. The maker can never decide their own.

    An approval is refused (``ReviewError``) when the decision's records were cleared in
    another run since it was made (:func:`_refuse_if_cleared_since`): refusing it is then
    the only way out, and nothing is applied twice. A request to import a file that does not
    add up is decided by :func:`core.review.imports.decide_unbalanced_import`.
    """
    with store.session() as session:
        action = session.scalar(select(Decision.action).where(Decision.id == decision_id))
    if action == "import_unbalanced":
        return decide_unbalanced_import(store, decision_id, approve, actor, comment)
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
            if approve:
                _refuse_if_locked(session, rows)
                _refuse_if_cleared_since(session, store, pending, rows, break_ids=[r.id for r in rows])
            for row in rows:
                values = {"pending_decision_id": None}
                if approve:
                    values |= ({"status": "resolved", "resolution": pending.reason_code} if pending.action == "resolve"
                               else {"status": "matched"})
                _update_if_unchanged(session, Break, row.id, row.version, by, **values)
            if payload.get("journal_id") is not None:  # a booked break: its journal is posted, or dropped when refused
                # Imported here: core.banking.booking builds on core.review, which imports this module.
                from core.banking.booking import drop_booked_journal, post_booked_journal

                (post_booked_journal if approve else drop_booked_journal)(session, payload["journal_id"], by.username)
            if approve and pending.action == "manual_match":
                maker = Decision(made_by=pending.made_by, reason_code=pending.reason_code, comment=pending.comment)
                _create_manual_group(session, maker, list(rows), Decimal(payload["difference"]))
        elif pending.action in ("unmatch", "approve_match"):
            group = session.get(MatchGroup, payload["group_id"])
            if group.pending_decision_id != pending.id:
                raise ConflictError(f"match {group.id} changed since decision {pending.id} was made")
            if approve:
                members = session.scalars(select(MatchItem).where(MatchItem.group_id == group.id)).all()
                _refuse_if_locked(session, members)
                if pending.action == "approve_match":
                    _refuse_if_cleared_since(session, store, pending, members, group_id=group.id)
            applied = {"status": "unmatched" if pending.action == "unmatch" else "confirmed"} if approve else {}
            _update_if_unchanged(session, MatchGroup, group.id, group.version, by, pending_decision_id=None, **applied)
            if approve and pending.action == "unmatch":
                _reopen_items(session, store.data_dir, session.get(MatchGroup, group.id), "unmatched_by_user")
        record_audit(session, by.username, "approve" if approve else "refuse", "decision", str(pending.id),
                     {"status": "pending", "action": pending.action, "made_by": pending.made_by},
                     {"status": verdict.status, "decision_id": verdict.id})
        return Outcome(verdict.id, verdict.status)


def _refuse_if_cleared_since(session, store: Store, pending: Decision, records, *, break_ids=(), group_id: int | None = None) -> None:
    """Refuse to apply a waiting decision whose records were cleared elsewhere since it was made.

    ``records``: the decision's breaks or group items (``side``, ``dataset_id``, ``record_id``).
    Cleared elsewhere: a break of the same record resolved or matched since, a group holding it
    confirmed in the store since (an approved proposal, a match by hand), or a group the engine
    confirmed in a run started since.
    """
    wanted = {(r.side, r.dataset_id, r.record_id) for r in records}
    ids = sorted({r.record_id for r in records})
    since = _utc(pending.made_at)
    found = [(b.run_id, b.side, b.dataset_id, b.record_id) for b in session.execute(
        select(Break.run_id, Break.side, Break.dataset_id, Break.record_id, Break.updated_at)
        .where(Break.record_id.in_(ids), Break.status.in_(("resolved", "matched")), Break.id.not_in(list(break_ids) or [-1]))).all()
        if b.updated_at is not None and _utc(b.updated_at) > since]
    found += [(i.run_id, i.side, i.dataset_id, i.record_id) for i in session.execute(
        select(MatchItem.run_id, MatchItem.side, MatchItem.dataset_id, MatchItem.record_id, MatchGroup.updated_at)
        .join(MatchGroup, MatchGroup.id == MatchItem.group_id)
        .where(MatchItem.record_id.in_(ids), MatchGroup.status == "confirmed", MatchGroup.id != (group_id or -1))).all()
        if i.updated_at is not None and _utc(i.updated_at) > since]
    later = {r.id: r for r in session.scalars(select(Run).where(Run.id != pending.run_id)) if _utc(r.started_at) > since}
    files = [run_folder(store.data_dir, r) / "items.parquet" for r in sorted(later)]
    files = [f for f in files if f.exists()]
    if files:
        con = duckdb.connect()
        register_group_statuses(con, session.execute(select(MatchGroup.run_id, MatchGroup.match_id, MatchGroup.status)
                                                     .where(MatchGroup.run_id.in_(list(later)))).all())
        con.register("wanted", pa.table({"record_id": pa.array(ids, pa.string())}))
        confirmed = (f"SELECT run_id, side, dataset_id, record_id FROM ({confirmed_items_sql(files, 'decided')}) "
                     "SEMI JOIN wanted USING (record_id)")
        for run_id, side, dataset_id, record_id in con.execute(confirmed).fetchall():
            run = later[run_id]  # a record the run read from its own files has no dataset of its own
            found.append((run_id, side, dataset_id or (run.internal_dataset_id if side == "internal" else run.external_dataset_id),
                          record_id))
    for run_id, side, dataset_id, record_id in sorted(found):
        if (side, dataset_id, record_id) in wanted:
            raise ReviewError(f"record {record_id} was cleared in run {run_id} since decision {pending.id} was made: "
                              "refuse the decision instead")


def _utc(moment: dt.datetime) -> dt.datetime:
    """A stored time as UTC; SQLite hands times back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
