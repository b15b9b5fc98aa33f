"""Reconciliation runs: two datasets and a rule set through the engine, and what is kept.

A run keeps everything the engine produced, as Parquet under ``data/runs/<run id>/``
(groups, their members, breaks), and puts into the database what people act on: the run
itself, its breaks, and its proposed groups. All of it lands together or not at all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib
import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import duckdb
from sqlalchemy import select, update

from core import config
from core.atomic import publish, replace_atomically, temporary_path
from core.datasets import stage_file
from core.exports import neutralised_sql
from core.matching.engine import MatchResult, match_tables
from core.matching.rules import RuleSet
from core.store import Store, bulk_insert_text, record_audit
from core.records import RowError
from core.store.models import Break, DatasetRecord, MatchGroup, MatchItem, Run

__all__ = ["RunOutcome", "reconcile_datasets", "reconcile_files", "write_match_outputs"]


class RunOutcome(NamedTuple):
    run: Run
    result: MatchResult


_LOCKED_OPEN_REASONS = ("rejected_proposal", "unmatched_by_user")


def _source(store: Store, dataset: DatasetRecord, accounts: list[str] | None, date_from, date_to, side: str) -> str:
    """A dataset's rows in scope, less records a person already decided on, plus carried items."""
    path = str(store.data_dir / dataset.parquet_path).replace("'", "''")
    filters = [f"id NOT IN (SELECT record_id FROM locked WHERE dataset_id = '{dataset.id}')"]
    if accounts:
        filters.append("account IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in accounts) + ")")
    if date_from:
        filters.append(f"date >= DATE '{date_from.isoformat()}'")
    if date_to:
        filters.append(f"date <= DATE '{date_to.isoformat()}'")
    rows = (f"SELECT *, '{dataset.id}' AS dataset_id, CAST(NULL AS BIGINT) AS carried_from, CAST(NULL AS DATE) AS first_seen_on "
            f"FROM read_parquet('{path}') WHERE {' AND '.join(filters)}")
    carried = ("SELECT record_id AS id, account, date, amount, currency, reference, description, '' AS counterparty, "
               "CAST(NULL AS DATE) AS trade_date, CAST(NULL AS DATE) AS entry_date, '' AS type, dataset_id, "
               f"carried_from, first_seen_on FROM carried WHERE side = '{side}'")
    columns = ("id, account, date, amount, currency, reference, description, counterparty, trade_date, entry_date, type, "
               "dataset_id, carried_from, first_seen_on")
    return f"(SELECT {columns} FROM ({rows}) UNION ALL BY NAME SELECT {columns} FROM ({carried}))"


def _carry_forward(store: Store, internal: DatasetRecord, external: DatasetRecord, accounts: list[str] | None, con) -> list[Break]:
    """Register in ``con`` what a new run takes from earlier ones, and return the breaks it replaces.

    - ``locked``: records of this run's datasets a person decided on (resolved, matched by
      hand or approved, rejected or unmatched, or waiting for an approver): never re-matched.
    - ``carried``: open breaks of each account's latest run, from other datasets, that go
      into the matching again (an outstanding cheque of last month clears this month), keeping
      the day they first appeared.
    Records rejected or unmatched by a person are carried as open breaks without matching.
    """
    import pyarrow as pa
    from sqlalchemy import func, or_

    from core.store.models import MatchGroup, MatchItem

    run_datasets = [internal.id, external.id]
    with store.session() as session:
        decided_breaks = session.execute(
            select(Break.dataset_id, Break.record_id).where(
                Break.dataset_id.in_(run_datasets),
                or_(Break.status.in_(("resolved", "matched")), Break.pending_decision_id.is_not(None),
                    (Break.status == "open") & Break.reason.in_(_LOCKED_OPEN_REASONS)))).all()
        decided_groups = session.execute(
            select(MatchItem.dataset_id, MatchItem.record_id).join(MatchGroup, MatchGroup.id == MatchItem.group_id)
            .where(MatchItem.dataset_id.in_(run_datasets), or_(MatchGroup.status == "confirmed", MatchGroup.status == "unmatched",
                                                               MatchGroup.status == "rejected"))).all()
        latest = (select(Break.account, func.max(Break.run_id).label("run_id")).group_by(Break.account))
        if accounts:
            latest = latest.where(Break.account.in_(accounts))
        latest = latest.subquery()
        previous = session.scalars(
            select(Break).join(latest, (latest.c.account == Break.account) & (latest.c.run_id == Break.run_id))
            .where(Break.status == "open", Break.pending_decision_id.is_(None))).all()
    locked = {(d, r) for d, r in decided_breaks} | {(d, r) for d, r in decided_groups}
    carried = [b for b in previous if b.dataset_id not in run_datasets or b.reason in _LOCKED_OPEN_REASONS]
    con.register("locked", pa.table({"dataset_id": pa.array([d for d, _ in locked], pa.string()),
                                     "record_id": pa.array([r for _, r in locked], pa.string())}))
    matchable = [b for b in carried if b.reason not in _LOCKED_OPEN_REASONS]
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


