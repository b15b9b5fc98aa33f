"""A confirmed group undone: its records become open breaks again, read back with their
references and descriptions from the datasets' Parquet files.
"""

from __future__ import annotations

import pyarrow.parquet as pq
from sqlalchemy import insert, select

from core.auth import Account
from core.review import _shared
from core.review._shared import (ConflictError, Outcome, ReviewError, _conflict, _deciding, _record_decision, _refuse_if_locked,
                                 _update_if_unchanged, _user_as_stored, approval_threshold, decision_amount)
from core.runs.folder import run_folder
from core.store import Store, chunks, record_audit
from core.store.models import Break, DatasetRecord, MatchGroup, MatchItem, Run

__all__ = ["unmatch_group"]


def _reopen_items(session, data_folder, group: MatchGroup, reason: str) -> list[int]:
    """Open breaks for a group's records, ageing from the record's date."""
    return _reopen_groups(session, data_folder, [group], reason).get(group.id, [])


def _reopen_groups(session, data_folder, groups, reason: str) -> dict[int, list[int]]:
    """Open breaks for the records of groups (``id`` and ``run_id`` each): group id -> new break ids.

    The records' references and descriptions are read from each dataset's Parquet file once.
    """
    run_of = {g.id: g.run_id for g in groups}
    items = []
    for chunk in chunks(sorted(run_of), _shared.IDS_PER_QUERY):
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
        by = _user_as_stored(session, actor, "analyst")
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
        _refuse_if_locked(session, items)
        size = decision_amount(items)
        pending = size > approval_threshold()
        decision = _record_decision(session, by, "unmatch", "group", str(group.id), run_id=run_id, amount=size, comment=comment,
                           status="pending" if pending else "applied", payload={"group_id": group.id})
        if pending:
            _update_if_unchanged(session, MatchGroup, group.id, version, by, pending_decision_id=decision.id)
            reopened = []
        else:
            _update_if_unchanged(session, MatchGroup, group.id, version, by, status="unmatched")
            reopened = _reopen_items(session, store.data_dir, group, "unmatched_by_user")
        record_audit(session, by.username, "unmatch" if not pending else "unmatch_requested", "group", str(group.id),
                     {"status": "confirmed", "match_id": match_id, "version": version},
                     {"status": "unmatched" if not pending else "confirmed", "version": version + 1,
                      "reopened_breaks": reopened, "decision_id": decision.id})
        return Outcome(decision.id, decision.status)


def _group_from_artifacts(session, store: Store, run_id: int, match_id: int) -> MatchGroup:
    """Bring an engine-confirmed group into the database, from the run's Parquet files, to act on it."""
    folder = run_folder(store.data_dir, run_id)
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

