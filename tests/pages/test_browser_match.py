"""The Match page in a real browser (Debian's Chromium, headless): pick a books record, pick its
best candidate on the statement side, match with a reason code, and see both sides' totals
drop by what was matched. The server and the helpers are those of the other browser passes."""

import re
from pathlib import Path

import pytest

from tests.pages.test_browser import ARGS, CHROMIUM, click_grid_row, grid_rows, idle, keep, server, sign_in  # noqa: F401 (a fixture)

# The grids of the Match page in the order they are drawn: books, the books' totals, statement,
# the statement's totals, then the candidates of the picked record.
BOOKS, BOOKS_TOTALS, STATEMENT, STATEMENT_TOTALS, CANDIDATES = range(5)


def test_a_side_by_side_match_in_a_real_browser_changes_the_totals_shown(server, tmp_path):  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs the chromium package")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(server)
        sign_in(page, "analyst", "Open breaks per account")
        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Match", exact=True).click()
        page.get_by_text("Showing items 1 to 3 of 3 (books), page 1 of 1").wait_for(timeout=60_000)
        idle(page)
        assert [r[:3] for r in grid_rows(page, BOOKS)] == [["18", "2026-10-09", "32,155.93"], ["19", "2026-10-27", "-945.12"],
                                                           ["20", "2026-10-28", "-6,545.78"]]
        assert grid_rows(page, BOOKS_TOTALS) == [["SAR", "3", "32,155.93", "-7,490.90", "24,665.03"]]
        assert grid_rows(page, STATEMENT_TOTALS) == [["SAR", "4", "81,089.47", "-140.00", "80,949.47"]]

        click_grid_row(page, 1, BOOKS)
        page.get_by_text("Candidates for books record 19").wait_for(timeout=60_000)
        expect(page.get_by_test_id("stDataFrame")).to_have_count(5, timeout=60_000)
        candidates = grid_rows(page, CANDIDATES)
        assert [r[:2] for r in candidates] == [["1", "23"], ["2", "24"], ["3", "22"]], candidates
        assert ["#1", "23"] in [r[:2] for r in grid_rows(page, STATEMENT)]
        page.get_by_test_id("stDataFrame").nth(CANDIDATES).scroll_into_view_if_needed()  # below the fold: a click is by position
        click_grid_row(page, 0, CANDIDATES)
        page.get_by_text(re.compile(r"net difference \(statement less books\): SAR 805\.12")).wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "match_selected.png"), full_page=True)
        page.get_by_role("button", name="Match", exact=True).click()
        page.get_by_text("Matched.", exact=True).wait_for(timeout=60_000)
        idle(page)
        expect(page.get_by_text("Showing items 1 to 2 of 2 (books), page 1 of 1")).to_have_count(1, timeout=60_000)
        expect(page.get_by_text("Showing items 1 to 3 of 3 (statement), page 1 of 1")).to_have_count(1, timeout=60_000)
        assert grid_rows(page, BOOKS_TOTALS) == [["SAR", "2", "32,155.93", "-6,545.78", "25,610.15"]]
        assert grid_rows(page, STATEMENT_TOTALS) == [["SAR", "3", "81,089.47", "0.00", "81,089.47"]]
        assert not page.get_by_test_id("stException").count()
        page.screenshot(path=str(tmp_path / "matched.png"), full_page=True)
        browser.close()
    for shot in ("match_selected.png", "matched.png"):
        keep(tmp_path / shot)
