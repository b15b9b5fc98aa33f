"""Saving a run: the run, its breaks and proposed groups in the database, and the engine's
result as Parquet in the run folder; all of it lands together or not at all.
"""

from __future__ import annotations

import datetime as dt
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
from sqlalchemy import select, update

from core.atomic import replace_atomically
from core.matching.engine import MatchResult
from core.matching.rules import RuleSet
from core.runs.folder import copy_query, run_folder
from core.runs.outputs import publish_outputs, write_outputs
from core.runs.scope import LOCKED_OPEN_REASONS
from core.store import Store, bulk_insert_text, record_audit
from core.store.models import Break, DatasetRecord, MatchGroup, MatchItem, Run

__all__ = ["save_run"]


def save_run(store: Store, internal: DatasetRecord, external: DatasetRecord, rules: RuleSet, rules_text: str,
              result: MatchResult, *, accounts, date_from, date_to, user: str, started: dt.datetime, out: Path | None = None,
              previous: list[Break] = ()) -> Run:
    """Save the run, its breaks and proposed groups, and its Parquet files; all or nothing.

    DuckDB writes the Parquet files (and the command line's CSV files, when ``out`` is
    given) on background cursors while the rows go into the database; the CSV files are
    moved into place only once the run is committed.
    """
    run = Run(internal_dataset_id=internal.id, external_dataset_id=external.id, rules_name=rules.name, rules_sha256=rules.sha256(),
              rules_text=rules_text, accounts=sorted(accounts or []), period_from=date_from, period_to=date_to, status="completed",
              summary=result.summary, started_at=started, finished_at=dt.datetime.now(dt.UTC), created_by=user)
    folder = None
    outputs: list[tuple[Path, Path]] = []
    try:
        with store.session() as session, ThreadPoolExecutor(max_workers=2) as pool:
            session.add(run)
            session.flush()
            folder = run_folder(store.data_dir, run.id)
            # The breaks are read before the files are written, which would hold DuckDB's threads.
            breaks = _break_rows(run, internal, external, result)
            writes = [pool.submit(_write_artifacts, result, folder)]
            if out is not None:
                writes.append(pool.submit(write_outputs, result, out, outputs))
            bulk_insert_text(session, Break, _BREAK_COLUMNS, breaks)
            _save_proposed(session, run, internal, external, result)
            _settle_previous(session, run, previous, result, user)
            record_audit(session, user, "reconcile", "run", str(run.id), None,
                         {"internal": internal.id, "external": external.id, "rules": rules.name, "groups": result.summary["groups"]})
            for write in writes:
                write.result()
        publish_outputs(outputs)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        for temporary, _ in outputs:
            temporary.unlink(missing_ok=True)
    return run


def _write_artifacts(result: MatchResult, folder: Path) -> None:
    """The run's Parquet files, built in a folder beside ``folder`` that is renamed to it whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(folder) as temporary:
        temporary.mkdir()
        cursor = result.con.cursor()
        try:
            # result_groups is in order of match_id already.
            copy_query(cursor, "SELECT * FROM result_groups", temporary / "groups.parquet", "FORMAT parquet")
            copy_query(cursor, "SELECT * EXCLUDE (k, carried_from, rule, status, amount_diff, days_diff) FROM result_items",
                  temporary / "items.parquet", "FORMAT parquet")
            copy_query(cursor, "SELECT * EXCLUDE (k, carried_from) FROM result_breaks", temporary / "breaks.parquet", "FORMAT parquet")
        finally:
            cursor.close()
        # A folder of this id left by a run whose saving was rolled back (SQLite may give its id again).
        shutil.rmtree(folder, ignore_errors=True)


def _settle_previous(session, run: Run, previous: list[Break], result: MatchResult, user: str) -> None:
    """Earlier open breaks of the run's accounts give way to the new run.

    Those matched in it are cleared (``matched``); the others are ``carried``: the new run
    holds them now. Breaks rejected or unmatched by a person come along as open breaks.
    """
    if not previous:
        return
    matched = {row[0] for row in result.con.execute("SELECT carried_from FROM result_items WHERE carried_from IS NOT NULL").fetchall()}
    for row in previous:
        if row.reason in LOCKED_OPEN_REASONS:
            session.add(Break(run_id=run.id, side=row.side, dataset_id=row.dataset_id, record_id=row.record_id, account=row.account,
                              date=row.date, amount=row.amount, currency=row.currency, reference=row.reference,
                              description=row.description, reason=row.reason, status="open", first_seen_on=row.first_seen_on,
                              carried_from_id=row.id, version=1))
        session.execute(update(Break).where(Break.id == row.id).values(
            status="matched" if row.id in matched else "carried", version=Break.version + 1, updated_by=user,
            updated_at=dt.datetime.now(dt.UTC)))
    record_audit(session, user, "carry_forward", "run", str(run.id), None,
                 {"cleared": sorted(matched), "carried": sorted(r.id for r in previous if r.id not in matched)})


def _dataset_id_sql(prefix: str, internal: DatasetRecord, external: DatasetRecord) -> str:
    """SQL for a result row's dataset: its own (a carried record's), else its side's in the run."""
    return f"coalesce({prefix}dataset_id, CASE {prefix}side WHEN 'internal' THEN '{internal.id}' ELSE '{external.id}' END)"


_BREAK_COLUMNS = ["run_id", "side", "dataset_id", "record_id", "account", "date", "amount", "currency", "reference", "description",
                  "reason", "status", "first_seen_on", "carried_from_id"]


def _break_rows(run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> list[tuple]:
    """The run's breaks as rows of ``_BREAK_COLUMNS``, in the database's text form."""
    return result.con.execute(f"""
        SELECT {run.id}, side, {_dataset_id_sql('', internal, external)},
               record_id, account, strftime(date, '%Y-%m-%d'), CAST(amount AS VARCHAR), currency, left(reference, 512), description,
               reason, 'open', strftime(coalesce(first_seen_on, date), '%Y-%m-%d'), carried_from
        FROM result_breaks
    """).fetchall()


def _save_proposed(session, run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> None:
    """The proposed groups and their records, read from DuckDB as database-ready rows."""
    con = result.con
    con.register("_proposed", result.explained_groups("g.status = 'proposed'"))
    try:
        groups = con.execute(f"""
            SELECT {run.id}, match_id, rule, 'proposed', CAST(amount_diff AS VARCHAR), days_diff, explanation FROM _proposed
        """).fetchall()
    finally:
        con.unregister("_proposed")
    if not groups:
        return
    bulk_insert_text(session, MatchGroup, ["run_id", "match_id", "rule", "status", "amount_diff", "days_diff", "explanation"], groups)
    ids = session.execute(select(MatchGroup.match_id, MatchGroup.id).where(MatchGroup.run_id == run.id)).all()
    con.register("_group_ids", pa.table({"match_id": pa.array([m for m, _ in ids], pa.int32()),
                                         "group_id": pa.array([g for _, g in ids], pa.int64())}))
    try:
        items = con.execute(f"""
            SELECT g.group_id, {run.id}, i.side,
                   {_dataset_id_sql('i.', internal, external)},
                   i.record_id, i.account, strftime(i.date, '%Y-%m-%d'), CAST(i.amount AS VARCHAR), i.currency
            FROM result_items i JOIN _group_ids g USING (match_id)
            WHERE i.status = 'proposed'
            ORDER BY i.match_id, i.side, i.record_id
        """).fetchall()
    finally:
        con.unregister("_group_ids")
    bulk_insert_text(session, MatchItem, ["group_id", "run_id", "side", "dataset_id", "record_id", "account", "date", "amount", "currency"],
                     items)

