"""The matching workspace: a run's open items, books and statement side by side, for matching by hand.

The open items of a run (breaks still open and not waiting for an approver) are read from the
store once into DuckDB (:func:`load_open_items`); every screen after that asks DuckDB for one
page of one side, filtered (account by key, date window, absolute amount range, text in the
reference or description) and sorted, with the totals of the whole filtered set
(:func:`side_page`). A side of 100,000 items is never turned into a page's rows: only the page
is.

Candidates for a picked record (:func:`candidates_for`) come from the other side, same account
key and currency, ranked the way the engine's one-to-one passes rank them
(``core.matching.engine``: amount difference, then reference disagreement, then days apart,
then id), with the engine's own SQL for amounts in micro-units, day numbers and reference keys
(``core.matching.sql``). Each is explained in words, down to the first one-to-one pass of the
run's rule set whose tolerances it meets.

The selection (:func:`selection_net`) is record ids with the version the person saw; its net
difference is ``core.review.net_difference`` on the records as stored now, and a selection the
match would refuse (two currencies, two accounts, a record changed or decided meanwhile) is
refused here first, in words. The match itself is ``core.review.manual_match``
(:func:`match_selection`): maker-checker, versions and audit as everywhere else.

Amounts stay exact ``Decimal``: DuckDB holds them as ``DECIMAL(18, 6)`` and sums them exactly.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa
from sqlalchemy import select

from core.accounts import load_aliases
from core.auth import Account
from core.domain.accounts import account_label, resolve_account_key
from core.domain.money import canonical_decimal
from core.matching.rules import RuleSet, load_rules, parse_rules
from core.matching.sql import (BUSINESS_DAY_INDEX, DAY_NUMBER, REFERENCE_DIGITS, REFERENCE_KEY, REFERENCE_NORMALISED, TO_MICRO,
                               tolerance_filters)
from core.review import Outcome, ReviewError, manual_match, net_difference
from core.review.breaks import manual_match_tolerance
from core.store import Store
from core.store.models import Break, Run
from core.views.format import format_money

__all__ = ["PAGE_SIZE", "SIDE_NAMES", "SORT_COLUMNS", "CurrencyTotals", "OpenItems", "SelectionNet", "SideFilters", "SidePage",
           "candidate_window_days", "candidates_for", "load_open_items", "mark_candidates", "match_selection",
           "selection_net", "side_accounts", "side_page", "totals_frame"]

PAGE_SIZE = 50
SIDE_NAMES = {"internal": "books", "external": "statement"}
SORT_COLUMNS = {"date": "date", "amount": "amount", "absolute amount": "abs(amount)", "reference": "reference", "account": "account",
                "id": "id"}
_ROW_COLUMNS = ["id", "version", "account", "date", "amount", "currency", "reference", "description", "reason"]


class SideFilters(NamedTuple):
    """What one side of the workspace is narrowed to; every filter left empty keeps everything."""

    account: str | None = None  # an account key
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    amount_min: Decimal | None = None  # absolute amount
    amount_max: Decimal | None = None
    text: str = ""  # in the reference or the description, case ignored


class CurrencyTotals(NamedTuple):
    currency: str
    count: int
    money_in: Decimal
    money_out: Decimal
    net: Decimal


class SidePage(NamedTuple):
    """One page of one side: its rows, how many items pass the filters, and their totals per currency."""

    rows: pd.DataFrame
    total: int
    page: int
    pages: int
    totals: tuple[CurrencyTotals, ...]

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return self.first + len(self.rows) - 1 if self.total else 0


@dataclass(frozen=True)
class OpenItems:
    """A run's open items held in DuckDB (table ``items``), with the run's rule set for the candidates."""

    run_id: int
    connection: duckdb.DuckDBPyConnection
    rules: RuleSet | None

    def query(self, sql: str, parameters: list | None = None):
        # A cursor of its own per query: one loaded run may be read by several sessions at once.
        cursor = self.connection.cursor()
        try:
            return cursor.execute(sql, parameters or [])
        except Exception:
            cursor.close()
            raise


def load_open_items(store: Store, run_id: int) -> OpenItems:
    """The run's open items (open breaks not waiting for an approver), both sides, into DuckDB, with the run's rule set.

    Read with plain SQL like the breaks grid (amounts as exact text or decimals into ``DECIMAL(18, 6)``); the
    engine's keys for scoring candidates (micro-units, day numbers) are worked out once here.
    """
    columns = ["id", "version", "side", "account", "date", "amount", "currency", "reference", "description", "reason"]
    with store.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(f"SELECT {', '.join(columns)} FROM breaks WHERE run_id = {int(run_id)} AND status = 'open' "
                       "AND pending_decision_id IS NULL")
        rows = cursor.fetchall()
        cursor.close()
    with store.session() as session:
        run = session.get(Run, run_id)
        rules_text, rules_sha256 = (run.rules_text, run.rules_sha256) if run is not None else ("", "")
    aliases = load_aliases(store)
    # Column by column, untouched: dates and amounts come as text from SQLite and typed from
    # PostgreSQL, and DuckDB casts either; accounts are keyed once per distinct text, in a join.
    values = list(zip(*rows)) if rows else [()] * len(columns)
    typed = {"id": pa.int64(), "version": pa.int64(), "side": pa.string(), "account": pa.string(), "currency": pa.string(),
             "reference": pa.string(), "description": pa.string(), "reason": pa.string()}
    table = pa.table({name: pa.array(column, typed.get(name)) for name, column in zip(columns, values)})
    texts = sorted(set(values[columns.index("account")]))
    keys = pa.table({"account": pa.array(texts, pa.string()),
                     "account_key": pa.array([resolve_account_key(text, aliases) for text in texts], pa.string())})
    connection = duckdb.connect()
    connection.register("loaded", table)
    connection.register("account_keys", keys)
    connection.execute(f"""
        CREATE TABLE items AS
        SELECT id, version, side, account, account_key, currency, coalesce(reference, '') AS reference,
               coalesce(description, '') AS description, reason, CAST(date AS DATE) AS date, CAST(amount AS DECIMAL(18, 6)) AS amount,
               lower(coalesce(reference, '') || ' ' || coalesce(description, '')) AS text,
               {TO_MICRO.format(a='CAST(amount AS DECIMAL(18, 6))')} AS micro,
               {DAY_NUMBER.format(d='CAST(date AS DATE)')} AS day, {BUSINESS_DAY_INDEX.format(d='CAST(date AS DATE)')} AS bidx
        FROM loaded JOIN account_keys USING (account)
    """)
    connection.unregister("account_keys")
    connection.unregister("loaded")
    return OpenItems(run_id, connection, _rules_of_run(run_id, rules_text, rules_sha256))


def _rules_of_run(run_id: int, rules_text: str, rules_sha256: str) -> RuleSet | None:
    """The rule set a run was made with: its kept text, or the default rule set when that is the one (same digest)."""
    if rules_text.strip():
        return parse_rules(rules_text, f"run {run_id}")
    default = load_rules()
    return default if default.sha256() == rules_sha256 else None


def side_accounts(items: OpenItems, side: str) -> dict[str, str]:
    """The accounts of one side for a filter: key -> label (its most common spelling), in order of label."""
    counts: dict[str, dict[str, int]] = {}
    for key, text, n in items.query("SELECT account_key, account, count(*) FROM items WHERE side = ? GROUP BY ALL", [side]).fetchall():
        counts.setdefault(key, {})[text] = n
    labels = {key: account_label(spellings) for key, spellings in counts.items()}
    return dict(sorted(labels.items(), key=lambda item: (item[1], item[0])))


def _where(side: str, filters: SideFilters) -> tuple[str, list]:
    conditions, parameters = ["side = ?"], [side]
    if filters.account:
        conditions.append("account_key = ?")
        parameters.append(filters.account)
    if filters.date_from is not None:
        conditions.append("date >= ?")
        parameters.append(filters.date_from)
    if filters.date_to is not None:
        conditions.append("date <= ?")
        parameters.append(filters.date_to)
    # Amount bounds compared exactly, as decimals of the column's type, never as text or floats.
    if filters.amount_min is not None:
        conditions.append("abs(amount) >= CAST(? AS DECIMAL(38, 6))")
        parameters.append(str(filters.amount_min))
    if filters.amount_max is not None:
        conditions.append("abs(amount) <= CAST(? AS DECIMAL(38, 6))")
        parameters.append(str(filters.amount_max))
    if filters.text.strip():
        conditions.append("contains(text, ?)")
        parameters.append(filters.text.strip().lower())
    return " AND ".join(conditions), parameters


def side_page(items: OpenItems, side: str, filters: SideFilters = SideFilters(), sort: str = "date", descending: bool = False,
              page: int = 1) -> SidePage:
    """One page of a side's open items, filtered and sorted, and the totals of everything that passes the filters.

    Args:
        side: ``internal`` (books) or ``external`` (statement).
        sort: a key of :data:`SORT_COLUMNS`; ties go by id, so a page never shifts.
        page: from 1; a page past the end shows the last one.

    Returns:
        The page's rows (with ``amount_shown``, the amount as text per currency), the count that
        passes the filters, the page and number of pages, and count, money in, money out and net
        per currency of everything that passes.
    """
    if side not in SIDE_NAMES:
        raise ValueError(f"side must be internal or external, not {side!r}")
    if sort not in SORT_COLUMNS:
        raise ValueError(f"sort by one of {', '.join(SORT_COLUMNS)}, not {sort!r}")
    where, parameters = _where(side, filters)
    totals = tuple(CurrencyTotals(currency, int(n), canonical_decimal(money_in), canonical_decimal(money_out),
                                  canonical_decimal(money_in + money_out))
                   for currency, n, money_in, money_out in items.query(
                       f"SELECT currency, count(*), coalesce(sum(amount) FILTER (WHERE amount > 0), 0), "
                       f"coalesce(sum(amount) FILTER (WHERE amount < 0), 0) FROM items WHERE {where} GROUP BY currency ORDER BY currency",
                       parameters).fetchall())
    total = sum(t.count for t in totals)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(max(1, int(page)), pages)
    direction = "DESC" if descending else "ASC"
    rows = items.query(f"SELECT {', '.join(_ROW_COLUMNS)} FROM items WHERE {where} ORDER BY {SORT_COLUMNS[sort]} {direction}, id "
                       f"LIMIT {PAGE_SIZE} OFFSET {(page - 1) * PAGE_SIZE}", parameters).fetchall()
    frame = pd.DataFrame.from_records(rows, columns=_ROW_COLUMNS)
    frame["amount"] = [canonical_decimal(a) for a in frame["amount"]]
    frame.insert(frame.columns.get_loc("currency") + 1, "amount_shown",
                 [format_money(a, c) for a, c in zip(frame["amount"], frame["currency"])])
    return SidePage(frame, total, page, pages, totals)


def totals_frame(totals: tuple[CurrencyTotals, ...]) -> pd.DataFrame:
    """Totals per currency as shown under a grid: items, money in, money out and net, amounts as text per currency."""
    return pd.DataFrame([{"currency": t.currency, "items": f"{t.count:,}", "money in": format_money(t.money_in, t.currency),
                          "money out": format_money(t.money_out, t.currency), "net": format_money(t.net, t.currency)} for t in totals],
                        columns=["currency", "items", "money in", "money out", "net"])


def mark_candidates(rows: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    """A page's rows with a ``candidate`` column first: ``#1`` for the best candidate shown among them, empty for the others."""
    rank = dict(zip(candidates["id"], candidates["rank"]))
    return rows.assign(candidate=[f"#{rank[i]}" if i in rank else "" for i in rows["id"]])[["candidate", *rows.columns]]


