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


def test_run_holdings_rolls_up_the_books_database_keeps_the_run_and_writes_back(database, store, tmp_path):
    from sqlalchemy import select

    from core.holdings import run_holdings
    from core.store.models import HoldingsRun
    from tests.core.holdings.test_holdings import cams_transactions

    database.txns.insert_many([txn("1001/22", "HDFCEQ", "BUY", dt.date(2026, 9, 1), "100.1234"),
                               txn("1001/22", "HDFCEQ", "SELL", dt.date(2026, 10, 5), "20.0000"),
                               txn("2002/11", "ICICIBF", "SWITCH_IN", dt.date(2026, 10, 1), "50.0000")])
    books = MongoBooks(database.txns, database.results)
    outcome = run_holdings(store, books, [("WBR2.dbf", cams_transactions(tmp_path).read_bytes())], AS_OF, user="ana",
                           books_name="recon.txns", write_back=books)
    assert outcome.errors == []
    assert {(r.folio, r.product): (r.status, r.difference) for r in outcome.rows} == {
        ("1001/22", "HDFCEQ"): ("matched", Decimal("0.0000")), ("2002/11", "ICICIBF"): ("mismatched", Decimal("-0.5000")),
        ("3003/01", "SBISC"): ("registrar_only", Decimal("-12.0000"))}
    with store.session() as session:
        run = session.scalars(select(HoldingsRun)).one()
        assert (run.id, run.summary) == (outcome.run.id, {"matched": 1, "mismatched": 1, "registrar_only": 1})
    stored = {d["folio"]: d["difference"].to_decimal() for d in database.results.find({}, {"_id": 0})}
    assert stored == {"1001/22": Decimal("0.0000"), "2002/11": Decimal("-0.5000"), "3003/01": Decimal("-12.0000")}


def test_run_holdings_with_unknown_transaction_types_in_the_database_keeps_nothing(database, store, tmp_path):
    from core.holdings import run_holdings
    from tests.core.holdings.test_holdings import cams_transactions

    database.txns.insert_many([txn("1001", "A", "GIFT", dt.date(2026, 9, 1), "1")])
    books = MongoBooks(database.txns, database.results)
    outcome = run_holdings(store, books, [("WBR2.dbf", cams_transactions(tmp_path).read_bytes())], AS_OF, user="ana",
                           books_name="recon.txns", write_back=books)
    assert outcome.run is None and outcome.errors[0].file == "recon.txns" and "not known" in outcome.errors[0].message
    assert database.results.count_documents({}) == 0


@pytest.mark.parametrize("uri, collection, expected", [
    ("mongodb://127.0.0.1:1", "recon.transactions", "MongoDB: ServerSelectionTimeoutError"),
    ("mongodb://127.0.0.1:1", "transactions", "name the collection as database.collection"),
    ("http://127.0.0.1:1", "recon.transactions", "MongoDB: InvalidURI: Invalid URI scheme"),
])
def test_a_mongodb_that_cannot_be_reached_or_named_is_a_finding_and_nothing_is_kept(store, tmp_path, uri, collection, expected):
    from sqlalchemy import func, select

    from core.holdings import run_holdings_from_mongodb
    from core.store.models import HoldingsRun
    from tests.core.holdings.test_holdings import cams_transactions

    outcome = run_holdings_from_mongodb(store, uri, collection, [("WBR2.dbf", cams_transactions(tmp_path).read_bytes())], AS_OF,
                                        user="ana", write_back=True)
    assert outcome.run is None and [e.file for e in outcome.errors] == [collection]
    assert expected in outcome.errors[0].message and "Topology" not in outcome.errors[0].message, outcome.errors[0].message
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(HoldingsRun)) == 0
