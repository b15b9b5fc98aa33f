"""Benchmark: an export of N transactions to CSV and to Parquet, against pandas ``to_csv``.

    python benchmarks/export_bench.py --rows 10000000 [--pandas-rows N]

Generates, in DuckDB, one dataset of N canonical transactions (ids, two accounts, dates through
a month, amounts as DECIMAL(18, 2), a reference and a description of about 40 characters, every
1000th description starting with ``=``) as a Parquet file in a fresh data folder, registers it
as a dataset, then in this process:

- ``export_now`` of the transactions to CSV, then to Parquet (the code ``python -m core export``
  and the worker run: DuckDB streams the rows, text neutralised);
- pandas: ``read_parquet`` of the same file and ``DataFrame.to_csv`` (no neutralising), on
  ``--pandas-rows`` rows (default: all N).

For each: wall seconds and the peak resident memory above the process's memory when the step
began (sampled from /proc every 20 ms, so DuckDB's and Arrow's buffers count too; ``tracemalloc``
would miss them and slows pandas' Python loops several times over). Checks that the CSV holds N
rows and that its formula-like descriptions were neutralised.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.exports.requests import ExportRequest, export_now  # noqa: E402
from core.store import open_store  # noqa: E402
from core.store.models import DatasetRecord  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * PAGE


class PeakMemory:
    """The highest resident memory while the block runs, above what it was when it began."""

    def __enter__(self):
        self.start = self.peak = resident_bytes()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.began = time.perf_counter()
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, resident_bytes())

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.began
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, resident_bytes())

    def line(self, label: str) -> str:
        return f"{label:<44} {self.seconds:8.1f} s   peak RSS +{(self.peak - self.start) / 2**20:7.0f} MiB"


def generate(path: Path, rows: int) -> None:
    con = duckdb.connect()
    con.execute(f"""
        COPY (SELECT 'r' || i AS id,
                     CASE WHEN i % 2 = 0 THEN 'ACC-0001' ELSE 'ACC-0002' END AS account,
                     DATE '2026-10-01' + CAST(i % 31 AS INTEGER) AS date,
                     CAST((i % 1000000) * (CASE WHEN i % 3 = 0 THEN -1 ELSE 1 END) AS DECIMAL(18, 2)) / 100 AS amount,
                     'EUR' AS currency,
                     'REF-' || lpad(CAST(i AS VARCHAR), 10, '0') AS reference,
                     CASE WHEN i % 1000 = 0 THEN '=HYPERLINK("http://x/' || i || '")'
                          ELSE 'supplier payment ' || i || ' for services rendered' END AS description
              FROM range({rows}) t(i))
        TO '{path}' (FORMAT parquet, COMPRESSION zstd)
    """)
    con.close()


def register(store, path: Path, rows: int) -> None:
    digest = hashlib.sha256(f"{path}:{rows}".encode()).hexdigest()
    target = store.data_dir / "datasets" / f"{digest}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    path.replace(target)
    with store.session() as session:
        session.add(DatasetRecord(id=digest, name="bench.parquet", format="parquet", profile=None, row_count=rows, account_count=2,
                                  date_from=None, date_to=None, amount_scale=2, columns=[], warnings=[],
                                  parquet_path=str(target.relative_to(store.data_dir)), created_by="bench"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--pandas-rows", type=int, help="rows for the pandas baseline (default: all)")
    args = parser.parse_args()
    pandas_rows = args.pandas_rows or args.rows
    with tempfile.TemporaryDirectory(prefix="export-bench-") as folder:
        folder = Path(folder)
        store = open_store(f"sqlite:///{folder / 'recon.db'}", folder / "data")
        started = time.perf_counter()
        generate(folder / "bench.parquet", args.rows)
        register(store, folder / "bench.parquet", args.rows)
        print(f"{args.rows:,} rows generated in {time.perf_counter() - started:.1f} s")

        with PeakMemory() as csv_run:
            _, csv_view = export_now(store, ExportRequest("transactions", format="csv"), actor="bench")
        assert csv_view.status == "COMPLETED" and csv_view.row_count == args.rows, csv_view
        print(csv_run.line("export CSV (DuckDB COPY)"), f"  {csv_view.file_size / 2**20:,.0f} MiB")
        with PeakMemory() as parquet_run:
            _, parquet_view = export_now(store, ExportRequest("transactions", format="parquet"), actor="bench")
        assert parquet_view.status == "COMPLETED" and parquet_view.row_count == args.rows, parquet_view
        print(parquet_run.line("export Parquet (DuckDB COPY)"), f"  {parquet_view.file_size / 2**20:,.0f} MiB")
        check = duckdb.connect()
        neutralised = check.execute(f"SELECT count(*) FILTER (WHERE description LIKE '''=%'), count(*) "
                                    f"FROM read_csv('{csv_view.location}', all_varchar = true)").fetchone()
        assert neutralised == (len(range(0, args.rows, 1000)), args.rows), neutralised
        check.close()

        import pandas as pd

        dataset = next((store.data_dir / "datasets").glob("*.parquet"))
        with PeakMemory() as pandas_run:
            frame = pd.read_parquet(dataset)
            if pandas_rows < len(frame):
                frame = frame.head(pandas_rows)
            read_seconds = time.perf_counter() - pandas_run.began
            frame.to_csv(folder / "pandas.csv", index=False)
        print(pandas_run.line(f"pandas read_parquet + to_csv ({pandas_rows:,})"),
              f"  (to_csv alone {pandas_run.seconds - read_seconds:.1f} s)")
        print(f"CSV: ours {csv_run.seconds:.1f} s against pandas {pandas_run.seconds - read_seconds:.1f} s for to_csv alone"
              + ("" if pandas_rows == args.rows else f" on {pandas_rows:,} rows"))


if __name__ == "__main__":
    main()