def candidate_window_days(rules: RuleSet | None) -> int:
    """How far apart in calendar days a candidate may be: the widest date window of the run's passes.

    A window of business days spans the weekends within it (n business days, at most
    n + 2 * ceil(n / 5) calendar days). Without a rule set, 10 days.
    """
    if rules is None:
        return 10
    return max(p.date_window + (2 * math.ceil(p.date_window / 5) if p.business_days else 0) for p in rules.passes)


def _one_to_one_passes(rules: RuleSet | None):
    """The run's passes a single pair can meet: one-to-one, on account and currency alone."""
    if rules is None:
        return []
    return [p for p in rules.passes if p.cardinality == "1:1" and p.equality_keys == ("account", "currency")]


def _fits_pass_sql(rules: RuleSet | None, b: str, s: str) -> str:
    """SQL naming the first one-to-one pass whose reference rule, tolerance and window a pair meets (``b`` the books' table alias,
    ``s`` the statement's)."""
    cases = []
    for rule_pass in _one_to_one_passes(rules):
        days = f"abs({s}.bidx - {b}.bidx)" if rule_pass.business_days else f"abs({s}.day - {b}.day)"
        conditions = [f"{days} <= {rule_pass.date_window}"] + tolerance_filters(rule_pass, f"{b}.micro", f"{s}.micro")
        if rule_pass.reference != "ignore":
            key = REFERENCE_KEY[rule_pass.reference]
            conditions += [f"{b}.reference <> ''", f"{key.format(r=f'{b}.reference')} = {key.format(r=f'{s}.reference')}"]
        cases.append(f"WHEN {' AND '.join(conditions)} THEN '{rule_pass.name}'")
    return f"CASE {' '.join(cases)} END" if cases else "CAST(NULL AS VARCHAR)"


