"""Working the breaks on SQLite and PostgreSQL: decisions, maker-checker, conflicts, audit."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from core.auth import Account
from core.datasets import import_bytes
from core.matching.rules import load_rules
from core.reconcile import reconcile_datasets
from core.review import (ConflictError, ReviewError, approve_proposed, decide_pending, manual_match, pending_decisions,
                         reject_proposed, resolve_break, unmatch_group)
from core.store.models import AuditEntry, Break, Decision, MatchGroup

ANA = Account("ana", "Ana", "analyst")
BEN = Account("ben", "Ben", "analyst")
PAT = Account("pat", "Pat", "approver")
ADA = Account("ada", "Ada", "approver")
VIC = Account("vic", "Vic", "viewer")

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-05,5000.00,USD,INV-9
b3,A,2026-10-06,-20000.00,USD,PAY-3
b4,A,2026-10-07,-40.00,USD,
b5,A,2026-10-08,12.00,USD,
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s2,A,2026-10-06,4985.00,USD,
s3,A,2026-10-13,-39.50,USD,
s4,A,2026-10-13,-0.50,USD,FEE
s5,A,2026-10-20,-35.00,USD,CHARGES
"""


@pytest.fixture
def run(store, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run


def open_break(store, record_id):
    with store.session() as session:
        return session.scalar(select(Break).where(Break.record_id == record_id, Break.status == "open"))


def proposed(store):
    with store.session() as session:
        return session.scalar(select(MatchGroup).where(MatchGroup.status == "proposed"))


def test_approving_a_proposed_match_confirms_it_with_a_decision_and_audit(store, run):
    group = proposed(store)
    approve_proposed(store, group.id, group.version, ANA)
    with store.session() as session:
        assert session.get(MatchGroup, group.id).status == "confirmed"
        decision = session.scalar(select(Decision).where(Decision.action == "approve_match"))
        assert (decision.made_by, decision.status, decision.target_id) == ("ana", "applied", str(group.id))
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "approve_match"))
        assert audit.before["status"] == "proposed" and audit.after["status"] == "confirmed"


def test_rejecting_a_proposed_match_reopens_its_records(store, run):
    group = proposed(store)
    reject_proposed(store, group.id, group.version, ANA, "not the same wire")
    assert open_break(store, "b2").reason == "rejected_proposal"
    assert open_break(store, "s2").amount == Decimal("4985.00")
    assert open_break(store, "b2").reference == "INV-9"


def test_resolving_below_the_threshold_applies_at_once(store, run):
    charge = open_break(store, "s5")
    outcome = resolve_break(store, charge.id, charge.version, "bank_fee", "monthly charges", ANA)
    assert outcome.status == "applied"
    with store.session() as session:
        row = session.get(Break, charge.id)
        assert (row.status, row.resolution, row.version, row.updated_by) == ("resolved", "bank_fee", 2, "ana")


def test_above_the_threshold_a_second_person_must_approve_and_never_the_maker(store, run):
    payment = open_break(store, "b3")
    outcome = resolve_break(store, payment.id, payment.version, "missing_at_bank", "cheque not presented", ANA)
    assert outcome.status == "pending"
    assert open_break(store, "b3").pending_decision_id == outcome.decision_id
    assert [(p.id, p.made_by, p.action) for p in pending_decisions(store)] == [(outcome.decision_id, "ana", "resolve")]
    with pytest.raises(ReviewError, match="needs the approver role"):
        decide_pending(store, outcome.decision_id, True, BEN)
    maker_who_approves = Account("ana", "Ana", "approver")
    with pytest.raises(ReviewError, match="their own decision"):
        decide_pending(store, outcome.decision_id, True, maker_who_approves)
    decide_pending(store, outcome.decision_id, True, PAT)
    with store.session() as session:
        row = session.get(Break, payment.id)
        assert (row.status, row.resolution, row.pending_decision_id) == ("resolved", "missing_at_bank", None)
    assert pending_decisions(store) == []
    with pytest.raises(ConflictError, match="already been decided"):
        decide_pending(store, outcome.decision_id, False, ADA)


def test_a_refused_decision_leaves_the_break_open(store, run):
    payment = open_break(store, "b3")
    outcome = resolve_break(store, payment.id, payment.version, "timing", "", ANA)
    decide_pending(store, outcome.decision_id, False, PAT, "send the evidence")
    row = open_break(store, "b3")
    assert row is not None and row.pending_decision_id is None and row.status == "open"


def test_manual_match_within_tolerance_and_with_a_reason_when_not(store, run):
    b4, s3, s4 = open_break(store, "b4"), open_break(store, "s3"), open_break(store, "s4")
    manual_match(store, [b4.id, s3.id, s4.id], {b4.id: b4.version, s3.id: s3.version, s4.id: s4.version}, ANA)
    with store.session() as session:
        group = session.scalar(select(MatchGroup).where(MatchGroup.rule == "manual"))
        assert (group.status, group.amount_diff) == ("confirmed", Decimal("0.00"))
        assert session.get(Break, b4.id).status == "matched"
    b5, s5 = open_break(store, "b5"), open_break(store, "s5")
    with pytest.raises(ReviewError, match="differ by -47.00; give a reason code"):
        manual_match(store, [b5.id, s5.id], {b5.id: b5.version, s5.id: s5.version}, ANA)
    manual_match(store, [b5.id, s5.id], {b5.id: b5.version, s5.id: s5.version}, ANA, reason_code="other", comment="write-off agreed")


def test_unmatching_a_confirmed_engine_group_reopens_its_records(store, run):
    unmatch_group(store, run.id, 1, ANA, "wrong invoice")
    assert open_break(store, "b1").reason == "unmatched_by_user"
    assert open_break(store, "s1").reference == "inv1"
    with pytest.raises(ReviewError, match="not confirmed"):
        unmatch_group(store, run.id, 1, ANA)


def test_two_people_at_once_the_second_is_told_who_changed_it_and_nothing_doubles(store, run):
    seen_by_ana = open_break(store, "s5")
    seen_by_ben = open_break(store, "s5")
    resolve_break(store, seen_by_ben.id, seen_by_ben.version, "bank_fee", "", BEN)
    with pytest.raises(ConflictError, match=r"changed by ben at \d{4}-\d\d-\d\d"):
        resolve_break(store, seen_by_ana.id, seen_by_ana.version, "other", "mine", ANA)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Decision).where(Decision.action == "resolve")) == 1
        assert session.get(Break, seen_by_ana.id).resolution == "bank_fee"


def test_a_viewer_cannot_decide(store, run):
    charge = open_break(store, "s5")
    with pytest.raises(ReviewError, match="needs the analyst role"):
        resolve_break(store, charge.id, charge.version, "bank_fee", "", VIC)
