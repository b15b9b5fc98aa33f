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
    assert frame_with(at, "Merchant")["Status"].tolist() == ["received"]
    assert frame_with(at, "Merchant")["Requested"].tolist() == ["25,000.00"]
    at.file_uploader(key="applications_upload").upload("march.pdf", _statement()).run()
    at.button(key="applications_add").click().run()
    assert not at.exception
    documents = frame_with(at, "read as")
    assert documents.loc[0, "read as"] == "text pdf" and documents.loc[0, "account"] == "••••7788"
    assert frame_with(at, "Merchant")["Status"].tolist() == ["ready"]
    assert [m.label for m in at.metric] == ["Average daily balance", "True revenue", "NSF events", "Negative days"]
    assert "20451155667788" in at.caption[0].value  # an analyst sees the account in full
    at.text_area(key="applications_comment").input("steady card sales")
    next(b for b in at.button if b.label == "Decide").click().run()
    assert [e.value for e in at.error] == ["Choose approved or declined."]  # no decision is taken for the person
    at.radio(key="applications_outcome").set_value("approved")
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


def test_an_amount_the_store_cannot_hold_or_a_wrong_currency_is_refused_and_the_queue_stays_readable(demo):
    at = on_page("analyst", "pages/applications.py")
    for amount, currency, said in (("9" * 40, "USD", "the requested amount '" + "9" * 40 + "' is too large"),
                                   ("1e400", "USD", "the requested amount '1E+400' is too large"),
                                   ("250000", "X1", "'X1' is not an ISO 4217 currency code")):
        at.text_input(key="applications_merchant").input("Orchard Cafe")
        at.text_input(key="applications_amount").input(amount)
        at.text_input(key="applications_currency").input(currency)
        next(b for b in at.button if b.label == "Create application").click().run()
        assert not at.exception
        assert [e.value for e in at.error if said in e.value], [e.value for e in at.error]
    assert [i.value for i in at.info] == ["No application with this status."]


def test_a_file_that_is_no_pdf_statement_is_kept_with_a_warning_not_a_success(demo):
    create_application(demo, "Harbour Foods", Decimal("5000.00"), user="analyst")
    at = on_page("analyst", "pages/applications.py")
    assert [i.value for i in at.info] == ["No document yet: add the merchant's bank statements (PDF)."]
    assert not at.error
    at.file_uploader(key="applications_upload").upload("fake.pdf", b"just some text").run()
    at.button(key="applications_add").click().run()
    assert not at.exception and not at.success
    assert [w.value for w in at.warning] == ["fake.pdf is kept, but could not be read: not a PDF statement; kept, not read."]
