"""One pass in a real browser (Debian's Chromium, headless): sign in, reconcile the demo
month, approve a proposed match, and keep a screenshot in the test's folder."""

import os
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

ROOT = Path(__file__).resolve().parents[1]
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
        page.get_by_role("textbox", name="Username").fill("analyst")
        page.get_by_role("textbox", name="Password").fill(DEMO_USERS["analyst"])
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Open breaks per account").wait_for(timeout=60_000)

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
        page.get_by_text("confirmed.").first.wait_for(timeout=60_000)
        idle(page)
        shot = tmp_path / "approved.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    kept = ROOT / "test-output" / "browser"
    kept.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, kept / shot.name)
