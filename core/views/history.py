"""The archive of cleared items per account: matched by the engine in any run, or resolved
and matched by hand, newest first, a page at a time. The account asked for is found by its
key (any spelling, or an alias, finds all of the account's items); each item shows its account
as written.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pandas as pd
from sqlalchemy import and_, case, func, literal, select

from core.accounts import load_aliases, spellings_of_keys
from core.domain.accounts import resolve_account_key
from core.domain.money import canonical_decimal
from core.review import REASON_CODES
from core.runs.folder import all_runs_items, confirmed_items_sql, register_group_statuses
from core.store import Store
from core.store.models import Break, MatchGroup, MatchItem
from core.views.breaks import SIDE_NAMES
from core.views.format import Grid, readable_grid

__all__ = ["CLEARED_AS", "HISTORY_TITLES", "HistoryPage", "history_grid", "history_page"]


class HistoryPage(NamedTuple):
    """One page of the archive of cleared items, and how many there are in all."""

    frame: pd.DataFrame
    total: int


HISTORY_COLUMNS = ["run_id", "cleared_as", "side", "record_id", "account", "date", "amount", "currency", "detail"]


CLEARED_AS = {"matched": None, "matched by hand": "matched", "resolved": "resolved"}  # how an item was cleared -> break status


def history_page(store: Store, account: str = "", search: str = "", *, cleared_as: tuple[str, ...] = (), offset: int = 0,
                 limit: int = 500) -> HistoryPage:
    """Cleared items archived per account, newest first: records of the groups that stand
    confirmed now in any run (the runs' Parquet files, each group's status in the store
    overriding the engine's: approved proposals count, proposed, rejected or undone groups do
    not) and breaks resolved or matched by hand (from the store).

    Both sources give one typed frame: ``date`` holds ``datetime.date`` and ``amount`` exact
    ``Decimal``, whichever source a row comes from. ``search`` looks in record ids and references;
    ``cleared_as`` keeps some of the kinds in ``CLEARED_AS`` (all when empty). ``account``, any
    spelling, keeps the items of that account's key (all when blank).

    Returns:
        The rows ``offset`` to ``offset + limit`` of the merged, date-ordered archive, and the
        number of rows in all, so a page can say "showing N of M".
    """
    pattern = f"%{search.strip()}%"
    wanted = offset + limit
    files = all_runs_items(store.data_dir)
    rows: list[tuple] = []
    total = 0
    kinds = set(cleared_as or CLEARED_AS)
    aliases = load_aliases(store) if account.strip() else {}
    key = resolve_account_key(account, aliases)
    if files and "matched" in kinds:
        con = duckdb.connect()
        with store.session() as session:
            register_group_statuses(con, session.execute(select(MatchGroup.run_id, MatchGroup.match_id, MatchGroup.status)).all())
        source = f"({confirmed_items_sql(files, 'decided')})"
        spellings = (spellings_of_keys([r[0] for r in con.execute(f"SELECT DISTINCT account FROM {source}").fetchall()], [key], aliases)
                     if key else [])
        where = ("WHERE (? = '' OR list_contains(CAST(? AS VARCHAR[]), account)) "
                 "AND (record_id ILIKE ? OR coalesce(reference, '') ILIKE ?)")
        parameters = [key, spellings, pattern, pattern]
        total += con.execute(f"SELECT count(*) FROM {source} {where}", parameters).fetchone()[0]
        rows += con.execute(f"""
            SELECT run_id, 'matched', side, record_id, account, date,
                   amount, currency, 'match ' || CAST(match_id AS VARCHAR)
            FROM {source} {where} ORDER BY date DESC, record_id LIMIT {int(wanted)}
        """, parameters).fetchall()
    # A carried break matched by the engine in a later run is listed from that run's files; only
    # records in a group made by hand are "matched by hand".
    by_hand = (select(MatchItem.id).join(MatchGroup, MatchGroup.id == MatchItem.group_id)
               .where(MatchGroup.rule == "manual", MatchGroup.status == "confirmed", MatchItem.run_id == Break.run_id,
                      MatchItem.side == Break.side, MatchItem.record_id == Break.record_id).exists())
    conditions = [Break.status.in_([CLEARED_AS[k] for k in kinds if CLEARED_AS[k]]), (Break.status != "matched") | by_hand]
    if search.strip():
        conditions.append(Break.record_id.ilike(pattern) | Break.reference.ilike(pattern))
    how = case((Break.status == "matched", literal("matched by hand")), else_=Break.status)
    with store.session() as session:
        if key:
            conditions.append(Break.account.in_(spellings_of_keys(session.scalars(select(Break.account).distinct()).all(), [key], aliases)))
        total += session.scalar(select(func.count(Break.id)).where(and_(*conditions)))
        rows += session.execute(select(Break.run_id, how, Break.side, Break.record_id, Break.account, Break.date, Break.amount,
                                       Break.currency, func.coalesce(Break.resolution, ""))
                                .where(and_(*conditions)).order_by(Break.date.desc(), Break.record_id).limit(wanted)).all()
    rows.sort(key=lambda r: r[3])
    rows.sort(key=lambda r: _as_date(r[5]), reverse=True)
    kept = [(run_id, how, side, record_id, acct, _as_date(day), canonical_decimal(Decimal(amount)), currency, detail)
            for run_id, how, side, record_id, acct, day, amount, currency, detail in rows[offset:wanted]]
    return HistoryPage(pd.DataFrame(kept, columns=HISTORY_COLUMNS), int(total))


def _as_date(value) -> dt.date:
    """A date from either source: DuckDB and the store drivers hand back ``date`` or ``datetime``."""
    return value.date() if isinstance(value, dt.datetime) else value



HISTORY_TITLES = {"date": "Date", "cleared_as": "Cleared as", "side_name": "Side", "account": "Account", "amount": "Amount",
                  "currency": "Currency", "detail": "Detail", "record_id": "Record", "run_id": "Run"}


def history_grid(frame: pd.DataFrame) -> Grid:
    """A page of the archive as a readable grid: titled columns, books or statement, a resolution by its
    name, amounts in their currency's form."""
    frame = frame.assign(side_name=[SIDE_NAMES.get(s, s) for s in frame["side"]] if len(frame) else [],
                         detail=[REASON_CODES.get(d, d) if how == "resolved" else d for how, d in zip(frame["cleared_as"], frame["detail"])]
                         if len(frame) else [])
    return readable_grid(frame, HISTORY_TITLES, money={"amount": "currency"}, dates=("date",))
