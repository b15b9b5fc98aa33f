"""The readable grids and the follow-up of breaks through AppTest, on the demo month: titled
columns, money per currency, totals under every grid, assignment, comments, "my breaks", saved
views, and links from Approvals to the records on the Breaks page."""

import datetime as dt
import json

from sqlalchemy import select

from core.store.models import AuditEntry, Break, Run
from tests.pages.app import open_page, signed_in


# Streamlit gives a grid's key to AppTest only for a grid people select rows in; the others are
# found by a column only they have, in the order the page draws them.
FOUND_BY = {"breaks_totals": ({"money_in"}, 0), "breaks_proposed_totals": ({"count", "books"}, 0),
            "breaks_confirmed_totals": ({"count", "books"}, 1), "breaks_confirmed_grid": ({"records"}, 0),
            "approvals_grid": ({"link"}, 0), "history_grid": ({"cleared_as"}, 0), "history_totals": ({"money_in"}, 0)}


def element(at, key):
    if key not in FOUND_BY:
        return next(d for d in at.dataframe if d.key == key)
    columns, nth = FOUND_BY[key]
    return [d for d in at.dataframe if columns <= set(d.value.columns)][nth]


def grid(at, key):
    return element(at, key)


def titles(at, key) -> list[str]:
    """The titles of a grid's shown columns, in order."""
    element_ = element(at, key)
    config = json.loads(element_.proto.columns or "{}")
    return [config.get(c, {}).get("label", c) for c in (element_.proto.column_order or element_.value.columns)]


def run_of(store, account):
    with store.session() as session:
        return max(r.id for r in session.scalars(select(Run)) if r.accounts == [account])


def breaks_page(store, account, user="analyst"):
    at = open_page(signed_in(user), "pages/breaks.py")
    at.selectbox(key="breaks_run").set_value(run_of(store, account)).run()
    assert not at.exception, at.exception
    return at


def test_the_breaks_grid_has_human_titles_and_totals_per_currency_under_it(demo):
    at = breaks_page(demo, "4471-0092-18")
    assert titles(at, "breaks_grid")[:6] == ["Break", "Flags", "Side", "Account", "Date", "Amount"]
    shown = grid(at, "breaks_grid").value
    assert set(shown["side_name"]) <= {"books", "statement"} and "None" not in set(shown["resolution_name"].astype(str))
    totals = grid(at, "breaks_totals").value.set_index("currency")
    assert totals.loc["USD", "count"] == len(shown)
    assert titles(at, "breaks_totals") == ["Currency", "Count", "Money in", "Money out", "Net"]
    money_in = sum(a for a in shown["amount"] if a > 0)
    assert totals.loc["USD", "money_in"] == f"{money_in:,.2f}"


def test_an_analyst_assigns_a_break_with_a_due_date_comments_and_finds_it_under_my_breaks(demo):
    at = breaks_page(demo, "4471-0092-18")
    first = int(grid(at, "breaks_grid").value.iloc[0]["id"])
    at.text_input(key="breaks_ids").input(str(first)).run()
    at.selectbox(key="breaks_assignee").set_value("analyst")
    at.date_input(key="breaks_due").set_value(dt.date(2020, 1, 31))
    next(b for b in at.button if b.label == "Assign").click().run()
    assert any(f"Break {first}: assigned to analyst, due 2020-01-31." in s.value for s in at.success), [e.value for e in at.error]
    at.text_area(key="breaks_comment_text").input("asked the bank for the slip")
    next(b for b in at.button if b.label == "Add comment").click().run()
    assert any("asked the bank for the slip" in m.value for m in at.markdown)
    at.toggle(key="breaks_mine").set_value(True).run()
    mine = grid(at, "breaks_grid").value
    assert mine["id"].tolist() == [first] and "⚠ overdue" in mine.iloc[0]["marks"]
    with demo.session() as session:
        assert [e.action for e in session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "break",
                                                                            AuditEntry.entity_id == str(first)))] == ["assign", "comment"]


def test_a_viewer_reads_the_follow_up_but_cannot_assign_or_comment(demo):
    at = breaks_page(demo, "4471-0092-18", user="viewer")
    first = int(grid(at, "breaks_grid").value.iloc[0]["id"])
    at.text_input(key="breaks_ids").input(str(first)).run()
    assert any(f"Follow-up of break {first}" in e.label for e in at.expander)
    assert not [b for b in at.button if b.label in ("Assign", "Add comment")]


