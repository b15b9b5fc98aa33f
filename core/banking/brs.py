"""The bank reconciliation statement: why the bank's balance and the books' balance differ.

Per bank account, as of a date, from a reconciliation's results (books = internal side,
statement = external side; amounts signed from the account holder's side, + money in)::

    bank_closing_balance            the bank's balance on the date
  + outstanding_payments            books' money out the bank has not shown yet (negative)
  + deposits_in_transit             books' money in the bank has not shown yet
  = adjusted_bank_balance

    book_balance                    the books' opening balance plus their records to the date
  + bank_credits_not_in_books       the bank's money in the books do not hold
  + bank_debits_not_in_books        the bank's money out the books do not hold (negative)
  + differences_in_matched_items    per matched group, the statement's records less the books'
  = adjusted_book_balance

    unexplained_difference          adjusted_bank_balance - adjusted_book_balance

Records dated after the date are out. A group counts as matched (proposed groups too) when all
its records are dated on or before the date; the earlier records of a group completed only
later are open on the date (a payment booked on the 30th that cleared on the 2nd is
outstanding on the 31st). Outstanding payments and deposits in transit are the books' open
records, money out and money in; the bank's credits and debits not in the books are the
statement's open records. Records an earlier run left open and this run carried in (last
month's outstanding cheque) are reconciling items like any other, but are not added to the
book balance (the books' opening holds them already), nor to the bank's balance.

The bank's closing balance is the statement's own: the closing balance of the account's latest
statement ending on or before the date. When the statement's records go on past that
statement's end (the date falls inside a later statement), they are added up to the date; with
no statement ended by then, the first statement's opening balance is the start. A balance
given by a person replaces the statement's; an account without either is refused.

The records are summed in DuckDB as DECIMAL and the lines combined as ``Decimal``: exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

import duckdb
import pyarrow as pa

from core.atomic import temporary_path
from core.domain.accounts import account_label, accounts_by_key, resolve_account_key
from core.domain.findings import RowError
from core.domain.money import MAX_SCALE, canonical_decimal, scale_of
from core.exports.writers import neutralised_sql
from core.matching.engine import MatchResult
from core.runs.folder import copy_query
from core.runs.outputs import publish_outputs

__all__ = ["LINES", "BankClosing", "BankReconciliation", "BrsLine", "bank_closings_from_statements",
           "bank_reconciliation_statement", "write_brs_outputs"]

LINES = ("bank_closing_balance", "outstanding_payments", "deposits_in_transit", "adjusted_bank_balance", "book_balance",
         "bank_credits_not_in_books", "bank_debits_not_in_books", "differences_in_matched_items", "adjusted_book_balance",
         "unexplained_difference")
# The lines whose records are listed; the adjusted balances and the difference are sums of lines.
_ITEM_LINES = ("book_balance", "outstanding_payments", "deposits_in_transit", "bank_credits_not_in_books",
               "bank_debits_not_in_books", "differences_in_matched_items")


class BankClosing(NamedTuple):
    """The bank's balance of one account at the end of the day ``as_at``, and where it comes from."""

    amount: Decimal
    as_at: dt.date
    source: str


class BrsLine(NamedTuple):
    account: str
    line: str
    amount: Decimal


class BankReconciliation(NamedTuple):
    """A bank reconciliation statement: its lines, its records (in DuckDB) and its summary.

    ``lines``: per account (in order of account), one per name of :data:`LINES`, in that order.
    ``summary``: per account its currency, where the bank's closing balance came from, the
    books' opening balance, the groups counted as matched (confirmed, proposed) and the
    records; overall, the groups and records the date leaves out.
    """

    con: duckdb.DuckDBPyConnection
    as_of: dt.date
    lines: list[BrsLine]
    summary: dict

    @property
    def items(self) -> pa.Table:
        """``account, line, side, record_id, date, amount, reference``: the records behind each line.

        ``book_balance`` lists the books' records to the date (not the opening balance, nor
        records carried in from earlier runs);
        ``differences_in_matched_items`` the records of both sides of each matched group whose
        sides differ, the line being the statement's records less the books'.
        """
        return self.con.sql(f"SELECT {_ITEM_COLUMNS} FROM brs_items ORDER BY account, line_no, date, side, record_id").to_arrow_table()

    def line(self, account: str, name: str) -> Decimal:
        """One line's amount."""
        return next(x.amount for x in self.lines if x.account == account and x.line == name)


