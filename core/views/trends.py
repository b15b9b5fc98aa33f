"""Trends for managers: per account, over the completed runs, what each run left open and how much it matched.

Each run is read from its own files, as the engine wrote them: the breaks it left open (count
and money: the sum of their absolute amounts, per currency) and its match rate, the share of the
account's records the run put in a confirmed group. A proposed group is not a match: its records
count as not matched until a person confirms it, which the run's figures do not see.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pandas as pd
from sqlalchemy import select

from core.accounts import load_aliases
from core.domain.accounts import account_label, accounts_by_key, resolve_account_key
from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import Run

__all__ = ["TREND_COLUMNS", "account_trends"]

TREND_COLUMNS = ["run", "started", "account", "currency", "open_breaks", "open_amount", "matched_records", "records", "match_rate"]


def account_trends(store: Store, last_runs: int = 50) -> pd.DataFrame:
    """One row per account and currency of each of the last ``last_runs`` completed runs, oldest first.

    Columns: ``run``, ``started``, ``account`` (label after the aliases), ``currency``, ``open_breaks``,
    ``open_amount`` (exact ``Decimal``), ``matched_records`` (in confirmed groups), ``records`` and
    ``match_rate`` (matched over records, 0 to 1; a float, for charts).
    """
    with store.session() as session:
        runs = list(session.execute(select(Run.id, Run.started_at).where(Run.status == "completed")
                                    .order_by(Run.id.desc()).limit(last_runs)).all())
    runs.reverse()
    con = duckdb.connect()
    rows = []
    for run_id, started in runs:
        folder = run_folder(store.data_dir, run_id)
        if not all((folder / name).exists() for name in ("items.parquet", "groups.parquet", "breaks.parquet")):
            continue
        items, groups, breaks = (sql_path(folder / name) for name in ("items.parquet", "groups.parquet", "breaks.parquet"))
        figures = con.execute(f"""
            WITH matched AS (SELECT i.account, i.currency, count(*) AS n FROM read_parquet({items}) i
                             JOIN read_parquet({groups}) g USING (match_id) WHERE g.status = 'confirmed' GROUP BY ALL),
                 everything AS (SELECT account, currency, count(*) AS n FROM (
                                    SELECT account, currency FROM read_parquet({items})
                                    UNION ALL SELECT account, currency FROM read_parquet({breaks})) GROUP BY ALL),
                 open AS (SELECT account, currency, count(*) AS n, sum(abs(amount)) AS amount FROM read_parquet({breaks}) GROUP BY ALL)
            SELECT e.account, e.currency, coalesce(o.n, 0), coalesce(o.amount, 0), coalesce(m.n, 0), e.n
            FROM everything e LEFT JOIN matched m USING (account, currency) LEFT JOIN open o USING (account, currency)
            WHERE e.account IS NOT NULL""").fetchall()
        rows.extend((run_id, started, *f) for f in figures)
    aliases = load_aliases(store)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row[2]] = counts.get(row[2], 0) + row[7]
    labels = {key: account_label(spellings) for key, spellings in accounts_by_key(counts, aliases).items()}
    merged: dict[tuple, list] = {}
    for run_id, started, account, currency, open_n, open_amount, matched, records in rows:
        key = (run_id, labels[resolve_account_key(account, aliases)], currency)
        entry = merged.setdefault(key, [started, 0, Decimal(0), 0, 0])
        entry[1] += open_n
        entry[2] += Decimal(str(open_amount))
        entry[3] += matched
        entry[4] += records
    return pd.DataFrame([{"run": run_id, "started": e[0], "account": label, "currency": currency, "open_breaks": e[1],
                          "open_amount": e[2], "matched_records": e[3], "records": e[4],
                          "match_rate": e[3] / e[4] if e[4] else 0.0}
                         for (run_id, label, currency), e in merged.items()], columns=TREND_COLUMNS)
