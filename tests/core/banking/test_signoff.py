"""The statement of a saved run with the decisions taken since, its sign-off under maker-checker,
and the period a sign-off locks, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from core.auth import Account, create_user
from core.banking.saved import saved_run_reconciliation
from core.banking.signoff import SignOffError, account_lock, prepare_sign_off, sign_off, sign_offs
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import (PeriodLockedError, approve_proposed, decide_pending, manual_match, reject_proposed, resolve_break,
                         unmatch_group)
from core.runs.folder import run_folder
from core.runs.reconcile import reconcile_datasets
from core.store.models import AuditEntry, Break, MatchGroup, MatchItem, StatementRecord

ANA = Account("ana", "Ana", "analyst", 1)
PAT = Account("pat", "Pat", "approver", 2)
ADA = Account("ada", "Ada", "approver", 3)
VIC = Account("vic", "Vic", "viewer", 4)

AS_OF = dt.date(2026, 10, 31)
# The hand-computed case of test_brs.py: CHK closes to zero with an opening of 5,000.00 and the
# bank at 7,677.50; SAV (EUR) is 10.00 apart.
BOOKS = b"""id,account,date,amount,currency,reference
b1,CHK,2026-10-01,1000.00,USD,INV-1
b2,CHK,2026-10-05,-250.00,USD,CHQ-101
b3,CHK,2026-10-30,400.00,USD,DEP-7
b4,CHK,2026-10-08,2000.00,USD,WIRE-55
b5,CHK,2026-10-15,-300.00,USD,PAY-9
b6,CHK,2026-11-03,-75.00,USD,CHQ-102
c1,SAV,2026-10-03,500.00,EUR,TR-1
"""
BANK = b"""id,account,date,amount,currency,reference
s1,CHK,2026-10-02,1000.00,USD,inv 1
s4,CHK,2026-10-09,1985.00,USD,
s5,CHK,2026-10-22,-300.00,USD,
s6,CHK,2026-10-20,12.50,USD,INTEREST
s8,CHK,2026-10-31,-20.00,USD,CHARGES
s7,CHK,2026-11-02,400.00,USD,DEP-7
t1,SAV,2026-10-03,500.00,EUR,TR-1
"""
OPENING = Decimal("5000.00")
CLOSING = Decimal("7677.50")


@pytest.fixture(autouse=True)
def people(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for person in (ANA, PAT, ADA, VIC):
        assert create_user(store, person.username, "a-long-password", person.role, display_name=person.display_name) == person


@pytest.fixture
def run(store, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run


def chk_lines(store, run, **given):
    brs, errors = saved_run_reconciliation(store, run.id, AS_OF, bank_closings={"CHK": CLOSING, **given},
                                           book_openings={"CHK": OPENING}, account="CHK")
    assert errors == []
    return {x.line: x.amount for x in brs.lines if x.account == "CHK"}, brs


def open_break(store, record_id):
    with store.session() as session:
        return session.scalar(select(Break).where(Break.record_id == record_id, Break.status == "open"))


def group_holding(store, record_id, status="proposed"):
    with store.session() as session:
        return session.scalar(select(MatchGroup).join(MatchItem, MatchItem.group_id == MatchGroup.id)
                              .where(MatchItem.record_id == record_id, MatchGroup.status == status))


def engine_match_id(store, run, record_id):
    items = pq.read_table(run_folder(store.data_dir, run.id) / "items.parquet").to_pylist()
    return next(i["match_id"] for i in items if i["record_id"] == record_id)


def signed_chk(store, run):
    prepared = prepare_sign_off(store, run.id, "CHK", AS_OF, ANA, book_opening=OPENING, bank_closing=CLOSING)
    return sign_off(store, prepared.id, PAT)


def test_the_statement_of_a_saved_run_is_the_hand_computed_one(store, run):
    brs, errors = saved_run_reconciliation(store, run.id, AS_OF, bank_closings={"CHK": CLOSING, "SAV": Decimal("510.00")},
                                           book_openings={"CHK": OPENING})
    assert errors == []
    lines = {(x.account, x.line): x.amount for x in brs.lines}
    assert {line: lines[("CHK", line)] for line in ("bank_closing_balance", "outstanding_payments", "deposits_in_transit",
                                                    "book_balance", "bank_credits_not_in_books", "bank_debits_not_in_books",
                                                    "differences_in_matched_items", "unexplained_difference")} == {
        "bank_closing_balance": CLOSING, "outstanding_payments": Decimal("-250.00"), "deposits_in_transit": Decimal("400.00"),
        "book_balance": Decimal("7850.00"), "bank_credits_not_in_books": Decimal("12.50"),
        "bank_debits_not_in_books": Decimal("-20.00"), "differences_in_matched_items": Decimal("-15.00"),
        "unexplained_difference": Decimal("0.00")}
    assert lines[("SAV", "unexplained_difference")] == Decimal("10.00")
    assert brs.summary["accounts"]["CHK"]["matched_groups"] == {"confirmed": 1, "proposed": 2}


def test_decisions_taken_since_the_run_change_the_statement(store, run):
    """Rejecting the fee group (b4 2,000.00 / s4 1,985.00) turns its difference into a deposit in transit and a bank
    credit; undoing b1/s1 likewise; resolving s8 explains it but leaves it a bank debit; the difference stays 0."""
    fee = group_holding(store, "b4")
    reject_proposed(store, fee.id, fee.version, ANA)
    unmatch_group(store, run.id, engine_match_id(store, run, "b1"), ANA, version=1)
    s8 = open_break(store, "s8")
    resolve_break(store, s8.id, s8.version, "bank_fee", "", ANA)
    lines, brs = chk_lines(store, run)
    assert lines["deposits_in_transit"] == Decimal("3400.00")
    assert lines["bank_credits_not_in_books"] == Decimal("2997.50")
    assert lines["differences_in_matched_items"] == 0
    assert lines["bank_debits_not_in_books"] == Decimal("-20.00")
    assert lines["book_balance"] == Decimal("7850.00") and lines["unexplained_difference"] == 0
    assert brs.summary["accounts"]["CHK"]["matched_groups"] == {"confirmed": 0, "proposed": 1}
    items = {(i["line"], i["record_id"]) for i in brs.items.to_pylist()}
    assert {("deposits_in_transit", "b4"), ("deposits_in_transit", "b1"), ("bank_credits_not_in_books", "s1")} <= items


def test_a_manual_match_counts_as_matched_with_its_difference(store, run):
    s6, s8 = open_break(store, "s6"), open_break(store, "s8")
    manual_match(store, [s6.id, s8.id], {s6.id: s6.version, s8.id: s8.version}, ANA, reason_code="other", comment="netted")
    lines, _ = chk_lines(store, run)
    assert lines["bank_credits_not_in_books"] == 0 and lines["bank_debits_not_in_books"] == 0
    assert lines["differences_in_matched_items"] == Decimal("-15.00") + Decimal("-7.50")
    assert lines["unexplained_difference"] == 0


def test_the_bank_closing_comes_from_the_stored_statements(store, run):
    with store.session() as session:
        session.add(StatementRecord(dataset_id=run.external_dataset_id, account="CHK", currency="USD", number="10",
                                    period_from=dt.date(2026, 10, 1), period_to=dt.date(2026, 10, 31), opening=OPENING,
                                    closing=Decimal("7677.50"), entry_count=5, content_sha256="0" * 64))
    brs, errors = saved_run_reconciliation(store, run.id, AS_OF, book_openings={"CHK": OPENING}, account="CHK")
    assert errors == []
    assert brs.line("CHK", "bank_closing_balance") == CLOSING and brs.line("CHK", "unexplained_difference") == 0
    assert brs.summary["accounts"]["CHK"]["bank_closing"]["source"] == "statement 10 closing balance on 2026-10-31"
    _, errors = saved_run_reconciliation(store, run.id, AS_OF, account="SAV")
    assert "gives no closing balance" in errors[0].message


def test_a_second_person_signs_off_and_both_steps_are_audited(store, run):
    prepared = prepare_sign_off(store, run.id, "CHK", AS_OF, ANA, book_opening=OPENING, bank_closing=CLOSING)
    assert prepared.status == "prepared" and prepared.lines["unexplained_difference"] == "0.00"
    assert prepared.lines["outstanding_payments"] == "-250.00" and len(prepared.lines) == 10
    assert account_lock(store, "CHK") is None
    signed = sign_off(store, prepared.id, PAT)
    assert (signed.status, signed.signed_by, signed.prepared_by) == ("signed_off", "pat", "ana")
    assert account_lock(store, "chk").id == prepared.id
    assert [s.id for s in sign_offs(store, "CHK")] == [prepared.id]
    with store.session() as session:
        actions = session.execute(select(AuditEntry.action, AuditEntry.actor).where(AuditEntry.entity_type == "reconciliation")
                                  .order_by(AuditEntry.id)).all()
    assert [tuple(a) for a in actions] == [("prepare_sign_off", "ana"), ("sign_off", "pat")]


def test_the_preparer_cannot_sign_off_and_a_viewer_cannot_prepare(store, run):
    prepared = prepare_sign_off(store, run.id, "CHK", AS_OF, PAT, book_opening=OPENING, bank_closing=CLOSING)
    with pytest.raises(SignOffError, match="nobody may sign off a reconciliation they prepared"):
        sign_off(store, prepared.id, PAT)
    with pytest.raises(SignOffError, match="needs the approver role"):
        sign_off(store, prepared.id, ANA)
    with pytest.raises(SignOffError, match="needs the analyst role"):
        prepare_sign_off(store, run.id, "CHK", AS_OF, VIC, book_opening=OPENING, bank_closing=CLOSING)
    assert account_lock(store, "CHK") is None
    assert sign_off(store, prepared.id, ADA).status == "signed_off"


def test_a_statement_with_an_unexplained_difference_cannot_be_signed_off(store, run):
    with pytest.raises(SignOffError, match="account SAV as of 2026-10-31 has an unexplained difference of 10.00"):
        prepare_sign_off(store, run.id, "SAV", AS_OF, ANA, bank_closing=Decimal("510.00"))
    assert sign_offs(store) == []


def test_a_statement_changed_since_it_was_prepared_must_be_prepared_again(store, run):
    prepared = prepare_sign_off(store, run.id, "CHK", AS_OF, ANA, book_opening=OPENING, bank_closing=CLOSING)
    fee = group_holding(store, "b4")
    reject_proposed(store, fee.id, fee.version, ANA)
    with pytest.raises(SignOffError, match=r"changed since it was prepared \(deposits in transit was 400.00, is 2400.00 now\)"):
        sign_off(store, prepared.id, PAT)
    again = prepare_sign_off(store, run.id, "CHK", AS_OF, ANA, book_opening=OPENING, bank_closing=CLOSING)
    assert {s.id: s.status for s in sign_offs(store)} == {prepared.id: "superseded", again.id: "prepared"}
    assert sign_off(store, again.id, PAT).lines["deposits_in_transit"] == "2400.00"


LOCKED = "account CHK is locked to 2026-10-31 by the signed-off reconciliation of 2026-10-31 \\(signed by pat on "


def test_a_locked_period_refuses_resolving_and_matching_by_hand(store, run):
    signed_chk(store, run)
    b2 = open_break(store, "b2")
    with pytest.raises(PeriodLockedError, match=LOCKED + r".*record b2 of 2026-10-05 is in the locked period"):
        resolve_break(store, b2.id, b2.version, "timing", "", ANA)
    s6, s8 = open_break(store, "s6"), open_break(store, "s8")
    with pytest.raises(PeriodLockedError, match=LOCKED):
        manual_match(store, [s6.id, s8.id], {s6.id: s6.version, s8.id: s8.version}, ANA, reason_code="other")
    assert open_break(store, "b2").status == "open"



def test_a_locked_period_refuses_booking_a_break_to_the_ledger(store, run):
    from core.banking.booking import book_break

    signed_chk(store, run)
    s6 = open_break(store, "s6")
    with pytest.raises(PeriodLockedError, match=LOCKED + r".*record s6 of 2026-10-20 is in the locked period"):
        book_break(store, s6.id, s6.version, "4000", actor=ANA, reason_code="bank_fee")
    assert open_break(store, "s6").status == "open"

def test_a_locked_period_refuses_approving_and_rejecting_proposals_and_unmatching(store, run):
    signed_chk(store, run)
    fee = group_holding(store, "b4")
    with pytest.raises(PeriodLockedError, match=LOCKED):
        approve_proposed(store, fee.id, fee.version, ANA)
    with pytest.raises(PeriodLockedError, match=LOCKED):
        reject_proposed(store, fee.id, fee.version, ANA)
    with pytest.raises(PeriodLockedError, match=LOCKED + r".*record b1 of 2026-10-01"):
        unmatch_group(store, run.id, engine_match_id(store, run, "b1"), ANA, version=1)
    assert group_holding(store, "b4").version == fee.version


def test_a_locked_period_refuses_approving_a_waiting_decision_but_not_refusing_it(store, run, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    b2 = open_break(store, "b2")
    waiting = resolve_break(store, b2.id, b2.version, "timing", "", ANA)
    assert waiting.status == "pending"
    signed_chk(store, run)
    with pytest.raises(PeriodLockedError, match=LOCKED):
        decide_pending(store, waiting.decision_id, True, PAT)
    assert decide_pending(store, waiting.decision_id, False, PAT).status == "refused"


def test_a_lock_leaves_later_records_and_other_accounts_free(store, run):
    signed_chk(store, run)
    b6 = open_break(store, "b6")  # 3 November: after the lock
    assert resolve_break(store, b6.id, b6.version, "timing", "", ANA).status == "applied"
    assert unmatch_group(store, run.id, engine_match_id(store, run, "c1"), ANA, version=1).status == "applied"  # SAV


def test_a_period_signed_off_cannot_be_prepared_again(store, run):
    signed_chk(store, run)
    with pytest.raises(SignOffError, match="account CHK is locked to 2026-10-31"):
        prepare_sign_off(store, run.id, "CHK", dt.date(2026, 10, 20), ANA, book_opening=OPENING, bank_closing=Decimal("7000"))


def test_an_item_carried_from_an_earlier_run_is_reconciling_but_not_in_this_period_s_books(store, monkeypatch):
    """October leaves cheque x1 (-250.00) outstanding; November's run carries it in. November's books hold x3 only:
    book balance = 850.00 (October's closing) + 300.00; the bank = 1,100.00 - 250.00 + 300.00."""
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    october = [import_bytes(store, data, name)[0].dataset for data, name in (
        (b"id,account,date,amount,currency,reference\nx1,CHK,2026-10-05,-250.00,USD,CHQ-101\nx2,CHK,2026-10-10,100.00,USD,INV-1\n",
         "books_10.csv"),
        (b"id,account,date,amount,currency,reference\ny2,CHK,2026-10-11,100.00,USD,INV-1\n", "bank_10.csv"))]
    first = reconcile_datasets(store, *october, load_rules(), "").run
    brs, errors = saved_run_reconciliation(store, first.id, AS_OF, bank_closings={"CHK": Decimal("1100.00")},
                                           book_openings={"CHK": Decimal("1000.00")})
    assert errors == [] and brs.line("CHK", "outstanding_payments") == Decimal("-250.00")
    assert brs.line("CHK", "unexplained_difference") == 0
    november = [import_bytes(store, data, name)[0].dataset for data, name in (
        (b"id,account,date,amount,currency,reference\nx3,CHK,2026-11-04,300.00,USD,DEP-1\n", "books_11.csv"),
        (b"id,account,date,amount,currency,reference\ny1,CHK,2026-11-03,-250.00,USD,CHQ-101\ny3,CHK,2026-11-05,300.00,USD,DEP-1\n",
         "bank_11.csv"))]
    second = reconcile_datasets(store, *november, load_rules(), "").run
    brs, errors = saved_run_reconciliation(store, second.id, dt.date(2026, 11, 30), bank_closings={"CHK": Decimal("1150.00")},
                                           book_openings={"CHK": Decimal("850.00")})
    assert errors == []
    assert brs.line("CHK", "book_balance") == Decimal("1150.00")
    assert brs.line("CHK", "unexplained_difference") == 0
    assert "x1" in {i["record_id"] for i in brs.items.to_pylist()}
    assert "x1" not in {i["record_id"] for i in brs.items.to_pylist() if i["line"] == "book_balance"}
