"""A bank statement that does not add up, imported on a second person's word, on SQLite and PostgreSQL.

Refused by default; imported with the difference recorded only by ``accept_unbalanced`` (the
CLI) or once an approver other than the maker approves an analyst's request; flagged on the
dataset, its statements and in the audit log.
"""

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.auth import Account, create_user
from core.ingest.datasets import content_sha256, import_bytes, unbalanced_differences, unbalanced_notes
from core.review import ReviewError, decide_pending, pending_decisions, request_unbalanced_import, waiting_import_request
from core.store import verify_audit_chain
from core.store.models import AuditEntry, DatasetRecord, Decision, StatementRecord
from tests.statement_samples import camt053

ANA = Account("ana", "Ana", "analyst", 1)
PAT = Account("pat", "Pat", "approver", 2)
ADA = Account("ada", "Ada", "approver", 3)
VIC = Account("vic", "Vic", "viewer", 4)

# camt053(): opening 1000.00, booked entries 499.75 on 2026-10-05; adds up with closing 1499.75.
SHORT = camt053(closing="1490.00")
SHORT_NOTE = "statement 42 of account CH9300762011623852957 (CHF): closing balance differs from opening plus entries by -9.75"


@pytest.fixture(autouse=True)
def people(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # cheap: not what is tested here
    for person in (ANA, PAT, ADA, VIC):
        assert create_user(store, person.username, "a-long-password", person.role, display_name=person.display_name) == person


def still_day(day: str, opening: str, closing: str) -> bytes:
    """A CAMT.053 statement of one day without entries, on the account of ``camt053``."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
 <GrpHdr><MsgId>D{day}</MsgId><CreDtTm>2026-10-{day}T22:00:00</CreDtTm></GrpHdr>
 <Stmt><Id>DAY-{day}</Id>
  <FrToDt><FrDtTm>2026-10-{day}T00:00:00</FrDtTm><ToDtTm>2026-10-{day}T23:59:59</ToDtTm></FrToDt>
  <Acct><Id><IBAN>CH9300762011623852957</IBAN></Id><Ccy>CHF</Ccy></Acct>
  <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-{day}</Dt></Dt></Bal>
  <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-{day}</Dt></Dt></Bal>
 </Stmt>
</BkToCstmrStmt></Document>""".encode()


def kept_files(store):
    folder = store.data_dir / "pending_imports"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def audit_actions(store):
    with store.session() as session:
        return [a.action for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_refused_by_default_with_the_way_forward(store):
    outcome, errors = import_bytes(store, SHORT, "short.xml")
    assert outcome is None and len(errors) == 1
    assert errors[0].message.endswith("(difference -9.75); to import it anyway with the difference recorded: "
                                      "CLI --accept-unbalanced; on the Sources page, ask an approver")
    with store.session() as session:
        assert session.scalar(select(DatasetRecord.id)) is None


def test_accepted_unbalanced_it_imports_flagged_with_the_difference_and_an_audit_entry(store):
    outcome, errors = import_bytes(store, SHORT, "short.xml", accept_unbalanced=True, user="ana")
    assert errors == [] and outcome.dataset.row_count == 4
    assert outcome.dataset.unbalanced == SHORT_NOTE
    assert any("imported with the difference recorded" in w for w in outcome.warnings)
    with store.session() as session:
        statement = session.scalar(select(StatementRecord))
        audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "import_unbalanced"))
    assert (statement.closing, statement.difference, statement.gap) == (Decimal("1490.00"), Decimal("-9.75"), None)
    assert (audit.actor, audit.entity_id, audit.after["differences"]) == ("ana", outcome.dataset.id, SHORT_NOTE)
    assert unbalanced_notes(store, [outcome.dataset.id, "f" * 64]) == {outcome.dataset.id: SHORT_NOTE}