def candidates_for(items: OpenItems, record_id: int, limit: int = 10) -> pd.DataFrame:
    """The other side's open items that could match one record, best first, each with why.

    Same account key and currency, within :func:`candidate_window_days`, ranked as the engine's
    one-to-one passes rank a record's candidates: smallest amount difference, then references
    that agree (normalised, or by their number), then fewest days apart, then id.

    Returns:
        ``rank``, ``id``, ``version``, ``account``, ``date``, ``amount``, ``amount_shown``,
        ``currency``, ``reference``, ``description``, ``difference`` (statement less books),
        ``days_apart``, ``reference_agreement``, ``fits_pass`` (the first one-to-one pass of the
        run's rules whose tolerances the pair meets, or empty) and ``explanation``. Empty when
        the record is not among the open items.
    """
    window = candidate_window_days(items.rules)
    picked = items.query("SELECT side FROM items WHERE id = ?", [record_id]).fetchone()
    columns = ["rank", "id", "version", "account", "date", "amount", "amount_shown", "currency", "reference", "description",
               "difference", "days_apart", "reference_agreement", "fits_pass", "explanation"]
    if picked is None:
        return pd.DataFrame(columns=columns)
    books, statement = ("p", "o") if picked[0] == "internal" else ("o", "p")
    # Reference keys are worked out for the picked record and its neighbours only, not for every item.
    keys = "coalesce({norm}, '') AS ref_norm, coalesce({digits}, '') AS ref_digits"
    ranked = items.query(f"""
        WITH picked AS (SELECT * FROM items WHERE id = ?),
             p AS (SELECT *, {keys.format(norm=REFERENCE_NORMALISED.format(r='reference'), digits=REFERENCE_DIGITS.format(r='reference'))}
                   FROM picked),
             o AS (SELECT i.*, {keys.format(norm=REFERENCE_NORMALISED.format(r='i.reference'),
                                            digits=REFERENCE_DIGITS.format(r='i.reference'))}
                   FROM items i JOIN picked q ON i.side <> q.side AND i.account_key = q.account_key AND i.currency = q.currency
                   WHERE abs(i.day - q.day) <= {window})
        SELECT o.id, o.version, o.account, o.date, o.amount, o.currency, o.reference, o.description,
               {statement}.amount - {books}.amount AS difference, CAST({statement}.day - {books}.day AS INTEGER) AS days_apart,
               CASE WHEN p.reference <> '' AND p.reference = o.reference THEN 'same reference'
                    WHEN p.ref_norm <> '' AND p.ref_norm = o.ref_norm THEN 'same reference once normalised'
                    WHEN p.ref_digits <> '' AND p.ref_digits = o.ref_digits THEN 'same reference number'
                    WHEN p.reference = '' OR o.reference = '' THEN 'no reference to compare'
                    ELSE 'references differ' END AS reference_agreement,
               {_fits_pass_sql(items.rules, books, statement)} AS fits_pass
        FROM p, o
        ORDER BY abs(o.micro - p.micro),
                 CASE WHEN (p.ref_norm <> '' AND p.ref_norm = o.ref_norm) OR (p.ref_digits <> '' AND p.ref_digits = o.ref_digits)
                      THEN 0 ELSE 1 END,
                 abs(o.day - p.day), o.id
        LIMIT {int(limit)}
    """, [record_id]).fetchall()
    frame = pd.DataFrame.from_records(ranked, columns=[c for c in columns if c not in ("rank", "amount_shown", "explanation")])
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    frame["amount"] = [canonical_decimal(a) for a in frame["amount"]]
    frame["difference"] = [canonical_decimal(d) for d in frame["difference"]]
    frame.insert(frame.columns.get_loc("amount") + 1, "amount_shown",
                 [format_money(a, c) for a, c in zip(frame["amount"], frame["currency"])])
    frame["fits_pass"] = frame["fits_pass"].fillna("")
    status = {p.name: p.status for p in (items.rules.passes if items.rules else ())}
    frame["explanation"] = [_explain(d, c, days, agreement, fits, status.get(fits, ""))
                            for d, c, days, agreement, fits in zip(frame["difference"], frame["currency"], frame["days_apart"],
                                                                    frame["reference_agreement"], frame["fits_pass"])]
    return frame[columns]


