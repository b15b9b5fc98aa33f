"""The books' side from MongoDB: the roll-up runs inside the database (mongomock here, and a
real server too when MONGODB_TEST_URI is set)."""

import datetime as dt
import os
import uuid
from decimal import Decimal

import mongomock
import pytest
from bson.decimal128 import Decimal128

from connectors.sources.mongodb import MongoBooks
from core.holdings import read_internal_from_books, reconcile_holdings, write_results_to_books

AS_OF = dt.date(2026, 10, 31)


def clients():
    yield "mongomock", mongomock.MongoClient()
    if os.environ.get("MONGODB_TEST_URI"):
        import pymongo

        yield "mongodb", pymongo.MongoClient(os.environ["MONGODB_TEST_URI"], serverSelectionTimeoutMS=5000)


@pytest.fixture(params=[name for name, _ in clients()])
def database(request):
    client = dict(clients())[request.param]
    name = f"recon_test_{uuid.uuid4().hex[:8]}"
    yield client[name]
    client.drop_database(name)


def txn(folio, product, kind, day, units, field="transaction_date"):
    return {"folio_no": folio, "product_code": product, "scheme_name": f"Scheme {product}", "transaction_type": kind,
            field: dt.datetime.combine(day, dt.time(10)), "units": Decimal128(units)}


def test_positions_are_rolled_up_in_the_database_as_of_a_date(database):
    database.txns.insert_many([
        txn("1001", "HDFCEQ", "BUY", dt.date(2026, 9, 1), "100.1234"),
        txn("1001", "HDFCEQ", "sell", dt.date(2026, 10, 5), "20.0001", field="trade_date"),
        txn("1001", "HDFCEQ", "BUY", dt.date(2026, 11, 2), "5"),
        txn("2002", "ICICI", "SWITCH_IN", dt.date(2026, 10, 1), "50.5"),
        txn("2002", "ICICI", "SWITCH_IN_REVERSAL", dt.date(2026, 10, 2), "0.5"),
        txn("3003", "SBI", "BUY", AS_OF, "7.25"),
    ])
    positions, errors = read_internal_from_books(MongoBooks(database.txns), AS_OF)
    assert errors == []
    assert {k: (v.units, v.product_name) for k, v in positions.items()} == {
        ("1001", "HDFCEQ"): (Decimal("80.1233"), "Scheme HDFCEQ"),
        ("2002", "ICICI"): (Decimal("50.0"), "Scheme ICICI"),
        ("3003", "SBI"): (Decimal("7.25"), "Scheme SBI"),
    }


def test_unknown_transaction_types_are_named(database):
    database.txns.insert_many([txn("1001", "A", "GIFT", dt.date(2026, 9, 1), "1")])
    _, errors = read_internal_from_books(MongoBooks(database.txns), AS_OF)
    assert "folio 1001, product A: 1 transaction(s) of a type that is not known" in errors[0].message


def test_results_are_written_to_a_collection_with_exact_units(database):
    database.txns.insert_many([txn("1001", "A", "BUY", dt.date(2026, 9, 1), "10.0005")])
    positions, _ = read_internal_from_books(MongoBooks(database.txns), AS_OF)
    rows = reconcile_holdings(positions, [("CAMS", {})])
    assert write_results_to_books(MongoBooks(database.txns, database.results), rows, AS_OF) == 1
    assert write_results_to_books(MongoBooks(database.txns, database.results), rows, AS_OF) == 1
    stored = list(database.results.find({}, {"_id": 0}))
    assert len(stored) == 1 and stored[0]["status"] == "internal_only"
    assert stored[0]["internal_units"].to_decimal() == Decimal("10.0005")
