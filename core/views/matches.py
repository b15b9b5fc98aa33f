"""Matches as the pages show them: the proposed queue of a run, and its confirmed groups
(from the run's files and those made or touched by people in the store). Accounts are shown
as written and kept to a filter by key (:mod:`core.domain.accounts`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

import duckdb
import pandas as pd
import pyarrow as pa
from sqlalchemy import select

from core.accounts import load_aliases, spellings_of_keys
from core.domain.accounts import account_key, resolve_account_key
from core.domain.money import AmountError, canonical_decimal, parse_amount
from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import Break, MatchGroup, MatchItem
from core.views.format import Grid, format_money, readable_grid

__all__ = ["CONFIRMED_TITLES", "MATCH_TOTALS_TITLES", "PROPOSAL_TITLES", "confirmed_grid", "confirmed_groups", "describe_record", "group_references",
           "filter_proposals", "match_totals", "proposals_grid", "proposed_frame"]


PROPOSAL_COLUMNS = ["id", "version", "match_id", "rule", "account", "currency", "books_account", "books", "books_amount",
                    "statement_account", "statement", "statement_amount", "amount_diff", "days_diff", "explanation", "size",
                    "waits_for_decision", "account_key"]


class _Member(NamedTuple):
    """One record of a group, as the grids describe it."""

    side: str
    record_id: str
    account: str
    date: dt.date
    amount: Decimal
    currency: str
    reference: str = ""


def describe_record(member: _Member) -> str:
    """One record of a group for a person: its date, reference (its id when it has none) and amount in its currency's form."""
    return f"{member.date} · {member.reference or member.record_id} · {format_money(member.amount, member.currency)} {member.currency}"


def _sides(members: list[_Member]) -> dict:
    """Both sides of a group: each side's records as text, accounts and total, and the group's accounts and currencies."""
    sides = {side: [m for m in members if m.side == side] for side in ("internal", "external")}
    totals = {side: sum((m.amount for m in part), Decimal(0)) for side, part in sides.items()}
    return {"account": ", ".join(sorted({m.account for m in members})), "currency": ", ".join(sorted({m.currency for m in members})),
            "books_account": ", ".join(sorted({m.account for m in sides["internal"]})),
            "books": "; ".join(describe_record(m) for m in sides["internal"]), "books_amount": totals["internal"],
            "statement_account": ", ".join(sorted({m.account for m in sides["external"]})),
            "statement": "; ".join(describe_record(m) for m in sides["external"]), "statement_amount": totals["external"]}


def group_references(folder, match_ids: list[int]) -> dict[tuple[int, str, str], str]:
    """The references of a run's group members from its ``items.parquet``: (match id, side, record id) -> reference."""
    path = folder / "items.parquet"
    if not match_ids or not path.exists():
        return {}
    con = duckdb.connect()
    columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_path(path)})").fetchall()}
    if "reference" not in columns:
        return {}
    con.register("wanted", pa.table({"match_id": pa.array(match_ids, pa.int32())}))
    return {(m, side, r): ref or "" for m, side, r, ref in con.execute(
        f"SELECT match_id, side, record_id, reference FROM read_parquet({sql_path(path)}) SEMI JOIN wanted USING (match_id)").fetchall()}


