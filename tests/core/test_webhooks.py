"""Webhook subscribers against a receiver on 127.0.0.1 that checks signatures: the outbox written with
the change it tells of, delivery as the worker does it, retries with backoff stored, failure,
redelivery by hand, the five events where they happen, and the real worker process sending."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from core.auth import Account
from core.jobs.notify import verify_signature
from core.store.models import Alert, PipelineRun, WebhookDelivery, WebhookEvent, WebhookSubscriber, utc_now
from core.webhooks import (WebhookError, deliver_pending, emit, list_attempts, list_events, list_subscribers, redeliver_event,
                           remove_subscriber, subscribe, update_subscriber)
from tests.core.jobs.conftest import SECRET, receiver  # noqa: F401 (a fixture)

PAT = Account("pat", "Pat", "approver", 3)


@pytest.fixture
def hooks_env(monkeypatch):
    monkeypatch.setenv("RECON_DOCUMENT_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("RECON_WEBHOOK_BACKOFF_SECONDS", "30")
    monkeypatch.setenv("RECON_WEBHOOK_ATTEMPTS", "3")
    monkeypatch.setenv("RECON_WEBHOOK_TIMEOUT_SECONDS", "5")


def events_of(store) -> list[WebhookEvent]:
    with store.session() as session:
        return list(session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def later(seconds: float) -> dt.datetime:
    return utc_now() + dt.timedelta(seconds=seconds)


def test_a_subscriber_s_secret_is_kept_encrypted_and_never_shown_back(store, hooks_env):
    made = subscribe(store, "https://hooks.example.com/recon", SECRET, ["alert.raised", "application.ready"], actor="root")
    assert made.events == ["alert.raised", "application.ready"] and made.active
    with store.session() as session:
        kept = session.get(WebhookSubscriber, made.id).secret_encrypted
    assert SECRET not in kept and Fernet(os.environ["RECON_DOCUMENT_KEY"]).decrypt(kept.encode()).decode() == SECRET
    assert SECRET not in repr(list_subscribers(store))
    with pytest.raises(WebhookError, match="unknown event 'application.paid'"):
        subscribe(store, "https://hooks.example.com/x", SECRET, ["application.paid"], actor="root")
    with pytest.raises(WebhookError, match="http:// or https://"):
        subscribe(store, "ftp://hooks.example.com/x", SECRET, ["alert.raised"], actor="root")
    with pytest.raises(WebhookError, match="at least 16 characters"):
        subscribe(store, "https://hooks.example.com/x", "short", ["alert.raised"], actor="root")
    changed = update_subscriber(store, made.id, actor="root", events=["export.completed"], active=False, secret="")
    assert changed.events == ["export.completed"] and not changed.active
    remove_subscriber(store, made.id, actor="root")
    assert list_subscribers(store) == []


def test_emit_owes_the_event_to_active_subscribers_of_it_in_the_caller_s_transaction(store, hooks_env):
    one = subscribe(store, "http://127.0.0.1:9/a", SECRET, ["alert.raised"], actor="root")
    subscribe(store, "http://127.0.0.1:9/b", SECRET, ["export.completed"], actor="root")
    off = subscribe(store, "http://127.0.0.1:9/c", SECRET, ["alert.raised"], actor="root")
    update_subscriber(store, off.id, actor="root", active=False)
    with pytest.raises(RuntimeError, match="rolled back"):
        with store.session() as session:
            assert emit(session, "alert.raised", {"n": 1}) == 1
            raise RuntimeError("the change failed: rolled back")
    assert events_of(store) == []  # nothing owed for a change that did not happen
    with store.session() as session:
        emit(session, "alert.raised", {"amount": Decimal("-1850.00")})
    [event] = events_of(store)
    assert (event.subscriber_id, event.status, event.attempts) == (one.id, "pending", 0)
    body = json.loads(event.body)
    assert body["event"] == "alert.raised" and body["data"] == {"amount": "-1850.00"} and body["id"].startswith("evt_")


def test_the_worker_s_pass_delivers_signed_retries_with_stored_backoff_then_fails_and_is_redelivered_by_hand(store, hooks_env, receiver):
    seen = receiver([500, 503, 502])
    made = subscribe(store, seen.url, SECRET, ["pipeline.failed"], actor="root")
    with store.session() as session:
        emit(session, "pipeline.failed", {"pipeline": "nightly", "run_id": 7})

    assert [status for _, status in deliver_pending(store)] == ["pending"]
    [event] = events_of(store)
    first_wait = (event.next_attempt_at.replace(tzinfo=dt.UTC) - utc_now()).total_seconds()
    assert 25 < first_wait <= 30 and event.attempts == 1 and "500" in event.last_error
    assert deliver_pending(store) == []  # not due yet: a restarted worker finds the same time in the store
    assert [status for _, status in deliver_pending(store, now=later(31))] == ["pending"]
    [event] = events_of(store)
    second_wait = (event.next_attempt_at.replace(tzinfo=dt.UTC) - utc_now()).total_seconds()
    assert 55 < second_wait <= 60  # twice as long
    assert [status for _, status in deliver_pending(store, now=later(61))] == ["failed"]
    assert len(seen.requests) == 3 and all(r["valid"] for r in seen.requests)
    assert len({r["body"]["id"] for r in seen.requests}) == 1
    attempts = list_attempts(store, event.id)
    assert [(a["attempt"], a["status code"], a["delivered"]) for a in attempts] == [(1, 500, False), (2, 503, False), (3, 502, False)]
    assert deliver_pending(store, now=later(3600)) == []  # failed: no more tries

    redeliver_event(store, event.id, actor="root")
    assert [status for _, status in deliver_pending(store)] == ["delivered"]
    assert len(seen.requests) == 4 and seen.requests[3]["valid"] and seen.requests[3]["raw"] == seen.requests[0]["raw"]
    assert [a["attempt"] for a in list_attempts(store, event.id)] == [1, 2, 3, 4]
    [row] = list_events(store)
    assert (row["status"], row["subscriber"], row["event"]) == ("delivered", made.url, "pipeline.failed")
    with pytest.raises(WebhookError, match="no webhook event 999"):
        redeliver_event(store, 999, actor="root")


def test_a_refusing_receiver_fails_the_event_at_once_and_a_wrong_secret_is_seen_as_such(store, hooks_env, receiver):
    seen = receiver([404])
    subscribe(store, seen.url, SECRET, ["export.completed"], actor="root")
    wrong = receiver()
    subscribe(store, wrong.url, "another-secret-0123456789", ["export.completed"], actor="root")
    with store.session() as session:
        emit(session, "export.completed", {"reference_id": "exp_1"})
    assert sorted(status for _, status in deliver_pending(store)) == ["failed", "failed"]  # 404: final; 401 from the bad signature: final
    assert not wrong.requests[0]["valid"] and seen.requests[0]["valid"]


def test_the_five_events_are_owed_where_they_happen(store, hooks_env, monkeypatch, tmp_path):
    from core.banking.alerts import AlertDraft, raise_alerts
    from core.exports.requests import ExportRequest, export_now
    from core.underwriting.applications import add_document, create_application, decide_application
    from tests.core.exports.export_helpers import add_dataset, rows_table
    from tests.statement_pdfs import make_rows, statement_pdf

    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "files"))
    subscribe(store, "http://127.0.0.1:9/all", SECRET, ["application.ready", "application.decided", "export.completed",
                                                         "pipeline.failed", "alert.raised"], actor="root")
    start, end = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
    rows = make_rows(6, start, Decimal("900.00"), seed=3)
    app = create_application(store, "Orchard Cafe", Decimal("2000.00"), user="ana")
    add_document(store, app, statement_pdf("northwind", rows, Decimal("900.00"), start, end), "march.pdf", user="ana")
    decide_application(store, app, "approved", "steady deposits", PAT)
    add_dataset(store, rows_table(3))
    export_now(store, ExportRequest("transactions"), actor="ana")
    raise_alerts(store, [AlertDraft("unexplained_difference", "Hanse", "2026-03", "", Decimal("-1850.00"), Decimal("0.00"),
                                    "Hanse does not reconcile")], actor="ana")
    from core.jobs.runs import _finish

    with store.session() as session:
        run = PipelineRun(pipeline="nightly", scheduled_for=utc_now(), trigger="manual", attempt=1, status="running", worker="w",
                          outputs={})
        session.add(run)
        session.flush()
        run_id = run.id
    _finish(store, run_id, None, "failed", "the SFTP server refused the login", {})

    bodies = {e.event: json.loads(e.body)["data"] for e in events_of(store)}
    assert list(bodies) == ["application.ready", "application.decided", "export.completed", "alert.raised", "pipeline.failed"]
    assert bodies["application.ready"]["application_id"] == app and bodies["application.ready"]["requested_amount"] == "2000.00"
    assert bodies["application.decided"]["outcome"] == "approved" and bodies["application.decided"]["decided_by"] == "pat"
    assert bodies["export.completed"]["row_count"] == 3
    assert bodies["alert.raised"]["amount"] == "-1850.00" and bodies["alert.raised"]["account"] == "Hanse"
    assert bodies["pipeline.failed"] == {"pipeline": "nightly", "run_id": run_id, "attempt": 1,
                                         "error": "the SFTP server refused the login", "retry_at": None}
    with store.session() as session:
        assert session.scalar(select(Alert.id)) is not None


def test_the_worker_process_sends_what_is_owed(tmp_path, hooks_env, receiver, monkeypatch):
    from tests.core.jobs.test_worker_process import WorkerProcess, TIMINGS, wait_for
    from core.store import open_store

    store = open_store(f"sqlite:///{tmp_path / 'recon.db'}", tmp_path / "data")
    seen = receiver()
    subscribe(store, seen.url, SECRET, ["alert.raised"], actor="root")
    with store.session() as session:
        emit(session, "alert.raised", {"alert_id": 1})
    env = {**os.environ, **TIMINGS, "DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
           "RECON_DATA_DIR": str(store.data_dir), "PYTHONUNBUFFERED": "1"}
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        wait_for(lambda: seen.requests, 30, "the worker to send the event")
        wait_for(lambda: events_of(store)[0].status == "delivered", 10, "the event to be recorded delivered")
    finally:
        worker.stop(signal.SIGTERM)
        print(worker.log)
    assert seen.requests[0]["valid"] and seen.requests[0]["body"]["data"] == {"alert_id": 1}
    assert "webhook event 1: delivered" in worker.log
    with store.session() as session:
        assert session.scalar(select(WebhookDelivery.event_id)) == 1
    store.engine.dispose()


def test_with_no_worker_an_export_built_on_a_thread_sends_its_event_and_retries_wait_on_that_thread(store, hooks_env, receiver,
                                                                                                      monkeypatch):
    from core.exports.requests import ExportRequest, request_export, run_in_background
    from tests.core.exports.export_helpers import add_dataset, rows_table

    monkeypatch.setenv("RECON_WEBHOOK_BACKOFF_SECONDS", "0.2")
    seen = receiver([503])
    subscribe(store, seen.url, SECRET, ["export.completed"], actor="root")
    add_dataset(store, rows_table(4))
    ticket = request_export(store, ExportRequest("transactions"), actor="ana")
    run_in_background(store, ticket.reference_id, worker="app:test").join(30)
    deadline = time.monotonic() + 30
    while not events_of(store) or events_of(store)[0].status != "delivered":
        assert time.monotonic() < deadline, "the export.completed event was not sent"
        time.sleep(0.1)
    assert [r["valid"] for r in seen.requests] == [True, True]  # the 503, then the retry after its wait
    assert seen.requests[1]["body"]["data"]["reference_id"] == ticket.reference_id
