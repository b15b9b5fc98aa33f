"""What the workbench pages show: breaks with their age, proposed and confirmed matches,
the audit log and the archive of cleared items, as tables ready to render.

Amounts stay ``Decimal`` in every table; filters on amounts are applied to those exact
values, never in SQL text comparison.
"""

from __future__ import annotations

import datetime as dt
import glob
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pandas as pd
from sqlalchemy import and_, case, func, literal, select

from core.money import canonical_decimal
from core.store import Store
from core.store.models import AuditEntry, Break, DatasetRecord, MatchGroup, Run

__all__ = ["AGE_BUCKETS", "BreakFilters", "CLEARED_AS", "HistoryPage", "aging_summary", "audit_frame", "breaks_stamp", "confirmed_groups",
           "dataset_accounts", "filter_breaks", "filter_proposals", "history_page", "load_breaks", "money_per_currency", "picked_records",
           "proposed_frame", "recent_runs", "reconcile_selection", "run_account_summary"]

AGE_BUCKETS = ("0-7", "8-30", "31-90", "90+")
BREAK_COLUMNS = ["id", "version", "side", "account", "date", "amount", "currency", "reference", "description", "reason", "status",
                 "resolution", "first_seen_on", "pending_decision_id", "run_id", "record_id"]



class BreakFilters(NamedTuple):
    accounts: tuple[str, ...] = ()
    sides: tuple[str, ...] = ()
    age_buckets: tuple[str, ...] = ()
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    statuses: tuple[str, ...] = ("open",)
    reasons: tuple[str, ...] = ()


def recent_runs(store: Store, limit: int = 50) -> list[Run]:
    with store.session() as session:
        return list(session.scalars(select(Run).order_by(Run.id.desc()).limit(limit)))


def breaks_stamp(store: Store, run_id: int) -> tuple[int, int]:
    """Changes whenever a break of the run is added or changed: its count and versions."""
    with store.session() as session:
        count, versions = session.execute(select(func.count(Break.id), func.coalesce(func.sum(Break.version), 0))
                                          .where(Break.run_id == run_id)).one()
    return int(count), int(versions)


def load_breaks(store: Store, run_id: int, today: dt.date | None = None) -> pd.DataFrame:
    """Every break of a run with its age in days and age bucket.

    Read with plain SQL and converted column by column (amounts to exact ``Decimal``), which
    keeps 100,000 breaks well under a second.
    """
    today = today or dt.date.today()
    names = ", ".join(BREAK_COLUMNS)
    with store.engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(f"SELECT {names} FROM breaks WHERE run_id = {int(run_id)} ORDER BY account, date, id")
        rows = cursor.fetchall()
        cursor.close()
    frame = pd.DataFrame.from_records(rows, columns=BREAK_COLUMNS)
    if frame.empty:
        return frame.assign(age_days=pd.Series(dtype="int64"), age_bucket=pd.Series(dtype="object"))
    frame["amount"] = [canonical_decimal(a if isinstance(a, Decimal) else Decimal(a)) for a in frame["amount"]]
    for column in ("date", "first_seen_on"):
        frame[column] = pd.to_datetime(frame[column]).dt.date
    days = (pd.Timestamp(today) - pd.to_datetime(frame["first_seen_on"])).dt.days
    frame["age_days"] = days.astype("int64")
    frame["age_bucket"] = pd.cut(days, bins=[-10**9, 7, 30, 90, 10**9], labels=list(AGE_BUCKETS)).astype(str)
    return frame