_ITEM_COLUMNS = "account, line, side, record_id, date, amount, reference"


def bank_closings_from_statements(statements: Iterable, as_of: dt.date, key: Callable[[str], str] = str) -> dict[str, BankClosing]:
    """Each account's bank balance as its statements state it, on or before ``as_of``.

    The closing balance of the account's latest statement ending on or before the date; with
    none, the opening balance of its first statement starting on or before it (the balance at
    the end of the day before). :func:`bank_reconciliation_statement` adds the statement's
    records dated after that day.

    Args:
        statements: objects with ``account``, ``number``, ``period_from``, ``period_to``,
            ``opening`` and ``closing`` (the store's ``StatementRecord``, ingest's ``StatementFacts``).
        key: the account key of a statement's account text (the text itself by default).

    Returns:
        account -> its :class:`BankClosing`; an account with neither balance is missing.
    """
    closings: dict[str, BankClosing] = {}
    openings: dict[str, BankClosing] = {}
    for s in sorted(statements, key=lambda s: (s.period_to or dt.date.min, s.period_from or dt.date.min)):
        label = f"statement {s.number or '(no number)'}"
        account = key(s.account)
        if s.closing is not None and s.period_to is not None and s.period_to <= as_of:
            closings[account] = BankClosing(s.closing, s.period_to, f"{label} closing balance on {s.period_to}")
        elif s.opening is not None and s.period_from is not None and s.period_from <= as_of and account not in openings:
            before = s.period_from - dt.timedelta(days=1)
            openings[account] = BankClosing(s.opening, before, f"{label} opening balance on {s.period_from}")
    return {**openings, **closings}


