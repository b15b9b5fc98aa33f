"""Booking a statement-side break on SQLite and PostgreSQL: the journal and the resolution land
together; above the threshold both wait for an approver, who posts or drops the journal."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.auth import Account, create_user
from core.banking.booking import book_break
from core.banking.ledger import ChartRow, LedgerError, add_dimension_value, import_chart, journal_lines, list_journals
from core.banking.posting import parse_posting_rules, post_records
from core.ingest.datasets import import_bytes, load_dataset_table
from core.matching.rules import load_rules
from core.review import ReviewError, decide_pending
from core.runs.reconcile import reconcile_datasets
from core.store.models import AuditEntry, Break

ANA = Account("ana", "Ana", "analyst", 1)
PAT = Account("pat", "Pat", "approver", 2)
BOOKS = b"id,account,date,amount,currency,reference\nb1,4471-0092-18,2026-10-01,100.00,USD,INV-1\n"
BANK = (b"id,account,date,amount,currency,reference,description\n"
        b"s1,4471009218,2026-10-02,100.00,USD,inv1,receipt\n"
        b"s2,4471009218,2026-10-13,-0.50,USD,FEE,Account fee\n"
        b"s3,4471009218,2026-10-20,-20000.00,USD,RTN,Returned item\n"
        b"s4,4471009218,2026-10-21,-30000.00,USD,RTN,Returned item\n")


@pytest.fixture
def breaks(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    for person in (ANA, PAT):
        create_user(store, person.username, "a-long-password", person.role, display_name=person.display_name)
    import_chart(store, [ChartRow("1000", "Bank USD", "asset", True, "4471009218"), ChartRow("6100", "Bank charges", "expense"),
                         ChartRow("1200", "Receivables", "asset")], actor="cli")
    add_dimension_value(store, "cost_centre", "FIN", actor="cli")
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "")
    with store.session() as session:
        found = {b.record_id: b for b in session.scalars(select(Break).where(Break.status == "open"))}
    return store, found, bank.dataset


def test_booking_a_fee_posts_its_journal_and_resolves_the_break_together(breaks):
    store, found, bank = breaks
    fee = found["s2"]
    outcome = book_break(store, fee.id, fee.version, "6100", actor=ANA, dimensions={"cost_centre": "FIN"})
    assert outcome.status == "applied"
    with store.session() as session:
        row = session.get(Break, fee.id)
        assert (row.status, row.resolution) == ("resolved", "bank_fee")
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type.in_(("break", "journal")))).all()
    (journal,) = list_journals(store, statuses=["posted"])
    assert (journal.source, journal.record_id, journal.posted_by) == ("break", "s2", "ana")
    assert [(x.gl_account, x.debit, x.credit, x.dimensions) for x in journal_lines(store, [journal.id])] == [
        ("1000", Decimal(0), Decimal("0.50"), {"cost_centre": "FIN"}), ("6100", Decimal("0.50"), Decimal(0), {"cost_centre": "FIN"})]
    assert set(actions) == {"post_journal", "book_break"}
    rules = parse_posting_rules('[[rules]]\nname = "all"\naccount = "1200"\n')
    again = post_records(store, bank.id, load_dataset_table(store, bank).to_pylist(), rules, actor="cli")
    assert again.already == 1, "a booked record is not posted a second time by posting rules"


def test_above_the_threshold_the_approver_posts_the_journal_or_refusing_drops_it(breaks):
    store, found, _ = breaks
    first, second = found["s3"], found["s4"]
    assert book_break(store, first.id, first.version, "1200", actor=ANA, reason_code="other", comment="returned").status == "pending"
    pending = book_break(store, second.id, second.version, "1200", actor=ANA, reason_code="other", comment="returned")
    assert [j.status for j in list_journals(store)] == ["draft", "draft"]
    with store.session() as session:
        decision_of_first = session.get(Break, first.id).pending_decision_id
    decide_pending(store, decision_of_first, True, PAT)
    decide_pending(store, pending.decision_id, False, PAT)
    journals = list_journals(store)
    assert [(j.record_id, j.status, j.posted_by) for j in journals] == [("s3", "posted", "pat")]
    with store.session() as session:
        assert session.get(Break, first.id).status == "resolved" and session.get(Break, second.id).status == "open"


def test_only_an_open_statement_side_break_is_booked_and_a_refusal_changes_nothing(breaks):
    store, found, _ = breaks
    fee = found["s2"]
    with pytest.raises(LedgerError, match="GL account '6999'"):
        book_break(store, fee.id, fee.version, "6999", actor=ANA)
    with pytest.raises(ReviewError, match="changed since it was read"):
        book_break(store, fee.id, fee.version + 1, "6100", actor=ANA)
    with pytest.raises(ReviewError, match="unknown reason code"):
        book_break(store, fee.id, fee.version, "6100", actor=ANA, reason_code="whim")
    with pytest.raises(LedgerError, match="cost_centre 'OPS' is not in the cost_centre list"):
        book_break(store, fee.id, fee.version, "6100", actor=ANA, dimensions={"cost_centre": "OPS"})
    assert list_journals(store) == []
    with store.session() as session:
        assert session.get(Break, fee.id).status == "open"
    book_break(store, fee.id, fee.version, "6100", actor=ANA)
    with pytest.raises(ReviewError, match="is resolved"):
        book_break(store, fee.id, fee.version + 1, "6100", actor=ANA)
