"""What a new run takes in: each dataset's rows in scope, less the records a person already
decided on, plus the open breaks carried forward from earlier runs of the same accounts.

Accounts are told apart by their key (``core.domain.accounts``, after the alias table): a run
over ``DE89 3704 0044 0532 0130 00`` takes in the rows and earlier breaks written
``DE89370400440532013000`` too, and waits for the decisions on either.
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import func, or_, select

from core.domain.accounts import resolve_account_key
from core.runs.folder import sql_path
from core.store import Store
from core.store.models import Break, DatasetRecord, DatasetRetirement, MatchGroup, MatchItem

__all__ = ["LOCKED_OPEN_REASONS", "RunRefused", "account_texts_in_scope", "carry_forward_open_breaks", "refuse_retired",
           "refuse_while_decisions_wait",
           "rows_in_scope_sql"]


LOCKED_OPEN_REASONS = ("rejected_proposal", "unmatched_by_user")


class RunRefused(ValueError):
    """A run that may not start now; the message says why and what to do."""


def refuse_retired(store: Store, datasets: tuple[DatasetRecord, ...]) -> None:
    """A retired dataset (the Datasets page) is no longer read by a run: refused, naming it."""
    with store.session() as session:
        gone = {r.dataset_id: r for r in session.scalars(select(DatasetRetirement).where(
            DatasetRetirement.dataset_id.in_([d.id for d in datasets])))}
    for dataset in datasets:
        if dataset.id in gone:
            raise RunRefused(f"{dataset.name} was retired by {gone[dataset.id].retired_by} on "
                             f"{gone[dataset.id].retired_at:%Y-%m-%d}: runs no longer read it")


def account_texts_in_scope(store: Store, datasets: tuple[DatasetRecord, ...], keys: list[str] | None, con,
                           aliases: dict[str, str] | None = None) -> list[str] | None:
    """The account texts of the datasets whose key is one of ``keys``; ``None`` (every account) when ``keys`` is ``None``."""
    if keys is None:
        return None
    wanted = set(keys)
    paths = ", ".join(sql_path(store.data_dir / d.parquet_path) for d in datasets)
    texts = [row[0] for row in con.execute(f"SELECT DISTINCT account FROM read_parquet([{paths}], union_by_name = true)").fetchall()]
    return sorted(t for t in texts if t is not None and resolve_account_key(t, aliases) in wanted)


def refuse_while_decisions_wait(store: Store, internal: DatasetRecord, external: DatasetRecord, accounts: list[str] | None,
                                con, aliases: dict[str, str] | None = None) -> None:
    """Refuse a run over accounts on whose breaks or groups a decision waits for an approver.

    Such records are held by the decision: a new run would neither carry them nor hold them,
    so they would vanish from the current run (a break) or be matched a second time (a
    group). Deciding first leaves nothing ambiguous. ``accounts`` (keys) ``None``: every
    account of the two datasets. A waiting record counts by its account's key.
    """
    if not accounts:
        paths = ", ".join(sql_path(store.data_dir / d.parquet_path) for d in (internal, external))
        accounts = [row[0] for row in con.execute(f"SELECT DISTINCT account FROM read_parquet([{paths}])").fetchall()]
    keys = {resolve_account_key(a, aliases) for a in accounts if a is not None}
    with store.session() as session:
        waiting = set(session.execute(select(Break.account, Break.pending_decision_id)
                                      .where(Break.pending_decision_id.is_not(None))).all())
        waiting |= set(session.execute(select(MatchItem.account, MatchGroup.pending_decision_id)
                                       .join(MatchGroup, MatchGroup.id == MatchItem.group_id)
                                       .where(MatchGroup.pending_decision_id.is_not(None))).all())
    waiting = {(a, d) for a, d in waiting if resolve_account_key(a, aliases) in keys}
    if waiting:
        decisions = sorted({d for _, d in waiting})
        held = ", ".join(sorted({a for a, _ in waiting}))
        count = f"{len(decisions)} decision{'s wait' if len(decisions) > 1 else ' waits'}"
        raise RunRefused(f"{count} for an approver on {held} (decision{'s' if len(decisions) > 1 else ''} "
                         f"{', '.join(map(str, decisions))}): decide {'them' if len(decisions) > 1 else 'it'} before re-running")


def rows_in_scope_sql(store: Store, dataset: DatasetRecord, accounts: list[str] | None, date_from, date_to, side: str) -> str:
    """A dataset's rows in scope, less records a person already decided on, plus carried items.

    ``accounts``: the account texts in scope (:func:`account_texts_in_scope`); every account when ``None``.
    """
    path = store.data_dir / dataset.parquet_path
    filters = [f"id NOT IN (SELECT record_id FROM locked WHERE dataset_id = '{dataset.id}')"]
    if accounts is not None:
        filters.append("account IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in accounts) + ")" if accounts else "false")
    if date_from:
        filters.append(f"date >= DATE '{date_from.isoformat()}'")
    if date_to:
        filters.append(f"date <= DATE '{date_to.isoformat()}'")
    rows = (f"SELECT *, '{dataset.id}' AS dataset_id, CAST(NULL AS BIGINT) AS carried_from, CAST(NULL AS DATE) AS first_seen_on "
            f"FROM read_parquet({sql_path(path)}) WHERE {' AND '.join(filters)}")
    carried = ("SELECT record_id AS id, account, date, amount, currency, reference, description, '' AS counterparty, "
               "CAST(NULL AS DATE) AS trade_date, CAST(NULL AS DATE) AS entry_date, '' AS type, dataset_id, "
               f"carried_from, first_seen_on FROM carried WHERE side = '{side}'")
    columns = ("id, account, date, amount, currency, reference, description, counterparty, trade_date, entry_date, type, "
               "dataset_id, carried_from, first_seen_on")
    return f"(SELECT {columns} FROM ({rows}) UNION ALL BY NAME SELECT {columns} FROM ({carried}))"


def carry_forward_open_breaks(store: Store, internal: DatasetRecord, external: DatasetRecord, accounts: list[str] | None, con,
                              aliases: dict[str, str] | None = None) -> list[Break]:
    """Register in ``con`` what a new run takes from earlier ones, and return the breaks it replaces.

    - ``locked``: records of this run's datasets a person decided on (resolved, matched by
      hand or approved, rejected or unmatched, or waiting for an approver): never re-matched.
    - ``carried``: open breaks of each account's latest run, from other datasets, that go
      into the matching again (an outstanding cheque of last month clears this month), keeping
      the day they first appeared. An account is known by its key: its latest run is the
      latest of any of its spellings, and ``accounts`` are keys (every account when ``None``).
    Records rejected or unmatched by a person are carried as open breaks without matching.
    """
    run_datasets = [internal.id, external.id]
    with store.session() as session:
        decided_breaks = session.execute(
            select(Break.dataset_id, Break.record_id).where(
                Break.dataset_id.in_(run_datasets),
                or_(Break.status.in_(("resolved", "matched")), Break.pending_decision_id.is_not(None),
                    (Break.status == "open") & Break.reason.in_(LOCKED_OPEN_REASONS)))).all()
        decided_groups = session.execute(
            select(MatchItem.dataset_id, MatchItem.record_id).join(MatchGroup, MatchGroup.id == MatchItem.group_id)
            .where(MatchItem.dataset_id.in_(run_datasets), or_(MatchGroup.status == "confirmed", MatchGroup.status == "unmatched",
                                                               MatchGroup.status == "rejected"))).all()
        latest_of_text = dict(session.execute(select(Break.account, func.max(Break.run_id)).group_by(Break.account)).all())
        latest_of_key: dict[str, int] = {}
        for text, run_id in latest_of_text.items():
            key = resolve_account_key(text, aliases)
            latest_of_key[key] = max(run_id, latest_of_key.get(key, run_id))
        wanted = None if accounts is None else {resolve_account_key(a, aliases) for a in accounts}
        # A spelling whose own latest run is older than its account's has no break in that run.
        texts = [t for t, run_id in latest_of_text.items() if run_id == latest_of_key[resolve_account_key(t, aliases)]
                 and (wanted is None or resolve_account_key(t, aliases) in wanted)]
        latest = select(Break.account, func.max(Break.run_id).label("run_id")).group_by(Break.account)
        if wanted is not None or len(texts) < len(latest_of_text):
            latest = latest.where(Break.account.in_(texts))
        latest = latest.subquery()
        previous = session.scalars(
            select(Break).join(latest, (latest.c.account == Break.account) & (latest.c.run_id == Break.run_id))
            .where(Break.status == "open", Break.pending_decision_id.is_(None))).all() if texts else []
    locked = {(d, r) for d, r in decided_breaks} | {(d, r) for d, r in decided_groups}
    carried = [b for b in previous if b.dataset_id not in run_datasets or b.reason in LOCKED_OPEN_REASONS]
    con.register("locked", pa.table({"dataset_id": pa.array([d for d, _ in locked], pa.string()),
                                     "record_id": pa.array([r for _, r in locked], pa.string())}))
    matchable = [b for b in carried if b.reason not in LOCKED_OPEN_REASONS]
    con.register("carried", pa.table({
        "side": pa.array([b.side for b in matchable], pa.string()),
        "record_id": pa.array([b.record_id for b in matchable], pa.string()),
        "account": pa.array([b.account for b in matchable], pa.string()),
        "date": pa.array([b.date for b in matchable], pa.date32()),
        "amount": pa.array([b.amount for b in matchable], pa.decimal128(18, 6)),
        "currency": pa.array([b.currency for b in matchable], pa.string()),
        "reference": pa.array([b.reference for b in matchable], pa.string()),
        "description": pa.array([b.description for b in matchable], pa.string()),
        "dataset_id": pa.array([b.dataset_id for b in matchable], pa.string()),
        "carried_from": pa.array([b.id for b in matchable], pa.int64()),
        "first_seen_on": pa.array([b.first_seen_on for b in matchable], pa.date32()),
    }))
    return previous

