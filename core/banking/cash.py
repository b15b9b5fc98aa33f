"""Cash position: how much money each bank account holds on a date, and where the ledger says it went.

Per bank account and currency, from the statements in the store: the closing balance of the
account's latest statement ending on or before the date (with none, the opening balance of its
first statement starting by then), plus the records dated after that statement's end up to the
date. Each day after it is counted from one statement only: the later statements are taken in
the order of their periods, each for the days past those already counted, with its own
dataset's records. Two statements covering the same days (a daily and a monthly one, or the
same statement in two formats) are not added twice. An account whose statements all start after
the date has no position yet and is left out.

Per dimension (cost centre, project, ...), from the posted ledger journals (reversed ones and
their reversals included, which cancel) on the GL cash accounts (those mapped to a bank
account): the opening balance is the lines dated before the period, the movement the lines in
it, the closing their sum. A line without a value for the dimension counts under ``(none)``.

With a rates file, every balance is also shown in the reporting currency, at the latest rate on
or before the date; a currency without a rate by then is an error, and then there is no
position. Records are summed in DuckDB as DECIMAL and balances combined as ``Decimal``: exact.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import select

from core.accounts import load_aliases
from core.banking.rates import Rates
from core.domain.accounts import resolve_account_key
from core.domain.findings import RowError
from core.domain.money import scale_of
from core.ingest.datasets import load_dataset_table
from core.store import Store
from core.store.models import DatasetRecord, GLAccount, Journal, JournalLine, StatementRecord

__all__ = ["NO_VALUE", "AccountPosition", "CashReport", "DimensionPosition", "cash_position", "cash_report", "dimension_flows",
           "dimension_pivot",
           "flow_lines", "position_by_dimension", "positions_from_statements"]

NO_VALUE = "(none)"
_BOOKED = ("posted", "reversed")


class AccountPosition(NamedTuple):
    """One bank account's cash in one currency on ``as_of``; ``reporting`` in the rates' currency, when given."""

    account: str
    currency: str
    as_of: dt.date
    opening_date: dt.date
    opening: Decimal
    movement: Decimal
    balance: Decimal
    source: str
    reporting: Decimal | None = None


class DimensionPosition(NamedTuple):
    """Cash on the GL cash accounts per value of one dimension, in one currency, over a period."""

    dimension: str
    value: str
    currency: str
    opening: Decimal
    movement: Decimal
    closing: Decimal
    reporting: Decimal | None = None


def _sum_in(records: pa.Table, windows: list[tuple[str | None, str, str, dt.date, dt.date]]) -> dict[tuple[str, str], Decimal]:
    """(account key, currency) -> the amounts of its records inside its windows, summed as DECIMAL.

    A window ``(dataset id, account key, currency, after, up to)`` takes the records dated after
    ``after`` up to ``up to``, of that dataset only (of any, with no dataset id).
    """
    if records.num_rows == 0 or not windows:
        return {}
    if "dataset_id" not in records.column_names:
        records = records.append_column("dataset_id", pa.nulls(records.num_rows, pa.string()))
    columns = list(zip(*windows, strict=True))
    window_table = pa.table({"dataset_id": pa.array(columns[0], pa.string()), "account_key": pa.array(columns[1], pa.string()),
                             "currency": pa.array(columns[2], pa.string()), "after": pa.array(columns[3], pa.date32()),
                             "up_to": pa.array(columns[4], pa.date32())})
    con = duckdb.connect()
    try:
        con.register("cash_records", records)
        con.register("cash_windows", window_table)
        rows = con.execute("SELECT r.account_key, r.currency, sum(r.amount) FROM cash_records r JOIN cash_windows w "
                           "ON w.account_key = r.account_key AND w.currency = r.currency "
                           "AND (w.dataset_id IS NULL OR w.dataset_id = r.dataset_id) "
                           "WHERE r.date > w.after AND r.date <= w.up_to GROUP BY ALL").fetchall()
    finally:
        con.close()
    return {(account, currency): Decimal(total) for account, currency, total in rows}


def _windows(later: list, since: dt.date, as_of: dt.date) -> list[tuple[str | None, dt.date, dt.date]]:
    """The days after ``since`` up to ``as_of``, each given to one of the ``later`` statements
    (in the order of their periods): ``(dataset id, after, up to)``. Statements without a
    dataset id (records given without one) share one window up to ``as_of``."""
    if not later or any(getattr(s, "dataset_id", None) is None for s in later):
        return [(None, since, as_of)]
    windows, counted = [], since
    for s in sorted(later, key=lambda s: (s.period_from or dt.date.min, s.period_to or dt.date.max)):
        after = max(counted, s.period_from - dt.timedelta(days=1)) if s.period_from else counted
        up_to = min(s.period_to or as_of, as_of)
        if up_to > after:
            windows.append((s.dataset_id, after, up_to))
            counted = up_to
    return windows


def positions_from_statements(statements: Iterable, records: pa.Table, as_of: dt.date,
                              key=str) -> list[AccountPosition]:
    """The cash position per account and currency from statements and their datasets' records.

    Args:
        statements: objects with ``account``, ``currency``, ``number``, ``period_from``,
            ``period_to``, ``opening`` and ``closing`` (the store's ``StatementRecord``), and
            ``dataset_id`` to count each day from one statement's records.
        records: ``account, date, amount, currency`` of the statements' datasets, with
            ``dataset_id`` when the statements have one.
        key: the account key of an account text.
    """
    statements = list(statements)
    starts: dict[tuple[str, str], tuple[Decimal, dt.date, str]] = {}
    openings: dict[tuple[str, str], tuple[Decimal, dt.date, str]] = {}
    labels: dict[str, str] = {}
    of_pair: dict[tuple[str, str], list] = defaultdict(list)
    for s in sorted(statements, key=lambda s: (s.period_to or dt.date.min, s.period_from or dt.date.min)):
        account = key(s.account)
        labels.setdefault(account, s.account)
        pair = (account, (s.currency or "").upper())
        of_pair[pair].append(s)
        label = f"statement {s.number or '(no number)'}"
        if s.closing is not None and s.period_to is not None and s.period_to <= as_of:
            starts[pair] = (s.closing, s.period_to, f"{label} closing balance on {s.period_to}")
        elif s.opening is not None and s.period_from is not None and s.period_from <= as_of and pair not in openings:
            openings[pair] = (s.opening, s.period_from - dt.timedelta(days=1), f"{label} opening balance on {s.period_from}")
    starts = {**openings, **starts}
    windows = [(dataset, *pair, after, up_to) for pair, (_, since, _) in starts.items()
               for dataset, after, up_to in _windows([s for s in of_pair[pair] if s.period_to is None or s.period_to > since],
                                                     since, as_of)]
    sums = _sum_in(_keyed_records(records, key), windows)
    positions = []
    for (account, currency), (opening, since, source) in sorted(starts.items()):
        movement = sums.get((account, currency), Decimal(0))
        positions.append(AccountPosition(labels[account], currency, as_of, since, opening, movement, opening + movement, source))
    return positions


def _keyed_records(records: pa.Table, key) -> pa.Table:
    """The records' account, date, amount and currency, with each account's key."""
    if records.num_rows == 0 or "account" not in records.column_names:
        return pa.table({"account_key": pa.array([], pa.string()), "date": pa.array([], pa.date32()),
                         "amount": pa.array([], pa.decimal128(18, 2)), "currency": pa.array([], pa.string())})
    # Each spelling is keyed once, however many records carry it.
    spellings = pc.unique(records["account"])
    keys = pa.array([None if text is None else key(text) for text in spellings.to_pylist()], pa.string())
    account_key = pc.take(keys, pc.index_in(records["account"], value_set=spellings))
    currency = (pc.utf8_upper(records["currency"]) if "currency" in records.column_names
                else pa.array([""] * records.num_rows, pa.string()))
    columns = {"account_key": account_key, "date": records["date"], "amount": records["amount"], "currency": currency}
    if "dataset_id" in records.column_names:
        columns["dataset_id"] = records["dataset_id"]
    return pa.table(columns)


def _convert(amount: Decimal, currency: str, as_of: dt.date, rates: Rates | None, errors: list[RowError]) -> Decimal | None:
    if rates is None:
        return None
    converted = rates.convert(amount, currency, as_of)
    if converted is None:
        message = f"no rate for {currency} in {rates.reporting} on or before {as_of}: add one to the rates file"
        if not any(e.message == message for e in errors):
            errors.append(RowError("rates", None, "currency", currency, message))
    return converted


def cash_position(store: Store, as_of: dt.date, rates: Rates | None = None) -> tuple[list[AccountPosition] | None, list[RowError]]:
    """The cash position of every bank account in the store on ``as_of`` (see the module's text).

    Accounts are taken by their key after the alias table, so spellings of one account are one.

    Returns:
        ``(positions | None, errors)``: with a rates file, a currency without a rate on or before
        the date is an error, and then there are no positions.
    """
    aliases = load_aliases(store)

    def key(text: str) -> str:
        return resolve_account_key(text, aliases)

    with store.session() as session:
        statements = list(session.scalars(select(StatementRecord)))
        datasets = list(session.scalars(select(DatasetRecord).where(DatasetRecord.id.in_({s.dataset_id for s in statements}))))
    tables = []
    for dataset in datasets:
        table = load_dataset_table(store, dataset)
        table = table.select([c for c in ("account", "date", "amount", "currency") if c in table.column_names])
        tables.append(table.append_column("dataset_id", pa.array([dataset.id] * table.num_rows, pa.string())))
    records = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    positions = positions_from_statements(statements, records, as_of, key)
    if rates is None:
        return positions, []
    errors: list[RowError] = []
    converted = [p._replace(reporting=_convert(p.balance, p.currency, as_of, rates, errors)) for p in positions]
    return (None, errors) if errors else (converted, [])


def _cash_lines(store: Store, as_of: dt.date, date_from: dt.date | None = None, cash_only: bool = True) -> list[tuple]:
    """``(journal id, date, line no, gl account, currency, debit, credit, dimensions, description)`` of booked lines."""
    query = (select(Journal.id, Journal.date, JournalLine.line_no, JournalLine.gl_account, JournalLine.currency, JournalLine.debit,
                    JournalLine.credit, JournalLine.dimensions, JournalLine.description)
             .join(Journal, Journal.id == JournalLine.journal_id)
             .where(Journal.status.in_(_BOOKED), Journal.date <= as_of)
             .order_by(Journal.date, Journal.id, JournalLine.line_no))
    if date_from is not None:
        query = query.where(Journal.date >= date_from)
    if cash_only:
        query = query.where(JournalLine.gl_account.in_(select(GLAccount.code).where(GLAccount.bank_account_key.is_not(None))))
    with store.session() as session:
        return [tuple(row) for row in session.execute(query)]


def position_by_dimension(store: Store, dimension: str, date_from: dt.date, as_of: dt.date,
                          rates: Rates | None = None) -> tuple[list[DimensionPosition] | None, list[RowError]]:
    """Cash on the GL cash accounts per value of ``dimension`` and currency: opening (lines before
    ``date_from``), movement (``date_from`` to ``as_of``) and closing.

    Returns:
        ``(rows | None, errors)``: with a rates file, a currency without a rate is an error.
    """
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for _, day, _, _, currency, debit, credit, dimensions, _ in _cash_lines(store, as_of):
        pair = totals[((dimensions or {}).get(dimension) or NO_VALUE, currency)]
        pair[0 if day < date_from else 1] += debit - credit
    errors: list[RowError] = []
    rows = [DimensionPosition(dimension, value, currency, opening, movement, opening + movement,
                              _convert(opening + movement, currency, as_of, rates, errors))
            for (value, currency), (opening, movement) in sorted(totals.items())]
    return (None, errors) if errors else (rows, [])


def dimension_flows(store: Store, dimension: str, date_from: dt.date, as_of: dt.date, *, cash_only: bool = True) -> pa.Table:
    """The booked journal lines (on the GL cash accounts unless ``cash_only`` is false) of the
    period, each with its month, its dimension value and its net amount (debit less credit):
    ``journal, date, month, line_no, gl_account, value, currency, amount, description``.
    """
    rows = _cash_lines(store, as_of, date_from, cash_only)
    scale = max([2, *(scale_of(r[5]) for r in rows), *(scale_of(r[6]) for r in rows)])
    return pa.table({
        "journal": pa.array([r[0] for r in rows], pa.int64()),
        "date": pa.array([r[1] for r in rows], pa.date32()),
        "month": pa.array([r[1].strftime("%Y-%m") for r in rows], pa.string()),
        "line_no": pa.array([r[2] for r in rows], pa.int64()),
        "gl_account": pa.array([r[3] for r in rows], pa.string()),
        "value": pa.array([(r[7] or {}).get(dimension) or NO_VALUE for r in rows], pa.string()),
        "currency": pa.array([r[4] for r in rows], pa.string()),
        "amount": pa.array([r[5] - r[6] for r in rows], pa.decimal128(38, scale)),
        "description": pa.array([r[8] for r in rows], pa.string()),
    })


def dimension_pivot(flows: pa.Table) -> tuple[list[str], list[tuple[str, str, dict[str, Decimal]]]]:
    """Flows as a pivot: dimension value and currency down, months across, sums as DECIMAL.

    Returns:
        ``(months, rows)``: each row ``(value, currency, {month: amount})``; a month without lines is absent.
    """
    if flows.num_rows == 0:
        return [], []
    con = duckdb.connect()
    try:
        con.register("flows", flows)
        sums = con.execute("SELECT value, currency, month, sum(amount) FROM flows GROUP BY ALL ORDER BY value, currency, month").fetchall()
    finally:
        con.close()
    months = sorted({m for _, _, m, _ in sums})
    cells: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(dict)
    for value, currency, month, total in sums:
        cells[(value, currency)][month] = Decimal(total)
    return months, [(value, currency, by_month) for (value, currency), by_month in cells.items()]


def flow_lines(flows: pa.Table, value: str, month: str, currency: str | None = None) -> pa.Table:
    """The journal lines behind one cell of the pivot (the drill-down)."""
    mask = pc.and_(pc.equal(flows["value"], value), pc.equal(flows["month"], month))
    if currency:
        mask = pc.and_(mask, pc.equal(flows["currency"], currency))
    return flows.filter(mask)


class CashReport(NamedTuple):
    """What the Cash position page shows: the positions, per dimension, and the flows with their pivot."""

    as_of: dt.date
    date_from: dt.date
    dimension: str
    positions: list[AccountPosition]
    by_dimension: list[DimensionPosition]
    flows: pa.Table
    months: list[str]
    pivot: list[tuple[str, str, dict[str, Decimal]]]


def cash_report(store: Store, as_of: dt.date, dimension: str, date_from: dt.date | None = None,
                rates: Rates | None = None) -> tuple[CashReport | None, list[RowError]]:
    """The cash position on ``as_of``, per bank account and per ``dimension``, and the flows by
    dimension and month from ``date_from`` (the first of the month of ``as_of`` by default).

    Returns:
        ``(CashReport | None, errors)``: with a rates file, every currency without a rate is an error.
    """
    date_from = date_from or as_of.replace(day=1)
    if date_from > as_of:
        return None, [RowError("dates", None, "date_from", str(date_from), f"the flows start on {date_from}, after the as-of date "
                                                                            f"{as_of}: choose a start on or before it")]
    positions, errors = cash_position(store, as_of, rates)
    by_dimension, more = position_by_dimension(store, dimension, date_from, as_of, rates)
    errors += [e for e in more if e not in errors]
    if errors:
        return None, errors
    flows = dimension_flows(store, dimension, date_from, as_of)
    months, pivot = dimension_pivot(flows)
    return CashReport(as_of, date_from, dimension, positions, by_dimension, flows, months, pivot), []