def proposed_frame(store: Store, run_id: int) -> pd.DataFrame:
    """Proposed matches of a run, one row per group with both sides' records and totals.

    ``books`` and ``statement`` describe each side's records (date, reference, amount in its
    currency's form), with each side's accounts and exact total beside them; ``explanation`` is
    the engine's, in full. ``size`` is the larger side's absolute total, the money an approval
    covers. ``waits_for_decision`` is the decision a group waits on for an approver (``<NA>``
    when free): such a group cannot be decided again until the approver has, so a page leaves
    it out of what can be picked. ``account_key`` holds the accounts' keys after the aliases,
    as ``account`` their texts.
    """
    with store.session() as session:
        groups = session.execute(select(MatchGroup.id, MatchGroup.version, MatchGroup.match_id, MatchGroup.rule, MatchGroup.amount_diff,
                                        MatchGroup.days_diff, MatchGroup.explanation, MatchGroup.pending_decision_id)
                                 .where(MatchGroup.run_id == run_id, MatchGroup.status == "proposed").order_by(MatchGroup.match_id)).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.record_id, MatchItem.account, MatchItem.currency,
                                       MatchItem.amount, MatchItem.date)
                                .where(MatchItem.run_id == run_id).order_by(MatchItem.group_id, MatchItem.date, MatchItem.record_id)).all()
    aliases = load_aliases(store)
    references = group_references(run_folder(store.data_dir, run_id), [g.match_id for g in groups])
    match_of = {g.id: g.match_id for g in groups}
    members: dict[int, list[_Member]] = {}
    for item in items:
        if item.group_id in match_of:
            members.setdefault(item.group_id, []).append(_Member(
                item.side, item.record_id, item.account, item.date, canonical_decimal(Decimal(item.amount)), item.currency,
                references.get((match_of[item.group_id], item.side, item.record_id), "")))
    rows = []
    for group in groups:
        found = members.get(group.id, [])
        sides = _sides(found)
        rows.append({"id": group.id, "version": group.version, "match_id": group.match_id, "rule": group.rule, **sides,
                     "amount_diff": canonical_decimal(Decimal(group.amount_diff)), "days_diff": group.days_diff,
                     "explanation": group.explanation or "",
                     "size": max(abs(sides["books_amount"]), abs(sides["statement_amount"])),
                     "waits_for_decision": group.pending_decision_id,
                     "account_key": ", ".join(sorted({resolve_account_key(m.account, aliases) for m in found}))})
    frame = pd.DataFrame(rows, columns=PROPOSAL_COLUMNS)
    frame["waits_for_decision"] = frame["waits_for_decision"].astype("Int64")
    return frame


def filter_proposals(frame: pd.DataFrame, accounts: tuple[str, ...] = (), amount_min: Decimal | None = None,
                     amount_max: Decimal | None = None, rules: tuple[str, ...] = ()) -> pd.DataFrame:
    """The proposals on the given accounts (keys; a spelling stands for its key) and passes whose size (larger side's
    absolute total) is in range."""
    if frame.empty:
        return frame
    keep = pd.Series(True, index=frame.index)
    if accounts:
        wanted = {account_key(a) for a in accounts}
        keep &= pd.Series([bool(set(a.split(", ")) & wanted) for a in frame["account_key"]], index=frame.index)
    if rules:
        keep &= frame["rule"].isin(rules)
    if amount_min is not None:
        keep &= pd.Series([size >= amount_min for size in frame["size"]], index=frame.index)
    if amount_max is not None:
        keep &= pd.Series([size <= amount_max for size in frame["size"]], index=frame.index)
    return frame[keep].reset_index(drop=True)


CONFIRMED_COLUMNS = ["match_id", "rule", "status", "account", "currency", "books_account", "books", "books_amount",
                     "statement_account", "statement", "statement_amount", "amount_diff", "days_diff", "records", "version"]