def bank_reconciliation_statement(result: MatchResult, as_of: dt.date, *, statements: Iterable = (),
                                  bank_closings: Mapping[str, Decimal] | None = None,
                                  book_openings: Mapping[str, Decimal] | None = None,
                                  books: str = "books", statement: str = "statement",
                                  aliases: Mapping[str, str] | None = None,
                                  ) -> tuple[BankReconciliation | None, list[RowError]]:
    """The bank reconciliation statement of every account of a reconciliation, as of a date.

    Args:
        result: the engine's result, or a saved run's (:func:`core.banking.saved.saved_run_result`);
            books = internal, statement = external.
        statements: the statement file's statements (see :func:`bank_closings_from_statements`);
            none for a file that carries no balances.
        bank_closings: account -> the bank's closing balance on the date, given by a person;
            it replaces the statement's.
        book_openings: account -> the books' opening balance (0 when not given).
        books, statement: the two files' names, for the findings.
        aliases: the alias table (``core.accounts.load_aliases``). Accounts are taken by their
            key (``core.domain.accounts``): spellings of one account are one statement, shown
            by its most common spelling, and a balance may be given under any spelling.

    Returns:
        ``(BankReconciliation | None, errors)``: an account with no bank closing balance, an
        account of two currencies, or a balance given for an account neither file holds is
        an error, and then there is no statement.
    """
    con = result.con
    statements = list(statements)
    spellings = Counter(dict(con.execute("SELECT account, count(*) FROM (SELECT account FROM result_items UNION ALL "
                                         "SELECT account FROM result_breaks) WHERE account IS NOT NULL GROUP BY account").fetchall()))
    spellings.update(s.account for s in statements if s.account)
    grouped = accounts_by_key(spellings, aliases)
    known = set(grouped)
    label = {account: account_label(texts) for account, texts in grouped.items()}

    def key(text: str) -> str:
        return resolve_account_key(text, aliases)

    errors = [RowError(books if name == "book opening" else statement, None, name, account,
                       f"{name} given for account {account!r}, which neither file holds")
              for name, named in (("book opening", book_openings or {}), ("bank closing", bank_closings or {}))
              for account in sorted(named) if key(account) not in known]
    given = {key(account): amount for account, amount in (bank_closings or {}).items()}
    openings = {key(account): amount for account, amount in (book_openings or {}).items()}
    keys = pa.table({"text": pa.array(list(spellings), pa.string()), "account": pa.array([key(t) for t in spellings], pa.string())})
    con.register("brs_account_keys", keys)
    try:
        _collect_records(con, as_of)
    finally:
        con.unregister("brs_account_keys")
    from_statements = bank_closings_from_statements(statements, as_of, key)
    closings = {**from_statements, **{a: BankClosing(v, as_of, "given") for a, v in given.items()}}
    dated = {row[0] for row in con.execute("SELECT DISTINCT account FROM brs_records").fetchall()}
    accounts = sorted((dated | set(closings) | set(openings)) & known)
    currencies = _currencies(con, statements, key)
    for account in accounts:
        if len(currencies.get(account, ())) > 1:
            errors.append(RowError(statement, None, "currency", label[account], f"account {label[account]!r} holds records in "
                                   f"{' and '.join(sorted(currencies[account]))}: a reconciliation statement is of one currency"))
        if account not in closings:
            errors.append(RowError(statement, None, "closing balance", label[account],
                                   f"account {label[account]!r}: the statement gives no closing balance on or before {as_of}; "
                                   f"give the bank's closing balance (--bank-closing {_quoted(label[account])}=AMOUNT)"))
    if errors:
        return None, errors
    _collect_items(con)
    sums = _sums(con, closings)
    scale = max([2, _result_scale(con)] + [scale_of(v) for v in (*given.values(), *openings.values())]
                + [scale_of(c.amount) for c in closings.values()])
    quantum = Decimal(1).scaleb(-min(scale, MAX_SCALE))
    lines: list[BrsLine] = []
    summary_accounts = {}
    for account in accounts:
        found = sums.get(account, {})
        closing = closings[account]
        rolled = found.get("rolled_forward", Decimal(0))
        values = {"bank_closing_balance": closing.amount + rolled,
                  "outstanding_payments": found.get("outstanding_payments", Decimal(0)),
                  "deposits_in_transit": found.get("deposits_in_transit", Decimal(0)),
                  "book_balance": openings.get(account, Decimal(0)) + found.get("book_balance", Decimal(0)),
                  "bank_credits_not_in_books": found.get("bank_credits_not_in_books", Decimal(0)),
                  "bank_debits_not_in_books": found.get("bank_debits_not_in_books", Decimal(0)),
                  "differences_in_matched_items": found.get("differences_in_matched_items", Decimal(0))}
        values["adjusted_bank_balance"] = (values["bank_closing_balance"] + values["outstanding_payments"]
                                           + values["deposits_in_transit"])
        values["adjusted_book_balance"] = (values["book_balance"] + values["bank_credits_not_in_books"]
                                           + values["bank_debits_not_in_books"] + values["differences_in_matched_items"])
        values["unexplained_difference"] = values["adjusted_bank_balance"] - values["adjusted_book_balance"]
        lines += [BrsLine(label[account], name, values[name].quantize(quantum)) for name in LINES]
        summary_accounts[label[account]] = {
            "currency": next(iter(sorted(currencies.get(account, ("",))))),
            "bank_closing": {"source": closing.source, "as_at": closing.as_at.isoformat(), "balance": _text(closing.amount),
                             "rolled_forward": _text(rolled)},
            "book_opening": _text(openings.get(account, Decimal(0))),
            "matched_groups": {"confirmed": found.get("confirmed", 0), "proposed": found.get("proposed", 0)},
            "records": {"internal": found.get("internal", 0), "external": found.get("external", 0)},
            "lines": {name: _text(values[name]) for name in LINES},
        }
    _label_items(con, {account: label[account] for account in accounts})
    summary = {"as_of": as_of.isoformat(), "accounts": summary_accounts, **_left_out(con, as_of)}
    summary["matched_groups"] = {status: sum(a["matched_groups"][status] for a in summary_accounts.values())
                                 for status in ("confirmed", "proposed")}
    return BankReconciliation(con, as_of, lines, summary), []