def reconcile_files(store: Store, internal: Path, external: Path, rules: RuleSet, rules_text: str, *,
                    user: str = "system", out: Path | None = None, ahead=None) -> tuple[RunOutcome | None, list[RowError]]:
    """Import two files (or find them already imported), match them and save the run.

    This is the command line's path: both files are read once into one DuckDB database,
    the engine works on those tables, and the datasets' Parquet files are written
    alongside. Nothing of the run is saved unless both files import cleanly.

    Args:
        out: a folder for ``matches.csv``, ``breaks.csv`` and ``summary.json``, written
            alongside the saving and moved into place once the run is committed.
        ahead: a ``core.canonical_csv.ReadAhead`` of the two files, started before the
            caller's imports: the run works in its database.

    Returns:
        ``(RunOutcome | None, errors)``: the errors of both files, together.
    """
    started = dt.datetime.now(dt.UTC)
    # DuckDB imports pandas the first time it is handed an Arrow table, which the engine
    # does; importing it here, while DuckDB reads the files, takes that off the critical path.
    threading.Thread(target=importlib.import_module, args=("pandas",), daemon=True).start()
    con = ahead.con if ahead is not None else duckdb.connect(config=config.duckdb_settings())
    errors: list[RowError] = []
    staged = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        digests = {"internal": pool.submit(_file_sha256, internal), "external": pool.submit(_file_sha256, external)}
        books, statement = digests["internal"].result(), digests["external"].result()
        if isinstance(books, str) and books == statement:
            same = "is the same file as" if internal.resolve() == external.resolve() else "has the same content as"
            return None, [RowError(external.name, None, None, None,
                                   f"{same} the books ({internal.name}): a file cannot be reconciled against itself")]
        for side, path in (("internal", internal), ("external", external)):
            found, problems = stage_file(store, path, digests[side], con, f"source_{side}", pool, user=user, ahead=ahead)
            errors += problems
            if found is not None:
                staged[side] = found

        def wait_until_stored() -> None:
            for found in staged.values():
                if found.pending is not None:
                    found.pending.result()

        if errors:
            wait_until_stored()
            return None, errors

        def release_sources() -> None:
            # Once the datasets are stored and the engine holds its copies, the tables go.
            wait_until_stored()
            for side in staged:
                con.execute(f"DROP TABLE source_{side}")

        result = match_tables("source_internal", "source_external", rules, con, loaded=release_sources)
    run = _save_run(store, staged["internal"].dataset, staged["external"].dataset, rules, rules_text, result,
                    accounts=None, date_from=None, date_to=None, user=user, started=started, out=out)
    return RunOutcome(run, result), []


def _file_sha256(path: Path) -> str | RowError:
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as exc:
        return RowError(path.name, None, None, None, f"cannot read the file ({exc.strerror or exc})")


