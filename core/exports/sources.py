"""What each kind of export reads, and the version of that data a request's identity carries.

- ``transactions``: the canonical rows of the imported datasets (their Parquet files, read by
  DuckDB), of one dataset when ``dataset_id`` is given; accounts and dates filter the rows.
- ``breaks``: the breaks of the run asked for, else of the latest completed run (that has
  breaks of the accounts asked for).
- ``matches``: the matched records of that run, one row per record in a group (the long form
  of ``match --out``), in the state people left them.
- ``journals``: the general ledger's journal lines with their journal; accounts are GL accounts.
- ``brs``: the bank reconciliation statements prepared and signed off, one row per line.

Accounts are compared as written. Rows kept in the store are first copied, a batch at a time,
to a temporary Parquet file, so every kind is written by DuckDB from Parquet with bounded memory.
The data version changes whenever what an export would hold could change: the dataset hashes
for transactions, the run and its rows' versions for breaks and matches, the counts and
highest ids (and statuses) for journals and statements.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import case, func, select

from core.runs.folder import run_folder
from core.store import Store
from core.store.models import Break, DatasetRecord, Journal, JournalLine, MatchGroup, MatchItem, ReconciliationSignOff, Run

__all__ = ["data_version", "stage_source"]

_BATCH = 50_000
MONEY = pa.decimal128(28, 6)


def _error(message: str):
    from core.exports.requests import ExportError

    return ExportError(message)


def data_version(store: Store, request: dict) -> str:
    """A short text that changes whenever the rows the request reads could change."""
    kind = request["kind"]
    with store.session() as session:
        if kind == "transactions":
            ids = [record.id for record in _datasets(session, request)]
            return "datasets:" + hashlib.sha256(",".join(sorted(ids)).encode()).hexdigest()
        if kind in ("breaks", "matches"):
            run = _latest_run(session, request)
            model = Break if kind == "breaks" else MatchGroup
            count, versions = session.execute(select(func.count(model.id), func.coalesce(func.sum(model.version), 0))
                                              .where(model.run_id == run)).one()
            return f"run:{run}:{count}:{versions}"
        if kind == "journals":
            journals = session.execute(select(func.count(Journal.id), func.coalesce(func.max(Journal.id), 0),
                                              func.coalesce(func.sum(case((Journal.status == "posted", Journal.id), else_=0)), 0),
                                              func.coalesce(func.sum(case((Journal.status == "reversed", Journal.id), else_=0)), 0))).one()
            lines = session.execute(select(func.count(JournalLine.id), func.coalesce(func.max(JournalLine.id), 0))).one()
            return "journals:" + ":".join(str(v) for v in (*journals, *lines))
        signoffs = session.execute(select(func.count(ReconciliationSignOff.id), func.coalesce(func.max(ReconciliationSignOff.id), 0),
                                          func.coalesce(func.sum(case((ReconciliationSignOff.status == "signed_off",
                                                                       ReconciliationSignOff.id), else_=0)), 0),
                                          func.coalesce(func.sum(case((ReconciliationSignOff.status == "superseded",
                                                                       ReconciliationSignOff.id), else_=0)), 0))).one()
        return "brs:" + ":".join(str(v) for v in signoffs)


def _datasets(session, request: dict) -> list[DatasetRecord]:
    if request.get("dataset_id"):
        record = session.get(DatasetRecord, request["dataset_id"])
        if record is None:
            raise _error(f"no dataset {request['dataset_id']!r}")
        return [record]
    records = list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at, DatasetRecord.id)))
    if not records:
        raise _error("nothing to export: no dataset has been imported")
    return records


def _latest_run(session, request: dict) -> int:
    """The run asked for, else the latest completed run; with accounts asked for, the latest
    holding a break or match of one."""
    if request.get("run_id") is not None:
        status = session.scalar(select(Run.status).where(Run.id == request["run_id"]))
        if status != "completed":
            raise _error(f"no completed reconciliation run {request['run_id']}")
        return request["run_id"]
    query = select(Run.id).where(Run.status == "completed").order_by(Run.id.desc())
    if request["accounts"]:
        model = Break if request["kind"] == "breaks" else MatchItem
        query = query.where(select(model.id).where(model.run_id == Run.id, model.account.in_(request["accounts"])).exists())
    run = session.scalars(query.limit(1)).first()
    if run is None:
        accounts = f" for {', '.join(request['accounts'])}" if request["accounts"] else ""
        raise _error(f"nothing to export: no completed reconciliation run{accounts}")
    return run


def stage_source(store: Store, request: dict, folder: Path) -> tuple[str, list[str]]:
    """Where DuckDB reads the request's rows: a ``read_parquet`` of the dataset files, or of a
    Parquet file written into ``folder`` from the store, and the WHERE conditions for the request.

    Returns:
        The FROM clause and the conditions (SQL text, values quoted).
    """
    kind = request["kind"]
    if kind == "transactions":
        with store.session() as session:
            paths = [str(store.data_dir / record.parquet_path) for record in _datasets(session, request)]
        source = f"read_parquet([{', '.join(_literal(p) for p in paths)}], union_by_name = true)"
        return source, _conditions(request, "account", "date")
    target = folder / f"{kind}.parquet"
    if kind in ("breaks", "matches"):
        with store.session() as session:
            run = _latest_run(session, request)
        if kind == "matches":
            return _stage_matches(store, run, folder), _conditions(request, "account", "date")
        _stage_breaks(store, run, target)
        return f"read_parquet({_literal(str(target))})", _conditions(request, "account", "date")
    if kind == "journals":
        _stage_journals(store, target)
        return f"read_parquet({_literal(str(target))})", _conditions(request, "gl_account", "date")
    _stage_statements(store, target)
    return f"read_parquet({_literal(str(target))})", _conditions(request, "account", "as_of")


def _conditions(request: dict, account_column: str, date_column: str) -> list[str]:
    conditions = []
    if request["accounts"]:
        conditions.append(f'"{account_column}" IN ({", ".join(_literal(a) for a in request["accounts"])})')
    if request.get("date_from"):
        conditions.append(f'"{date_column}" >= DATE {_literal(request["date_from"])}')
    if request.get("date_to"):
        conditions.append(f'"{date_column}" <= DATE {_literal(request["date_to"])}')
    return conditions


def _literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _stage(store: Store, query, schema: pa.Schema, target: Path, convert=None) -> None:
    """Copy a query's rows into a Parquet file a batch at a time (never all of them in memory)."""
    with store.engine.connect() as connection, pq.ParquetWriter(target, schema) as writer:
        result = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
        for rows in result.partitions(_BATCH):
            columns = list(zip(*rows)) if rows else [[] for _ in schema]
            if convert:
                columns = convert(columns)
            writer.write_batch(pa.record_batch([pa.array(list(c), type=f.type) for c, f in zip(columns, schema)], schema=schema))


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


