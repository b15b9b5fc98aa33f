"""The bank reconciliation statement of a saved run, as it stands after people's decisions.

A saved run keeps the engine's groups in its folder (``items.parquet``, ``groups.parquet``) and
what people act on in the store: breaks, proposed groups, groups made or undone by hand. The
statement reads them as the Breaks page does, with every decision taken since:

- a group counts as matched while its status (the store's, else the engine's) is confirmed
  or proposed; an approved proposal is confirmed, a rejected one or an undone group is not,
  and its records are open breaks again (new break rows);
- the run's breaks are open items, whatever happened to them later (resolved with a reason,
  carried into a later run, cleared there): a resolution explains a difference, it does not
  remove it from the bank or the books; a break matched by hand in this run is in its group
  instead;
- a record from a dataset other than the run's two was carried in from an earlier run
  (last month's outstanding cheque): a reconciling item, never part of this period's books.

The bank's closing balance comes from the statements stored with the run's statement dataset
(on or before the date), unless a person gives it; the books' opening balance is given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pyarrow as pa
from sqlalchemy import func, select

from core.accounts import load_aliases
from core.banking.brs import BankReconciliation, bank_reconciliation_statement
from core.domain.accounts import account_label, accounts_by_key, resolve_account_key
from core.domain.findings import RowError
from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import Break, DatasetRecord, MatchGroup, MatchItem, Run, StatementRecord

__all__ = ["SavedRunResult", "run_accounts", "run_as_of", "run_statements", "saved_run_reconciliation", "saved_run_result"]

_MATCHED = ("confirmed", "proposed")


class SavedRunResult(NamedTuple):
    """A saved run's results as the statement reads them: ``result_items`` and ``result_breaks`` in ``con``."""

    con: duckdb.DuckDBPyConnection


def saved_run_result(store: Store, run_id: int) -> SavedRunResult:
    """The run's matched records (``result_items``) and open records (``result_breaks``) now, in a new DuckDB.

    Amounts keep the scale of the run's datasets; ``carried_from`` is set on a record of a
    dataset other than the run's two (carried in from an earlier run).
    """
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise ValueError(f"there is no run {run_id}")
        own = (run.internal_dataset_id, run.external_dataset_id)
        scale = max([2] + [d.amount_scale for d in session.scalars(select(DatasetRecord).where(DatasetRecord.id.in_(own)))])
        groups = session.execute(select(MatchGroup.id, MatchGroup.match_id, MatchGroup.status, MatchGroup.rule)
                                 .where(MatchGroup.run_id == run_id)).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.dataset_id, MatchItem.record_id, MatchItem.account,
                                       MatchItem.date, MatchItem.amount, MatchItem.currency)
                                .where(MatchItem.run_id == run_id)).all()
        breaks = session.execute(select(Break.side, Break.dataset_id, Break.record_id, Break.account, Break.date, Break.amount,
                                        Break.currency, Break.reference, Break.status)
                                 .where(Break.run_id == run_id)).all()
    money = pa.decimal128(18, 6)
    con = duckdb.connect()
    match_of = {g.id: g.match_id for g in groups}
    manual = {g.id for g in groups if g.rule == "manual"}
    by_hand = {(i.side, i.dataset_id, i.record_id) for i in items if i.group_id in manual}
    status_of = {g.id: g.status for g in groups}
    con.register("store_groups", pa.table({"match_id": pa.array([g.match_id for g in groups], pa.int32()),
                                           "status": pa.array([g.status for g in groups], pa.string())}))
    con.register("store_items", pa.table({
        "match_id": pa.array([match_of[i.group_id] for i in items], pa.int32()),
        "status": pa.array([status_of[i.group_id] for i in items], pa.string()),
        "side": pa.array([i.side for i in items], pa.string()),
        "dataset_id": pa.array([i.dataset_id for i in items], pa.string()),
        "record_id": pa.array([i.record_id for i in items], pa.string()),
        "account": pa.array([i.account for i in items], pa.string()),
        "date": pa.array([i.date for i in items], pa.date32()),
        "amount": pa.array([i.amount for i in items], money),
        "currency": pa.array([i.currency for i in items], pa.string())}))
    kept = [b for b in breaks if not (b.status == "matched" and (b.side, b.dataset_id, b.record_id) in by_hand)]
    con.register("store_breaks", pa.table({
        "side": pa.array([b.side for b in kept], pa.string()),
        "dataset_id": pa.array([b.dataset_id for b in kept], pa.string()),
        "record_id": pa.array([b.record_id for b in kept], pa.string()),
        "account": pa.array([b.account for b in kept], pa.string()),
        "date": pa.array([b.date for b in kept], pa.date32()),
        "amount": pa.array([b.amount for b in kept], money),
        "currency": pa.array([b.currency for b in kept], pa.string()),
        "reference": pa.array([b.reference for b in kept], pa.string())}))
    con.register("store_references", pa.table({
        "side": pa.array([b.side for b in breaks], pa.string()),
        "record_id": pa.array([b.record_id for b in breaks], pa.string()),
        "reference": pa.array([b.reference for b in breaks], pa.string())}))
    folder = run_folder(store.data_dir, run_id)
    amount = f"CAST(amount AS DECIMAL(18, {min(scale, 6)}))"
    carried = "CASE WHEN dataset_id IN ({}) THEN NULL ELSE 1 END".format(", ".join("'" + d.replace("'", "''") + "'" for d in own))
    if (folder / "items.parquet").exists():
        engine = f"""
            SELECT i.match_id, i.side, i.record_id, i.account, i.date, i.amount, i.currency, i.reference, i.dataset_id, g.status
            FROM read_parquet({sql_path(folder / 'items.parquet')}) i JOIN read_parquet({sql_path(folder / 'groups.parquet')}) g USING (match_id)
            WHERE g.status IN ('confirmed', 'proposed') AND i.match_id NOT IN (SELECT match_id FROM store_groups)"""
        references = (f"SELECT side, record_id, reference FROM read_parquet({sql_path(folder / 'items.parquet')}) "
                      "UNION ALL SELECT side, record_id, reference FROM store_references")
    else:
        engine = ("SELECT match_id, side, record_id, account, date, amount, currency, '' AS reference, dataset_id, status "
                  "FROM store_items WHERE false")
        references = "SELECT side, record_id, reference FROM store_references"
    con.execute(f"""
        CREATE TABLE result_items AS
        WITH refs AS (SELECT side, record_id, any_value(reference) AS reference FROM ({references}) GROUP BY ALL),
        every AS (
            {engine}
            UNION ALL
            SELECT s.match_id, s.side, s.record_id, s.account, s.date, s.amount, s.currency, coalesce(r.reference, '') AS reference,
                   s.dataset_id, s.status
            FROM store_items s LEFT JOIN refs r USING (side, record_id)
            WHERE s.status IN ({', '.join(f"'{s}'" for s in _MATCHED)})
        )
        SELECT match_id, side, record_id, account, date, {amount} AS amount, currency, reference, dataset_id,
               CAST({carried} AS BIGINT) AS carried_from, status
        FROM every ORDER BY match_id, side = 'external', record_id
    """)
    con.execute(f"""
        CREATE TABLE result_breaks AS
        SELECT side, record_id, account, date, {amount} AS amount, currency, reference, dataset_id, CAST({carried} AS BIGINT) AS carried_from
        FROM store_breaks ORDER BY side = 'external', account, date, record_id
    """)
    for name in ("store_groups", "store_items", "store_breaks", "store_references"):
        con.unregister(name)
    return SavedRunResult(con)