def reconcile_datasets(store: Store, internal: DatasetRecord, external: DatasetRecord, rules: RuleSet, rules_text: str, *,
                       accounts: list[str] | None = None, date_from: dt.date | None = None, date_to: dt.date | None = None,
                       user: str = "system") -> RunOutcome:
    """Match the books (``internal``) against a statement (``external``) and save the run.

    Args:
        accounts: only these accounts; all when ``None``.
        date_from, date_to: only records dated within (inclusive).
        rules_text: the rule set's TOML as given, kept with the run.

    Returns:
        The saved run and the engine's result.
    """
    started = dt.datetime.now(dt.UTC)
    con = duckdb.connect(config=config.duckdb_settings())
    previous = _carry_forward(store, internal, external, accounts, con)
    result = match_tables(_source(store, internal, accounts, date_from, date_to, "internal"),
                          _source(store, external, accounts, date_from, date_to, "external"), rules, con)
    run = _save_run(store, internal, external, rules, rules_text, result, accounts=accounts, date_from=date_from,
                    date_to=date_to, user=user, started=started, previous=previous)
    return RunOutcome(run, result)


def _save_run(store: Store, internal: DatasetRecord, external: DatasetRecord, rules: RuleSet, rules_text: str,
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
            folder = store.data_dir / "runs" / str(run.id)
            # The breaks are read before the files are written, which would hold DuckDB's threads.
            breaks = _break_rows(run, internal, external, result)
            writes = [pool.submit(_write_artifacts, result, folder)]
            if out is not None:
                writes.append(pool.submit(_write_outputs, result, out, outputs))
            bulk_insert_text(session, Break, _BREAK_COLUMNS, breaks)
            _save_proposed(session, run, internal, external, result)
            _settle_previous(session, run, previous, result, user)
            record_audit(session, user, "reconcile", "run", str(run.id), None,
                         {"internal": internal.id, "external": external.id, "rules": rules.name, "groups": result.summary["groups"]})
            for write in writes:
                write.result()
        _publish_outputs(outputs)
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        for temporary, _ in outputs:
            temporary.unlink(missing_ok=True)
    return run


def _copy(con, query: str, target: Path, options: str) -> None:
    con.execute(f"COPY ({query}) TO '{str(target).replace(chr(39), chr(39) * 2)}' ({options})")


def _write_artifacts(result: MatchResult, folder: Path) -> None:
    """The run's Parquet files, built in a folder beside ``folder`` that is renamed to it whole."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(folder) as temporary:
        temporary.mkdir()
        cursor = result.con.cursor()
        try:
            # result_groups is in order of match_id already.
            _copy(cursor, "SELECT * FROM result_groups", temporary / "groups.parquet", "FORMAT parquet")
            _copy(cursor, "SELECT * EXCLUDE (k, carried_from, rule, status, amount_diff, days_diff) FROM result_items",
                  temporary / "items.parquet", "FORMAT parquet")
            _copy(cursor, "SELECT * EXCLUDE (k, carried_from) FROM result_breaks", temporary / "breaks.parquet", "FORMAT parquet")
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
        if row.reason in _LOCKED_OPEN_REASONS:
            session.add(Break(run_id=run.id, side=row.side, dataset_id=row.dataset_id, record_id=row.record_id, account=row.account,
                              date=row.date, amount=row.amount, currency=row.currency, reference=row.reference,
                              description=row.description, reason=row.reason, status="open", first_seen_on=row.first_seen_on,
                              carried_from_id=row.id, version=1))
        session.execute(update(Break).where(Break.id == row.id).values(
            status="matched" if row.id in matched else "carried", version=Break.version + 1, updated_by=user,
            updated_at=dt.datetime.now(dt.UTC)))
    record_audit(session, user, "carry_forward", "run", str(run.id), None,
                 {"cleared": sorted(matched), "carried": sorted(r.id for r in previous if r.id not in matched)})


def _dataset_of(prefix: str, internal: DatasetRecord, external: DatasetRecord) -> str:
    """SQL for a result row's dataset: its own (a carried record's), else its side's in the run."""
    return f"coalesce({prefix}dataset_id, CASE {prefix}side WHEN 'internal' THEN '{internal.id}' ELSE '{external.id}' END)"