def _stage_breaks(store: Store, run: int, target: Path) -> None:
    query = (select(Break.id, Break.run_id, Break.side, Break.account, Break.date, Break.amount, Break.currency, Break.reference,
                    Break.description, Break.reason, Break.status, Break.resolution, Break.first_seen_on, Break.record_id,
                    Break.dataset_id)
             .where(Break.run_id == run).order_by(Break.id))
    schema = _schema(("break_id", pa.int64()), ("run_id", pa.int64()), ("side", pa.string()), ("account", pa.string()),
                     ("date", pa.date32()), ("amount", MONEY), ("currency", pa.string()), ("reference", pa.string()),
                     ("description", pa.string()), ("reason", pa.string()), ("status", pa.string()), ("resolution", pa.string()),
                     ("first_seen_on", pa.date32()), ("record_id", pa.string()), ("dataset_id", pa.string()))
    _stage(store, query, schema, target)


def _stage_matches(store: Store, run: int, folder: Path) -> str:
    """The run's matched records: the engine's groups from the run folder, each in the state the
    store gives it now (approved, undone), and the groups made by hand, from the store."""
    groups = _schema(("match_id", pa.int64()), ("rule", pa.string()), ("status", pa.string()), ("amount_diff", MONEY),
                     ("days_diff", pa.int64()))
    _stage(store, select(MatchGroup.match_id, MatchGroup.rule, MatchGroup.status, MatchGroup.amount_diff, MatchGroup.days_diff)
           .where(MatchGroup.run_id == run).order_by(MatchGroup.match_id), groups, folder / "store_groups.parquet")
    items = _schema(("match_id", pa.int64()), ("side", pa.string()), ("record_id", pa.string()), ("account", pa.string()),
                    ("date", pa.date32()), ("amount", MONEY), ("currency", pa.string()), ("dataset_id", pa.string()))
    _stage(store, select(MatchGroup.match_id, MatchItem.side, MatchItem.record_id, MatchItem.account, MatchItem.date, MatchItem.amount,
                         MatchItem.currency, MatchItem.dataset_id)
           .join(MatchGroup, MatchGroup.id == MatchItem.group_id).where(MatchItem.run_id == run), items, folder / "store_items.parquet")
    stored_groups, stored_items = _literal(str(folder / "store_groups.parquet")), _literal(str(folder / "store_items.parquet"))
    columns = "match_id, side, record_id, rule, status, amount_diff, days_diff, account, date, amount, currency, dataset_id"
    stored = f"""SELECT {columns} FROM read_parquet({stored_items}) i JOIN read_parquet({stored_groups}) g USING (match_id)"""
    run_files = run_folder(store.data_dir, run)
    if (run_files / "items.parquet").exists() and (run_files / "groups.parquet").exists():
        engine = f"""SELECT {columns} FROM read_parquet({_literal(str(run_files / 'items.parquet'))}) i
                     JOIN read_parquet({_literal(str(run_files / 'groups.parquet'))}) g USING (match_id)
                     WHERE match_id NOT IN (SELECT match_id FROM read_parquet({stored_groups}))"""
        stored = f"{engine} UNION ALL BY NAME {stored}"
    return f"(SELECT {run} AS run_id, * FROM ({stored}) ORDER BY match_id, side, record_id) AS matches"