def test_a_balanced_file_is_not_flagged(store):
    outcome, errors = import_bytes(store, camt053(closing="1499.75"), "good.xml", accept_unbalanced=True)
    assert errors == [] and outcome.dataset.unbalanced is None
    assert "import_unbalanced" not in audit_actions(store)


def test_an_opening_that_does_not_continue_the_store_is_recorded_as_a_gap(store):
    assert import_bytes(store, still_day("01", "900.00", "900.00"), "day1.xml")[1] == []
    outcome, errors = import_bytes(store, camt053(closing="1499.75"), "day5.xml")
    assert outcome is None and "does not continue the closing balance 900.00" in errors[0].message
    assert errors[0].message.endswith("ask an approver")
    assert unbalanced_differences(store, camt053(closing="1499.75"), "day5.xml") == [
        "statement 42 of account CH9300762011623852957 (CHF): opening balance differs from the previous closing balance by 100.00"]
    outcome, errors = import_bytes(store, camt053(closing="1499.75"), "day5.xml", accept_unbalanced=True)
    assert errors == [] and "opening balance differs" in outcome.dataset.unbalanced
    with store.session() as session:
        gap = session.scalar(select(StatementRecord.gap).where(StatementRecord.dataset_id == outcome.dataset.id))
    assert gap == Decimal("100.00")


def test_a_duplicate_statement_stays_refused_even_when_accepted_unbalanced(store):
    assert import_bytes(store, SHORT, "short.xml", accept_unbalanced=True)[1] == []
    outcome, errors = import_bytes(store, SHORT + b"\n", "short-again.xml", accept_unbalanced=True)
    assert outcome is None and "was already imported" in errors[0].message


def test_other_problems_stay_errors_when_accepted_unbalanced(store):
    no_currency = SHORT.replace(b'<Ccy>CHF</Ccy>', b"").replace(b' Ccy="CHF"', b"")
    outcome, errors = import_bytes(store, no_currency, "nocurrency.xml", accept_unbalanced=True)
    assert outcome is None and any("currency" in e.message for e in errors)
    assert unbalanced_differences(store, no_currency, "nocurrency.xml") == []


def test_a_request_waits_for_an_approver_with_the_file_kept(store):
    outcome = request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "the bank confirmed a fee booked next day")
    assert outcome.status == "pending"
    assert kept_files(store) == [content_sha256(SHORT)]
    assert waiting_import_request(store, SHORT) == outcome.decision_id
    [waiting] = pending_decisions(store)
    assert (waiting.id, waiting.action, waiting.made_by) == (outcome.decision_id, "import_unbalanced", "ana")
    assert waiting.target == f"file short.xml: {SHORT_NOTE}"
    assert (waiting.account, waiting.currency, waiting.amount) == ("CH9300762011623852957", "CHF", Decimal("-9.75"))
    assert waiting.comment == "the bank confirmed a fee booked next day"
    assert audit_actions(store)[-1] == "request_import_unbalanced"
    with pytest.raises(ReviewError, match="waits for an approver already"):
        request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "again")
    assert len(kept_files(store)) == 1


def test_a_request_needs_a_comment_an_unbalanced_file_and_an_analyst(store):
    with pytest.raises(ReviewError, match="comment is required"):
        request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "  ")
    with pytest.raises(ReviewError, match="no balance difference"):
        request_unbalanced_import(store, ANA, camt053(closing="1499.75"), "good.xml", None, "why not")
    with pytest.raises(ReviewError, match="analyst role"):
        request_unbalanced_import(store, VIC, SHORT, "short.xml", None, "please")
    assert kept_files(store) == [] and pending_decisions(store) == []


def test_the_maker_and_a_viewer_cannot_decide(store):
    outcome = request_unbalanced_import(store, PAT, SHORT, "short.xml", None, "an approver asking")
    with pytest.raises(ReviewError, match="nobody may approve their own"):
        decide_pending(store, outcome.decision_id, True, PAT)
    with pytest.raises(ReviewError, match="approver role"):
        decide_pending(store, outcome.decision_id, True, VIC)
    with pytest.raises(ReviewError, match="approver role"):
        decide_pending(store, outcome.decision_id, False, ANA)
    with store.session() as session:
        assert session.scalar(select(DatasetRecord.id)) is None
    assert len(kept_files(store)) == 1 and waiting_import_request(store, SHORT) == outcome.decision_id


