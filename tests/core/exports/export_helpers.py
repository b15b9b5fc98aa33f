"""Datasets for export tests, written straight to Parquet and registered in the store (any size,
any text, leading blanks kept), and a moto S3 server on loopback."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from core.store.models import DatasetRecord

SCHEMA = pa.schema([("id", pa.string()), ("account", pa.string()), ("date", pa.date32()), ("amount", pa.decimal128(18, 2)),
                    ("currency", pa.string()), ("reference", pa.string()), ("description", pa.string())])


def rows_table(count: int, *, start: int = 0, accounts=("ACC-1", "ACC-2"), description=None) -> pa.Table:
    """``count`` transactions: ids ``r<n>``, accounts in turn, dates through October, amounts n.nn (odd ones negative)."""
    numbers = range(start, start + count)
    return pa.table({
        "id": [f"r{n}" for n in numbers],
        "account": [accounts[n % len(accounts)] for n in numbers],
        "date": [dt.date(2026, 10, 1) + dt.timedelta(days=n % 31) for n in numbers],
        "amount": [Decimal(n).scaleb(-2) * (-1 if n % 2 else 1) for n in numbers],
        "currency": ["EUR"] * count,
        "reference": [f"REF-{n:08d}" for n in numbers],
        "description": [description(n) if description else f"payment number {n} for services rendered" for n in numbers],
    }, schema=SCHEMA)


def add_dataset(store, table: pa.Table, name: str = "rows.parquet") -> str:
    """Register ``table`` as a dataset (as an import would), returning its id."""
    folder = store.data_dir / "datasets"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.tmp"
    pq.write_table(table, temporary)
    digest = hashlib.sha256(temporary.read_bytes()).hexdigest()
    target = folder / f"{digest}.parquet"
    temporary.replace(target)
    dates = table.column("date").to_pylist()
    with store.session() as session:
        session.add(DatasetRecord(id=digest, name=name, format="csv", profile=None, row_count=table.num_rows,
                                  account_count=len(set(table.column("account").to_pylist())), date_from=min(dates, default=None),
                                  date_to=max(dates, default=None), amount_scale=2, columns=table.column_names, warnings=[],
                                  parquet_path=str(target.relative_to(store.data_dir)), created_by="test"))
    return digest
