"""The applications routes of the HTTP API under a real uvicorn on 127.0.0.1: a generated statement PDF
handed in as multipart and read back (documents, metrics month by month as exact text), keys and
roles, one-line errors, and the application.ready webhook sent by the API when no worker runs."""

import datetime as dt
import hashlib
import json
import time
import urllib.error
import urllib.request
import uuid
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet

from core.apikeys import create_api_key
from core.store import open_store
from core.webhooks import list_events, subscribe
from tests.core.jobs.conftest import SECRET, receiver  # noqa: F401 (a fixture)
from tests.core.test_api import serving
from tests.statement_pdfs import make_rows, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)


@pytest.fixture
def api(tmp_path, monkeypatch):
    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RECON_DOCUMENT_KEY", Fernet.generate_key().decode())
    store = open_store(f"sqlite:///{tmp_path / 'recon.db'}", tmp_path / "data")
    keys = {role: create_api_key(store, f"{role}-key", role, actor="test")[1] for role in ("viewer", "analyst")}
    with serving(store) as base:
        yield {"store": store, "keys": keys, "base": base}
    store.engine.dispose()


def multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for filename, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{filename}"\r\n'
                     f"Content-Type: application/pdf\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(api, method: str, path: str, *, key: str | None = None, fields=None, files=()):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = None
    if fields is not None:
        data, headers["Content-Type"] = multipart(fields, list(files))
    try:
        with urllib.request.urlopen(urllib.request.Request(api["base"] + path, data=data, headers=headers, method=method),
                                    timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_an_application_handed_in_with_a_statement_is_read_back_with_its_metrics(api, receiver):  # noqa: F811
    seen = receiver()
    subscribe(api["store"], seen.url, SECRET, ["application.ready"], actor="admin")
    rows = make_rows(14, START, Decimal("2500.00"), seed=21)
    pdf = statement_pdf("northwind", rows, Decimal("2500.00"), START, END)
    status, made = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"],
                           fields={"merchant": "Orchard Cafe", "requested_amount": "25000.10", "currency": "usd"},
                           files=[("march.pdf", pdf)])
    assert status == 201, made
    assert (made["merchant"], made["requested_amount"], made["currency"], made["status"]) == ("Orchard Cafe", "25000.10", "USD", "ready")

    status, got = request(api, "GET", f"/api/v1/applications/{made['id']}", key=api["keys"]["viewer"])
    assert status == 200
    [document] = got["documents"]
    assert document["sha256"] == hashlib.sha256(pdf).hexdigest() and document["pages"] == 1 and document["name"] == "march.pdf"
    assert document["reading"]["kind"] == "text pdf" and document["reading"]["rows"] == 14
    assert document["reading"]["account"] == "••••7788" and "20451155667788" not in json.dumps(got)
    deposits = [r.amount for r in rows if r.amount > 0]
    [march] = got["metrics"]["monthly"]
    assert march["month"] == "2026-03" and march["total_deposits"] == format(sum(deposits, Decimal(0)), "f")
    assert isinstance(march["average_daily_balance"], str) and Decimal(march["average_daily_balance"])
    assert got["metrics"]["overall"]["deposit_count"] == len(deposits)
    assert got["metrics"]["accounts"] == ["••••7788"]

    deadline = time.monotonic() + 30
    while not seen.requests:  # no worker runs: the API process sends the event itself
        assert time.monotonic() < deadline, "the application.ready webhook was not sent"
        time.sleep(0.1)
    assert seen.requests[0]["valid"] and seen.requests[0]["body"]["data"]["application_id"] == made["id"]
    assert seen.requests[0]["body"]["event"] == "application.ready"
    assert list_events(api["store"])[0]["event"] == "application.ready"


def test_keys_roles_and_bad_input_get_one_line_answers(api):
    fields = {"merchant": "Harbour Foods", "requested_amount": "5000.00"}
    assert request(api, "POST", "/api/v1/applications", fields=fields)[0] == 401
    status, body = request(api, "POST", "/api/v1/applications", key=api["keys"]["viewer"], fields=fields)
    assert status == 403 and body["detail"] == "this needs a key with the analyst role; this key has the viewer role"
    status, body = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields={**fields, "requested_amount": "5k"})
    assert status == 422 and body["detail"] == "requested_amount '5k' is not a decimal number such as 25000.00"
    status, body = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields={**fields, "currency": "US"})
    assert status == 422 and "three-letter code" in body["detail"]
    assert request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields={"requested_amount": "1"})[0] == 422
    status, body = request(api, "GET", "/api/v1/applications/999", key=api["keys"]["viewer"])
    assert status == 404 and body["detail"] == "no application 999"
    assert request(api, "GET", "/api/v1/applications/1")[0] == 401

    status, made = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields=fields)
    assert status == 201 and made["status"] == "received" and made["documents"] == [] and made["metrics"] is None


def test_a_document_over_the_upload_limit_is_refused_and_nothing_is_made(api, monkeypatch):
    monkeypatch.setenv("RECON_MAX_IMPORT_MB", "1")
    fields = {"merchant": "Harbour Foods", "requested_amount": "5000.00"}
    status, body = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields=fields,
                           files=[("big.pdf", b"%PDF" + b"0" * (1024 * 1024))])
    assert status == 413 and body["detail"] == "big.pdf: larger than 1 MB (RECON_MAX_IMPORT_MB); nothing was made"
    status, body = request(api, "POST", "/api/v1/applications", key=api["keys"]["analyst"], fields={**fields, "requested_amount": "1e400"})
    assert status == 422 and "too large" in body["detail"]
    from core.underwriting.applications import list_applications
    assert list_applications(api["store"]) == []
