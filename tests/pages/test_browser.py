"""Passes in a real browser (Debian's Chromium, headless), for what AppTest cannot see: sign
in, reconcile the demo month and approve proposed matches; click grid rows, decide, filter and
sign out; every request stays on the app's own address. Screenshots are kept in the test's
folder and in test-output/browser."""

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.demo import DEMO_USERS, seed_demo
from core.store import open_store

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    data = tmp_path / "data"
    seed_demo(open_store(f"sqlite:///{data / 'recon.db'}", data))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(data), "RECON_DEMO": "1"}
    process = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
                                "--server.address", "127.0.0.1", "--server.port", str(port)],
                               cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        else:
            pytest.fail("the app did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def sign_in(page, username: str, landed: str) -> None:
    """Sign in on the form as a demo user and wait for ``landed`` on the page that opens."""
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(DEMO_USERS[username])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text(landed).wait_for(timeout=60_000)


def idle(page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=60_000)


def test_sign_in_reconcile_and_approve_in_a_real_browser(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs the chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        sign_in(page, "analyst", "Open breaks per account")

        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Reconcile").click()
        page.get_by_role("button", name="Run reconciliation").wait_for(timeout=60_000)
        idle(page)
        page.get_by_role("button", name="Run reconciliation").click()
        page.get_by_text("Per account").wait_for(timeout=60_000)

        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Breaks").click()
        page.get_by_role("tab", name="Proposed matches").wait_for(timeout=60_000)
        idle(page)
        page.get_by_role("tab", name="Proposed matches").click()
        page.get_by_text("Select every proposal shown").click()
        idle(page)
        page.get_by_role("button", name="Approve").click()
        page.get_by_text(re.compile(r"^Approve \d+ proposed match\(es\) covering ")).wait_for(timeout=60_000)
        page.get_by_role("button", name=re.compile(r"^Yes, approve")).click()
        page.get_by_text(re.compile(r"(confirmed|sent for approval)\.$")).first.wait_for(timeout=60_000)
        idle(page)
        shot = tmp_path / "approved.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    keep(shot)


def keep(shot: Path) -> None:
    kept = ROOT / "test-output" / "browser"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, kept / shot.name)


def grid_rows(page, index: int = 0) -> list[list[str]]:
    """The cell texts of a grid's rendered rows (the grid draws on a canvas and mirrors the cells for screen readers)."""
    grid = page.get_by_test_id("stDataFrame").nth(index)
    grid.locator('[role="gridcell"]').first.wait_for(state="attached", timeout=60_000)
    rows = grid.locator('[role="row"]')
    return [cells for cells in (row.locator('[role="gridcell"]').all_text_contents() for row in rows.all()) if cells]


def click_grid_row(page, position: int, index: int = 0) -> None:
    """Tick a grid row's box, as a person does: the grid is a canvas, so by position."""
    box = page.get_by_test_id("stDataFrame").nth(index).bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 * (position + 1) + 17)
    idle(page)


def selected(page) -> str:
    texts = [t for t in page.get_by_test_id("stMarkdown").all_inner_texts() if t.startswith("Selected:")]
    return texts[0] if texts else ""


def nothing_selected(page) -> None:
    """No selection line and no action on it, once the rerun's stale elements have gone (under
    load the page of the previous run stays on screen a while)."""
    from playwright.sync_api import expect

    expect(page.get_by_text(re.compile(r"^Selected: "))).to_have_count(0, timeout=60_000)
    expect(page.get_by_role("button", name="Resolve selected")).to_have_count(0, timeout=60_000)
    assert selected(page) == ""


