"""The Bank reconciliation page through AppTest: the statement of a saved run, its records, and
the sign-off by two people that locks the account."""

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from core.banking.signoff import account_lock
from core.domain.accounts import account_key
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.runs.reconcile import reconcile_datasets
from tests.core.banking.test_signoff import BANK, BOOKS
from tests.pages.app import frame_with, open_page, signed_in

PAGE = "pages/bank_reconciliation.py"


@pytest.fixture
def chk_run(demo):
    books, _ = import_bytes(demo, BOOKS, "books_chk.csv")
    bank, _ = import_bytes(demo, BANK, "bank_chk.csv")
    return reconcile_datasets(demo, books.dataset, bank.dataset, load_rules(), "", user="analyst").run


def statement_of(username: str, account: str, closing: str) -> AppTest:
    at = open_page(signed_in(username), PAGE)
    at.selectbox(key="brs_account").set_value(account_key(account)).run()
    at.date_input(key="brs_as_of").set_value(dt.date(2026, 10, 31)).run()
    at.text_input(key="brs_book_opening").input("5000.00" if account == "CHK" else "0").run()
    at.text_input(key="brs_bank_closing").input(closing).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_a_viewer_reads_the_statement_its_waterfall_and_a_line_s_records(chk_run):
    at = statement_of("viewer", "CHK", "7677.50")
    assert metrics(at) == {"Adjusted bank balance": "7,827.50 USD", "Adjusted book balance": "7,827.50 USD",
                           "Unexplained difference": "0.00 USD"}
    assert len(at.get("plotly_chart")) == 1
    lines = frame_with(at, "line")
    assert dict(zip(lines["line"], lines["amount"].astype(str)))["outstanding payments"] == "-250.00"
    at.selectbox(key="brs_drill_line").set_value("outstanding_payments").run()
    assert frame_with(at, "record_id")["record_id"].tolist() == ["b2"]
    at.selectbox(key="brs_drill_line").set_value("differences_in_matched_items").run()
    assert sorted(frame_with(at, "record_id")["record_id"]) == ["b4", "s4"]
    assert not [b for b in at.button if b.key in ("brs_prepare", "brs_sign_off")]


def test_an_analyst_prepares_and_another_person_signs_off_which_locks_the_account(chk_run, demo):
    at = statement_of("analyst", "CHK", "7677.50")
    at.button(key="brs_prepare").click().run()
    assert not at.exception
    assert any("waits for an approver" in s.value for s in at.success)
    assert not [b for b in at.button if b.key == "brs_sign_off"]
    assert account_lock(demo, "CHK") is None

    at = statement_of("approver", "CHK", "7677.50")
    at.button(key="brs_sign_off").click().run()
    assert not at.exception
    assert any("locked to 2026-10-31" in s.value for s in at.success)
    assert any("CHK is locked to 2026-10-31" in i.value and "signed off by approver" in i.value for i in at.info)
    assert account_lock(demo, "CHK").signed_by == "approver"
    signed = frame_with(at, "prepared by")
    assert signed["status"].tolist() == ["signed off"] and signed["prepared by"].tolist() == ["analyst"]


def test_a_statement_with_a_difference_cannot_be_prepared(chk_run):
    at = statement_of("analyst", "SAV", "510.00")
    assert metrics(at)["Unexplained difference"] == "10.00 EUR"
    assert at.button(key="brs_prepare").disabled


def test_without_a_bank_balance_the_page_says_what_to_give(chk_run):
    at = statement_of("viewer", "SAV", "")
    assert any("gives no closing balance" in e.value for e in at.error)


def test_the_statement_is_drawn_up_to_the_end_of_the_run_s_bank_statement_unless_told(demo):
    at = open_page(signed_in("viewer"), PAGE)
    assert at.date_input(key="brs_as_of").value == dt.date(2026, 10, 31)  # the demo statements end with October, not today
    assert metrics(at)["Unexplained difference"] == "0.00 SAR"
