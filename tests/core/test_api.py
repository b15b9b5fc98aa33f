"""The HTTP API under a real uvicorn on 127.0.0.1, over the demo month: keys, bodies, exports,
the banking routes with roles, health and metrics."""

import datetime as dt
import hashlib
import contextlib
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal

import pytest
import uvicorn

from core.api import create_app
from core.apikeys import create_api_key, disable_api_key
from core.demo import DEMO_TRANSFER, DEMO_UNEXPLAINED, MONTH_END, seed_demo
from core.store import open_store


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """The demo month's store, one key per role, and the API serving it on a free loopback port."""
    folder = tmp_path_factory.mktemp("api")
    store = open_store(f"sqlite:///{folder / 'recon.db'}", folder)
    seed_demo(store)
    keys = {role: create_api_key(store, f"{role}-key", role, actor="test")[1] for role in ("viewer", "analyst", "approver")}
    with serving(store) as base:
        yield {"store": store, "keys": keys, "base": base}


@contextlib.contextmanager
def serving(store):
    """The API over ``store`` under uvicorn on a free loopback port, stopped on leaving: its base address."""
    server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=_free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert not thread.is_alive()


def call(api, method: str, path: str, *, key: str | None = None, body=None, raw: bytes | None = None):
    """(status, headers, parsed JSON or text) of one request."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(api["base"] + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, answer, got = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, answer, got = error.code, error.headers, error.read()
    if "json" in answer.get("Content-Type", ""):
        return status, answer, json.loads(got)
    return status, answer, got


def test_health_needs_no_key_and_checks_the_store(api):
    assert call(api, "GET", "/api/v1/health")[::2] == (200, {"status": "ok"})
    status, _, body = call(api, "GET", "/api/v1/health/db")
    assert status == 200 and body["status"] == "ok" and body["database"] == "sqlite"
    from core.store.db import head_revision

    assert body["revision"] == head_revision()


def test_a_wrong_missing_or_disabled_key_gets_401_without_a_reason(api):
    store = api["store"]
    _, doomed = create_api_key(store, "doomed", "viewer", actor="test")
    assert call(api, "GET", "/api/v1/exports", key=doomed)[0] == 200
    disable_api_key(store, "doomed", actor="test")
    answers = [call(api, "GET", "/api/v1/exports", key=key) for key in (None, "sk_wrong", api["keys"]["viewer"] + "x", doomed)]
    answers.append(call(api, "POST", "/api/v1/exports", key="sk_wrong", body={"table_name": "transactions"}))
    assert {status for status, _, _ in answers} == {401}
    assert all(body == {"detail": "unauthorized"} for _, _, body in answers)
    assert all(headers["WWW-Authenticate"] == "Bearer" for _, headers, _ in answers)


@pytest.mark.parametrize("body, wrong", [
    ({"table_name": "everything"}, "table_name"),
    ({"table_name": "transactions", "format": "pdf"}, "format"),
    ({"table_name": "transactions", "date_from": "2026-13-01"}, "date_from"),
    ({"table_name": "transactions", "date_from": "2026-10-31", "date_to": "2026-10-01"}, "date_from is after date_to"),
    ({"table_name": "transactions", "colour": "red"}, "colour"),
    ({"account_id": "4471-0092-18"}, "table_name"),
])
def test_bad_export_bodies_get_a_clear_422(api, body, wrong):
    status, _, answer = call(api, "POST", "/api/v1/exports", key=api["keys"]["viewer"], body=body)
    assert status == 422
    assert wrong in json.dumps(answer["detail"])


def test_a_body_that_is_not_json_gets_422(api):
    assert call(api, "POST", "/api/v1/exports", key=api["keys"]["viewer"], raw=b"{not json")[0] == 422


def _wait_until_done(api, reference_id: str, key: str) -> dict:
    deadline = time.monotonic() + 120
    while True:
        status, _, body = call(api, "GET", f"/api/v1/exports/{reference_id}", key=key)
        assert status == 200
        if body["status"] in ("COMPLETED", "FAILED"):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_an_export_is_queued_built_fetched_and_then_reused(api):
    key = api["keys"]["viewer"]
    ask = {"account_id": "4471-0092-18", "table_name": "transactions", "date_from": "2026-10-01", "date_to": "2026-10-31",
           "format": "csv"}
    status, _, ticket = call(api, "POST", "/api/v1/exports", key=key, body=ask)
    assert status == 202 and ticket["status"] == "PENDING" and ticket["reused"] is False and ticket["message"]
    done = _wait_until_done(api, ticket["reference_id"], key)
    assert done["status"] == "COMPLETED", done["error"]
    assert done["request"]["kind"] == "transactions" and done["row_count"] > 0 and done["completed_at"]
    status, _, content = call(api, "GET", done["file_url"].removeprefix(api["base"]), key=key)
    assert status == 200
    assert hashlib.sha256(content).hexdigest() == done["sha256"] and len(content) == done["file_size"]
    lines = content.decode("utf-8-sig").splitlines()
    assert len(lines) - 1 == done["row_count"] and all("4471-0092-18" in line for line in lines[1:])
    assert call(api, "GET", done["file_url"].removeprefix(api["base"]))[0] == 401

    status, _, again = call(api, "POST", "/api/v1/exports", key=key, body=ask)
    assert status == 200 and again["reused"] is True and again["reference_id"] == ticket["reference_id"]
    _, _, listed = call(api, "GET", "/api/v1/exports?limit=5", key=key)
    assert ticket["reference_id"] in [e["reference_id"] for e in listed["items"]] and listed["limit"] == 5
    assert call(api, "GET", "/api/v1/exports/exp_nothing", key=key)[0] == 404
    assert call(api, "GET", "/api/v1/exports?limit=0", key=key)[0] == 422


def test_an_export_whose_builder_died_is_reaped_and_built_again_when_asked_again(api):
    from core.exports.requests import ExportRequest, request_export
    from core.store.models import ExportRecord

    store, key = api["store"], api["keys"]["viewer"]
    ask = {"account_id": "RC-7781-SAR", "table_name": "transactions", "format": "parquet"}
    ticket = request_export(store, ExportRequest(kind="transactions", accounts=("RC-7781-SAR",), format="parquet"), actor="api:viewer-key")
    with store.session() as session:  # a builder took it and died: RUNNING, its heartbeat an hour old
        record = session.get(ExportRecord, ticket.reference_id)
        record.status, record.worker = "RUNNING", "api:gone:1"
        record.started_at = record.heartbeat_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    status, _, again = call(api, "POST", "/api/v1/exports", key=key, body=ask)
    assert status == 202 and again["reference_id"] == ticket.reference_id and "failed before" in again["message"]
    done = _wait_until_done(api, ticket.reference_id, key)
    assert done["status"] == "COMPLETED" and done["row_count"] > 0


def test_the_bank_reconciliation_over_the_api_holds_the_demo_difference_in_exact_strings(api):
    account, difference = next(iter(DEMO_UNEXPLAINED.items()))
    status, _, body = call(api, "GET", f"/api/v1/banking/reconciliation?account={account}&period={MONTH_END:%Y-%m}",
                           key=api["keys"]["viewer"])
    assert status == 200, body
    assert body["as_of"] == MONTH_END.isoformat() and body["balanced"] is False
    assert body["lines"]["unexplained_difference"] == format(difference, "f")
    assert all(isinstance(v, str) for v in body["lines"].values())
    lines = {name: Decimal(v) for name, v in body["lines"].items()}
    assert lines["adjusted_bank_balance"] - lines["adjusted_book_balance"] == difference
    balanced = call(api, "GET", f"/api/v1/banking/reconciliation?account=4471-0092-18&period={MONTH_END}", key=api["keys"]["viewer"])[2]
    assert balanced["lines"]["unexplained_difference"] in ("0", "0.00") and balanced["balanced"] is True
    assert call(api, "GET", "/api/v1/banking/reconciliation?account=NOPE-1&period=2026-10", key=api["keys"]["viewer"])[0] == 404
    assert call(api, "GET", f"/api/v1/banking/reconciliation?account={account}&period=October", key=api["keys"]["viewer"])[0] == 422
    assert call(api, "GET", f"/api/v1/banking/reconciliation?account={account}&period=2026-10")[0] == 401


def test_cash_transfers_dimensions_and_variance_answer_for_the_demo_month(api):
    key, period = api["keys"]["viewer"], f"{MONTH_END:%Y-%m}"
    out_of, into, amount, reference = DEMO_TRANSFER
    _, _, cash = call(api, "GET", f"/api/v1/banking/cash-position?period={period}", key=key)
    assert {p["account"] for p in cash["positions"]} >= {out_of, into}
    one = call(api, "GET", f"/api/v1/banking/cash-position?period={period}&account={out_of}", key=key)[2]
    assert [p["account"] for p in one["positions"]] == [out_of]
    assert Decimal(one["positions"][0]["balance"]) == Decimal(one["positions"][0]["opening"]) + Decimal(one["positions"][0]["movement"])

    _, _, transfers = call(api, "GET", f"/api/v1/banking/transfer-tracking?period={period}&account={into}", key=key)
    paired = [(t["out"]["account"], t["in"]["account"], Decimal(t["in"]["amount"])) for t in transfers["transfers"]]
    assert (out_of, into, amount) in paired

    _, _, dims = call(api, "GET", f"/api/v1/banking/dimensional-analysis?period={period}&dimension=cost_centre", key=key)
    assert dims["dimension"] == "cost_centre" and dims["months"] == [period]
    for row in dims["positions"]:
        assert Decimal(row["closing"]) == Decimal(row["opening"]) + Decimal(row["movement"])
    movements = {(r["value"], r["currency"]): Decimal(r["movement"]) for r in dims["positions"]}
    flows = {(f["value"], f["currency"]): Decimal(f["by_month"][period]) for f in dims["flows"]}
    assert movements == flows
    assert call(api, "GET", f"/api/v1/banking/dimensional-analysis?period={period}&dimension=colour", key=key)[0] == 422

    account = next(iter(DEMO_UNEXPLAINED))
    _, _, variance = call(api, "GET", f"/api/v1/banking/variance-report?period={period}&account={account}", key=key)
    assert variance["month"] == period and [r["account"] for r in variance["rows"] if not r["dimension"]] == [account]
    assert variance["variance_threshold"] == "5000.00"


def test_posting_a_transaction_needs_an_analyst_key_and_posts_it_once(api, tmp_path):
    from core.ingest.datasets import import_file

    store = api["store"]
    extra = tmp_path / "late_fee.csv"
    extra.write_text("id,account,date,amount,currency,reference,description\n"
                     "LATE-1,4471-0092-18,2026-10-30,-12.50,USD,FEE-LATE-1,Wire fee\n", encoding="utf-8")
    outcome, errors = import_file(store, extra, None, user="test")
    assert not errors
    path = "/api/v1/banking/transactions/LATE-1/post-accounting"
    body = {"dataset_id": outcome.dataset.id[:12], "rules": "demo"}
    status, _, refused = call(api, "POST", path, key=api["keys"]["viewer"], body=body)
    assert status == 403 and "analyst" in refused["detail"]
    status, _, posted = call(api, "POST", path, key=api["keys"]["analyst"], body=body)
    assert status == 200, posted
    assert posted["outcome"] == "posted" and posted["amount"] == "-12.50" and posted["journal"]["status"] == "posted"
    assert posted["journal"]["posted_by"] == "api:analyst-key"
    again = call(api, "POST", path, key=api["keys"]["approver"], body=body)[2]
    assert again["outcome"] == "already" and again["journal"]["id"] == posted["journal"]["id"]
    assert call(api, "POST", "/api/v1/banking/transactions/NO-SUCH/post-accounting", key=api["keys"]["analyst"],
                body={"rules": "demo"})[0] == 404
    assert call(api, "POST", path, key=api["keys"]["analyst"], body={"rules": "../etc/passwd"})[0] == 422


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? -?[0-9.eE+-]+$')


def _parse_metrics(text: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert _SAMPLE.match(line), line
        name_labels, value = line.rsplit(" ", 1)
        name, _, labels = name_labels.partition("{")
        pairs = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels))
        samples[(name, pairs)] = float(value)
    return samples


def test_metrics_parse_and_count_requests_and_exports_from_the_store(api):
    before = _parse_metrics(call(api, "GET", "/metrics")[2].decode())
    health = ("recon_api_requests_total", frozenset({("route", "/api/v1/health"), ("method", "GET"), ("status", "200")}))
    for _ in range(3):
        call(api, "GET", "/api/v1/health")
    call(api, "GET", "/api/v1/exports", key="sk_wrong")
    status, headers, text = call(api, "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    after = _parse_metrics(text.decode())
    assert after[health] == before.get(health, 0) + 3
    assert after[("recon_api_requests_total", frozenset({("route", "/api/v1/exports"), ("method", "GET"), ("status", "401")}))] >= 1
    assert after[("recon_store_up", frozenset())] == 1
    from core.exports.requests import list_exports

    completed = sum(1 for e in list_exports(api["store"], limit=500) if e.status == "COMPLETED")
    assert after[("recon_exports_completed_total", frozenset())] == completed
    assert ("recon_worker_alive", frozenset()) in after


def test_the_openapi_docs_are_served(api):
    status, _, page = call(api, "GET", "/docs")
    assert status == 200 and b"swagger" in page.lower()
    _, _, schema = call(api, "GET", "/openapi.json")
    assert {"/api/v1/exports", "/api/v1/exports/{reference_id}", "/api/v1/health", "/metrics",
            "/api/v1/banking/transactions/{transaction_id}/post-accounting"} <= set(schema["paths"])
