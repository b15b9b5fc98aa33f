"""What waits for an approver, record by record: the records each pending decision would change,
with their accounts, currencies, references, dates and amounts, and a link to where they stand
on the Breaks page.

A link is a relative address the Breaks page reads back (:func:`read_break_link`): the run,
and the breaks (``ids``), the proposed match (``proposed``) or a search of the confirmed matches
(``search``) to open it on.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlencode

import pandas as pd
from sqlalchemy import select

from core.domain.money import canonical_decimal
from core.review import REASON_CODES, PendingDecision
from core.runs.folder import run_folder
from core.store import Store
from core.store.models import Break, Decision, MatchGroup, MatchItem
from core.views.breaks import SIDE_NAMES
from core.views.format import Grid, format_money, readable_grid
from core.views.matches import group_references

__all__ = ["APPROVAL_TITLES", "BreakLink", "approvals_grid", "break_link", "decision_summaries", "pending_records", "read_break_link",
           "totals_in_words"]


class BreakLink(NamedTuple):
    """Where a link opens the Breaks page: a run, and breaks, a proposed match or a search there."""

    run_id: int | None = None
    break_ids: tuple[int, ...] = ()
    proposed: int | None = None
    search: str = ""


def break_link(link: BreakLink) -> str:
    """The relative address of the Breaks page opened on ``link``."""
    query = {"run": link.run_id}
    if link.break_ids:
        query["ids"] = ",".join(map(str, link.break_ids))
    if link.proposed is not None:
        query["proposed"] = link.proposed
    if link.search:
        query["search"] = link.search
    return "breaks?" + urlencode({k: v for k, v in query.items() if v is not None})


def read_break_link(params: dict) -> BreakLink | None:
    """The link a page was opened with (its query parameters), or ``None`` when there is none or it makes no sense."""
    run = str(params.get("run", ""))
    if not run.isdigit():
        return None
    ids = tuple(int(i) for i in str(params.get("ids", "")).split(",") if i.strip().isdigit())
    proposed = str(params.get("proposed", ""))
    return BreakLink(int(run), ids, int(proposed) if proposed.isdigit() else None, str(params.get("search", "")))


APPROVAL_COLUMNS = ["decision", "what", "on", "side", "reference", "record_id", "account", "date", "amount", "currency", "reason", "comment",
                    "made_by", "made_at", "waits_for", "link"]

APPROVAL_TITLES = {"decision": "Decision", "what": "What", "on": "On", "side": "Side", "reference": "Reference", "record_id": "Record",
                   "account": "Account", "date": "Date", "amount": "Amount", "currency": "Currency", "reason": "Reason",
                   "comment": "Comment", "made_by": "Made by", "made_at": "Made at", "waits_for": "Waits for",
                   "link": "Open"}


def pending_records(store: Store, pending: list[PendingDecision]) -> pd.DataFrame:
    """One row per record each pending decision would change (one row for a request to import a
    file, which has no records yet), in decision order, with a link to the record's place on the
    Breaks page."""
    ids = [p.id for p in pending]
    with store.session() as session:
        payloads = {d.id: (d.run_id, d.payload or {}) for d in session.scalars(select(Decision).where(Decision.id.in_(ids or [-1])))}
        break_ids = sorted({b for _, payload in payloads.values() for b in payload.get("break_ids", [])})
        breaks = {b.id: b for b in session.scalars(select(Break).where(Break.id.in_(break_ids or [-1])))}
        group_ids = sorted({payload["group_id"] for _, payload in payloads.values() if "group_id" in payload})
        groups = {g.id: g for g in session.scalars(select(MatchGroup).where(MatchGroup.id.in_(group_ids or [-1])))}
        items: dict[int, list[MatchItem]] = {}
        for item in session.scalars(select(MatchItem).where(MatchItem.group_id.in_(group_ids or [-1]))
                                    .order_by(MatchItem.side.desc(), MatchItem.date, MatchItem.record_id)):
            items.setdefault(item.group_id, []).append(item)
    references: dict[tuple[int, int, str, str], str] = {}
    for run_id in sorted({g.run_id for g in groups.values()}):
        found = group_references(run_folder(store.data_dir, run_id), [g.match_id for g in groups.values() if g.run_id == run_id])
        references |= {(run_id, m, side, r): ref for (m, side, r), ref in found.items()}
    rows = []
    for p in pending:
        run_id, payload = payloads.get(p.id, (None, {}))
        shared = {"decision": p.id, "what": p.action.replace("_", " "), "on": p.target,
                  "reason": REASON_CODES.get(p.reason_code or "", ""), "comment": p.comment, "made_by": p.made_by, "made_at": p.made_at,
                  "waits_for": f"an approver other than {p.made_by}"}
        if payload.get("break_ids"):
            chosen = [breaks[b] for b in payload["break_ids"] if b in breaks]
            link = break_link(BreakLink(run_id, tuple(b.id for b in chosen)))
            rows += [shared | {"side": SIDE_NAMES.get(b.side, b.side), "reference": b.reference or "", "record_id": b.record_id,
                               "account": b.account, "date": b.date, "amount": canonical_decimal(Decimal(b.amount)),
                               "currency": b.currency, "link": link} for b in chosen]
        elif "group_id" in payload and payload["group_id"] in groups:
            group = groups[payload["group_id"]]
            members = items.get(group.id, [])
            refs = [references.get((group.run_id, group.match_id, i.side, i.record_id), "") for i in members]
            link = break_link(BreakLink(group.run_id, proposed=group.id) if group.status == "proposed"
                              else BreakLink(group.run_id, search=next((r for r in refs if r), members[0].record_id if members else "")))
            rows += [shared | {"side": SIDE_NAMES.get(i.side, i.side), "reference": ref, "record_id": i.record_id, "account": i.account,
                               "date": i.date, "amount": canonical_decimal(Decimal(i.amount)), "currency": i.currency, "link": link}
                     for i, ref in zip(members, refs)]
        else:
            rows.append(shared | {"side": "", "reference": "", "record_id": "", "account": p.account, "date": None,
                                  "amount": p.amount, "currency": p.currency, "link": None})
    return pd.DataFrame(rows, columns=APPROVAL_COLUMNS)


def approvals_grid(frame: pd.DataFrame) -> Grid:
    """The records waiting for approval as a readable grid."""
    return readable_grid(frame, APPROVAL_TITLES, money={"amount": "currency"}, dates=("date",), links=("link",))


def decision_summaries(frame: pd.DataFrame) -> dict[int, str]:
    """One line per pending decision of :func:`pending_records`, for picking it: what, by whom, its
    records' accounts, references and total per currency."""
    lines = {}
    for decision, part in frame.groupby("decision", sort=False):
        first = part.iloc[0]
        records = part[part["record_id"] != ""]
        references = ", ".join(r for r in dict.fromkeys(records["reference"]) if r) or "no reference"
        accounts = ", ".join(a for a in dict.fromkeys(part["account"]) if a)
        money = totals_in_words(part)
        lines[int(decision)] = (f"{decision}: {first['what']} on {first['on']} by {first['made_by']}"
                                + (f" · {len(records):,} record(s) · {references}" if len(records) else "")
                                + (f" · {accounts}" if accounts else "") + (f" · {money}" if money else ""))
    return lines


def totals_in_words(frame: pd.DataFrame) -> str:
    """The amounts of some records per currency, in each currency's form: ``USD 1,250.00; JPY 3,000``."""
    known = frame[frame["amount"].notna() & (frame["currency"] != "")]
    totals: dict[str, Decimal] = {}
    for amount, currency in zip(known["amount"], known["currency"]):
        totals[currency] = totals.get(currency, Decimal(0)) + amount
    return "; ".join(f"{c} {format_money(t, c)}" for c, t in sorted(totals.items()))
