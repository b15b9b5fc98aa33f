"""A period locked by a signed-off bank reconciliation, on the Breaks page through AppTest: every
kind of decision an analyst can take there on the locked account is refused in one clear line, and
nothing changes."""

import datetime as dt

import pytest
from sqlalchemy import select

from core.auth import authenticate
from core.banking.signoff import prepare_sign_off, sign_off
from core.demo import DEMO_USERS
from core.store.models import Break, Journal, MatchGroup
from tests.pages.app import frame_with, open_page, signed_in
from tests.pages.test_pages import run_of

ACCOUNT = "4471-0092-18"  # the demo account whose statement closes to zero
LOCKED = "account 4471-0092-18 is locked to 2026-10-31 by the signed-off reconciliation of 2026-10-31 (signed by approver on "


def lock(store):
    analyst, approver = (authenticate(store, name, DEMO_USERS[name]) for name in ("analyst", "approver"))
    prepared = prepare_sign_off(store, run_of(store, ACCOUNT), ACCOUNT, dt.date(2026, 10, 31), analyst)
    sign_off(store, prepared.id, approver)


@pytest.fixture
def locked(demo):
    lock(demo)
    return demo


def breaks_page(store):
    at = open_page(signed_in("analyst"), "pages/breaks.py")
    at.selectbox(key="breaks_run").set_value(run_of(store, ACCOUNT)).run()
    return at, frame_with(at, "reason")


def refused(at, nothing: str = "") -> str:
    assert not at.exception, at.exception
    message = next(e.value for e in at.error if LOCKED in e.value)
    assert "in the locked period: no decision on it can be taken" in message and message.endswith(nothing)
    assert not at.success
    return message


def open_breaks(store) -> dict[int, str]:
    with store.session() as session:
        return dict(session.execute(select(Break.id, Break.status).where(Break.run_id == run_of(store, ACCOUNT))).all())


def test_resolving_and_matching_by_hand_are_refused(locked):
    before = open_breaks(locked)
    at, grid = breaks_page(locked)
    first, second = grid["id"].iloc[0], grid["id"].iloc[1]
    at.text_input(key="breaks_ids").input(str(first)).run()
    next(b for b in at.button if b.label == "Resolve selected").click().run()
    refused(at, "Nothing was resolved.")
    at.text_input(key="breaks_ids").set_value(f"{first},{second}").run()
    at.selectbox(key="breaks_match_code").set_value("other")
    next(b for b in at.button if b.label == "Match selected").click().run()
    refused(at)
    assert open_breaks(locked) == before


def test_booking_a_statement_break_to_the_ledger_is_refused(locked):
    at, grid = breaks_page(locked)
    fee = grid[(grid["side"] == "external") & (grid["status"] == "open")].iloc[0]
    at.text_input(key="breaks_ids").input(str(fee["id"])).run()
    next(b for b in at.button if b.label == "Book and resolve").click().run()
    refused(at, "Nothing was booked.")
    with locked.session() as session:
        assert session.scalar(select(Journal.id).where(Journal.source == "break")) is None
        assert session.get(Break, int(fee["id"])).status == "open"


@pytest.mark.parametrize("approve", [True, False])
def test_approving_or_rejecting_a_proposal_is_refused(locked, approve):
    at, _ = breaks_page(locked)
    proposal = frame_with(at, "explanation").iloc[0]["id"]
    at.text_input(key="breaks_proposed_ids").input(str(proposal)).run()
    at.button(key="breaks_approve" if approve else "breaks_reject").click().run()
    at.button(key="breaks_proposed_confirm_yes").click().run()
    refused(at, "Nothing was approved." if approve else "Nothing was rejected.")
    with locked.session() as session:
        assert session.get(MatchGroup, int(proposal)).status == "proposed"


def test_undoing_a_match_is_refused(locked):
    at, _ = breaks_page(locked)
    before = open_breaks(locked)
    at.text_input(key="breaks_unmatch_comment").input("wrong pair")
    next(b for b in at.button if b.label == "Unmatch").click().run()
    refused(at)
    assert open_breaks(locked) == before


def test_approving_a_decision_that_waited_since_before_the_lock_is_refused(demo, monkeypatch):
    from core.review import resolve_break

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    with demo.session() as session:
        cheque = session.scalar(select(Break).where(Break.run_id == run_of(demo, ACCOUNT), Break.reference == "CHQ-1041"))
    analyst = authenticate(demo, "analyst", DEMO_USERS["analyst"])
    assert resolve_break(demo, cheque.id, cheque.version, "missing_at_bank", "", analyst).status == "pending"
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000000.00")
    lock(demo)
    at = open_page(signed_in("approver"), "pages/approvals.py")
    next(b for b in at.button if b.label == "Approve").click().run()
    refused(at)
    with demo.session() as session:
        assert session.get(Break, cheque.id).status == "open"
