"""Build small canonical tables and run the engine on them."""

import datetime as dt
from decimal import Decimal

import duckdb
import pyarrow as pa

from core.ingest.normalise import transaction_schema
from core.matching.engine import match_tables
from core.matching.rules import load_rules, parse_rules


def table(rows: list[tuple]) -> pa.Table:
    """Rows of (id, account, date, amount[, reference[, currency[, counterparty]]])."""
    columns = {name: [] for name in transaction_schema(2, []).names}
    for row in rows:
        record_id, account, date, amount = row[:4]
        reference = row[4] if len(row) > 4 else ""
        currency = row[5] if len(row) > 5 else "USD"
        counterparty = row[6] if len(row) > 6 else ""
        values = {"id": record_id, "account": account, "date": dt.date.fromisoformat(date), "amount": Decimal(amount),
                  "currency": currency, "reference": reference, "description": "", "counterparty": counterparty, "trade_date": None,
                  "entry_date": None, "type": ""}
        for name in columns:
            columns[name].append(values[name])
    return pa.table(columns, schema=transaction_schema(2, []))


def run(internal: list[tuple], external: list[tuple], rules=None):
    con = duckdb.connect()
    con.register("books", table(internal))
    con.register("bank", table(external))
    rules = rules or load_rules()
    if isinstance(rules, str):
        rules = parse_rules(rules)
    return match_tables("books", "bank", rules, con)


def groups_by_record(result) -> dict[str, dict]:
    """record id -> its group (rule, status, members by side)."""
    groups = {g["match_id"]: dict(g, internal=set(), external=set()) for g in result.groups.to_pylist()}
    for item in result.items.to_pylist():
        groups[item["match_id"]][item["side"]].add(item["record_id"])
    return {record: g for g in groups.values() for side in ("internal", "external") for record in g[side]}


def links(result) -> set[tuple[str, str]]:
    by_record = groups_by_record(result)
    return {(i, e) for g in {id(g): g for g in by_record.values()}.values() for i in g["internal"] for e in g["external"]}


def open_ids(result) -> set[str]:
    return set(result.breaks.column("record_id").to_pylist())