def confirmed_groups(store: Store, run_id: int, search: str = "", limit: int = 500, accounts: tuple[str, ...] = ()) -> pd.DataFrame:
    """Confirmed matches of a run (engine and manual), newest state, with both sides' records,
    accounts and totals as in :func:`proposed_frame`; at most ``limit`` groups.

    ``search`` finds a group by any of its records' reference, record id, account, date
    (``YYYY-MM-DD``, or part of it) or amount (written as people write it, ``12,734.75``; either
    sign): a group is kept when one of its records matches. ``accounts`` (keys, after the
    aliases) keeps the groups on those accounts. ``records`` lists the members as
    ``side record_id amount``.

    ``version`` is the group's version in the store, 1 for an engine group nobody has touched yet:
    an unmatch names it, so a change made meanwhile by someone else is refused.
    """
    folder = run_folder(store.data_dir, run_id)
    with store.session() as session:
        stored = {m: (s, v) for m, s, v in session.execute(select(MatchGroup.match_id, MatchGroup.status, MatchGroup.version)
                                                          .where(MatchGroup.run_id == run_id)).all()}
    needle = search.strip()
    amount = _amount_in(needle)
    aliases = load_aliases(store) if accounts else {}
    accounts = tuple(resolve_account_key(a, aliases) for a in accounts)
    groups: dict[int, dict] = {}
    members: dict[int, list[_Member]] = {}
    items_path, groups_path = folder / "items.parquet", folder / "groups.parquet"
    if groups_path.exists() and items_path.exists():
        con = duckdb.connect()
        texts = [r[0] for r in con.execute(f"SELECT DISTINCT account FROM read_parquet({sql_path(items_path)})").fetchall()]
        spellings = spellings_of_keys(texts, accounts, aliases) if accounts else []
        columns = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({sql_path(items_path)})").fetchall()}
        reference = "coalesce(reference, '')" if "reference" in columns else "''"
        rows = con.execute(f"""
            WITH g AS (SELECT match_id, rule, status, amount_diff, days_diff FROM read_parquet({sql_path(groups_path)})
                       WHERE status = 'confirmed'),
                 i AS (SELECT match_id, side, record_id, account, date, amount, currency, {reference} AS reference
                       FROM read_parquet({sql_path(items_path)})),
                 hit AS (SELECT match_id FROM i SEMI JOIN g USING (match_id) GROUP BY match_id
                         HAVING (? = '' OR bool_or(record_id ILIKE ? OR reference ILIKE ? OR account ILIKE ?
                                                   OR strftime(date, '%Y-%m-%d') LIKE ?
                                                   OR (? AND abs(amount) = CAST(? AS DECIMAL(38, 6)))))
                            AND (NOT ? OR bool_or(list_contains(CAST(? AS VARCHAR[]), account)))
                         ORDER BY match_id LIMIT {int(limit)})
            SELECT g.match_id, g.rule, g.status, g.amount_diff, g.days_diff, i.side, i.record_id, i.account, i.date, i.amount,
                   i.currency, i.reference
            FROM hit JOIN g USING (match_id) JOIN i USING (match_id) ORDER BY g.match_id, i.side DESC, i.date, i.record_id
        """, [needle, f"%{needle}%", f"%{needle}%", f"%{needle}%", f"%{needle}%", amount is not None, str(abs(amount or 0)),
              bool(accounts), spellings]).fetchall()
        for match_id, rule, status, amount_diff, days_diff, side, record_id, acct, day, value, currency, ref in rows:
            status, version = stored.get(match_id, (status, 1))
            if status != "confirmed":
                continue
            groups.setdefault(match_id, {"match_id": match_id, "rule": rule, "status": status,
                                         "amount_diff": canonical_decimal(Decimal(amount_diff)), "days_diff": days_diff,
                                         "version": version})
            members.setdefault(match_id, []).append(_Member(side, record_id, acct, day, canonical_decimal(Decimal(value)), currency,
                                                            ref))
    extra = [g for g, (s, _) in stored.items() if s == "confirmed" and g not in groups]
    if extra:
        for group, found in _groups_from_store(store, run_id, extra):
            if needle and not any(_found_by(m, needle, amount) for m in found):
                continue
            if accounts and not any(resolve_account_key(m.account, aliases) in set(accounts) for m in found):
                continue
            groups[group["match_id"]] = group
            members[group["match_id"]] = found
    # The limit holds for both together: hand-made groups come from the store, after the files' own.
    rows = []
    for match_id, group in list(groups.items())[:int(limit)]:
        found = members.get(match_id, [])
        ordered = sorted(found, key=lambda m: (m.side, m.record_id))
        rows.append({**group, **_sides(found),
                     "records": " | ".join(f"{m.side} {m.record_id} {m.amount}" for m in ordered)})
    return pd.DataFrame(rows, columns=CONFIRMED_COLUMNS)


def _amount_in(text: str) -> Decimal | None:
    """The amount a search names, when it reads as one (``12,734.75``, ``-40``); ``None`` otherwise."""
    if not text or not any(ch.isdigit() for ch in text) or "-" in text.lstrip("-"):
        return None
    try:
        return parse_amount(text)
    except AmountError:
        return None


def _found_by(member: _Member, needle: str, amount: Decimal | None) -> bool:
    lowered = needle.lower()
    return (lowered in member.record_id.lower() or lowered in member.reference.lower() or lowered in member.account.lower()
            or needle in member.date.isoformat() or (amount is not None and abs(member.amount) == abs(amount)))


