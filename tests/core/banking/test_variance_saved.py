"""The variance of stored datasets reads each account's unexplained difference from the bank
reconciliation statement of the newest saved run covering the month, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

from core.banking.alerts import list_alerts
from core.banking.variance import SavedUnexplained, unexplained_of_saved_runs, variance_of_datasets
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.runs.reconcile import reconcile_datasets
from core.store.models import StatementRecord

BOOKS = b"""id,account,date,amount,currency,reference
b1,OPS-1,2026-10-05,100.00,USD,INV-1
"""
# The bank took a fee of 30.00 the books do not hold: the books come to 70.00 with it.
BANK = b"""id,account,date,amount,currency,reference
s1,OPS-1,2026-10-05,100.00,USD,INV-1
s2,OPS-1,2026-10-20,-30.00,USD,FEE
"""


def bank_with_closing(store, name: str, closing: str):
    dataset = import_bytes(store, BANK, name)[0].dataset
    with store.session() as session:
        session.add(StatementRecord(dataset_id=dataset.id, account="OPS-1", currency="USD", number="10", period_from=dt.date(2026, 10, 1),
                                    period_to=dt.date(2026, 10, 31), opening=Decimal("0.00"), closing=Decimal(closing), entry_count=2,
                                    content_sha256=name.ljust(64, "0"), difference=None, gap=None))
    return dataset


def test_the_unexplained_difference_comes_from_the_newest_run_covering_the_month(store):
    books = import_bytes(store, BOOKS, "books.csv")[0].dataset
    bank = bank_with_closing(store, "bank.csv", "1070.00")
    whole = reconcile_datasets(store, books, bank, load_rules(), "").run
    found, errors = unexplained_of_saved_runs(store, ["2026-09", "2026-10"], ["OPS1"])
    assert errors == []
    # 1,070.00 at the bank against 100.00 in the books less the fee they lack: 1,000.00 unexplained. September holds no record.
    assert found == {("OPS1", "2026-10"): SavedUnexplained(Decimal("1000.00"), whole.id, dt.date(2026, 10, 31))}

    # A newer run of the first half of October covers it too, and is taken: on the 15th the bank's 100.00 is the books'.
    half = reconcile_datasets(store, books, bank, load_rules(), "", date_to=dt.date(2026, 10, 15)).run
    # The newest run of all covers November only: it says nothing of October.
    reconcile_datasets(store, books, bank, load_rules(), "", date_from=dt.date(2026, 11, 1), date_to=dt.date(2026, 11, 30))
    found, errors = unexplained_of_saved_runs(store, ["2026-10"], ["OPS1"])
    assert errors == []
    assert found == {("OPS1", "2026-10"): SavedUnexplained(Decimal("0.00"), half.id, dt.date(2026, 10, 15))}

    report, errors = variance_of_datasets(store, [bank])
    assert errors == []
    assert [(r.account, r.month, r.unexplained) for r in report.rows] == [("OPS-1", "2026-10", Decimal("0.00"))]
    assert report.unexplained_from == {("OPS-1", "2026-10"): found["OPS1", "2026-10"]}


def test_a_statement_that_cannot_be_made_is_said_beside_the_report(store):
    books = import_bytes(store, BOOKS, "books.csv")[0].dataset
    bank = import_bytes(store, BANK, "bank.csv")[0].dataset  # no statement balance kept with it
    run = reconcile_datasets(store, books, bank, load_rules(), "").run
    report, errors = variance_of_datasets(store, [bank])
    assert [r.unexplained for r in report.rows] == [None]
    assert [e.message.split(":")[0] for e in errors] == [f"run {run.id} as of 2026-10-31"]


def test_an_unexplained_difference_past_the_threshold_is_alerted(store):
    books = import_bytes(store, BOOKS, "books.csv")[0].dataset
    bank = bank_with_closing(store, "bank.csv", "1070.01")
    reconcile_datasets(store, books, bank, load_rules(), "")
    variance_of_datasets(store, [bank])
    assert [(a.kind, a.account, a.period, a.amount) for a in list_alerts(store)] == [
        ("unexplained_difference", "OPS-1", "2026-10", Decimal("1000.01"))]