def _collect_records(con, as_of: dt.date) -> None:
    """``brs_records``: every record dated on or before ``as_of``, and whether its group is whole by then.

    ``account`` is the record's account key (``brs_account_keys`` maps each text to it).

    ``carried_from`` is set on a record an earlier run left open and this one took in again
    (``core.runs.scope``): it is one of the reconciling items, never part of this period's
    movements, which the balances given already hold.
    """
    con.execute(f"""
        CREATE OR REPLACE TABLE brs_records AS
        WITH every AS (
            SELECT side, record_id, k.account, date, amount, currency, reference, carried_from, match_id, status
            FROM result_items i JOIN brs_account_keys k ON k.text = i.account
            UNION ALL
            SELECT side, record_id, k.account, date, amount, currency, reference, carried_from, CAST(NULL AS INTEGER),
                   CAST(NULL AS VARCHAR)
            FROM result_breaks b JOIN brs_account_keys k ON k.text = b.account
        ),
        whole AS (SELECT match_id FROM result_items GROUP BY match_id HAVING max(date) <= DATE '{as_of.isoformat()}')
        SELECT every.*, whole.match_id IS NOT NULL AS matched
        FROM every LEFT JOIN whole ON whole.match_id = every.match_id
        WHERE every.date <= DATE '{as_of.isoformat()}'
    """)


def _collect_items(con) -> None:
    """``brs_items``: each line's records (see :attr:`BankReconciliation.items`)."""
    line_no = "CASE line " + " ".join(f"WHEN '{name}' THEN {number}" for number, name in enumerate(LINES)) + " END"
    con.execute(f"""
        CREATE OR REPLACE TABLE brs_items AS
        WITH differing AS (
            SELECT match_id, account FROM brs_records WHERE matched GROUP BY match_id, account
            HAVING sum(CASE WHEN side = 'external' THEN amount ELSE -amount END) <> 0
        ),
        lined AS (
            SELECT 'book_balance' AS line, * FROM brs_records WHERE side = 'internal' AND carried_from IS NULL
            UNION ALL
            SELECT CASE WHEN side = 'internal' THEN (CASE WHEN amount < 0 THEN 'outstanding_payments' ELSE 'deposits_in_transit' END)
                        ELSE (CASE WHEN amount < 0 THEN 'bank_debits_not_in_books' ELSE 'bank_credits_not_in_books' END) END, *
            FROM brs_records WHERE NOT matched
            UNION ALL
            SELECT 'differences_in_matched_items', r.* FROM brs_records r SEMI JOIN differing d USING (match_id, account)
        )
        SELECT {_ITEM_COLUMNS}, match_id, {line_no} AS line_no FROM lined
    """)


def _sums(con, closings: Mapping[str, BankClosing]) -> dict[str, dict]:
    """Per account: each listed line's sum, the statement's records after its balance's day, groups and records counted."""
    found: dict[str, dict] = {}
    for account, line, amount in con.execute(f"""
            SELECT account, line, sum(CASE WHEN line = 'differences_in_matched_items' AND side = 'internal' THEN -amount ELSE amount END)
            FROM brs_items WHERE line IN ({', '.join(f"'{n}'" for n in _ITEM_LINES)}) GROUP BY ALL
        """).fetchall():
        found.setdefault(account, {})[line] = amount
    con.register("brs_balance_days", pa.table({"account": pa.array(list(closings), pa.string()),
                                                "as_at": pa.array([c.as_at for c in closings.values()], pa.date32())}))
    try:
        for account, amount in con.execute("""
                SELECT r.account, sum(r.amount) FROM brs_records r JOIN brs_balance_days b ON b.account = r.account
                WHERE r.side = 'external' AND r.carried_from IS NULL AND r.date > b.as_at GROUP BY ALL
            """).fetchall():
            found.setdefault(account, {})["rolled_forward"] = amount
    finally:
        con.unregister("brs_balance_days")
    for account, internal, external, confirmed, proposed in con.execute("""
            SELECT account, count(*) FILTER (WHERE side = 'internal'), count(*) FILTER (WHERE side = 'external'),
                   count(DISTINCT match_id) FILTER (WHERE matched AND status = 'confirmed'),
                   count(DISTINCT match_id) FILTER (WHERE matched AND status = 'proposed')
            FROM brs_records GROUP BY account
        """).fetchall():
        found.setdefault(account, {}).update(internal=internal, external=external, confirmed=confirmed, proposed=proposed)
    return found


