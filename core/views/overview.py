"""The first screen's figures: datasets, recent runs and open breaks per account (by key, shown by label)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select

from core.accounts import load_aliases
from core.domain.accounts import account_label, resolve_account_key

from core.store import Store
from core.store.models import Break, DatasetRecord, Run

__all__ = ["AccountBreaks", "Overview", "workbench_overview"]


class AccountBreaks(NamedTuple):
    account: str  # the label: the spelling most of the account's open breaks use
    currency: str
    internal_open: int
    external_open: int
    internal_amount: Decimal
    external_amount: Decimal
    oldest_days: int
    account_key: str = ""


class Overview(NamedTuple):
    datasets: list[DatasetRecord]
    runs: list[Run]
    open_breaks: list[AccountBreaks]
    total_rows: int
    run_count: int


def workbench_overview(store: Store, today: dt.date | None = None, recent_runs: int = 10) -> Overview:
    """Everything the Home page shows, read in one short transaction.

    Open breaks are those of each account's latest completed run, so a break carried
    forward into a newer run is counted once. An account is known by its key: its spellings
    are counted together, from the latest completed run of any of them.
    """
    today = today or dt.date.today()
    with store.session() as session:
        datasets = list(session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at.desc())))
        runs = list(session.scalars(select(Run).order_by(Run.started_at.desc(), Run.id.desc()).limit(recent_runs)))
        run_count = session.scalar(select(func.count(Run.id))) or 0
        latest_of_text = dict(session.execute(
            select(Break.account, func.max(Break.run_id)).join(Run, Run.id == Break.run_id).where(Run.status == "completed")
            .group_by(Break.account)).all())
        aliases = load_aliases(store)
        key_of = {text: resolve_account_key(text, aliases) for text in latest_of_text}
        latest_of_key: dict[str, int] = {}
        for text, run_id in latest_of_text.items():
            latest_of_key[key_of[text]] = max(run_id, latest_of_key.get(key_of[text], run_id))
        latest = (
            select(Break.account, func.max(Break.run_id).label("run_id"))
            .join(Run, Run.id == Break.run_id)
            .where(Run.status == "completed")
            .group_by(Break.account)
            .subquery()
        )
        rows = session.execute(
            select(Break.account, Break.currency, Break.side, Break.amount, Break.first_seen_on, Break.run_id)
            .join(latest, (latest.c.account == Break.account) & (latest.c.run_id == Break.run_id))
            .where(Break.status == "open")
        ).all()
    grouped: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"internal": 0, "external": 0, "internal_amount": Decimal(0), "external_amount": Decimal(0), "oldest": today,
                 "spellings": defaultdict(int)})
    for account, currency, side, amount, first_seen, run_id in rows:
        if run_id != latest_of_key[key_of[account]]:
            continue  # a spelling last seen in an older run of its account
        entry = grouped[(key_of[account], currency)]
        entry[side] += 1
        entry[f"{side}_amount"] += amount
        entry["oldest"] = min(entry["oldest"], first_seen)
        entry["spellings"][account] += 1
    open_breaks = sorted((
        AccountBreaks(account_label(e["spellings"]), currency, e["internal"], e["external"], e["internal_amount"], e["external_amount"],
                      (today - e["oldest"]).days, key)
        for (key, currency), e in grouped.items()), key=lambda a: (a.account, a.currency, a.account_key))
    return Overview(datasets, runs, open_breaks, sum(d.row_count for d in datasets), run_count)
