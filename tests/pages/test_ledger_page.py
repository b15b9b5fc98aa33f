"""The Ledger page through AppTest: journals and their lines, the trial balance that nets to zero,
the chart and the dimensions; a viewer reads, an analyst posts, reverses and edits."""

import datetime as dt
from decimal import Decimal

import pytest
from streamlit.testing.v1 import AppTest

from core.banking.ledger import (ChartRow, LineInput, add_dimension_value, create_journal, import_chart, list_gl_accounts, list_journals,
                                 post_journal)
from tests.pages.app import frame_with, on_page

D = Decimal
DAY = dt.date(2026, 10, 5)


@pytest.fixture
def ledger(demo_without_ledger):
    store = demo_without_ledger
    import_chart(store, [ChartRow("1000", "Bank USD", "asset", True, "4471009218"), ChartRow("6100", "Bank charges", "expense")],
                 actor="cli")
    add_dimension_value(store, "cost_centre", "OPS", actor="cli")
    fee = [LineInput("6100", D("12.50"), D(0), "USD", {"cost_centre": "OPS"}), LineInput("1000", D(0), D("12.50"), "USD")]
    post_journal(store, create_journal(store, DAY, "October fee", fee, actor="cli"), actor="cli")
    create_journal(store, DAY + dt.timedelta(days=1), "Draft fee", fee, actor="cli")
    return store


def ledger_page(username: str) -> AppTest:
    return on_page(username, "pages/ledger.py")


def test_a_viewer_reads_journals_lines_trial_balance_and_chart_without_acting(ledger):
    at = ledger_page("viewer")
    assert frame_with(at, "posted by")["status"].tolist() == ["draft", "posted"]
    balance = frame_with(at, "balance").set_index("gl_account")["balance"]
    assert balance.to_dict() == {"1000": D("-12.50"), "6100": D("12.50")}
    assert any("Nets to zero in USD" in s.value for s in at.success)
    assert frame_with(at, "bank_account")["code"].tolist() == ["1000", "6100"]
    assert frame_with(at, "dimension")["value"].tolist() == ["OPS"]
    assert not [b for b in at.button if b.key in ("ledger_post", "ledger_chart_save")]
    assert any("needs the analyst role" in c.value for c in at.caption)
    labels = {b.label for b in at.get("download_button")}
    assert labels == {"Download CSV", "Download XLSX"} and len(at.get("download_button")) == 10, "every grid downloads"


def test_an_analyst_posts_a_draft_then_reverses_a_journal(ledger):
    at = ledger_page("analyst")
    draft = list_journals(ledger, statuses=["draft"])[0].id
    at.selectbox(key="ledger_journal").set_value(draft).run()
    assert frame_with(at, "line")["debit"].tolist() == [D("12.50"), D(0)]
    at.button(key="ledger_post").click().run()
    assert not at.exception, at.exception
    assert any(f"Journal {draft} posted" in s.value for s in at.success)
    at.selectbox(key="ledger_journal").set_value(draft).run()
    at.text_input(key="ledger_reverse_reason").input("charged twice")
    next(b for b in at.button if b.label == "Reverse this journal").click().run()
    assert not at.exception, at.exception
    statuses = {j.id: (j.status, j.reverses_id) for j in list_journals(ledger)}
    assert statuses[draft] == ("reversed", None)
    assert sorted(statuses.values(), key=str).count(("posted", draft)) == 1
    assert frame_with(at, "balance").set_index("gl_account")["balance"].to_dict() == {"1000": D("-12.50"), "6100": D("12.50")}


def test_an_analyst_edits_the_chart_and_adds_a_dimension_value(ledger):
    at = ledger_page("analyst")
    at.session_state["ledger_chart_editor"] = {"edited_rows": {1: {"name": "Bank fees", "active": False}}, "added_rows": [],
                                               "deleted_rows": []}
    at.run()
    at.button(key="ledger_chart_save").click().run()
    assert not at.exception, at.exception
    assert {a.code: (a.name, a.active) for a in list_gl_accounts(ledger)} == {"1000": ("Bank USD", True), "6100": ("Bank fees", False)}
    at.selectbox(key="ledger_dimension").select("project")
    at.text_input(key="ledger_dimension_value").input("P-7")
    next(b for b in at.button if b.label == "Add value").click().run()
    assert not at.exception, at.exception
    assert frame_with(at, "dimension")[["dimension", "value"]].values.tolist() == [["cost_centre", "OPS"], ["project", "P-7"]]


def test_an_analyst_types_a_new_journal_saved_as_a_draft(ledger):
    at = ledger_page("analyst")
    at.text_input(key="ledger_new_description").input("Accrued fee")
    at.session_state["ledger_new_lines"] = {"edited_rows": {0: {"gl_account": "6100", "debit": "3.10", "currency": "USD",
                                                                "dimensions": "cost_centre=OPS"},
                                                            1: {"gl_account": "1000", "credit": "3.10", "currency": "USD"}},
                                            "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key="ledger_new_save").click().run()
    assert not at.exception, at.exception
    made = next(j for j in list_journals(ledger) if j.description == "Accrued fee")
    assert made.status == "draft" and made.created_by == "analyst"
    assert any(f"Journal {made.id} saved as a draft" in s.value for s in at.success)


def test_an_analyst_books_a_bank_fee_break_from_the_breaks_page(ledger):
    from sqlalchemy import select

    from core.store.models import Break, Run

    with ledger.session() as session:
        run_id = max(r.id for r in session.scalars(select(Run)) if r.accounts == ["4471-0092-18"])
        fee = session.scalar(select(Break).where(Break.run_id == run_id, Break.description == "ACCOUNT MAINTENANCE FEE"))
    assert fee.side == "external"
    at = ledger_page("analyst")
    at.switch_page("pages/breaks.py").run()
    at.selectbox(key="breaks_run").set_value(run_id).run()
    at.text_input(key="breaks_ids").input(str(fee.id)).run()
    at.selectbox(key="breaks_book_account").set_value("6100")
    at.text_input(key="breaks_book_dimensions").input("cost_centre=OPS")
    next(b for b in at.button if b.label == "Book and resolve").click().run()
    assert not at.exception, at.exception
    assert any("booked and resolved" in s.value for s in at.success), [e.value for e in at.error]
    booked = next(j for j in list_journals(ledger) if j.source == "break")
    assert (booked.status, booked.record_id) == ("posted", fee.record_id)
    with ledger.session() as session:
        assert session.get(Break, fee.id).status == "resolved"


def test_a_journal_posted_from_a_bank_record_shows_that_record(demo):
    from core.banking.posting import posted_records

    journal = next(j for j in list_journals(demo, statuses=["posted"]) if j.source == "bank")
    at = ledger_page("viewer")
    at.selectbox(key="ledger_journal").set_value(journal.id).run()
    assert not at.exception, at.exception
    source = posted_records(demo, [journal.id])[journal.id]
    assert any(f"`{journal.record_id}` of {source.dataset_name}" in m.value for m in at.markdown)
    shown = frame_with(at, "counterparty")
    assert (shown["id"].tolist(), shown["amount"].tolist()) == ([journal.record_id], [f"{source.record['amount']:,}"])
