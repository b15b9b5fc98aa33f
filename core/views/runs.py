"""Runs as the pages list them: the latest runs, a run's figures per account, a dataset's accounts.

Accounts are grouped by key after the aliases (:mod:`core.domain.accounts`) and shown by label,
their most common spelling.
"""

from __future__ import annotations

from collections import Counter

import duckdb
import pandas as pd
import pyarrow as pa
from sqlalchemy import select

from core.accounts import known_accounts, load_aliases
from core.domain.accounts import account_label, accounts_by_key, resolve_account_key

from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import DatasetRecord, Run

__all__ = ["dataset_accounts", "recent_runs", "run_account_summary"]


def recent_runs(store: Store, limit: int = 50) -> list[Run]:
    with store.session() as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def run_account_summary(store: Store, run_id: int) -> pd.DataFrame:
    """Per account (by key, shown by label) of a run: records matched and open on each side, from the run's files.

    The amounts are exact ``Decimal`` values (through Arrow: DuckDB's own frames make them floats).
    """
    folder = run_folder(store.data_dir, run_id)
    con = duckdb.connect()
    items, breaks = (sql_path(folder / name) for name in ("items.parquet", "breaks.parquet"))
    counts = Counter(dict(con.execute(f"""
        SELECT account, count(*) FROM (SELECT account FROM read_parquet({items}) UNION ALL SELECT account FROM read_parquet({breaks}))
        WHERE account IS NOT NULL GROUP BY account""").fetchall()))
    aliases = load_aliases(store)
    grouped = accounts_by_key(counts, aliases)
    labels = {key: account_label(spellings) for key, spellings in grouped.items()}
    con.register("_accounts", pa.table({"account": pa.array(list(counts), pa.string()),
                                        "account_key": pa.array([resolve_account_key(t, aliases) for t in counts], pa.string()),
                                        "label": pa.array([labels[resolve_account_key(t, aliases)] for t in counts], pa.string())}))
    return con.sql(f"""
        WITH m AS (SELECT a.account_key, any_value(a.label) AS label, side, count(*) AS n, sum(amount) AS amount
                   FROM read_parquet({items}) JOIN _accounts a USING (account) GROUP BY ALL),
             b AS (SELECT a.account_key, any_value(a.label) AS label, side, count(*) AS n, sum(amount) AS amount
                   FROM read_parquet({breaks}) JOIN _accounts a USING (account) GROUP BY ALL)
        SELECT coalesce(m.label, b.label) AS account, coalesce(m.side, b.side) AS side,
               coalesce(m.n, 0) AS matched, coalesce(b.n, 0) AS open,
               coalesce(m.amount, 0) AS matched_amount, coalesce(b.amount, 0) AS open_amount,
               coalesce(m.account_key, b.account_key) AS account_key
        FROM m FULL JOIN b ON m.account_key = b.account_key AND m.side = b.side
        ORDER BY 1, 2
    """).to_arrow_table().to_pandas()


def dataset_accounts(store: Store, dataset: DatasetRecord) -> dict[str, str]:
    """A dataset's accounts: key (after the aliases) -> label (the spelling most of its records use), in order of label."""
    found = known_accounts(store, [dataset])
    return {a.key: a.label for a in sorted(found, key=lambda a: (a.label, a.key))}
