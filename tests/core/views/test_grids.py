"""The readable grids' read models on SQLite and PostgreSQL: both sides of a match in words,
confirmed matches found by reference, amount, date or account, breaks and approvals as people
read them, with links back to the records."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.auth import Account, create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import manual_match, pending_decisions, resolve_break
from core.runs.reconcile import reconcile_datasets
from core.store.models import Break
from core.views import load_breaks
from core.views.approvals import BreakLink, break_link, decision_summaries, pending_records, read_break_link
from core.views.breaks import breaks_grid
from core.views.matches import confirmed_groups, match_totals, proposals_grid, proposed_frame

ANA = Account("ana", "Ana", "analyst", 1)

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-05,5000.00,USD,INV-9
b3,A,2026-10-06,-20000.00,USD,PAY-3
b4,B,2026-10-07,-40.00,JPY,
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,12734.75,USD,inv1
s2,A,2026-10-06,4985.00,USD,
s4,B,2026-10-13,-4000,JPY,FEE
"""
BOOKS_MATCHING_S1 = BOOKS.replace(b"b1,A,2026-10-01,100.00,USD,INV-1", b"b1,A,2026-10-01,12734.75,USD,INV-1")


@pytest.fixture
def run(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    assert create_user(store, "ana", "a-long-password", "analyst", display_name="Ana") == ANA
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, BOOKS_MATCHING_S1, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run


def test_a_proposal_shows_both_sides_records_accounts_totals_and_the_explanation_in_full(store, run):
    proposals = proposed_frame(store, run.id)
    row = proposals.set_index("rule").loc["fee_deducted"]
    assert row["books"] == "2026-10-05 · INV-9 · 5,000.00 USD" and row["statement"] == "2026-10-06 · s2 · 4,985.00 USD"
    assert (row["books_account"], row["statement_account"], row["books_amount"], row["statement_amount"], row["amount_diff"]) == \
        ("A", "A", Decimal("5000.00"), Decimal("4985.00"), Decimal("-15.00"))
    assert row["explanation"].startswith("amounts differ by -15.00") and "…" not in row["explanation"]
    grid = proposals_grid(proposals)
    assert grid.titles["explanation"] == "Why the engine proposes it" and grid.number_formats["books_amount"] == "%,.2f"
    totals = match_totals(proposals).set_index("currency").loc["USD"]
    assert (totals["count"], totals["books"], totals["statement"], totals["net"]) == (1, "5,000.00", "4,985.00", "-15.00")


@pytest.mark.parametrize("search", ["inv-1", "INV1", "12,734.75", "-12734.75", "2026-10-02", "2026-10", "A"])
def test_a_confirmed_match_is_found_by_reference_amount_date_or_account(store, run, search):
    found = confirmed_groups(store, run.id, search=search)
    assert found["books"].tolist() == ["2026-10-01 · INV-1 · 12,734.75 USD"], search
    assert found["statement"].tolist() == ["2026-10-02 · inv1 · 12,734.75 USD"]


@pytest.mark.parametrize("search", ["12,734.76", "2026-11", "INV-9", "ZZ"])
def test_a_search_naming_nothing_in_a_confirmed_match_finds_none(store, run, search):
    assert confirmed_groups(store, run.id, search=search).empty


def test_a_match_made_by_hand_is_found_by_the_references_of_its_breaks(store, run):
    breaks = {b.record_id: b for b in load_breaks(store, run.id).itertuples()}
    manual_match(store, [breaks["b4"].id, breaks["s4"].id], {breaks["b4"].id: breaks["b4"].version, breaks["s4"].id: breaks["s4"].version},
                 ANA, reason_code="other", comment="fee in yen")
    found = confirmed_groups(store, run.id, search="fee")
    assert found["statement"].tolist() == ["2026-10-13 · FEE · -4,000 JPY"]
    assert confirmed_groups(store, run.id, search="4000")["account"].tolist() == ["B"]
    assert confirmed_groups(store, run.id, search="2026-10-07")["account"].tolist() == ["B"]


def test_the_breaks_grid_names_sides_and_resolutions_and_leaves_an_open_resolution_blank(store, run):
    breaks = load_breaks(store, run.id)
    b4 = breaks.set_index("record_id").loc["b4"]
    resolve_break(store, int(b4["id"]), int(b4["version"]), "timing", "", ANA)
    grid = breaks_grid(load_breaks(store, run.id))
    shown = grid.frame.set_index("record_id")
    assert shown.loc["b4", "resolution_name"] == "Timing difference" and shown.loc["s4", "resolution_name"] == ""
    assert (shown.loc["b4", "side_name"], shown.loc["s4", "side_name"]) == ("books", "statement")
    assert grid.titles["amount_text"] == "Amount" and shown.loc["s4", "amount_text"] == "-4,000"  # yen beside dollars
    assert "date" in grid.dates


def test_approvals_list_each_record_of_a_waiting_decision_with_a_link_to_it(store, run):
    with store.session() as session:
        b3 = session.scalar(select(Break).where(Break.record_id == "b3"))
    outcome = resolve_break(store, b3.id, b3.version, "timing", "cheque in the post", ANA)
    assert outcome.status == "pending"
    records = pending_records(store, pending_decisions(store))
    row = records.iloc[0]
    assert (row["decision"], row["reference"], row["account"], row["currency"], row["amount"], row["date"]) == \
        (outcome.decision_id, "PAY-3", "A", "USD", Decimal("-20000.00"), dt.date(2026, 10, 6))
    assert row["link"] == f"breaks?run={run.id}&ids={b3.id}"
    assert read_break_link({"run": str(run.id), "ids": str(b3.id)}) == BreakLink(run.id, (b3.id,))
    assert decision_summaries(records)[outcome.decision_id] == \
        f"{outcome.decision_id}: resolve on break {b3.id} by ana · 1 record(s) · PAY-3 · A · USD -20,000.00"


def test_a_link_names_a_run_and_what_to_open_there():
    assert break_link(BreakLink(3, (27, 31))) == "breaks?run=3&ids=27%2C31"
    assert read_break_link({"run": "3", "ids": "27,31"}) == BreakLink(3, (27, 31))
    assert read_break_link({"run": "3", "proposed": "9"}) == BreakLink(3, proposed=9)
    assert read_break_link({"run": "3", "search": "INV 7"}) == BreakLink(3, search="INV 7")
    assert read_break_link({"ids": "27"}) is None and read_break_link({"run": "x"}) is None