def test_a_saved_view_brings_back_its_filters(demo):
    at = breaks_page(demo, "4471-0092-18")
    at.multiselect(key="breaks_sides").set_value(["external"]).run()
    at.text_input(key="breaks_amount_min").input("100").run()
    at.text_input(key="breaks_view_name").input("Big statement items")
    at.button(key="breaks_view_save").click().run()
    assert any("View 'Big statement items' saved." in s.value for s in at.success)
    at.multiselect(key="breaks_sides").set_value([]).run()
    at.text_input(key="breaks_amount_min").set_value("").run()
    assert len(set(grid(at, "breaks_grid").value["side"])) == 2
    at.selectbox(key="breaks_view").set_value("Big statement items")
    at.button(key="breaks_view_apply").click().run()
    shown = grid(at, "breaks_grid").value
    assert set(shown["side"]) == {"external"} and all(abs(a) >= 100 for a in shown["amount"])
    other = open_page(signed_in("analyst2"), "pages/breaks.py")
    assert not [s for s in other.selectbox if s.key == "breaks_view"]


def test_proposed_matches_show_both_sides_and_confirmed_ones_are_found_by_reference(demo):
    at = breaks_page(demo, "4471-0092-18")
    assert titles(at, "breaks_proposed_grid")[:5] == ["Match", "Pass", "Books account", "Books records", "Books total"]
    proposals = grid(at, "breaks_proposed_grid").value
    assert all(" · " in text and "USD" in text for text in proposals["books"]) and all(proposals["explanation"])
    assert titles(at, "breaks_proposed_totals")[1:] == ["Matches", "Books total", "Statement total",
                                                         "Net difference (statement less books)"]
    confirmed = grid(at, "breaks_confirmed_grid").value
    reference = confirmed.iloc[0]["books"].split(" · ")[1]
    at.text_input(key="breaks_confirmed_search").input(reference).run()
    found = grid(at, "breaks_confirmed_grid").value
    assert 1 <= len(found) < len(confirmed) and all(reference in b for b in found["books"])
    assert grid(at, "breaks_confirmed_totals").value.loc[0, "count"] == len(found)


def test_approvals_show_the_records_and_link_to_them_on_the_breaks_page(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    run_id = run_of(demo, "4471-0092-18")
    with demo.session() as session:
        cheque = session.scalar(select(Break).where(Break.run_id == run_id, Break.reference == "CHQ-1041"))
    at = breaks_page(demo, "4471-0092-18")
    at.text_input(key="breaks_ids").input(str(cheque.id)).run()
    at.selectbox(key="breaks_resolve_code").set_value("missing_at_bank")
    next(b for b in at.button if b.label == "Resolve selected").click().run()
    assert grid(at, "breaks_grid").value.set_index("id").loc[cheque.id, "marks"].startswith("⏳ waits for approval")

    approver = open_page(signed_in("approver"), "pages/approvals.py")
    records = grid(approver, "approvals_grid").value
    row = records.set_index("reference").loc["CHQ-1041"]
    assert (row["account"], row["currency"], row["link"]) == ("4471-0092-18", "USD", f"breaks?run={run_id}&ids={cheque.id}")
    assert "Open" in titles(approver, "approvals_grid")
    assert "CHQ-1041" in approver.selectbox(key="approvals_decision").format_func(int(row["decision"]))

    followed = signed_in("approver")
    followed.query_params["run"] = str(run_id)
    followed.query_params["ids"] = str(cheque.id)
    open_page(followed, "pages/breaks.py")
    assert followed.selectbox(key="breaks_run").value == run_id
    assert any(f"Selected: 1 break(s), ids {cheque.id}" in m.value for m in followed.markdown)


def test_history_has_titles_and_totals(demo):
    at = open_page(signed_in("viewer"), "pages/history.py")
    at.text_input(key="history_account").input("RC-7781-SAR").run()
    assert titles(at, "history_grid")[:3] == ["Date", "Cleared as", "Side"]
    shown = grid(at, "history_grid").value
    totals = grid(at, "history_totals").value
    assert totals["count"].sum() == len(shown) and set(totals["currency"]) == set(shown["currency"])