def filter_breaks(frame: pd.DataFrame, filters: BreakFilters) -> pd.DataFrame:
    """The breaks that pass the filters; the amount range applies to the absolute amount."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    for column, wanted in (("account", filters.accounts), ("side", filters.sides), ("status", filters.statuses),
                           ("reason", filters.reasons), ("age_bucket", filters.age_buckets)):
        if wanted:
            keep &= frame[column].isin(wanted)
    if filters.amount_min is not None:
        keep &= pd.Series([abs(a) >= filters.amount_min for a in frame["amount"]], index=frame.index)
    if filters.amount_max is not None:
        keep &= pd.Series([abs(a) <= filters.amount_max for a in frame["amount"]], index=frame.index)
    return frame[keep].reset_index(drop=True)



def aging_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Breaks per age bucket and side: how many, and their absolute amount."""
    totals = {}
    if not frame.empty:
        for (bucket, side), part in frame.groupby(["age_bucket", "side"]):
            totals[(bucket, side)] = (len(part), sum((abs(a) for a in part["amount"]), Decimal(0)))
    return pd.DataFrame([{"age": bucket, "side": side, "breaks": totals.get((bucket, side), (0, Decimal(0)))[0],
                          "amount": totals.get((bucket, side), (0, Decimal(0)))[1]}
                         for bucket in AGE_BUCKETS for side in ("internal", "external")])


PROPOSAL_COLUMNS = ["id", "version", "match_id", "rule", "account", "currency", "books", "books_amount", "statement",
                    "statement_amount", "amount_diff", "days_diff", "explanation", "size"]


def proposed_frame(store: Store, run_id: int) -> pd.DataFrame:
    """Proposed matches of a run, one row per group with both sides' records and totals.

    ``books`` and ``statement`` list each side's records (id, date, amount); ``size`` is the
    larger side's absolute total, the money an approval covers.
    """
    from core.store.models import MatchItem

    with store.session() as session:
        groups = session.execute(select(MatchGroup.id, MatchGroup.version, MatchGroup.match_id, MatchGroup.rule, MatchGroup.amount_diff,
                                        MatchGroup.days_diff, MatchGroup.explanation)
                                 .where(MatchGroup.run_id == run_id, MatchGroup.status == "proposed").order_by(MatchGroup.match_id)).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.record_id, MatchItem.account, MatchItem.currency,
                                       MatchItem.amount, MatchItem.date)
                                .where(MatchItem.run_id == run_id).order_by(MatchItem.group_id, MatchItem.date, MatchItem.record_id)).all()
    members: dict[int, list] = {}
    for item in items:
        members.setdefault(item.group_id, []).append(item)
    rows = []
    for group in groups:
        found = members.get(group.id, [])
        sides = {side: [i for i in found if i.side == side] for side in ("internal", "external")}
        totals = {side: sum((canonical_decimal(Decimal(i.amount)) for i in part), Decimal(0)) for side, part in sides.items()}
        rows.append([group.id, group.version, group.match_id, group.rule, ", ".join(sorted({i.account for i in found})),
                     ", ".join(sorted({i.currency for i in found})),
                     "; ".join(f"{i.record_id} {i.date} {canonical_decimal(Decimal(i.amount))}" for i in sides["internal"]),
                     totals["internal"],
                     "; ".join(f"{i.record_id} {i.date} {canonical_decimal(Decimal(i.amount))}" for i in sides["external"]),
                     totals["external"], canonical_decimal(Decimal(group.amount_diff)), group.days_diff, group.explanation,
                     max(abs(totals["internal"]), abs(totals["external"]))])
    return pd.DataFrame(rows, columns=PROPOSAL_COLUMNS)


