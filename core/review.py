"""Working the breaks: what people decide about matches and open items, with its controls.

Every decision is a row in the append-only ``decisions`` table and an entry in the audit log
with the state before and after, written in the same transaction as the change itself.

- **Proposed matches** are approved (the group becomes ``confirmed``) or rejected (its records
  become open breaks again).
- **Manual match**: open breaks of one account and currency grouped by hand. The net
  difference must be within the tolerance, or the match needs a reason code.
- **Resolve**: an open break closed with a reason code and a comment.
- **Unmatch**: a confirmed group undone; its records become open breaks again.
- **Maker-checker**: a manual match, unmatch, resolution or approval of a proposed match whose
  amount is over the approval threshold waits, ``pending``, for a second person with the
  approver role. The amount is the larger of the group's two side totals in absolute value
  (:func:`decision_amount`; one break's own amount for a resolution). Nobody approves their
  own decision, told apart by user id.
- **Who decides**: every decision re-reads the acting user from the store by id in its own
  transaction and uses the store's active flag and role, never the ones on the ``Account``.
- **Two people at once**: each break and group carries a version. A change names the version
  its author saw; if someone changed it since, the change is refused with who and when
  (``ConflictError``), and nothing is applied twice. Decisions run serialised (SQLite's write
  lock, PostgreSQL's row locks); a clash the database itself catches is a ``ConflictError``
  too, never a raw database error.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import NamedTuple

import pyarrow.parquet as pq
from sqlalchemy import case, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core import config
from core.auth import Account, acting_user, canonical_username
from core.store import Store, bulk_insert, chunks, record_audit
from core.store.chain import chain_rows
from core.store.models import AuditEntry, Break, Decision, MatchGroup, MatchItem, Run, User

__all__ = [
    "REASON_CODES",
    "ConflictError",
    "ReviewError",
    "approval_threshold",
    "approve_proposed",
    "approve_proposed_many",
    "decide_pending",
    "decision_amount",
    "manual_match",
    "pending_decisions",
    "reject_proposed",
    "reject_proposed_many",
    "resolve_break",
    "unmatch_group",
]

REASON_CODES = {
    "timing": "Timing difference",
    "bank_fee": "Bank fee",
    "duplicate": "Duplicate",
    "missing_in_books": "Missing in books",
    "missing_at_bank": "Missing at bank",
    "fx": "FX difference",
    "other": "Other",
}


class ReviewError(ValueError):
    """A decision that cannot be taken; the message says why."""


class ConflictError(ReviewError):
    """Someone changed the break or group since it was read."""


class Outcome(NamedTuple):
    decision_id: int
    status: str  # applied | pending


def approval_threshold() -> Decimal:
    """Amounts above this need a second person (``RECON_APPROVAL_THRESHOLD``, default 10000.00)."""
    return config.approval_threshold()


def decision_amount(records: Iterable) -> Decimal:
    """What the approval threshold measures: the larger side total, in absolute value.

    ``records``: anything with ``side`` and ``amount`` (breaks, match items). One record on its
    own weighs its own amount.
    """
    totals = {"internal": Decimal(0), "external": Decimal(0)}
    for record in records:
        totals[record.side] += abs(record.amount)
    return max(totals.values())


def manual_match_tolerance() -> Decimal:
    """A manual match nets to within this without a reason code (``RECON_MANUAL_MATCH_TOLERANCE``)."""
    return config.manual_match_tolerance()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _acting(session, actor: Account, role: str) -> User:
    """The acting user as the store has it now (active, role), read in the decision's transaction."""
    return acting_user(session, actor, role, ReviewError)


@contextmanager
def _deciding(store: Store) -> Iterator:
    """One decision's transaction, serialised with other writers.

    A clash the database catches (two people creating the same group at once, a deadlock, a
    lock waited on too long) is a ``ConflictError``; any other refusal a ``ReviewError``. The
    transaction is rolled back either way: nothing is written half.
    """
    try:
        with store.session(serialised=True) as session:
            yield session
    except IntegrityError:
        raise ConflictError("someone else decided on the same records at the same moment; reload and decide again") from None
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        if state in ("40001", "40P01") or "locked" in str(exc.orig):
            raise ConflictError("someone else was deciding on the same records; reload and decide again") from None
        raise ReviewError(f"the store refused the decision ({type(exc.orig).__name__}: {exc.orig}); nothing was changed") from None