def test_click_a_row_resolve_filter_and_sign_out_in_a_real_browser(server, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs the chromium package")
    from playwright.sync_api import expect, sync_playwright

    elsewhere = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith((server, "data:", "blob:")) else None)
        page.goto(server)
        sign_in(page, "analyst", "Open breaks per account")
        icons = page.evaluate("Array.from(document.querySelectorAll('link[rel~=icon]')).map(l => l.href)")
        assert icons and all(i.startswith(server) for i in icons), icons

        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="Breaks").click()
        page.get_by_role("tab", name="Proposed matches").wait_for(timeout=60_000)
        idle(page)
        rows = grid_rows(page)
        assert len(rows) >= 5 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[4]) for r in rows), rows
        third = rows[2][0]
        click_grid_row(page, 2)
        page.get_by_text(f"Selected: 1 break(s), ids {third}", exact=True).wait_for(timeout=60_000)
        page.get_by_role("button", name="Resolve selected").click()
        page.get_by_text(re.compile(rf"^Break {third}: (resolved|sent for approval)\.$")).wait_for(timeout=60_000)
        idle(page)
        assert not page.get_by_test_id("stException").count()
        nothing_selected(page)
        page.screenshot(path=str(tmp_path / "resolved.png"), full_page=True)

        rows = grid_rows(page)
        books = next(i for i, r in enumerate(rows) if r[2] == "books")
        click_grid_row(page, books)
        page.get_by_text(f"Selected: 1 break(s), ids {rows[books][0]}", exact=True).wait_for(timeout=60_000)
        idle(page)  # a rerun still under way shows the old filter beside the new one
        sides = page.locator(".st-key-breaks_sides [data-testid=stMultiSelect]")
        expect(sides).to_have_count(1, timeout=60_000)  # a rerun under way shows the old filter beside the new one
        sides.click()
        page.get_by_role("option", name="statement").click()
        page.keyboard.press("Escape")
        page.get_by_text(re.compile(r"no longer shown .* dropped from the selection")).wait_for(timeout=60_000)
        idle(page)
        nothing_selected(page)
        assert {r[2] for r in grid_rows(page)} == {"statement"}
        page.screenshot(path=str(tmp_path / "filtered.png"), full_page=True)

        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="History").click()
        page.get_by_text(re.compile(r"^Showing items 1 to [\d,]+ of [\d,]+")).wait_for(timeout=60_000)
        idle(page)
        history = grid_rows(page)
        assert history and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[0]) for r in history), history[:3]

        page.get_by_role("button", name="Sign out").click()
        sign_in(page, "viewer", "Signed in as")
        idle(page)
        assert "Demo analyst" not in page.content()
        page.screenshot(path=str(tmp_path / "signed_in_again.png"), full_page=True)

        from core.auth import authenticate, update_user

        store = open_store(f"sqlite:///{tmp_path / 'data' / 'recon.db'}", tmp_path / "data")
        update_user(store, "viewer", actor=authenticate(store, "admin", DEMO_USERS["admin"]), active=False)
        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name="History").click()
        page.get_by_text("You were signed out").wait_for(timeout=60_000)
        idle(page)  # the page of the signed-out session stays on screen until the rerun ends
        expect(page.get_by_text("Signed in as")).to_have_count(0, timeout=60_000)
        expect(page.get_by_role("textbox", name="Username")).to_have_count(1)
        browser.close()
    assert elsewhere == []
    for shot in ("resolved.png", "filtered.png", "signed_in_again.png"):
        keep(tmp_path / shot)


def choose(page, key: str, option) -> None:
    """Pick a selectbox's option as a person does: open it, click the option."""
    page.locator(f".st-key-{key} [data-testid=stSelectbox]").click()
    page.get_by_role("option", name=option).first.click()
    idle(page)


def type_date(page, key: str, digits: str) -> None:
    """Type a date into a date input (year, month, day segments) and leave the field, which commits it."""
    page.locator(f".st-key-{key} [data-type=year]").click()
    page.keyboard.type(digits)
    page.keyboard.press("Escape")
    page.locator("h1").first.click()
    idle(page)