def _stage_journals(store: Store, target: Path) -> None:
    import json

    query = (select(Journal.id, Journal.date, Journal.status, Journal.source, Journal.description, JournalLine.line_no,
                    JournalLine.gl_account, JournalLine.debit, JournalLine.credit, JournalLine.currency, JournalLine.dimensions,
                    JournalLine.description, Journal.dataset_id, Journal.record_id, Journal.reverses_id, Journal.posted_by,
                    Journal.posted_at)
             .join(JournalLine, JournalLine.journal_id == Journal.id).order_by(Journal.id, JournalLine.line_no))
    schema = _schema(("journal_id", pa.int64()), ("date", pa.date32()), ("status", pa.string()), ("source", pa.string()),
                     ("journal_description", pa.string()), ("line_no", pa.int64()), ("gl_account", pa.string()),
                     ("debit", MONEY), ("credit", MONEY), ("currency", pa.string()), ("dimensions", pa.string()),
                     ("line_description", pa.string()), ("dataset_id", pa.string()), ("record_id", pa.string()),
                     ("reverses_id", pa.int64()), ("posted_by", pa.string()), ("posted_at", pa.timestamp("us", tz="UTC")))

    def convert(columns):
        columns[10] = [None if d is None else json.dumps(d if isinstance(d, dict) else json.loads(d), sort_keys=True)
                       for d in columns[10]]
        return columns

    _stage(store, query, schema, target, convert)


def _stage_statements(store: Store, target: Path) -> None:
    """One row per line of every prepared or signed-off statement (superseded ones left out)."""
    schema = _schema(("signoff_id", pa.int64()), ("account", pa.string()), ("as_of", pa.date32()), ("currency", pa.string()),
                     ("line", pa.string()), ("amount", MONEY), ("status", pa.string()), ("run_id", pa.int64()),
                     ("prepared_by", pa.string()), ("signed_by", pa.string()), ("signed_at", pa.timestamp("us", tz="UTC")))
    from decimal import Decimal

    query = (select(ReconciliationSignOff).where(ReconciliationSignOff.status != "superseded")
             .order_by(ReconciliationSignOff.account, ReconciliationSignOff.as_of, ReconciliationSignOff.id))
    with store.session() as session, pq.ParquetWriter(target, schema) as writer:
        rows = []
        for statement in session.scalars(query).yield_per(1000):
            for line, amount in statement.lines.items():
                rows.append((statement.id, statement.account, statement.as_of, statement.currency, line,
                             None if amount is None else Decimal(str(amount)), statement.status, statement.run_id,
                             statement.prepared_by, statement.signed_by, _utc(statement.signed_at)))
            if len(rows) >= _BATCH:
                writer.write_batch(_batch(rows, schema))
                rows = []
        writer.write_batch(_batch(rows, schema))


def _batch(rows: list[tuple], schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows)) if rows else [[] for _ in schema]
    return pa.record_batch([pa.array(list(c), type=f.type) for c, f in zip(columns, schema)], schema=schema)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment
