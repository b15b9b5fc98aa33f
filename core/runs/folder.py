"""The run folder: where a reconciliation run keeps what the engine produced.

``data/runs/<run id>/`` holds ``groups.parquet``, ``items.parquet`` and ``breaks.parquet``.
This module is the only code that knows that layout; everything else asks it for paths,
and for those paths written into DuckDB SQL as quoted text.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

__all__ = ["RUN_FILES", "all_runs_items", "confirmed_items_sql", "copy_query", "register_group_statuses", "run_folder",
           "run_id_from_path_sql", "runs_root", "sql_path"]

RUN_FILES = ("groups.parquet", "items.parquet", "breaks.parquet")


def runs_root(data_dir: Path) -> Path:
    """The folder that holds every run's folder."""
    return data_dir / "runs"


def run_folder(data_dir: Path, run_id: int) -> Path:
    """The folder of one run: ``<data_dir>/runs/<run_id>``."""
    return runs_root(data_dir) / str(int(run_id))


def all_runs_items(data_dir: Path) -> list[Path]:
    """Every run's ``items.parquet`` (the members of its groups), in order of path."""
    return sorted(runs_root(data_dir).glob("*/items.parquet"))


def confirmed_items_sql(files: list[Path], decided: str) -> str:
    """DuckDB SQL for the records of runs' groups that stand confirmed now, from runs' ``items.parquet`` ``files``.

    A group's status in the store overrides the engine's: ``decided`` names a table of
    ``run_id, match_id, status`` (the store's groups), so a proposed group approved since is
    confirmed, and a confirmed group undone is not. Columns: the items' own, ``run_id`` and
    ``reference`` (empty when the files have none).
    """
    groups = ", ".join(sql_path(f.with_name("groups.parquet")) for f in files)
    items = ", ".join(sql_path(f) for f in files)
    return f"""
        SELECT i.* EXCLUDE (filename), {run_id_from_path_sql('i.filename')} AS run_id
        FROM read_parquet([{items}], filename = true, union_by_name = true) i
        JOIN (SELECT match_id, status, {run_id_from_path_sql('filename')} AS run_id
              FROM read_parquet([{groups}], filename = true, union_by_name = true)) g
          ON g.run_id = {run_id_from_path_sql('i.filename')} AND g.match_id = i.match_id
        LEFT JOIN {decided} d ON d.run_id = g.run_id AND d.match_id = g.match_id
        WHERE coalesce(d.status, g.status) = 'confirmed'
    """


def register_group_statuses(con, rows) -> None:
    """Register in ``con`` the table ``decided`` (``run_id, match_id, status``) of the store's groups, for :func:`confirmed_items_sql`."""
    rows = list(rows)
    con.register("decided", pa.table({"run_id": pa.array([r.run_id for r in rows], pa.int32()),
                                      "match_id": pa.array([r.match_id for r in rows], pa.int32()),
                                      "status": pa.array([r.status for r in rows], pa.string())}))


def run_id_from_path_sql(column: str) -> str:
    """DuckDB SQL for the run id in a path (a ``filename`` column of ``read_parquet``) under the runs folder."""
    return rf"CAST(regexp_extract({column}, '[\\/]runs[\\/]([0-9]+)[\\/][^\\/]+$', 1) AS INTEGER)"


def sql_path(path: Path) -> str:
    """A path as a quoted SQL string literal (its single quotes doubled), for ``read_parquet`` and ``COPY``."""
    return "'" + str(path).replace("'", "''") + "'"


def copy_query(con, query: str, target: Path, options: str) -> None:
    """Write a DuckDB query's rows to ``target`` (``options``: DuckDB's COPY options, such as ``FORMAT parquet``)."""
    con.execute(f"COPY ({query}) TO {sql_path(target)} ({options})")