def test_the_banking_pages_show_the_demo_month_in_a_real_browser(server, tmp_path):
    """Ledger, Bank reconciliation, Variance, Cash position and Accounts over the demo month's postings, statements and
    alert: a journal's bank record, the statement's date, the charts' months, acknowledging the alert, a past month's flows;
    then the demo pipeline run now on the Jobs page."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs the chromium package")
    from playwright.sync_api import sync_playwright

    def visit(page, name: str, ready: str) -> None:
        page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=name, exact=True).click()
        page.get_by_text(ready, exact=True).first.wait_for(timeout=60_000)
        idle(page)
        assert not page.get_by_test_id("stException").count(), f"{name}: an exception is on screen"
        assert "Traceback" not in page.inner_text("body"), name

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(server)
        sign_in(page, "analyst", "Open breaks per account")

        visit(page, "Ledger", "Journals")
        journals = grid_rows(page)
        assert len(journals) >= 5 and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", r[1]) for r in journals), journals[:3]
        assert {"posted"} <= {r[2] for r in journals}
        assert "None" not in {cell for row in journals for cell in row}, "an empty cell reads 'None'"
        # The journal shown leads to the bank record it was posted from.
        page.get_by_text(re.compile(r"^Bank record \S+ of ")).wait_for(timeout=60_000)
        posted = next(r for r in journals if r[2] == "posted")
        choose(page, "ledger_journal", re.compile(rf"^{posted[0]} · "))
        page.get_by_text(re.compile(rf"^Bank record {posted[6]} of ")).wait_for(timeout=60_000)
        page.get_by_role("tab", name="Trial balance").click()
        page.get_by_text(re.compile(r"^Nets to zero in .*USD")).wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "ledger.png"), full_page=True)

        visit(page, "Bank reconciliation", "Lines")
        # Drawn up to the end of the demo's October statements, not to today.
        page.get_by_text(re.compile(r" as of 2026-10-31: from the bank's balance")).wait_for(timeout=60_000)
        values = page.get_by_test_id("stMetricValue").all_inner_texts()
        assert len(values) == 3 and re.fullmatch(r"0\.00 [A-Z]{3}", values[2]), values
        assert page.get_by_text(re.compile(r"^Bank closing balance: statement 2026-10 closing balance")).count() == 1
        page.screenshot(path=str(tmp_path / "bank_reconciliation.png"), full_page=True)

        visit(page, "Variance", "Alerts")
        page.get_by_text("Transfers between own accounts", exact=True).wait_for(timeout=60_000)
        assert not page.get_by_text("No transfer between own accounts is paired.").count()
        # Months are categories on the charts: a time axis spread them over weekly ticks ("Sep 27", "Oct 4").
        heatmap = page.get_by_test_id("stPlotlyChart").nth(1)
        heatmap.locator("g.xtick text").first.wait_for(timeout=60_000)
        assert heatmap.locator("g.xtick text").all_text_contents() == ["2026-10", "2026-11"]
        variance = grid_rows(page)
        assert ["DE89370400440532013000", "", "2026-10", "EUR"] == variance[3][:4] and "-1,850.00" in variance[3], variance
        page.locator(".st-key-variance_ack_note input").fill("bank fee booked late")
        page.get_by_role("button", name="Acknowledge").click()
        page.get_by_text(re.compile(r"^Alert \d+ acknowledged\.$")).wait_for(timeout=60_000)
        # A budget file with mistakes: every one is named, and nothing claims a save that was never asked for.
        budget = tmp_path / "budget.csv"
        budget.write_text("account,month,amount\n4471-0092-18,2026-13,abc\n")
        page.locator(".st-key-variance_budget input[type=file]").set_input_files(str(budget))
        page.get_by_text("2 problem(s) found in this file.").wait_for(timeout=60_000)
        assert page.get_by_text("row 2, month: '2026-13' is not a month (YYYY-MM)").count() == 1
        assert not page.get_by_text(re.compile("nothing was saved")).count()
        page.screenshot(path=str(tmp_path / "variance.png"), full_page=True)

        visit(page, "Cash position", "By bank account on " + dt.date.today().isoformat())
        # The flows of a past month: they start on its first day, and a cell leads to the bank records behind its lines.
        type_date(page, "cash_as_of", "20261031")
        page.get_by_text("The bank records these journals were posted from").wait_for(timeout=60_000)
        assert not page.get_by_text(re.compile("^No posted journal line on a GL cash account")).count()
        page.screenshot(path=str(tmp_path / "cash_position.png"), full_page=True)

        visit(page, "Accounts", "Accounts in the datasets")
        assert len(grid_rows(page)) >= 4
        page.screenshot(path=str(tmp_path / "accounts.png"), full_page=True)

        visit(page, "Jobs", "Pipelines")
        page.get_by_role("button", name="Run now").click()
        page.get_by_text(re.compile(r"^Run \d+ of demo-daily-bank: succeeded\.$")).wait_for(timeout=60_000)
        page.get_by_text(re.compile(r"^Step log of run \d+$")).wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "jobs.png"), full_page=True)
        browser.close()
    for shot in ("ledger.png", "bank_reconciliation.png", "variance.png", "cash_position.png", "accounts.png", "jobs.png"):
        keep(tmp_path / shot)
