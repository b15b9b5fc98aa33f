"""Datasets: identity by content hash, Parquet storage, a metadata row and an audit entry."""

import datetime as dt
from decimal import Decimal

import pyarrow.parquet as pq
from sqlalchemy import select

from core.ingest.datasets import content_sha256, import_bytes, list_datasets, load_dataset_table
from core.store.models import AuditEntry

DATA = b"Date;Account;Amount;Currency;Reference\n01.03.2024;A1;1.234,56;EUR;R1\n02.03.2024;A2;-0,01;EUR;R2\n"


def test_same_file_twice_is_the_same_dataset_not_double_rows(store):
    first, errors = import_bytes(store, DATA, "march.csv")
    assert errors == [] and first.created
    second, errors = import_bytes(store, DATA, "renamed.csv")
    assert errors == [] and not second.created
    assert second.dataset.id == first.dataset.id == content_sha256(DATA)
    assert "already imported" in second.warnings[0]
    assert [d.id for d in list_datasets(store)] == [first.dataset.id]


def test_dataset_is_stored_as_parquet_with_exact_decimals_and_metadata(store):
    outcome, _ = import_bytes(store, DATA, "march.csv", user="ana")
    record = outcome.dataset
    path = store.data_dir / record.parquet_path
    assert path.exists() and path.suffix == ".parquet"
    schema = pq.read_schema(path)
    assert str(schema.field("amount").type) == "decimal128(18, 2)"
    table = load_dataset_table(store, record.id)
    assert table.column("amount").to_pylist() == [Decimal("1234.56"), Decimal("-0.01")]
    assert (record.row_count, record.account_count, record.date_from, record.date_to) == (2, 2, dt.date(2024, 3, 1), dt.date(2024, 3, 2))
    assert (record.format, record.created_by, record.amount_scale) == ("csv", "ana", 2)
    stored = list_datasets(store)[0]
    assert stored.columns[:4] == ["id", "account", "date", "amount"]


def test_import_is_recorded_in_the_audit_log(store):
    outcome, _ = import_bytes(store, DATA, "march.csv", user="ana")
    with store.session() as session:
        entries = session.scalars(select(AuditEntry)).all()
    assert [(e.actor, e.action, e.entity_type, e.entity_id) for e in entries] == [("ana", "import", "dataset", outcome.dataset.id)]
    assert entries[0].after["rows"] == 2


def test_a_failed_parquet_write_leaves_no_file_and_no_dataset(store, monkeypatch):
    import pyarrow.parquet
    import pytest

    write_table = pyarrow.parquet.write_table

    def fails_once_written(table, where, **options):
        write_table(table, where, **options)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pyarrow.parquet, "write_table", fails_once_written)
    with pytest.raises(OSError, match="No space left"):
        import_bytes(store, DATA, "march.csv")
    assert list((store.data_dir / "datasets").iterdir()) == [] and list_datasets(store) == []


def test_a_file_of_daily_statements_continues_the_store_from_its_first_statement(store):
    """The second statement of a file continues the first one in the file, not the store's last."""
    from tests.statement_samples import MT940

    september = b""":20:STARTUMSE
:25:DE89370400440532013000
:28C:00011/001
:60F:C260930EUR900,00
:61:2609300930CR100,00NTRFNONREF//B0
:86:Opening deposit
:62F:C260930EUR1000,00
-
"""
    outcome, errors = import_bytes(store, september, "september.sta")
    assert errors == [] and outcome.dataset.row_count == 1
    outcome, errors = import_bytes(store, MT940, "october.sta")
    assert errors == [] and outcome.dataset.row_count == 4
