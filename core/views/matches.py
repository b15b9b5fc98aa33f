"""Matches as the pages show them: the proposed queue of a run, and its confirmed groups
(from the run's files and those made or touched by people in the store). Accounts are shown
as written and kept to a filter by key (:mod:`core.domain.accounts`).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pandas as pd
from sqlalchemy import select

from core.accounts import load_aliases, spellings_of_keys
from core.domain.accounts import account_key, resolve_account_key
from core.domain.money import canonical_decimal
from core.runs.folder import run_folder, sql_path
from core.store import Store
from core.store.models import MatchGroup, MatchItem

__all__ = ["confirmed_groups", "filter_proposals", "proposed_frame"]


PROPOSAL_COLUMNS = ["id", "version", "match_id", "rule", "account", "currency", "books", "books_amount", "statement",
                    "statement_amount", "amount_diff", "days_diff", "explanation", "size", "waits_for_decision", "account_key"]


def proposed_frame(store: Store, run_id: int) -> pd.DataFrame:
    """Proposed matches of a run, one row per group with both sides' records and totals.

    ``books`` and ``statement`` list each side's records (id, date, amount); ``size`` is the
    larger side's absolute total, the money an approval covers. ``waits_for_decision`` is the
    decision a group waits on for an approver (``<NA>`` when free): such a group cannot be
    decided again until the approver has, so a page leaves it out of what can be picked.
    ``account_key`` holds the accounts' keys after the aliases, as ``account`` their texts.
    """
    with store.session() as session:
        groups = session.execute(select(MatchGroup.id, MatchGroup.version, MatchGroup.match_id, MatchGroup.rule, MatchGroup.amount_diff,
                                        MatchGroup.days_diff, MatchGroup.explanation, MatchGroup.pending_decision_id)
                                 .where(MatchGroup.run_id == run_id, MatchGroup.status == "proposed").order_by(MatchGroup.match_id)).all()
        items = session.execute(select(MatchItem.group_id, MatchItem.side, MatchItem.record_id, MatchItem.account, MatchItem.currency,
                                       MatchItem.amount, MatchItem.date)
                                .where(MatchItem.run_id == run_id).order_by(MatchItem.group_id, MatchItem.date, MatchItem.record_id)).all()
    aliases = load_aliases(store)
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
                     max(abs(totals["internal"]), abs(totals["external"])), group.pending_decision_id,
                     ", ".join(sorted({resolve_account_key(i.account, aliases) for i in found}))])
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


def confirmed_groups(store: Store, run_id: int, search: str = "", limit: int = 500, accounts: tuple[str, ...] = ()) -> pd.DataFrame:
    """Confirmed matches of a run (engine and manual), newest state, optionally searched by record id
    or account and kept to ``accounts`` (keys, after the aliases); at most ``limit`` groups.

    ``version`` is the group's version in the store, 1 for an engine group nobody has touched yet:
    an unmatch names it, so a change made meanwhile by someone else is refused.
    """
    folder = run_folder(store.data_dir, run_id)
    with store.session() as session:
        stored = {m: (s, v) for m, s, v in session.execute(select(MatchGroup.match_id, MatchGroup.status, MatchGroup.version)
                                                          .where(MatchGroup.run_id == run_id)).all()}
    con = duckdb.connect()
    pattern = f"%{search.strip()}%"
    aliases = load_aliases(store) if accounts else {}
    accounts = tuple(resolve_account_key(a, aliases) for a in accounts)
    spellings = []
    if accounts and (folder / "items.parquet").exists():
        texts = [r[0] for r in con.execute(f"SELECT DISTINCT account FROM read_parquet({sql_path(folder / 'items.parquet')})").fetchall()]
        spellings = spellings_of_keys(texts, accounts, aliases)
    cursor = con.execute(f"""
        SELECT g.match_id, g.rule, g.status, g.amount_diff, g.days_diff,
               string_agg(i.side || ' ' || i.record_id || ' ' || {_AMOUNT_TEXT}, ' | ' ORDER BY i.side, i.record_id) AS records,
               any_value(i.account) AS account
        FROM read_parquet({sql_path(folder / 'groups.parquet')}) g
             JOIN read_parquet({sql_path(folder / 'items.parquet')}) i USING (match_id)
        WHERE g.status = 'confirmed'
        GROUP BY ALL
        HAVING (? = '%%' OR bool_or(i.record_id ILIKE ? OR i.account ILIKE ?))
               AND (NOT ? OR bool_or(list_contains(CAST(? AS VARCHAR[]), i.account)))
        ORDER BY g.match_id LIMIT {int(limit)}
    """, [pattern, pattern, pattern, bool(accounts), spellings]) if (folder / "groups.parquet").exists() else None
    engine = pd.DataFrame(cursor.fetchall(), columns=[c[0] for c in cursor.description]) if cursor is not None else pd.DataFrame()
    if not engine.empty:
        # Exact decimals from both sources, in one canonical scale, so the frame has one type.
        engine["amount_diff"] = [canonical_decimal(a) for a in engine["amount_diff"]]
        engine["status"] = [stored.get(m, (s, 1))[0] for m, s in zip(engine["match_id"], engine["status"])]
        engine["version"] = [stored.get(m, (s, 1))[1] for m, s in zip(engine["match_id"], engine["status"])]
        engine = engine[engine["status"] == "confirmed"]
    in_files = set(engine["match_id"]) if not engine.empty else set()
    extra = [g for g, (s, _) in stored.items() if s == "confirmed" and g not in in_files]
    found = _groups_from_store(store, run_id, extra) if extra else pd.DataFrame()
    if not found.empty and search.strip():
        needle = search.strip().lower()
        found = found[[needle in r.lower() or needle in a.lower() for r, a in zip(found["records"], found["account"])]]
    if not found.empty and accounts:
        found = found[[resolve_account_key(a, aliases) in set(accounts) for a in found["account"]]]
    # The limit holds for both together: hand-made groups come from the store, after the files' own.
    both = pd.concat([engine, found], ignore_index=True) if not found.empty else engine.reset_index(drop=True)
    return both.head(int(limit))


# An amount as text in its canonical scale (at least two places, no trailing zeros beyond), exactly.
_AMOUNT_TEXT = ("CASE WHEN i.amount = round(i.amount, 2) THEN CAST(CAST(i.amount AS DECIMAL(38, 2)) AS VARCHAR) "
                "ELSE rtrim(CAST(i.amount AS VARCHAR), '0') END")


def _groups_from_store(store: Store, run_id: int, match_ids: list[int]) -> pd.DataFrame:
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

