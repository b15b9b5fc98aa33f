"""Reconciliation runs: two datasets and a rule set through the engine, and what is kept.

A run keeps everything the engine produced, as Parquet under ``data/runs/<run id>/``
(groups, their members, breaks), and puts into the database what people act on: the run
itself, its breaks, and its proposed groups. All of it lands together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import select

from core.matching.engine import MatchResult, match_tables
from core.matching.rules import RuleSet
from core.store import Store, bulk_insert, record_audit
from core.store.models import Break, DatasetRecord, MatchGroup, MatchItem, Run

__all__ = ["RunOutcome", "reconcile_datasets", "write_match_outputs"]


class RunOutcome(NamedTuple):
    run: Run
    result: MatchResult


def _source(store: Store, dataset: DatasetRecord, accounts: list[str] | None, date_from, date_to) -> str:
    path = str(store.data_dir / dataset.parquet_path).replace("'", "''")
    filters = []
    if accounts:
        filters.append("account IN (" + ", ".join("'" + a.replace("'", "''") + "'" for a in accounts) + ")")
    if date_from:
        filters.append(f"date >= DATE '{date_from.isoformat()}'")
    if date_to:
        filters.append(f"date <= DATE '{date_to.isoformat()}'")
    where = f" WHERE {' AND '.join(filters)}" if filters else ""
    return f"(SELECT * FROM read_parquet('{path}'){where})"


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
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count() or 1}")
    started = dt.datetime.now(dt.UTC)
    result = match_tables(_source(store, internal, accounts, date_from, date_to),
                          _source(store, external, accounts, date_from, date_to), rules, con)
    run = Run(internal_dataset_id=internal.id, external_dataset_id=external.id, rules_name=rules.name, rules_sha256=rules.sha256(),
              rules_text=rules_text, accounts=sorted(accounts or []), period_from=date_from, period_to=date_to, status="completed",
              summary=result.summary, started_at=started, finished_at=dt.datetime.now(dt.UTC), created_by=user)
    folder = None
    try:
        with store.session() as session:
            session.add(run)
            session.flush()
            folder = store.data_dir / "runs" / str(run.id)
            _write_artifacts(result, folder)
            _save_breaks(session, run, internal, external, result)
            _save_proposed(session, run, internal, external, result)
            record_audit(session, user, "reconcile", "run", str(run.id), None,
                         {"internal": internal.id, "external": external.id, "rules": rules.name, "groups": result.summary["groups"]})
    except BaseException:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    return RunOutcome(run, result)


def _write_artifacts(result: MatchResult, folder: Path) -> None:
    temporary = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    pq.write_table(result.groups, temporary / "groups.parquet")
    pq.write_table(result.items, temporary / "items.parquet")
    pq.write_table(result.breaks, temporary / "breaks.parquet")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(temporary, folder)


def _save_breaks(session, run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> None:
    datasets = {"internal": internal.id, "external": external.id}
    columns = result.breaks.to_pydict()
    rows = (
        dict(run_id=run.id, side=side, dataset_id=datasets[side], record_id=record_id, account=account, date=date, amount=amount,
             currency=currency, reference=reference[:512], description=description, reason=reason, status="open", first_seen_on=date)
        for side, record_id, account, date, amount, currency, reference, description, reason in zip(
            columns["side"], columns["record_id"], columns["account"], columns["date"], columns["amount"], columns["currency"],
            columns["reference"], columns["description"], columns["reason"])
    )
    bulk_insert(session, Break, rows)


def _save_proposed(session, run: Run, internal: DatasetRecord, external: DatasetRecord, result: MatchResult) -> None:
    groups = [g for g in result.groups.to_pylist() if g["status"] == "proposed"]
    if not groups:
        return
    bulk_insert(session, MatchGroup, (dict(run_id=run.id, match_id=g["match_id"], rule=g["rule"], status="proposed",
                                           amount_diff=g["amount_diff"], days_diff=g["days_diff"], explanation=g["explanation"])
                                      for g in groups))
    ids = dict(session.execute(select(MatchGroup.match_id, MatchGroup.id).where(MatchGroup.run_id == run.id)).all())
    datasets = {"internal": internal.id, "external": external.id}
    items = result.items.filter(_in(result.items.column("match_id"), list(ids))).to_pylist()
    bulk_insert(session, MatchItem, (dict(group_id=ids[i["match_id"]], run_id=run.id, side=i["side"], dataset_id=datasets[i["side"]],
                                          record_id=i["record_id"], account=i["account"], date=i["date"], amount=i["amount"],
                                          currency=i["currency"]) for i in items))


def _in(column, values):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pc.is_in(column, value_set=pa.array(values, type=column.type))


def write_match_outputs(result: MatchResult, folder: Path) -> None:
    """Write ``matches.csv``, ``breaks.csv`` and ``summary.json`` (the CLI contract).

    Files are written under temporary names and renamed, so a folder never holds half a
    result. Identical inputs and rules give byte-identical files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.register("groups", result.groups)
    con.register("items", result.items)
    con.register("breaks", result.breaks)
    outputs = {
        "matches.csv": """SELECT i.match_id, i.side, i.record_id, g.rule, g.status, g.amount_diff, g.days_diff
                          FROM items i JOIN groups g USING (match_id)
                          ORDER BY i.match_id, i.side = 'external', i.record_id""",
        "breaks.csv": """SELECT side, record_id, account, strftime(date, '%Y-%m-%d') AS date, amount, reason
                         FROM breaks ORDER BY side = 'external', account, date, record_id""",
    }
    written = []
    try:
        for name, query in outputs.items():
            temporary = folder / f".{name}.tmp"
            con.execute(f"COPY ({query}) TO '{str(temporary).replace(chr(39), chr(39) * 2)}' (FORMAT csv, HEADER true)")
            written.append((temporary, folder / name))
        temporary = folder / ".summary.json.tmp"
        temporary.write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append((temporary, folder / "summary.json"))
        for temporary, target in written:
            os.replace(temporary, target)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