def _bump(session, model, row_id: int, seen_version: int, by: User, **values) -> None:
    """Apply a change only if the row is still at the version its author saw."""
    result = session.execute(
        update(model).where(model.id == row_id, model.version == seen_version)
        .values(version=model.version + 1, updated_by=by.username, updated_at=_now(), **values)
    )
    if result.rowcount != 1:
        current = session.get(model, row_id)
        if current is None:
            raise ReviewError(f"{model.__tablename__[:-1]} {row_id} does not exist")
        raise _conflict("break" if model is Break else "match", current)
    session.expire_all()


def _break_state(row: Break) -> dict:
    return {"status": row.status, "resolution": row.resolution, "version": row.version, "pending_decision_id": row.pending_decision_id}


def _decide(session, by: User, action: str, target_type: str, target_id: str, *, run_id: int | None, status: str,
            amount: Decimal | None = None, reason_code: str | None = None, comment: str = "", payload: dict | None = None,
            parent_id: int | None = None) -> Decision:
    decision = Decision(parent_id=parent_id, run_id=run_id, target_type=target_type, target_id=str(target_id), action=action,
                        reason_code=reason_code, comment=comment, amount=amount, status=status, made_by=by.username,
                        made_by_id=by.id, made_at=_now(), payload=payload)
    session.add(decision)
    session.flush()
    return decision


def _conflict(kind: str, row) -> ConflictError:
    when = f"{row.updated_at:%Y-%m-%d %H:%M:%S} UTC" if row.updated_at else "an earlier time"
    return ConflictError(f"{kind} {row.id} was changed by {row.updated_by or 'the system'} at {when}; reload and decide again")


def _open_breaks(session, break_ids: list[int], versions: dict[int, int]) -> list[Break]:
    """The breaks, checked to be at the versions their author saw, open and not waiting."""
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
    return sorted(rows, key=lambda r: r.id)


def resolve_break(store: Store, break_id: int, version: int, reason_code: str, comment: str, actor: Account) -> Outcome:
    """Close an open break with a reason code; above the threshold it waits for an approver."""
    if reason_code not in REASON_CODES:
        raise ReviewError(f"unknown reason code {reason_code!r}; use one of {', '.join(REASON_CODES)}")
    if not comment.strip() and reason_code == "other":
        raise ReviewError("a resolution with reason 'other' needs a comment")
    with _deciding(store) as session:
        by = _acting(session, actor, "analyst")
        row = _open_breaks(session, [break_id], {break_id: version})[0]
        before = _break_state(row)
        amount = decision_amount([row])
        pending = amount > approval_threshold()
        decision = _decide(session, by, "resolve", "break", str(row.id), run_id=row.run_id, amount=amount,
                           reason_code=reason_code, comment=comment, status="pending" if pending else "applied",
                           payload={"break_ids": [row.id]})
        if pending:
            _bump(session, Break, row.id, version, by, pending_decision_id=decision.id)
        else:
            _bump(session, Break, row.id, version, by, status="resolved", resolution=reason_code)
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
        by = _acting(session, actor, "analyst")
        rows = _open_breaks(session, sorted(set(break_ids)), versions)
        if len({(r.account, r.currency) for r in rows}) > 1:
            raise ReviewError("the records are on different accounts or currencies; they cannot be matched")
        difference = net_difference(rows)
        if abs(difference) > manual_match_tolerance() and reason_code is None:
            raise ReviewError(f"the records differ by {difference}; give a reason code to match them anyway")
        size = decision_amount(rows)
        pending = size > approval_threshold()
        decision = _decide(session, by, "manual_match", "breaks", ",".join(str(r.id) for r in rows), run_id=rows[0].run_id,
                           amount=size, reason_code=reason_code, comment=comment, status="pending" if pending else "applied",
                           payload={"break_ids": [r.id for r in rows], "difference": str(difference)})
        befores = {r.id: _break_state(r) for r in rows}
        for row in rows:
            _bump(session, Break, row.id, versions[row.id], by,
                  **({"pending_decision_id": decision.id} if pending else {"status": "matched"}))
        if not pending:
            _create_manual_group(session, decision, rows, difference)
        for row in rows:
            record_audit(session, by.username, "manual_match" if not pending else "manual_match_requested", "break", str(row.id),
                         befores[row.id], _break_state(session.get(Break, row.id)) | {"decision_id": decision.id})
        return Outcome(decision.id, decision.status)


def net_difference(rows) -> Decimal:
    """Statement total less books total; the plain sum when every record is on one side."""
    sides = {r.side for r in rows}
    if len(sides) == 1:
        return sum((r.amount for r in rows), Decimal(0))
    return sum((r.amount for r in rows if r.side == "external"), Decimal(0)) - sum((r.amount for r in rows if r.side == "internal"), Decimal(0))


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


_CHUNK = 1000  # ids per IN list: well within every database's limit on bound values


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
        by = _acting(session, actor, "analyst")
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
    """Check proposed groups are at the versions their reviewer saw and free to decide: group -> run.

    The update in :func:`_move_proposed` checks again what it changes (someone may decide in
    between), and any difference undoes it all.
    """
    found = {}
    for chunk in chunks(ids, _CHUNK):
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
    return {g: found[g].run_id for g in ids}


def _group_amounts(session, ids: list[int]) -> dict[int, Decimal]:
    """Each group's amount as the approval threshold measures it (:func:`decision_amount`)."""
    items: dict[int, list] = {g: [] for g in ids}
    for chunk in chunks(ids, _CHUNK):
        for item in session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.amount).where(MatchItem.group_id.in_(chunk))):
            items[item.group_id].append(item)
    return {g: decision_amount(members) for g, members in items.items()}


def _move_proposed(session, ids: list[int], seen: dict[int, int], by: User, *, status: str | None = None,
                   waiting_for: dict[int, int] | None = None) -> list:
    """Move proposed groups still at the versions seen, and free, to ``status`` or to wait for
    their decision (``waiting_for``: group -> pending decision). Any other finding undoes it all."""
    taken = []
    for chunk in chunks(ids, _CHUNK):
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


def _reopen_items(session, data_folder, group: MatchGroup, reason: str) -> list[int]:
    """Open breaks for a group's records, ageing from the record's date."""
    return _reopen_groups(session, data_folder, [group], reason).get(group.id, [])


def _reopen_groups(session, data_folder, groups, reason: str) -> dict[int, list[int]]:
    """Open breaks for the records of groups (``id`` and ``run_id`` each): group id -> new break ids.

    The records' references and descriptions are read from each dataset's Parquet file once.
    """
    run_of = {g.id: g.run_id for g in groups}
    items = []
    for chunk in chunks(sorted(run_of), _CHUNK):
        items += session.scalars(select(MatchItem).where(MatchItem.group_id.in_(chunk))).all()
    items.sort(key=lambda i: (i.group_id, i.side, i.record_id))
    if not items:
        return {}
    details = _record_details(session, data_folder, items)
    rows = []
    for i in items:
        reference, description = details.get((i.side, i.record_id), ("", ""))
        rows.append({"run_id": run_of[i.group_id], "side": i.side, "dataset_id": i.dataset_id, "record_id": i.record_id,
                     "account": i.account, "date": i.date, "amount": i.amount, "currency": i.currency, "reference": reference,
                     "description": description, "reason": reason, "status": "open", "first_seen_on": i.date, "version": 1})
    created = session.scalars(insert(Break).returning(Break.id, sort_by_parameter_order=True), rows).all()
    reopened: dict[int, list[int]] = {}
    for item, break_id in zip(items, created):
        reopened.setdefault(item.group_id, []).append(break_id)
    return reopened


def _record_details(session, data_folder, items) -> dict[tuple[str, str], tuple[str, str]]:
    """Reference and description of records, read from their datasets' Parquet files."""
    from core.store.models import DatasetRecord

    found: dict[tuple[str, str], tuple[str, str]] = {}
    by_dataset: dict[str, list] = {}
    for item in items:
        by_dataset.setdefault(item.dataset_id, []).append(item)
    for dataset_id, members in by_dataset.items():
        dataset = session.get(DatasetRecord, dataset_id)
        path = data_folder / dataset.parquet_path if dataset else None
        if path is None or not path.exists():
            continue
        sides = {m.record_id: m.side for m in members}
        table = pq.read_table(path, columns=["id", "reference", "description"], filters=[("id", "in", list(sides))])
        for record_id, reference, description in zip(*(table.column(c).to_pylist() for c in ("id", "reference", "description"))):
            found[(sides[record_id], record_id)] = (reference or "", description or "")
    return found