def _groups_from_store(store: Store, run_id: int, match_ids: list[int]) -> list[tuple[dict, list[_Member]]]:
    """Groups made or touched by people, from the store, with their members; references from the breaks they were made of."""
    with store.session() as session:
        groups = session.execute(select(MatchGroup.match_id, MatchGroup.rule, MatchGroup.status, MatchGroup.amount_diff,
                                        MatchGroup.days_diff, MatchGroup.id, MatchGroup.version)
                                 .where(MatchGroup.run_id == run_id, MatchGroup.match_id.in_(match_ids))).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.record_id, MatchItem.account, MatchItem.date,
                                       MatchItem.amount, MatchItem.currency)
                                .where(MatchItem.group_id.in_([g.id for g in groups]))).all()
        references = {(side, record_id): ref for side, record_id, ref in session.execute(
            select(Break.side, Break.record_id, Break.reference).where(Break.run_id == run_id,
                                                                       Break.record_id.in_({i.record_id for i in items}))).all()}
    by_group: dict[int, list[_Member]] = {}
    for group_id, side, record_id, acct, day, amount, currency in items:
        by_group.setdefault(group_id, []).append(_Member(side, record_id, acct, day, canonical_decimal(Decimal(amount)), currency,
                                                         references.get((side, record_id)) or ""))
    found = []
    for match_id, rule, status, amount_diff, days_diff, group_id, version in sorted(groups):
        found.append(({"match_id": match_id, "rule": rule, "status": status, "amount_diff": canonical_decimal(Decimal(amount_diff)),
                       "days_diff": days_diff, "version": version},
                      sorted(by_group.get(group_id, []), key=lambda m: (m.side != "internal", m.date, m.record_id))))
    return found


def match_totals(frame: pd.DataFrame) -> pd.DataFrame:
    """Totals under a grid of matches, one row per currency: how many groups, the books' and the
    statement's totals and the net difference (statement less books), in the currency's form.
    A group of several currencies counts under each."""
    totals: dict[str, list] = {}
    for currencies, books, statement in zip(frame["currency"], frame["books_amount"], frame["statement_amount"]) if len(frame) else ():
        for code in str(currencies).split(", "):
            entry = totals.setdefault(code, [0, Decimal(0), Decimal(0)])
            entry[0] += 1
            if ", " not in str(currencies):
                entry[1] += books
                entry[2] += statement
    rows = [{"currency": code, "count": count, "books": format_money(books, code), "statement": format_money(statement, code),
             "net": format_money(statement - books, code)} for code, (count, books, statement) in sorted(totals.items())]
    return pd.DataFrame(rows or [{"currency": "", "count": 0, "books": "0.00", "statement": "0.00", "net": "0.00"}])


MATCH_TOTALS_TITLES = {"currency": "Currency", "count": "Matches", "books": "Books total", "statement": "Statement total",
                       "net": "Net difference (statement less books)"}


PROPOSAL_TITLES = {"match_id": "Match", "rule": "Pass", "books_account": "Books account", "books": "Books records",
                   "books_amount": "Books total", "statement_account": "Statement account", "statement": "Statement records",
                   "statement_amount": "Statement total", "amount_diff": "Difference", "currency": "Currency",
                   "days_diff": "Days apart", "explanation": "Why the engine proposes it"}

CONFIRMED_TITLES = {"match_id": "Match", "rule": "Pass", "books_account": "Books account", "books": "Books records",
                    "books_amount": "Books total", "statement_account": "Statement account", "statement": "Statement records",
                    "statement_amount": "Statement total", "amount_diff": "Difference", "currency": "Currency",
                    "days_diff": "Days apart"}


def proposals_grid(frame: pd.DataFrame) -> Grid:
    """The proposed matches as a readable grid: both sides, totals in their currency's form, the explanation in full."""
    return readable_grid(frame, PROPOSAL_TITLES, money={c: "currency" for c in ("books_amount", "statement_amount", "amount_diff")})


def confirmed_grid(frame: pd.DataFrame) -> Grid:
    """The confirmed matches as a readable grid."""
    return readable_grid(frame, CONFIRMED_TITLES, money={c: "currency" for c in ("books_amount", "statement_amount", "amount_diff")})
