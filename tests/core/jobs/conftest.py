"""Shared pieces of the jobs tests: a books dataset, a statement in an inbox, pipelines as TOML,
and a webhook receiver on 127.0.0.1 that checks signatures as a real one would."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from core.ingest.datasets import import_bytes
from core.jobs.notify import SIGNATURE_HEADER, verify_signature

BOOKS = b"""id,account,date,amount,currency,reference
b1,NL91ABNA0417164300,2026-11-02,100.00,EUR,INV-1
b2,NL91ABNA0417164300,2026-11-03,-250.10,EUR,PAY-7
b3,NL91ABNA0417164300,2026-11-04,-40.00,EUR,CHQ-9
"""
BANK_DAY_ONE = b"""id,account,date,amount,currency,reference
s1,NL91ABNA0417164300,2026-11-02,100.00,EUR,INV-1
s2,NL91ABNA0417164300,2026-11-03,-250.10,EUR,PAY-7
"""
BANK_DAY_TWO = b"""id,account,date,amount,currency,reference
s3,NL91ABNA0417164300,2026-11-04,-40.00,EUR,CHQ-9
"""
NOT_A_STATEMENT = b"id,account,date,amount,currency\nx1,NL91ABNA0417164300,the second of November,12.00,EUR\n"
SECRET = "whsec-test-0123456789"


@pytest.fixture
def books(store):
    return import_bytes(store, BOOKS, "books.csv")[0].dataset


@pytest.fixture
def inbox(store):
    folder = store.data_dir / "inbox" / "bank"
    folder.mkdir(parents=True)
    return folder


def pipeline_text(name: str = "daily-bank", *, steps: str, retry: str = "", schedule: str = "") -> str:
    return f'name = "{name}"\ndescription = "the bank against the books"\n{schedule}\n{retry}\n{steps}'


def inbox_steps(books_id: str, extra: str = "") -> str:
    return f'''
[[steps]]
kind = "fetch"
source = "inbox"
folder = "inbox/bank"
pattern = "*.csv"

[[steps]]
kind = "import"

[[steps]]
kind = "reconcile"
books = "{books_id[:12]}"
statement = "fetched"
{extra}'''


class Receiver:
    """What the test receiver saw: every request, and the answers it gave."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/recon"


@pytest.fixture
def receiver():
    """Start a webhook receiver; ``receiver(answers)`` gives it the status codes to answer in
    turn (then 200). It answers 401 to a bad or old signature, as a real receiver does."""
    servers = []

    def start(answers=()) -> Receiver:
        seen = Receiver(answers)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                header = self.headers.get(SIGNATURE_HEADER, "")
                valid = verify_signature(SECRET, header, body)
                seen.requests.append({"body": json.loads(body), "raw": body, "signature": header, "valid": valid})
                status = (seen.answers.pop(0) if seen.answers else 200) if valid else 401
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        seen.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fast_webhooks(monkeypatch):
    monkeypatch.setenv("RECON_WEBHOOK_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("RECON_WEBHOOK_ATTEMPTS", "4")
    monkeypatch.setenv("RECON_WEBHOOK_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("RECON_TEST_HOOK_SECRET", SECRET)