def run_accounts(store: Store, run_id: int) -> dict[str, str]:
    """The accounts of a saved run: key (after the aliases) -> label (its most common spelling), in order of label."""
    con = saved_run_result(store, run_id).con
    spellings = dict(con.execute("SELECT account, count(*) FROM (SELECT account FROM result_items UNION ALL "
                                 "SELECT account FROM result_breaks) WHERE account IS NOT NULL GROUP BY account").fetchall())
    labels = {key: account_label(texts) for key, texts in accounts_by_key(spellings, load_aliases(store)).items()}
    return dict(sorted(labels.items(), key=lambda item: (item[1], item[0])))


def run_statements(store: Store, run_id: int) -> list[StatementRecord]:
    """The statements stored with the run's statement (external) dataset."""
    with store.session() as session:
        run = session.get(Run, run_id)
        return list(session.scalars(select(StatementRecord).where(StatementRecord.dataset_id == run.external_dataset_id)
                                    .order_by(StatementRecord.id)))


def run_as_of(store: Store, run_id: int) -> dt.date | None:
    """The date a run's statement is naturally drawn up to: the end of its period, else the end of
    the latest statement stored with its statement dataset, else that dataset's last record date."""
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None or run.period_to is not None:
            return None if run is None else run.period_to
        ended = session.scalar(select(func.max(StatementRecord.period_to)).where(StatementRecord.dataset_id == run.external_dataset_id))
        return ended or session.scalar(select(DatasetRecord.date_to).where(DatasetRecord.id == run.external_dataset_id))


def saved_run_reconciliation(store: Store, run_id: int, as_of: dt.date, *, bank_closings: Mapping[str, Decimal] | None = None,
                             book_openings: Mapping[str, Decimal] | None = None, account: str | None = None,
                             ) -> tuple[BankReconciliation | None, list[RowError]]:
    """The bank reconciliation statement of a saved run's accounts, as of a date, with the decisions taken since.

    Args:
        bank_closings: account -> the bank's balance given by a person (replaces the statements').
        book_openings: account -> the books' opening balance (0 when not given).
        account: only this account (any of its spellings; by key after the aliases); every
            account of the run when ``None``.

    Returns:
        As :func:`core.banking.brs.bank_reconciliation_statement`.
    """
    with store.session() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise ValueError(f"there is no run {run_id}")
        names = dict(session.execute(select(DatasetRecord.id, DatasetRecord.name)
                                     .where(DatasetRecord.id.in_((run.internal_dataset_id, run.external_dataset_id)))).all())
        books, statement = names.get(run.internal_dataset_id, "books"), names.get(run.external_dataset_id, "statement")
    aliases = load_aliases(store)
    result = saved_run_result(store, run_id)
    statements = run_statements(store, run_id)
    if account is not None:
        wanted = resolve_account_key(account, aliases)
        statements = [s for s in statements if s.account and resolve_account_key(s.account, aliases) == wanted]
        texts = [row[0] for row in result.con.execute("SELECT DISTINCT account FROM result_items UNION SELECT DISTINCT account "
                                                      "FROM result_breaks").fetchall() if row[0] is not None]
        result.con.register("brs_kept", pa.table({"text": pa.array([t for t in texts if resolve_account_key(t, aliases) == wanted],
                                                                   pa.string())}))
        for table in ("result_items", "result_breaks"):
            result.con.execute(f"DELETE FROM {table} WHERE account IS NULL OR account NOT IN (SELECT text FROM brs_kept)")
        result.con.unregister("brs_kept")
    return bank_reconciliation_statement(result, as_of, statements=statements, bank_closings=bank_closings, book_openings=book_openings,
                                         books=books, statement=statement, aliases=aliases)
