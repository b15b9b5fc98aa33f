"""Applications: documents kept once and encrypted, mail taken in, status, metrics, maker-checker decisions."""

import datetime as dt
from decimal import Decimal
from email.message import EmailMessage

import pytest

from core.auth import Account
from core.underwriting.applications import (
    ApplicationError,
    add_document,
    application_metrics,
    create_application,
    decide_application,
    document_bytes,
    list_applications,
    list_documents,
    mask_account,
    take_in_mail,
)
from tests.statement_pdfs import make_rows, statement_pdf

ANA = Account("ana", "Ana", "analyst", 1)
PAT = Account("pat", "Pat", "approver", 3)
QUIN = Account("quin", "Quin", "approver", 4)
START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


@pytest.fixture
def statement():
    rows = make_rows(12, START, Decimal("2500.00"), seed=12)
    return rows, statement_pdf("northwind", rows, Decimal("2500.00"), START, END)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "files"))
    monkeypatch.delenv("RECON_DOCUMENT_KEY", raising=False)
    return tmp_path / "files"


def test_a_document_is_kept_once_encrypted_and_read(store, data_dir, statement):
    rows, pdf = statement
    app = create_application(store, "Orchard Cafe", Decimal("25000.00"), user="ana")
    assert list_applications(store)[0].status == "received"

    first = add_document(store, app, pdf, "march.pdf", user="ana")
    again = add_document(store, app, pdf, "march-copy.pdf", user="ana")

    assert first.created and not again.created and len(list_documents(store, app)) == 1
    stored = (data_dir / "documents" / first.document.stored_as).read_bytes()
    assert b"%PDF" not in stored and b"Northwind" not in stored
    assert document_bytes(store, first.document.id) == ("march.pdf", pdf)
    reading = first.document.reading
    assert (reading["kind"], reading["rows"], reading["doubtful_rows"], reading["account"]) == ("text pdf", 12, [], "••••7788")
    assert first.document.pages == 1
    assert list_applications(store, "ready")[0].id == app
    figures, errors = application_metrics(store, app)
    assert errors == [] and figures.metrics["deposit_count"] == sum(1 for r in rows if r.amount > 0)


def test_a_document_that_does_not_add_up_leaves_the_application_processing(store, data_dir):
    rows = make_rows(5, START, Decimal("10.00"))
    rows[2] = rows[2]._replace(balance=rows[2].balance + 1)
    app = create_application(store, "Harbour Foods", Decimal("5000.00"), user="ana")
    added = add_document(store, app, statement_pdf("signed", rows, Decimal("10.00"), START, END), "bad.pdf", user="ana")
    assert "row 3, column 'balance'" in added.document.reading["problems"][0]
    assert list_applications(store)[0].status == "processing"
    with pytest.raises(ApplicationError, match="processing"):
        decide_application(store, app, "approved", "fine", PAT)


def test_mail_attachments_are_taken_in_and_the_subject_names_the_application(store, data_dir, statement, tmp_path):
    _, pdf = statement
    app = create_application(store, "Orchard Cafe", Decimal("9000.00"), user="ana")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for file, subject in (("a.eml", f"Re: Application {app} statements"), ("b.eml", "Funding request")):
        message = EmailMessage()
        message["From"], message["Subject"] = "Lakeside Catering <owner@lakeside.example>", subject
        message.set_content("Statements attached.")
        message.add_attachment(pdf, maintype="application", subtype="pdf", filename="march.pdf")
        (inbox / file).write_bytes(message.as_bytes())

    taken = take_in_mail(store, inbox)

    assert [(f, a == app, n) for f, a, n in taken] == [("a.eml", True, 1), ("b.eml", False, 1)]
    assert {a.merchant for a in list_applications(store)} == {"Orchard Cafe", "Lakeside Catering"}
    assert list_documents(store, app)[0].source == "mail"
    assert not list(inbox.glob("*.eml")) and len(list((inbox / "done").glob("*.eml"))) == 2


def test_a_decision_over_the_threshold_waits_for_another_approver(store, data_dir, statement, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    _, pdf = statement
    app = create_application(store, "Orchard Cafe", Decimal("25000.00"), user="ana")
    add_document(store, app, pdf, "march.pdf", user="ana")
    with pytest.raises(ApplicationError, match="comment"):
        decide_application(store, app, "approved", " ", PAT)
    assert decide_application(store, app, "approved", "steady deposits", PAT) == "waiting"
    with pytest.raises(ApplicationError, match="maker"):
        decide_application(store, app, "approved", "me again", PAT)
    with pytest.raises(ApplicationError, match="an approver decides"):
        decide_application(store, app, "approved", "analyst", ANA)
    assert decide_application(store, app, "declined", "two advances already", QUIN) == "decided"
    decided = list_applications(store)[0]
    assert (decided.status, decided.outcome, decided.decided_by, decided.proposed_by) == ("decided", "declined", "quin", "pat")


def test_a_decision_at_or_under_the_threshold_stands_at_once(store, data_dir, statement, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    app = create_application(store, "Orchard Cafe", Decimal("10000.00"), user="ana")
    add_document(store, app, statement[1], "march.pdf", user="ana")
    assert decide_application(store, app, "approved", "small", ANA) == "decided"


def test_account_numbers_are_masked_to_the_last_four():
    assert mask_account("20-45-11 55667788") == "••••7788"
    assert mask_account("123") == "123" and mask_account(None) == ""


def test_a_scan_s_doubtful_rows_hold_the_application_until_a_person_confirms_them(store, data_dir):
    from core.underwriting.applications import confirm_document_rows, rows_to_confirm_of
    from tests.statement_pdfs import smudged_scan

    rows = make_rows(6, START, Decimal("1500.00"), seed=4)
    app = create_application(store, "Greenway Grocers", Decimal("8000.00"), user="ana")
    added = add_document(store, app, smudged_scan(rows, 2, start=START, end=END), "scan.pdf", user="ana")
    assert added.document.reading["kind"] == "scanned pdf" and 3 in added.document.reading["doubtful_rows"]
    assert list_applications(store)[0].status == "processing"

    shown = rows_to_confirm_of(store, added.document.id)
    wrong = [{**r, "amount": "1.00"} for r in shown]
    assert confirm_document_rows(store, added.document.id, wrong, user="ana")[0].column == "balance"
    right = [{**r, "date": str(rows[r["row"] - 1].date), "description": rows[r["row"] - 1].description,
              "amount": str(rows[r["row"] - 1].amount), "balance": str(rows[r["row"] - 1].balance)} for r in shown]
    assert confirm_document_rows(store, added.document.id, right, user="ana") == []
    assert list_applications(store)[0].status == "ready"
    figures, errors = application_metrics(store, app)
    assert errors == [] and [r["amount"] for r in figures.transactions] == [r.amount for r in rows]
