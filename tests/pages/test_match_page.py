"""The Match page on the demo month: two sides, their filters and totals, a picked record's
candidates, the selection's net, and a match made from it; viewers read."""

from tests.pages.app import on_page


def select_rows(at, key: str, rows: list[int]):
    """What a click on grid rows sends: the selected positions of the grid on screen."""
    at.session_state[key] = {"selection": {"rows": rows, "columns": []}}
    return at.run()


def grid(at, column: str, index: int = 0):
    """The ``index``-th grid holding this column (the books' grid comes before the statement's)."""
    return [d.value for d in at.dataframe if column in d.value.columns][index]


def captions(at) -> list[str]:
    return [c.value for c in at.caption]


def button(at, label: str, index: int = 0):
    return [b for b in at.button if b.label == label][index]


def test_an_analyst_picks_a_book_record_sees_its_candidates_and_matches_with_a_reason(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000000.00")
    at = on_page("analyst", "pages/match.py")
    books, statement = grid(at, "reason", 0), grid(at, "reason", 1)
    assert books["id"].tolist() == [18, 19, 20] and statement["id"].tolist() == [21, 22, 23, 24]
    assert books["amount_shown"].tolist() == ["32,155.93", "-945.12", "-6,545.78"]
    assert "Showing items 1 to 3 of 3 (books), page 1 of 1" in captions(at)
    assert grid(at, "money in", 0).values.tolist() == [["SAR", "3", "32,155.93", "-7,490.90", "24,665.03"]]
    assert grid(at, "money in", 1).values.tolist() == [["SAR", "4", "81,089.47", "-140.00", "80,949.47"]]

    select_rows(at, "match_internal_grid", [0])
    assert not at.exception, at.exception
    assert grid(at, "reason", 1)[["candidate", "id"]].values.tolist() == [["#1", 21], ["", 22], ["", 23], ["", 24]]
    candidates = grid(at, "explanation")
    assert candidates["id"].tolist() == [21]
    assert candidates["explanation"].iloc[0].startswith("statement less by SAR 60.00 · same reference number · statement 3 days later")
    assert not [b for b in at.button if b.label == "Match"]  # one record is no match

    select_rows(at, "match_candidates", [0])
    assert any("net difference (statement less books): SAR -60.00" in m.value for m in at.markdown)
    assert at.selectbox(key="match_reason").value == "timing"
    at.selectbox(key="match_reason").set_value("bank_fee")
    button(at, "Match").click().run()
    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Matched."]
    assert grid(at, "reason", 0)["id"].tolist() == [19, 20] and grid(at, "reason", 1)["id"].tolist() == [22, 23, 24]
    assert grid(at, "money in", 0).values.tolist() == [["SAR", "2", "0.00", "-7,490.90", "-7,490.90"]]
    assert grid(at, "money in", 1).values.tolist() == [["SAR", "3", "48,993.54", "-140.00", "48,853.54"]]
    assert not any(m.value.startswith("**Selected:") for m in at.markdown)


def test_each_side_filters_on_its_own_and_its_totals_follow(demo):
    at = on_page("analyst", "pages/match.py")
    at.text_input(key="match_external_text").input("fee")
    button(at, "Apply filters", 1).click().run()
    assert not at.exception, at.exception
    assert grid(at, "reason", 1)["id"].tolist() == [23]
    assert grid(at, "reason", 0)["id"].tolist() == [18, 19, 20]
    assert grid(at, "money in", 1).values.tolist() == [["SAR", "1", "0.00", "-140.00", "-140.00"]]
    at.text_input(key="match_internal_min").input("1,000")
    at.toggle(key="match_internal_descending").set_value(True)
    at.selectbox(key="match_internal_sort").set_value("absolute amount")
    button(at, "Apply filters", 0).click().run()
    assert grid(at, "reason", 0)["id"].tolist() == [18, 20]
    assert "Showing items 1 to 2 of 2 (books), page 1 of 1" in captions(at)


def test_a_selection_that_does_not_net_needs_a_reason_and_one_that_waits_goes_to_an_approver(demo):
    at = on_page("analyst", "pages/match.py")
    select_rows(at, "match_internal_grid", [0])
    select_rows(at, "match_external_grid", [0])
    assert any("books SAR 32,155.93 · statement SAR 32,095.93" in m.value for m in at.markdown)
    button(at, "Match").click().run()
    assert [s.value for s in at.success][0].startswith("Sent for approval (decision ")
    # Waiting for an approver, the two records are no longer offered for matching.
    assert grid(at, "reason", 0)["id"].tolist() == [19, 20]


def test_a_viewer_reads_the_workspace_but_cannot_match(demo):
    at = on_page("viewer", "pages/match.py")
    assert any(c.endswith("Viewers read; analysts match.") for c in captions(at))
    select_rows(at, "match_internal_grid", [1])
    select_rows(at, "match_external_grid", [2])
    assert any("net difference (statement less books): SAR 805.12" in m.value for m in at.markdown)
    assert not [b for b in at.button if b.label == "Match"]
