"""Benchmark: the bank reconciliation statement and the cash position of one account with N records in a month.

    python benchmarks/brs_bench.py --rows 1000000

Generates, in DuckDB, one bank account's month: N records, half books and half statement, in
1:1 groups (confirmed or proposed), every 50th pair left open on both sides, every 97th matched
pair a cent apart, statement records up to two days after the books' (so a few groups complete
only in the next month); and the month's statement (opening 1,000,000.00, its closing the
opening plus its records; the books open at the same balance). Then, in this process:

- the BRS on 31 October with ``core.banking.brs.bank_reconciliation_statement``, and the same
  lines computed with plain pandas (amounts as integer cents);
- the cash position on 20 October with ``core.banking.cash.positions_from_statements``, and the
  same with pandas.

Prints each one's seconds and the ratio (pandas / ours), and asserts the figures agree exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import duckdb
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.banking.brs import bank_reconciliation_statement  # noqa: E402
from core.banking.cash import positions_from_statements  # noqa: E402
from core.banking.saved import SavedRunResult  # noqa: E402

ACCOUNT, CURRENCY = "BENCH-0001", "EUR"
OPENING_CENTS = 100_000_000
BRS_DATE, CASH_DATE = dt.date(2026, 10, 31), dt.date(2026, 10, 20)


class Statement(NamedTuple):
    account: str
    currency: str
    number: str
    period_from: dt.date
    period_to: dt.date
    opening: Decimal
    closing: Decimal


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


def generate(con: duckdb.DuckDBPyConnection, rows: int) -> Statement:
    """``result_items``, ``result_breaks`` and ``pairs`` (the same records with integer cents) in ``con``."""
    con.execute(f"""
        CREATE TABLE pairs AS
        SELECT i, (i * 7919 % 200000) - 100000 AS cents,
               (i * 7919 % 200000) - 100000 + CASE WHEN i % 97 = 0 THEN 1 ELSE 0 END AS ext_cents,
               DATE '2026-10-01' + CAST(i % 31 AS INTEGER) AS int_date,
               DATE '2026-10-01' + CAST(i % 31 + i % 3 AS INTEGER) AS ext_date,
               i % 50 = 0 AS open, CASE WHEN i % 5 = 0 THEN 'proposed' ELSE 'confirmed' END AS status
        FROM range({rows // 2}) t(i)
    """)
    amount = "CAST(CAST({} AS DECIMAL(18, 2)) * CAST(0.01 AS DECIMAL(3, 2)) AS DECIMAL(18, 2))"
    columns = (f"'{ACCOUNT}' AS account, {{date}} AS date, {amount.format('{cents}')} AS amount, '{CURRENCY}' AS currency, "
               "'' AS reference, 'bench' AS dataset_id, CAST(NULL AS BIGINT) AS carried_from")
    internal = columns.format(date="int_date", cents="cents")
    external = columns.format(date="ext_date", cents="ext_cents")
    con.execute(f"""
        CREATE TABLE result_items AS
        SELECT CAST(i AS INTEGER) AS match_id, 'internal' AS side, 'I' || i AS record_id, {internal}, status FROM pairs WHERE NOT open
        UNION ALL
        SELECT CAST(i AS INTEGER), 'external', 'E' || i, {external}, status FROM pairs WHERE NOT open
    """)
    con.execute(f"""
        CREATE TABLE result_breaks AS
        SELECT 'internal' AS side, 'I' || i AS record_id, {internal} FROM pairs WHERE open
        UNION ALL
        SELECT 'external', 'E' || i, {external} FROM pairs WHERE open
    """)
    in_month = con.execute("SELECT sum(ext_cents) FROM pairs WHERE ext_date <= DATE '2026-10-31'").fetchone()[0]
    return Statement(ACCOUNT, CURRENCY, "2026-10", dt.date(2026, 10, 1), dt.date(2026, 10, 31), cents(OPENING_CENTS),
                     cents(OPENING_CENTS + int(in_month)))


def pandas_brs(frame: pd.DataFrame, opening: Decimal, closing: Decimal, as_of: dt.date) -> dict[str, Decimal]:
    """The BRS lines of one account with plain pandas: ``frame`` has side, match_id (-1 when open), date, cents;
    the books open at the statement's opening."""
    day = pd.Timestamp(as_of)
    grouped = frame[frame["match_id"] >= 0]
    whole = set(grouped.groupby("match_id")["date"].max().loc[lambda s: s <= day].index)
    records = frame[frame["date"] <= day]
    matched = records["match_id"].isin(whole)
    internal = records["side"] == "internal"
    negative = records["cents"] < 0
    signed = records["cents"].where(~internal, -records["cents"])
    per_group = signed[matched].groupby(records.loc[matched, "match_id"]).sum()
    lines = {"bank_closing_balance": closing,
             "outstanding_payments": cents(int(records.loc[internal & ~matched & negative, "cents"].sum())),
             "deposits_in_transit": cents(int(records.loc[internal & ~matched & ~negative, "cents"].sum())),
             "book_balance": opening + cents(int(records.loc[internal, "cents"].sum())),
             "bank_credits_not_in_books": cents(int(records.loc[~internal & ~matched & ~negative, "cents"].sum())),
             "bank_debits_not_in_books": cents(int(records.loc[~internal & ~matched & negative, "cents"].sum())),
             "differences_in_matched_items": cents(int(per_group[per_group != 0].sum()))}
    lines["adjusted_bank_balance"] = lines["bank_closing_balance"] + lines["outstanding_payments"] + lines["deposits_in_transit"]
    lines["adjusted_book_balance"] = (lines["book_balance"] + lines["bank_credits_not_in_books"] + lines["bank_debits_not_in_books"]
                                      + lines["differences_in_matched_items"])
    lines["unexplained_difference"] = lines["adjusted_bank_balance"] - lines["adjusted_book_balance"]
    return lines


def pandas_position(statement_side: pd.DataFrame, statement: Statement, as_of: dt.date) -> Decimal:
    """The account's cash on ``as_of`` with plain pandas: the statement's opening plus its records to the date."""
    dates = statement_side["date"]
    since = pd.Timestamp(statement.period_from - dt.timedelta(days=1))
    return statement.opening + cents(int(statement_side.loc[(dates > since) & (dates <= pd.Timestamp(as_of)), "cents"].sum()))


def timed(work):
    started = time.perf_counter()
    value = work()
    return value, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="records of the account in the month (books and statement)")
    args = parser.parse_args(argv)
    con = duckdb.connect()
    started = time.perf_counter()
    statement = generate(con, args.rows)
    frame = con.execute("""
        SELECT side, CASE WHEN open THEN -1 ELSE i END AS match_id, CAST(date AS TIMESTAMP) AS date, cents FROM (
            SELECT i, open, 'internal' AS side, int_date AS date, cents FROM pairs
            UNION ALL SELECT i, open, 'external', ext_date, ext_cents FROM pairs)
    """).df()
    records = con.sql("SELECT account, date, amount, currency FROM result_items WHERE side = 'external' "
                      "UNION ALL SELECT account, date, amount, currency FROM result_breaks WHERE side = 'external'").to_arrow_table()
    statement_side = frame[frame["side"] == "external"]
    print(f"{args.rows:,} records generated in {time.perf_counter() - started:.2f} s")

    (brs, errors), ours = timed(lambda: bank_reconciliation_statement(SavedRunResult(con), BRS_DATE, statements=[statement],
                                                                           book_openings={ACCOUNT: statement.opening}))
    assert not errors, errors
    theirs_lines, theirs = timed(lambda: pandas_brs(frame, statement.opening, statement.closing, BRS_DATE))
    got = {line.line: line.amount for line in brs.lines}
    assert got == theirs_lines, (got, theirs_lines)
    assert all(got[name] == theirs_lines[name] and str(got[name]) == str(theirs_lines[name]) for name in got)
    print(f"BRS on {BRS_DATE}: {ours:.2f} s; pandas {theirs:.2f} s; ratio {theirs / ours:.2f}x; "
          f"unexplained difference {got['unexplained_difference']}, differences in matched items {got['differences_in_matched_items']}")

    positions, ours = timed(lambda: positions_from_statements([statement], records, CASH_DATE))
    theirs_balance, theirs = timed(lambda: pandas_position(statement_side, statement, CASH_DATE))
    assert len(positions) == 1 and positions[0].balance == theirs_balance, (positions, theirs_balance)
    print(f"Cash position on {CASH_DATE}: {ours:.2f} s; pandas {theirs:.2f} s; ratio {theirs / ours:.2f}x; balance {theirs_balance}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