def filter_proposals(frame: pd.DataFrame, accounts: tuple[str, ...] = (), amount_min: Decimal | None = None,
                     amount_max: Decimal | None = None, rules: tuple[str, ...] = ()) -> pd.DataFrame:
    """The proposals on the given accounts and passes whose size (larger side's absolute total) is in range."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    if accounts:
        keep &= pd.Series([bool(set(a.split(", ")) & set(accounts)) for a in frame["account"]], index=frame.index)
    if rules:
        keep &= frame["rule"].isin(rules)
    if amount_min is not None:
        keep &= pd.Series([size >= amount_min for size in frame["size"]], index=frame.index)
    if amount_max is not None:
        keep &= pd.Series([size <= amount_max for size in frame["size"]], index=frame.index)
    return frame[keep].reset_index(drop=True)


def money_per_currency(frame: pd.DataFrame, column: str) -> dict[str, Decimal]:
    """The total of an amount column per currency, currencies in alphabetical order."""
    totals: dict[str, Decimal] = {}
    for currency, amount in zip(frame["currency"], frame[column]):
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return dict(sorted(totals.items()))


def picked_records(shown: list[tuple[int, int]], rows: list[int]) -> dict[int, int]:
    """The records behind the selected row positions of a grid, by id with the version shown.

    Args:
        shown: (id, version) of every row, in the order of the grid the person clicked on.
        rows: the selected positions in that grid; a position past its end names nothing.
    """
    return {shown[r][0]: shown[r][1] for r in rows if 0 <= r < len(shown)}


def reconcile_selection(chosen: dict[int, int], shown: pd.DataFrame) -> tuple[dict[int, int], list[int]]:
    """Keep the chosen records still among ``shown`` (an ``id`` column); the others are dropped.

    Returns:
        The kept records (id -> version the person saw) and the ids dropped, in their order.
    """
    ids = set(shown["id"].tolist()) if len(shown) else set()
    return {i: v for i, v in chosen.items() if i in ids}, [i for i in chosen if i not in ids]


def confirmed_groups(store: Store, run_id: int, search: str = "", limit: int = 500, accounts: tuple[str, ...] = ()) -> pd.DataFrame:
    """Confirmed matches of a run (engine and manual), newest state, optionally searched by record id
    or account and kept to ``accounts``; at most ``limit`` groups.

    ``version`` is the group's version in the store, 1 for an engine group nobody has touched yet:
    an unmatch names it, so a change made meanwhile by someone else is refused.
    """
    folder = store.data_dir / "runs" / str(run_id)
    with store.session() as session:
        stored = {m: (s, v) for m, s, v in session.execute(select(MatchGroup.match_id, MatchGroup.status, MatchGroup.version)
                                                          .where(MatchGroup.run_id == run_id)).all()}
    con = duckdb.connect()
    pattern = f"%{search.strip()}%"
    cursor = con.execute(f"""
        SELECT g.match_id, g.rule, g.status, g.amount_diff, g.days_diff,
               string_agg(i.side || ' ' || i.record_id || ' ' || {_AMOUNT_TEXT}, ' | ' ORDER BY i.side, i.record_id) AS records,
               any_value(i.account) AS account
        FROM read_parquet('{folder / 'groups.parquet'}') g JOIN read_parquet('{folder / 'items.parquet'}') i USING (match_id)
        WHERE g.status = 'confirmed'
        GROUP BY ALL
        HAVING (? = '%%' OR bool_or(i.record_id ILIKE ? OR i.account ILIKE ?)) AND (len(?) = 0 OR bool_or(list_contains(?, i.account)))
        ORDER BY g.match_id LIMIT {int(limit)}
    """, [pattern, pattern, pattern, list(accounts), list(accounts)]) if (folder / "groups.parquet").exists() else None
    engine = pd.DataFrame(cursor.fetchall(), columns=[c[0] for c in cursor.description]) if cursor is not None else pd.DataFrame()
    if not engine.empty:
        # Exact decimals from both sources, in one canonical scale, so the frame has one type.
        engine["amount_diff"] = [canonical_decimal(a) for a in engine["amount_diff"]]
        engine["status"] = [stored.get(m, (s, 1))[0] for m, s in zip(engine["match_id"], engine["status"])]
        engine["version"] = [stored.get(m, (s, 1))[1] for m, s in zip(engine["match_id"], engine["status"])]
        engine = engine[engine["status"] == "confirmed"]
    in_files = set(engine["match_id"]) if not engine.empty else set()
    extra = [g for g, (s, _) in stored.items() if s == "confirmed" and g not in in_files]
    found = _sql_groups(store, run_id, extra) if extra else pd.DataFrame()
    if not found.empty and search.strip():
        needle = search.strip().lower()
        found = found[[needle in r.lower() or needle in a.lower() for r, a in zip(found["records"], found["account"])]]
    if not found.empty and accounts:
        found = found[found["account"].isin(accounts)]
    return pd.concat([engine, found], ignore_index=True) if not found.empty else engine.reset_index(drop=True)


# An amount as text in its canonical scale (at least two places, no trailing zeros beyond), exactly.
_AMOUNT_TEXT = ("CASE WHEN i.amount = round(i.amount, 2) THEN CAST(CAST(i.amount AS DECIMAL(38, 2)) AS VARCHAR) "
                "ELSE rtrim(CAST(i.amount AS VARCHAR), '0') END")


def _sql_groups(store: Store, run_id: int, match_ids: list[int]) -> pd.DataFrame:
    from core.store.models import MatchItem

    with store.session() as session:
        groups = session.execute(select(MatchGroup.match_id, MatchGroup.rule, MatchGroup.status, MatchGroup.amount_diff,
                                        MatchGroup.days_diff, MatchGroup.id, MatchGroup.version)
                                 .where(MatchGroup.run_id == run_id, MatchGroup.match_id.in_(match_ids))).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.record_id, MatchItem.amount, MatchItem.account)
                                .where(MatchItem.group_id.in_([g.id for g in groups]))).all()
    by_group: dict[int, list] = {}
    for group_id, side, record_id, amount, account in items:
        by_group.setdefault(group_id, []).append((side, record_id, amount, account))
    rows = []
    for match_id, rule, status, amount_diff, days_diff, group_id, version in groups:
        members = sorted(by_group.get(group_id, []))
        rows.append({"match_id": match_id, "rule": rule, "status": status, "amount_diff": canonical_decimal(Decimal(amount_diff)),
                     "days_diff": days_diff,
                     "records": " | ".join(f"{s} {r} {canonical_decimal(Decimal(a))}" for s, r, a, _ in members),
                     "account": members[0][3] if members else "",
                     "version": version})
    return pd.DataFrame(rows)


def run_account_summary(store: Store, run_id: int) -> pd.DataFrame:
    """Per account of a run: records matched and open on each side, from the run's files."""
    folder = store.data_dir / "runs" / str(run_id)
    con = duckdb.connect()
    return con.execute(f"""
        WITH m AS (SELECT account, side, count(*) AS n, sum(amount) AS amount FROM read_parquet('{folder / 'items.parquet'}') GROUP BY ALL),
             b AS (SELECT account, side, count(*) AS n, sum(amount) AS amount FROM read_parquet('{folder / 'breaks.parquet'}') GROUP BY ALL)
        SELECT coalesce(m.account, b.account) AS account, coalesce(m.side, b.side) AS side,
               coalesce(m.n, 0) AS matched, coalesce(b.n, 0) AS open,
               coalesce(m.amount, 0) AS matched_amount, coalesce(b.amount, 0) AS open_amount
        FROM m FULL JOIN b ON m.account = b.account AND m.side = b.side
        ORDER BY 1, 2
    """).df()


