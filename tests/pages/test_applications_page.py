"""The Applications page: an analyst makes an application, adds a statement and sees its metrics; a viewer sees accounts masked."""

import datetime as dt
from decimal import Decimal

from core.underwriting.applications import add_document, create_application
from tests.pages.app import frame_with, on_page
from tests.statement_pdfs import make_rows, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


def _statement() -> bytes:
    return statement_pdf("northwind", make_rows(10, START, Decimal("800.00"), seed=2), Decimal("800.00"), START, END)


def test_an_analyst_creates_an_application_adds_a_statement_and_proposes_a_decision(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    at = on_page("analyst", "pages/applications.py")
    at.text_input(key="applications_merchant").input("Orchard Cafe")
    at.text_input(key="applications_amount").input("25,000.00")
    next(b for b in at.button if b.label == "Create application").click().run()
    assert not at.exception
    assert frame_with(at, "merchant")["status"].tolist() == ["received"]
    at.file_uploader(key="applications_upload").upload("march.pdf", _statement()).run()
    at.button(key="applications_add").click().run()
    assert not at.exception
    documents = frame_with(at, "read as")
    assert documents.loc[0, "read as"] == "text pdf" and documents.loc[0, "account"] == "••••7788"
    assert frame_with(at, "merchant")["status"].tolist() == ["ready"]
    assert [m.label for m in at.metric] == ["Average daily balance", "True revenue", "NSF events", "Negative days"]
    assert "20451155667788" in at.caption[0].value  # an analyst sees the account in full
    at.text_area(key="applications_comment").input("steady card sales")
    next(b for b in at.button if b.label == "Decide").click().run()
    assert any("waiting for another approver" in s.value for s in at.success)


def test_a_viewer_sees_account_numbers_masked_and_cannot_decide(demo):
    made = create_application(demo, "Harbour Foods", Decimal("5000.00"), user="analyst")
    add_document(demo, made, _statement(), "march.pdf", user="analyst")
    at = on_page("viewer", "pages/applications.py")
    assert not at.exception
    assert "••••7788" in at.caption[0].value and "20451155667788" not in at.caption[0].value
    assert not [b for b in at.button if b.label == "Decide"]
    assert not at.file_uploader
