"""Runs as the pages list them: the latest runs, a run's figures per account, a dataset's accounts."""

from __future__ import annotations

import duckdb
import pandas as pd
from sqlalchemy import select

from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import DatasetRecord, Run

__all__ = ["dataset_accounts", "recent_runs", "run_account_summary"]


def recent_runs(store: Store, limit: int = 50) -> list[Run]:
    with store.session() as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def run_account_summary(store: Store, run_id: int) -> pd.DataFrame:
    """Per account of a run: records matched and open on each side, from the run's files.

    The amounts are exact ``Decimal`` values (through Arrow: DuckDB's own frames make them floats).
    """
    folder = run_folder(store.data_dir, run_id)
    con = duckdb.connect()
    return con.sql(f"""
        WITH m AS (SELECT account, side, count(*) AS n, sum(amount) AS amount
                   FROM read_parquet({sql_path(folder / 'items.parquet')}) GROUP BY ALL),
             b AS (SELECT account, side, count(*) AS n, sum(amount) AS amount
                   FROM read_parquet({sql_path(folder / 'breaks.parquet')}) GROUP BY ALL)
        SELECT coalesce(m.account, b.account) AS account, coalesce(m.side, b.side) AS side,
               coalesce(m.n, 0) AS matched, coalesce(b.n, 0) AS open,
               coalesce(m.amount, 0) AS matched_amount, coalesce(b.amount, 0) AS open_amount
        FROM m FULL JOIN b ON m.account = b.account AND m.side = b.side
        ORDER BY 1, 2
    """).to_arrow_table().to_pandas()


def dataset_accounts(store: Store, dataset: DatasetRecord) -> list[str]:
    con = duckdb.connect()
    path = store.data_dir / dataset.parquet_path
    return [row[0] for row in con.execute(f"SELECT DISTINCT account FROM read_parquet({sql_path(path)}) ORDER BY 1").fetchall()]