def dataset_accounts(store: Store, dataset: DatasetRecord) -> list[str]:
    con = duckdb.connect()
    path = store.data_dir / dataset.parquet_path
    return [row[0] for row in con.execute(f"SELECT DISTINCT account FROM read_parquet('{path}') ORDER BY 1").fetchall()]


def audit_frame(store: Store, actor: str = "", action: str = "", entity: str = "", since: dt.date | None = None,
                until: dt.date | None = None, limit: int = 5000, *, entity_type: str = "", entity_id: str = "") -> pd.DataFrame:
    """The audit log, newest first, filtered by who, what, which entity (type or id) and when."""
    conditions = []
    if entity_type:
        conditions.append(AuditEntry.entity_type == entity_type)
    if entity_id:
        conditions.append(AuditEntry.entity_id == entity_id)
    if actor:
        conditions.append(AuditEntry.actor == actor)
    if action:
        conditions.append(AuditEntry.action == action)
    if entity:
        conditions.append((AuditEntry.entity_type == entity) | (AuditEntry.entity_id == entity))
    if since:
        conditions.append(AuditEntry.at >= dt.datetime.combine(since, dt.time.min, dt.UTC))
    if until:
        conditions.append(AuditEntry.at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, dt.UTC))
    with store.session() as session:
        rows = session.execute(select(AuditEntry.id, AuditEntry.at, AuditEntry.actor, AuditEntry.action, AuditEntry.entity_type,
                                      AuditEntry.entity_id, AuditEntry.before, AuditEntry.after)
                               .where(and_(True, *conditions)).order_by(AuditEntry.id.desc()).limit(limit)).all()
    frame = pd.DataFrame(rows, columns=["id", "at", "actor", "action", "entity_type", "entity_id", "before", "after"])
    for column in ("before", "after"):
        frame[column] = [_describe(state) for state in frame[column]]
    return frame