def _explain(difference: Decimal, currency: str, days: int, agreement: str, fits: str, status: str) -> str:
    amount = "same amount" if difference == 0 else f"statement {'more' if difference > 0 else 'less'} by {currency} " \
                                                    f"{format_money(abs(difference), currency)}"
    apart = "same day" if days == 0 else f"{abs(days)} day{'s' if abs(days) != 1 else ''} " + ("later" if days > 0 else "earlier")
    verdict = f"meets pass {fits} ({status})" if fits else "meets no one-to-one pass of the run's rules"
    return f"{amount} · {agreement} · statement {apart} · {verdict}"


class SelectionNet(NamedTuple):
    """What a selection adds up to, or why it cannot be matched.

    ``refusal`` is empty when the records can be matched; otherwise it says why not, in words,
    and ``net`` is None when the records have no one net (two currencies).
    """

    books: int
    statement: int
    currency: str | None
    books_total: Decimal | None
    statement_total: Decimal | None
    net: Decimal | None
    nets_to_zero: bool
    refusal: str

    @property
    def count(self) -> int:
        return self.books + self.statement


def selection_net(store: Store, chosen: dict[int, int]) -> SelectionNet:
    """The net difference of the picked records (statement less books), read from the store as they are now.

    Args:
        chosen: break id -> the version the person saw.

    Returns:
        The counts per side, the totals and net in the one currency, whether the net is within
        the manual-match tolerance, and the refusal in words when the match would be refused:
        fewer than two records, two currencies, two accounts, or a record changed, decided or
        gone since it was picked.
    """
    if not chosen:
        return SelectionNet(0, 0, None, None, None, None, False, "Nothing is selected.")
    ids = sorted(chosen)
    with store.session() as session:
        rows = session.scalars(select(Break).where(Break.id.in_(ids))).all()
        session.expunge_all()
    found = {r.id: r for r in rows}
    books = sum(1 for r in rows if r.side == "internal")
    statement = len(rows) - books
    refusal = ""
    if missing := [i for i in ids if i not in found]:
        refusal = f"Record {missing[0]} no longer exists; pick again."
    elif changed := [r for r in rows if r.version != chosen[r.id]]:
        first = changed[0]
        by = f" by {first.updated_by}" if first.updated_by else ""
        refusal = f"Record {first.id} was changed{by} since you picked it (it is {first.status} now); pick again."
    elif waiting := [r for r in rows if r.pending_decision_id is not None]:
        refusal = f"Record {waiting[0].id} waits for an approver (decision {waiting[0].pending_decision_id}); it cannot be matched now."
    elif closed := [r for r in rows if r.status != "open"]:
        refusal = f"Record {closed[0].id} is {closed[0].status}, not open."
    currencies = sorted({r.currency for r in rows})
    if len(currencies) > 1:
        return SelectionNet(books, statement, None, None, None, None, False, refusal or (
            f"The selection mixes {' and '.join(currencies)}: it has no one net difference, and records of different currencies "
            "cannot be matched. Pick records of one currency."))
    currency = currencies[0] if currencies else None
    books_total = canonical_decimal(sum((r.amount for r in rows if r.side == "internal"), Decimal(0)))
    statement_total = canonical_decimal(sum((r.amount for r in rows if r.side == "external"), Decimal(0)))
    net = canonical_decimal(net_difference(sorted(rows, key=lambda r: r.id)))
    accounts = sorted({r.account for r in rows})
    if not refusal and len(accounts) > 1:
        refusal = f"The selection is on {len(accounts)} accounts ({', '.join(accounts)}); a match by hand is on one account."
    if not refusal and len(rows) < 2:
        refusal = "Pick at least two records to match."
    return SelectionNet(books, statement, currency, books_total, statement_total, net, abs(net) <= manual_match_tolerance(), refusal)


def match_selection(store: Store, chosen: dict[int, int], actor: Account, reason_code: str | None = None,
                    comment: str = "") -> Outcome:
    """Match the picked records by hand (``core.review.manual_match``), at the versions the person saw.

    A reason code is needed when they do not net to within the manual-match tolerance; above
    the approval threshold the match waits for an approver.

    Raises:
        ReviewError: the selection's refusal in words (see :func:`selection_net`), or the match's
            own (a reason code missing, a record changed meanwhile: ``ConflictError``).
    """
    net = selection_net(store, chosen)
    if net.refusal:
        raise ReviewError(net.refusal)
    if not net.nets_to_zero and not reason_code:
        raise ReviewError(f"the records differ by {net.currency} {format_money(net.net, net.currency)}; "
                          "give a reason code to match them anyway")
    return manual_match(store, sorted(chosen), dict(chosen), actor, reason_code=reason_code or None, comment=comment)

