"""The admin's pages in a real browser (Debian's Chromium, headless): an export requested on the
Exports page is built and downloaded, the file being the one its SHA-256 and rows say; a key made
on the API keys page is shown once and works; the System page shows the store. Screenshots are
kept in test-output/browser."""

import csv
import hashlib
import io
import re
from pathlib import Path

import pytest

from core.apikeys import authenticate_api_key
from core.exports.requests import list_exports
from core.store import open_store
from tests.pages.test_browser import ARGS, CHROMIUM, idle, keep, server, sign_in  # noqa: F401 (server is a fixture)


def visit(page, name: str) -> None:
    """Open a page from the sidebar and wait for its title and for the run to end."""
    from playwright.sync_api import expect

    page.get_by_test_id("stSidebarNavItems").get_by_role("link", name=name, exact=True).click()
    expect(page.locator("h1").first).to_have_text(name, timeout=60_000)
    idle(page)
    assert not page.get_by_test_id("stException").count(), f"{name}: an exception is on screen"


def test_export_download_make_a_key_shown_once_and_open_system_in_a_real_browser(server, tmp_path):  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs the chromium package")
    from playwright.sync_api import expect, sync_playwright

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'recon.db'}", tmp_path / "data")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1600}, accept_downloads=True)
        page.goto(server)
        sign_in(page, "admin", "Signed in as")

        visit(page, "Exports")
        page.locator(".st-key-exports_kind [data-testid=stSelectbox]").click()
        page.get_by_role("option", name=re.compile(r"^journals ")).click()
        page.get_by_role("button", name="Request export").click()
        download = page.locator(".st-key-exports_download button")
        expect(download).to_contain_text(re.compile(r"^Download journals_exp_\w+\.csv \([\d.]+ KB\)$"), timeout=60_000)
        [view] = list_exports(store)
        assert view.status == "COMPLETED" and view.row_count > 0
        expect(page.get_by_text(f"SHA-256 {view.sha256}; {view.row_count:,} rows.")).to_be_visible(timeout=60_000)
        expect(page.get_by_role("combobox", name="Export")).to_have_value(
            re.compile(rf"^journals · csv · {view.row_count:,} rows · .* by admin · {view.reference_id}$"), timeout=60_000)
        idle(page)
        with page.expect_download() as caught:
            download.click()
        data = Path(caught.value.path()).read_bytes()
        assert caught.value.suggested_filename == f"journals_{view.reference_id}.csv"
        assert hashlib.sha256(data).hexdigest() == view.sha256
        assert len(list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))) == view.row_count
        page.screenshot(path=str(tmp_path / "exports.png"), full_page=True)

        visit(page, "API keys")
        page.locator(".st-key-api_keys_name input").fill("warehouse")
        page.get_by_role("button", name="Make key").click()
        shown = page.get_by_test_id("stCode")
        expect(page.get_by_text("Key 'warehouse' made. Copy it now: it is not shown again.")).to_be_visible(timeout=60_000)
        expect(shown).to_have_count(1, timeout=60_000)
        secret = shown.inner_text().strip()
        assert re.fullmatch(r"sk_[\w-]{40,}", secret), secret
        key = authenticate_api_key(store, secret)
        assert key is not None and key.name == "warehouse" and key.role == "viewer"
        expect(page.get_by_test_id("stDataFrame")).to_have_count(1, timeout=60_000)
        page.screenshot(path=str(tmp_path / "api_key_made.png"), full_page=True)

        visit(page, "System")
        expect(page.get_by_test_id("stMetricValue").first).to_have_text("reachable", timeout=60_000)
        expect(page.get_by_text("Last failures")).to_be_visible()
        page.screenshot(path=str(tmp_path / "system.png"), full_page=True)

        visit(page, "API keys")
        expect(page.get_by_test_id("stDataFrame")).to_have_count(1, timeout=60_000)
        expect(page.get_by_test_id("stCode")).to_have_count(0)
        assert secret not in page.content(), "a key is shown once"
        browser.close()
    for shot in ("exports.png", "api_key_made.png", "system.png"):
        keep(tmp_path / shot)