_BREAK_COLUMNS = ["run_id", "side", "dataset_id", "record_id", "account", "date", "amount", "currency", "reference", "description",
                  "reason", "status", "first_seen_on", "carried_from_id"]


def _break_rows(run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> list[tuple]:
    """The run's breaks as rows of ``_BREAK_COLUMNS``, in the database's text form."""
    return result.con.execute(f"""
        SELECT {run.id}, side, {_dataset_of('', internal, external)},
               record_id, account, strftime(date, '%Y-%m-%d'), CAST(amount AS VARCHAR), currency, left(reference, 512), description,
               reason, 'open', strftime(coalesce(first_seen_on, date), '%Y-%m-%d'), carried_from
        FROM result_breaks
    """).fetchall()


def _save_proposed(session, run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> None:
    """The proposed groups and their records, read from DuckDB as database-ready rows."""
    import pyarrow as pa

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
                   {_dataset_of('i.', internal, external)},
                   i.record_id, i.account, strftime(i.date, '%Y-%m-%d'), CAST(i.amount AS VARCHAR), i.currency
            FROM result_items i JOIN _group_ids g USING (match_id)
            WHERE i.status = 'proposed'
            ORDER BY i.match_id, i.side, i.record_id
        """).fetchall()
    finally:
        con.unregister("_group_ids")
    bulk_insert_text(session, MatchItem, ["group_id", "run_id", "side", "dataset_id", "record_id", "account", "date", "amount", "currency"],
                     items)


_OUTPUTS = {
    # result_items is in this order already (match, book records first, then k). Text that comes from the
    # files or the rule set is neutralised as every export is (core.exports).
    "matches.csv": f"""SELECT match_id, side, {neutralised_sql('record_id')} AS record_id, {neutralised_sql('rule')} AS rule,
                              status, amount_diff, days_diff FROM result_items""",
    "breaks.csv": f"""SELECT side, {neutralised_sql('record_id')} AS record_id, {neutralised_sql('account')} AS account,
                             strftime(date, '%Y-%m-%d') AS date, amount, reason
                      FROM result_breaks""",  # in order of side, account, date and k already
}


def _write_outputs(result: MatchResult, folder: Path, written: list[tuple[Path, Path]]) -> None:
    """Write the command line's files under temporary names, listing them in ``written``, summary.json last."""
    folder.mkdir(parents=True, exist_ok=True)
    cursor = result.con.cursor()
    try:
        for name, query in _OUTPUTS.items():
            temporary = temporary_path(folder / name)
            written.append((temporary, folder / name))
            _copy(cursor, query, temporary, "FORMAT csv, HEADER true")
    finally:
        cursor.close()
    temporary = temporary_path(folder / "summary.json")
    written.append((temporary, folder / "summary.json"))
    temporary.write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _publish_outputs(written: list[tuple[Path, Path]]) -> None:
    """Rename the written files into place, ``summary.json`` last.

    Each file is replaced whole. A set is replaced file by file, so the previous
    ``summary.json`` goes first: a folder that holds a ``summary.json`` holds one run's
    whole set, and one without it, a set still being (or never finished being) replaced.
    """
    if not written:
        return
    (*files, (summary, summary_target)) = written
    summary_target.unlink(missing_ok=True)
    for temporary, target in files:
        publish(temporary, target)
    publish(summary, summary_target)


def write_match_outputs(result: MatchResult, folder: Path) -> None:
    """Write ``matches.csv``, ``breaks.csv`` and ``summary.json`` (the CLI contract).

    Files are written under temporary names and renamed, ``summary.json`` last, so a folder
    with a ``summary.json`` never holds half a result. Identical inputs and rules give
    byte-identical files.
    """
    written: list[tuple[Path, Path]] = []
    try:
        _write_outputs(result, folder, written)
        _publish_outputs(written)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
