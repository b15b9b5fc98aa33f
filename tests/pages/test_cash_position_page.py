"""The Cash position page through AppTest: a viewer reads the position per bank account (and in a
reporting currency with a rates file), per cost centre, and the cost centre x month pivot with its
drill-down to the journal lines; a missing rate is a clear error."""

import datetime as dt

import pytest
from streamlit.testing.v1 import AppTest

from tests.core.banking.test_cash import EUR_ACCOUNT, GBP_ACCOUNT, imported, ledger
from tests.pages.app import on_page


@pytest.fixture
def cash(demo_without_ledger):
    imported(demo_without_ledger)
    ledger(demo_without_ledger)
    return demo_without_ledger


def cash_page(username: str = "viewer") -> AppTest:
    return on_page(username, "pages/cash_position.py")


# Each grid by a column only it has (AppTest does not expose a grid's key).
COLUMNS = {"cash_positions": "opening on", "cash_by_dimension": "closing", "cash_pivot": "2026-10", "cash_drill_lines": "journal"}


def frame(at: AppTest, key: str):
    return next((d.value for d in at.dataframe if COLUMNS[key] in d.value.columns), None)


def test_viewer_reads_the_position_per_account_and_cost_centre_and_drills_into_a_month(cash):
    at = cash_page()
    at.date_input(key="cash_as_of").set_value(dt.date(2026, 11, 30)).run()
    at.date_input(key="cash_from").set_value(dt.date(2026, 10, 1)).run()
    assert not at.exception, at.exception
    positions = frame(at, "cash_positions")
    balances = dict(zip(positions["account"], positions["balance"]))
    assert balances == {EUR_ACCOUNT: "1,099.75", GBP_ACCOUNT: "514.50"}
    by_centre = frame(at, "cash_by_dimension")
    assert dict(zip(by_centre["cost_centre"], by_centre["closing"])) == {"SALES": "140.00", "OPS": "-20.00", "(none)": "7.00"}
    pivot = frame(at, "cash_pivot")
    ops = pivot[pivot["cost_centre"] == "OPS"].iloc[0]
    assert (ops["2026-10"], ops["2026-11"]) == ("-15.25", "-4.75")
    drill = at.selectbox(key="cash_drill")
    drill.set_value(("OPS", "EUR", "2026-11")).run()
    lines = frame(at, "cash_drill_lines")
    assert sorted(lines["amount"]) == sorted(["-4.75", "-999.00", "999.00"])
    assert len(at.get("plotly_chart")) == 2


def test_position_in_a_reporting_currency_and_a_missing_rate(cash):
    at = cash_page()
    at.date_input(key="cash_as_of").set_value(dt.date(2026, 10, 4)).run()
    at.text_area(key="cash_rates_text").input("date,currency,rate\n2026-10-01,EUR,1.10\n2026-10-01,GBP,1.25\n").run()
    assert not at.exception, at.exception
    positions = frame(at, "cash_positions")
    assert dict(zip(positions["account"], positions["balance in USD"])) == {EUR_ACCOUNT: "1,210.2750", GBP_ACCOUNT: "643.1250"}
    at.text_area(key="cash_rates_text").input("date,currency,rate\n2026-10-01,EUR,1.10\n").run()
    assert not at.exception, at.exception
    assert frame(at, "cash_positions") is None
    assert any("no rate for GBP in USD on or before 2026-10-04" in e.value for e in at.error)


def test_flows_that_would_start_after_the_as_of_date_are_refused_clearly(cash):
    at = cash_page()
    at.date_input(key="cash_as_of").set_value(dt.date(2026, 10, 31)).run()
    assert frame(at, "cash_positions") is not None  # the flows start on the first of the as-of month unless told
    at.date_input(key="cash_from").set_value(dt.date(2026, 11, 1)).run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["the flows start on 2026-11-01, after the as-of date 2026-10-31: choose a start on or before it."]


def test_the_drill_down_shows_the_bank_records_the_journal_lines_were_posted_from(demo):
    from core.banking.posting import posted_records

    at = cash_page()
    at.date_input(key="cash_as_of").set_value(dt.date(2026, 10, 31)).run()
    assert not at.exception, at.exception
    lines = next(d.value for d in at.dataframe if "line_no" in d.value.columns)
    records = next(d.value for d in at.dataframe if "counterparty" in d.value.columns)
    expected = posted_records(demo, lines["journal"].tolist())
    assert sorted(records["journal"]) == sorted(expected) and expected
    assert sorted(records["record"]) == sorted(x.record_id for x in expected.values())


def test_a_cell_of_manual_journals_says_it_has_no_bank_record(cash):
    at = cash_page()
    at.date_input(key="cash_as_of").set_value(dt.date(2026, 11, 30)).run()
    at.date_input(key="cash_from").set_value(dt.date(2026, 10, 1)).run()
    assert not at.exception, at.exception
    assert any("No line of this cell was posted from a bank record" in c.value for c in at.caption)