def _currencies(con, statements: list, key: Callable[[str], str]) -> dict[str, set[str]]:
    """Each account's currencies: its records' to the date, else its statements'."""
    currencies: dict[str, set[str]] = {}
    for account, currency in con.execute("SELECT DISTINCT account, currency FROM brs_records").fetchall():
        currencies.setdefault(account, set()).add(currency)
    for s in statements:
        if s.account and key(s.account) not in currencies and s.currency:
            currencies[key(s.account)] = {s.currency}
    return currencies


def _label_items(con, labels: Mapping[str, str]) -> None:
    """Show each item's account by its label (its most common spelling) instead of its key."""
    con.register("brs_account_labels", pa.table({"account": pa.array(list(labels), pa.string()),
                                                 "label": pa.array(list(labels.values()), pa.string())}))
    try:
        con.execute("UPDATE brs_items SET account = l.label FROM brs_account_labels l WHERE brs_items.account = l.account")
    finally:
        con.unregister("brs_account_labels")


def _quoted(account: str) -> str:
    """An account as the shell needs it after ``--bank-closing`` (quoted when it holds a space)."""
    return f"'{account}'" if any(c.isspace() for c in account) else account


def _left_out(con, as_of: dt.date) -> dict:
    """What the date leaves out: records dated after it, and groups completed only after it."""
    day = f"DATE '{as_of.isoformat()}'"
    after = dict(con.execute(f"""
        SELECT side, count(*) FROM (SELECT side, date FROM result_items UNION ALL SELECT side, date FROM result_breaks)
        WHERE date > {day} GROUP BY side
    """).fetchall())
    completed_later = con.execute(f"""
        SELECT count(*) FROM (SELECT match_id FROM result_items GROUP BY match_id HAVING max(date) > {day} AND min(date) <= {day})
    """).fetchall()[0][0]
    return {"records_after_as_of": {"internal": after.get("internal", 0), "external": after.get("external", 0)},
            "groups_completed_after_as_of": completed_later}


def _result_scale(con) -> int:
    found = con.execute("SELECT typeof(amount) FROM brs_records LIMIT 1").fetchall()
    if found and found[0][0].startswith("DECIMAL("):
        return int(found[0][0].rstrip(")").split(",")[1])
    return 2


def _text(value: Decimal) -> str:
    return format(canonical_decimal(Decimal(value)), "f")


def write_brs_outputs(brs: BankReconciliation, folder: Path) -> None:
    """Write ``brs.csv``, ``brs_items.csv`` and ``summary.json`` into ``folder`` (the CLI contract).

    Files are written under temporary names and renamed, ``summary.json`` last: a failure
    leaves the folder as it was, and a folder with a ``summary.json`` holds one statement whole.
    Text from the files is neutralised as every export is (``core.exports``).
    """
    written: list[tuple[Path, Path]] = []
    folder.mkdir(parents=True, exist_ok=True)
    try:
        temporary = temporary_path(folder / "brs.csv")
        written.append((temporary, folder / "brs.csv"))
        con = brs.con
        try:
            con.register("brs_lines", pa.table({"account": pa.array([x.account for x in brs.lines], pa.string()),
                                                "line": pa.array([x.line for x in brs.lines], pa.string()),
                                                "amount": pa.array([format(x.amount, "f") for x in brs.lines], pa.string())}))
            copy_query(con, f"SELECT {neutralised_sql('account')} AS account, line, amount FROM brs_lines", temporary,
                       "FORMAT csv, HEADER true")
            temporary = temporary_path(folder / "brs_items.csv")
            written.append((temporary, folder / "brs_items.csv"))
            copy_query(con, f"""
                SELECT {neutralised_sql('account')} AS account, line, side, {neutralised_sql('record_id')} AS record_id,
                       strftime(date, '%Y-%m-%d') AS date, amount, {neutralised_sql("coalesce(reference, '')")} AS reference
                FROM brs_items ORDER BY account, line_no, date, side, record_id
            """, temporary, "FORMAT csv, HEADER true")
        finally:
            con.unregister("brs_lines")
        temporary = temporary_path(folder / "summary.json")
        written.append((temporary, folder / "summary.json"))
        temporary.write_text(json.dumps(brs.summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        publish_outputs(written)
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)