def test_approval_imports_the_kept_file_flagged_with_the_verdict_and_audit(store):
    request = request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "fee booked next day")
    verdict = decide_pending(store, request.decision_id, True, PAT, "checked with the bank")
    assert verdict.status == "approved"
    with store.session() as session:
        dataset = session.scalar(select(DatasetRecord))
        decision = session.get(Decision, verdict.decision_id)
        approved = session.scalar(select(AuditEntry).where(AuditEntry.action == "approve"))
    assert (dataset.name, dataset.created_by, dataset.unbalanced) == ("short.xml", "ana", SHORT_NOTE)
    assert (decision.parent_id, decision.made_by, decision.comment) == (request.decision_id, "pat", "checked with the bank")
    assert approved.after["dataset"] == dataset.id
    assert audit_actions(store)[-4:] == ["request_import_unbalanced", "import", "import_unbalanced", "approve"]
    assert kept_files(store) == [] and pending_decisions(store) == []
    assert verify_audit_chain(store).intact
    with pytest.raises(ReviewError):
        decide_pending(store, request.decision_id, True, ADA)


def test_refusal_deletes_the_kept_file_and_imports_nothing(store):
    request = request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "fee booked next day")
    verdict = decide_pending(store, request.decision_id, False, PAT, "ask the bank for a corrected file")
    assert verdict.status == "refused"
    assert kept_files(store) == [] and pending_decisions(store) == []
    with store.session() as session:
        assert session.scalar(select(DatasetRecord.id)) is None
    assert audit_actions(store)[-1] == "refuse"


def test_a_kept_file_whose_bytes_changed_is_not_imported(store):
    request = request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "fee booked next day")
    kept = store.data_dir / "pending_imports" / kept_files(store)[0]
    kept.write_bytes(camt053(closing="1000.00"))
    with pytest.raises(ReviewError, match="changed since it was asked for"):
        decide_pending(store, request.decision_id, True, PAT)
    with store.session() as session:
        assert session.scalar(select(DatasetRecord.id)) is None
    assert waiting_import_request(store, SHORT) == request.decision_id
    decide_pending(store, request.decision_id, False, PAT, "file tampered with")
    assert kept_files(store) == []


def test_approval_is_refused_when_the_differences_changed_since_the_request(store):
    assert import_bytes(store, still_day("01", "900.00", "900.00"), "day1.xml")[1] == []
    request = request_unbalanced_import(store, ANA, camt053(closing="1499.75"), "day5.xml", None, "a day is missing")
    # The missing day arrives (itself short of 100.00, accepted from the command line): day 5 now continues it.
    assert import_bytes(store, still_day("03", "900.00", "1000.00"), "day3.xml", accept_unbalanced=True)[1] == []
    with pytest.raises(ReviewError, match="no longer those asked about"):
        decide_pending(store, request.decision_id, True, PAT)
    with store.session() as session:
        assert session.scalar(select(DatasetRecord.id).where(DatasetRecord.name == "day5.xml")) is None


def test_a_statement_continuing_an_unbalanced_one_imports_unflagged(store):
    request = request_unbalanced_import(store, ANA, SHORT, "short.xml", None, "fee booked next day")
    decide_pending(store, request.decision_id, True, PAT)
    outcome, errors = import_bytes(store, still_day("07", "1490.00", "1490.00"), "day7.xml")
    assert errors == [] and outcome.dataset.unbalanced is None
    outcome, errors = import_bytes(store, still_day("08", "1499.75", "1499.75"), "day8.xml")
    assert outcome is None and "does not continue the closing balance 1490.00" in errors[0].message
