"""MongoDB as the books of a holdings reconciliation, through pymongo (or a client that behaves like it).

Transactions are summed inside the database: one aggregation pipeline keeps those dated on or
before the date (by ``transaction_date``, else ``trade_date``) and groups them per folio and
product, summing the units that add and those that take away separately; units stored as
Decimal128 stay exact. Field names are those books commonly use: folio_no, product_code,
scheme_name, transaction_type, units. Results go back with units as Decimal128.

A database that cannot be reached or refuses a query raises :class:`MongoDBError`, with the
driver's own words: its callers report it, they never see a driver's exception.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal

import pymongo
from bson.decimal128 import Decimal128
from pymongo.errors import PyMongoError

from connectors.sources.base import HoldingsBooks, UnitTotal

__all__ = ["MongoBooks", "MongoDBError", "open_mongodb_books"]

RESULTS_COLLECTION = "holdings_results"


class MongoDBError(ConnectionError):
    """The database cannot be reached, or refused what was asked; the message says which."""


def open_mongodb_books(uri: str, collection: str, *, timeout_seconds: float = 5.0) -> MongoBooks:
    """The books' transactions at ``uri`` in ``collection`` (``database.collection``).

    Results, when written back, go to ``holdings_results`` in the same database. No server
    is contacted until the first query.

    Raises:
        MongoDBError: the address or the collection's name is not valid.
    """
    database_name, _, collection_name = collection.partition(".")
    if not database_name or not collection_name:
        raise MongoDBError(f"{collection!r}: name the collection as database.collection")
    try:
        database = pymongo.MongoClient(uri, serverSelectionTimeoutMS=int(timeout_seconds * 1000))[database_name]
        return MongoBooks(database[collection_name], database[RESULTS_COLLECTION])
    except (PyMongoError, ValueError) as exc:  # pymongo refuses some malformed addresses with a plain ValueError
        raise _refused(exc) from None


class MongoBooks(HoldingsBooks):
    """The books' transactions in one collection; results, when written back, in another."""

    def __init__(self, transactions, results=None):
        self.transactions = transactions
        self.results = results

    def unit_totals(self, as_of: dt.date, adds: Sequence[str], takes: Sequence[str]) -> Iterable[UnitTotal]:
        adds, takes = sorted(adds), sorted(takes)
        kind = {"$toUpper": "$transaction_type"}
        pipeline = [
            {"$addFields": {"_when": {"$ifNull": ["$transaction_date", "$trade_date"]}}},
            {"$match": {"_when": {"$lte": dt.datetime.combine(as_of, dt.time.max)}}},
            {"$group": {"_id": {"folio": "$folio_no", "product": "$product_code"},
                        "added": {"$sum": {"$cond": [{"$in": [kind, adds]}, "$units", 0]}},
                        "taken": {"$sum": {"$cond": [{"$in": [kind, takes]}, "$units", 0]}},
                        "unknown": {"$sum": {"$cond": [{"$in": [kind, adds + takes]}, 0, 1]}},
                        "name": {"$first": "$scheme_name"}}},
            {"$sort": {"_id.folio": 1, "_id.product": 1}},
        ]
        try:
            groups = list(self.transactions.aggregate(pipeline))
        except PyMongoError as exc:
            raise _refused(exc) from None
        for group in groups:
            yield UnitTotal(group["_id"].get("folio"), group["_id"].get("product"), group.get("name"),
                            _exact(group.get("added")), _exact(group.get("taken")), int(group.get("unknown") or 0))

    def replace_results(self, as_of: dt.date, documents: list[dict]) -> int:
        if self.results is None:
            raise ValueError("no collection was given for the results")
        moment = dt.datetime.combine(as_of, dt.time())
        stored = [{"as_of": moment} | {k: Decimal128(v) if isinstance(v, Decimal) else v for k, v in d.items()} for d in documents]
        try:
            self.results.delete_many({"as_of": moment})
            if stored:
                self.results.insert_many(stored)
        except PyMongoError as exc:
            raise _refused(exc) from None
        return len(stored)


def _refused(exc: Exception) -> MongoDBError:
    # The driver appends its whole view of the cluster to a timeout; the first part says what failed.
    return MongoDBError(f"MongoDB: {type(exc).__name__}: {str(exc).split(', Topology Description:')[0]}")


def _exact(value) -> Decimal:
    if value is None:
        return Decimal(0)
    if hasattr(value, "to_decimal"):
        return value.to_decimal()
    return Decimal(str(value))