def _describe(state) -> str:
    if not state:
        return ""
    return ", ".join(f"{k}={v}" for k, v in sorted(state.items()))


class HistoryPage(NamedTuple):
    """One page of the archive of cleared items, and how many there are in all."""

    frame: pd.DataFrame
    total: int


HISTORY_COLUMNS = ["run_id", "cleared_as", "side", "record_id", "account", "date", "amount", "currency", "detail"]


CLEARED_AS = {"matched": None, "matched by hand": "matched", "resolved": "resolved"}  # how an item was cleared -> break status


def history_page(store: Store, account: str = "", search: str = "", *, cleared_as: tuple[str, ...] = (), offset: int = 0,
                 limit: int = 500) -> HistoryPage:
    """Cleared items archived per account, newest first: records matched by the engine in any
    run (from the runs' Parquet files) and breaks resolved or matched by hand (from the store).

    Both sources give one typed frame: ``date`` holds ``datetime.date`` and ``amount`` exact
    ``Decimal``, whichever source a row comes from. ``search`` looks in record ids and references;
    ``cleared_as`` keeps some of the kinds in ``CLEARED_AS`` (all when empty).

    Returns:
        The rows ``offset`` to ``offset + limit`` of the merged, date-ordered archive, and the
        number of rows in all, so a page can say "showing N of M".
    """
    pattern = f"%{search.strip()}%"
    wanted = offset + limit
    files = sorted(glob.glob(str(store.data_dir / "runs" / "*" / "items.parquet")))
    rows: list[tuple] = []
    total = 0
    kinds = set(cleared_as or CLEARED_AS)
    if files and "matched" in kinds:
        con = duckdb.connect()
        where = "WHERE (? = '' OR account = ?) AND (record_id ILIKE ? OR coalesce(reference, '') ILIKE ?)"
        parameters = [account, account, pattern, pattern]
        source = f"read_parquet({files!r}, filename = true)"
        total += con.execute(f"SELECT count(*) FROM {source} {where}", parameters).fetchone()[0]
        rows += con.execute(f"""
            SELECT CAST(regexp_extract(filename, 'runs/([0-9]+)/', 1) AS INTEGER), 'matched', side, record_id, account, date,
                   amount, currency, 'match ' || CAST(match_id AS VARCHAR)
            FROM {source} {where} ORDER BY date DESC, record_id LIMIT {int(wanted)}
        """, parameters).fetchall()
    conditions = [Break.status.in_([CLEARED_AS[k] for k in kinds if CLEARED_AS[k]])]
    if account:
        conditions.append(Break.account == account)
    if search.strip():
        conditions.append(Break.record_id.ilike(pattern) | Break.reference.ilike(pattern))
    how = case((Break.status == "matched", literal("matched by hand")), else_=Break.status)
    with store.session() as session:
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