def unmatch_group(store: Store, run_id: int, match_id: int, actor: Account, comment: str = "", *, version: int) -> Outcome:
    """Undo a confirmed group, made by the engine or by hand; its records become open breaks.

    Args:
        version: the group's version the person saw; a confirmed group that lives only in the
            run's files, never touched, is at version 1.

    Raises:
        ``ConflictError`` when the group changed since (two people unmatching it at once: one
        succeeds, the other gets this); ``ReviewError`` when it is not confirmed or waits.
    """
    with _deciding(store) as session:
        by = _acting(session, actor, "analyst")
        group = session.scalar(select(MatchGroup).where(MatchGroup.run_id == run_id, MatchGroup.match_id == match_id)
                               .with_for_update())
        if group is None:
            if version != 1:
                raise ConflictError(f"match {match_id} of run {run_id} is at version 1, not {version}; reload and decide again")
            group = _group_from_artifacts(session, store, run_id, match_id)
        elif group.version != version:
            raise _conflict("match", group)
        if group.status != "confirmed":
            raise ReviewError(f"match {match_id} of run {run_id} is {group.status}, not confirmed")
        if group.pending_decision_id is not None:
            raise ReviewError(f"match {match_id} waits for an approver (decision {group.pending_decision_id})")
        items = session.scalars(select(MatchItem).where(MatchItem.group_id == group.id)).all()
        size = decision_amount(items)
        pending = size > approval_threshold()
        decision = _decide(session, by, "unmatch", "group", str(group.id), run_id=run_id, amount=size, comment=comment,
                           status="pending" if pending else "applied", payload={"group_id": group.id})
        if pending:
            _bump(session, MatchGroup, group.id, version, by, pending_decision_id=decision.id)
            reopened = []
        else:
            _bump(session, MatchGroup, group.id, version, by, status="unmatched")
            reopened = _reopen_items(session, store.data_dir, group, "unmatched_by_user")
        record_audit(session, by.username, "unmatch" if not pending else "unmatch_requested", "group", str(group.id),
                     {"status": "confirmed", "match_id": match_id, "version": version},
                     {"status": "unmatched" if not pending else "confirmed", "version": version + 1,
                      "reopened_breaks": reopened, "decision_id": decision.id})
        return Outcome(decision.id, decision.status)


def _group_from_artifacts(session, store: Store, run_id: int, match_id: int) -> MatchGroup:
    """Bring an engine-confirmed group into the database, from the run's Parquet files, to act on it."""
    folder = store.data_dir / "runs" / str(run_id)
    groups = pq.read_table(folder / "groups.parquet", filters=[("match_id", "=", match_id)]).to_pylist()
    if not groups:
        raise ReviewError(f"run {run_id} has no match {match_id}")
    found = groups[0]
    run = session.get(Run, run_id)
    datasets = {"internal": run.internal_dataset_id, "external": run.external_dataset_id}
    group = MatchGroup(run_id=run_id, match_id=match_id, rule=found["rule"], status=found["status"], amount_diff=found["amount_diff"],
                       days_diff=found["days_diff"], explanation=found.get("note") or "", version=1)
    session.add(group)
    session.flush()
    for item in pq.read_table(folder / "items.parquet", filters=[("match_id", "=", match_id)]).to_pylist():
        session.add(MatchItem(group_id=group.id, run_id=run_id, side=item["side"], dataset_id=item.get("dataset_id") or datasets[item["side"]],
                              record_id=item["record_id"], account=item["account"], date=item["date"], amount=item["amount"],
                              currency=item["currency"]))
    session.flush()
    return group


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
        by = _acting(session, actor, "approver")
        pending = session.get(Decision, decision_id)
        if pending is None or pending.status != "pending":
            raise ReviewError(f"decision {decision_id} is not waiting for approval")
        if session.scalar(select(Decision.id).where(Decision.parent_id == decision_id)):
            raise ConflictError(f"decision {decision_id} has already been decided")
        if _made_by(pending, by):
            raise ReviewError("nobody may approve their own decision; another approver must decide")
        verdict = _decide(session, by, "approve" if approve else "refuse", pending.target_type, pending.target_id,
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
                _bump(session, Break, row.id, row.version, by, **values)
            if approve and pending.action == "manual_match":
                maker = Decision(made_by=pending.made_by, reason_code=pending.reason_code, comment=pending.comment)
                _create_manual_group(session, maker, list(rows), Decimal(payload["difference"]))
        elif pending.action in ("unmatch", "approve_match"):
            group = session.get(MatchGroup, payload["group_id"])
            if group.pending_decision_id != pending.id:
                raise ConflictError(f"match {group.id} changed since decision {pending.id} was made")
            applied = {"status": "unmatched" if pending.action == "unmatch" else "confirmed"} if approve else {}
            _bump(session, MatchGroup, group.id, group.version, by, pending_decision_id=None, **applied)
            if approve and pending.action == "unmatch":
                _reopen_items(session, store.data_dir, session.get(MatchGroup, group.id), "unmatched_by_user")
        record_audit(session, by.username, "approve" if approve else "refuse", "decision", str(pending.id),
                     {"status": "pending", "action": pending.action, "made_by": pending.made_by},
                     {"status": verdict.status, "decision_id": verdict.id})
        return Outcome(verdict.id, verdict.status)
