"""Webhooks against a receiver on 127.0.0.1 that checks the signature and refuses old
timestamps: signed bodies, retries with backoff seen by a failing receiver, every attempt a
row, redelivery."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from core.jobs.notify import WebhookError, deliver_webhook, event_body, redeliver, sign, verify_signature
from core.jobs.pipelines import save_pipeline
from core.jobs.runs import run_now, run_steps_of
from core.store.models import WebhookDelivery
from tests.core.jobs.conftest import SECRET, pipeline_text


def notify_steps(url: str, when: str = "always") -> str:
    return f'[[steps]]\nkind = "notify"\nwhen = "{when}"\nwebhook = "{url}"\nsecret_env = "RECON_TEST_HOOK_SECRET"\n'


def deliveries(store):
    with store.session() as session:
        return session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()


def test_the_signature_is_hmac_sha256_of_timestamp_and_body():
    import hashlib
    import hmac

    body = b'{"id": "evt_1"}'
    expected = hmac.new(b"k", b"1767225600." + body, hashlib.sha256).hexdigest()
    assert sign("k", 1767225600, body) == f"t=1767225600,v1={expected}"


def test_a_receiver_refuses_a_wrong_secret_a_changed_body_and_an_old_timestamp():
    body = b'{"id": "evt_1"}'
    now = int(time.time())
    assert verify_signature("k", sign("k", now, body), body)
    assert not verify_signature("other", sign("k", now, body), body)
    assert not verify_signature("k", sign("k", now, body), body + b" ")
    assert not verify_signature("k", sign("k", now - 301, body), body)
    assert verify_signature("k", sign("k", now - 299, body), body)
    assert not verify_signature("k", "v1=abc", body)


def test_a_run_delivers_a_signed_event_the_receiver_accepts(store, receiver, fast_webhooks):
    seen = receiver()
    save_pipeline(store, pipeline_text(steps=notify_steps(seen.url)), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "succeeded", run.error
    [request] = seen.requests
    assert request["valid"]
    assert request["body"]["event"] == "pipeline.run.succeeded" and request["body"]["id"].startswith("evt_")
    assert request["body"]["data"]["pipeline"] == "daily-bank" and request["body"]["data"]["run_id"] == run.id
    [row] = deliveries(store)
    assert (row.run_id, row.attempt, row.status_code, row.delivered, row.error) == (run.id, 1, 200, True, None)
    assert row.body.encode() == request["raw"]
    assert run.outputs["deliveries"] == [row.id]


def test_a_failing_receiver_sees_the_retries_and_every_attempt_is_a_row(store, receiver, fast_webhooks):
    seen = receiver([500, 500])
    save_pipeline(store, pipeline_text(steps=notify_steps(seen.url)), actor="ana")
    started = time.monotonic()
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "succeeded", run.error
    assert time.monotonic() - started >= 0.05 + 0.1  # waited, and twice as long the second time
    assert len(seen.requests) == 3 and all(r["valid"] for r in seen.requests)
    assert len({r["body"]["id"] for r in seen.requests}) == 1  # one event, tried three times
    assert [(d.attempt, d.status_code, d.delivered) for d in deliveries(store)] == [(1, 500, False), (2, 500, False), (3, 200, True)]
    assert "3 attempts" in run_steps_of(store, run.id)[0].message


def test_a_receiver_that_never_accepts_fails_the_step_after_the_last_attempt(store, receiver, fast_webhooks):
    seen = receiver([503] * 10)
    save_pipeline(store, pipeline_text(steps=notify_steps(seen.url), retry="[retry]\nmax_attempts = 1\n"), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.error == (f"step 1 (notify): webhook {seen.url}: not delivered after 4 attempts "
                         "(the receiver answered 503 Service Unavailable)")
    assert len(seen.requests) == 4 and len(run.outputs["deliveries"]) == 4


def test_a_refusal_by_the_receiver_is_not_retried(store, receiver, fast_webhooks, monkeypatch):
    monkeypatch.setenv("RECON_TEST_HOOK_SECRET", "not the receiver's secret")
    seen = receiver()
    rows = deliver_webhook(store, seen.url, "pipeline.run.succeeded", event_body("pipeline.run.succeeded", {}), "not the receiver's secret")
    assert [(r.status_code, r.delivered) for r in rows] == [(401, False)]
    assert len(seen.requests) == 1 and not seen.requests[0]["valid"]


def test_no_receiver_at_all_is_an_error_on_each_attempt(store, fast_webhooks):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    rows = deliver_webhook(store, f"http://127.0.0.1:{port}/x", "e", event_body("e", {}), SECRET)
    assert len(rows) == 4 and all(r.status_code is None and r.error.startswith("no answer from the receiver") for r in rows)


def test_a_delivery_is_sent_again_with_the_same_event_id_and_a_new_signature(store, receiver, fast_webhooks):
    seen = receiver([500, 500, 500, 500])
    save_pipeline(store, pipeline_text(steps=notify_steps(seen.url), retry="[retry]\nmax_attempts = 1\n"), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed"
    last = redeliver(store, deliveries(store)[0].id)
    assert (last.attempt, last.status_code, last.delivered, last.run_id) == (5, 200, True, run.id)
    assert seen.requests[-1]["valid"] and seen.requests[-1]["body"]["id"] == seen.requests[0]["body"]["id"]
    assert json.loads(last.body) == seen.requests[0]["body"]


def test_redelivering_an_unknown_delivery_is_refused(store):
    with pytest.raises(WebhookError, match="webhook delivery 99: no such delivery"):
        redeliver(store, 99)


def test_a_secret_variable_that_is_not_set_fails_the_notify_step_naming_it(store, receiver, monkeypatch):
    monkeypatch.delenv("RECON_TEST_HOOK_SECRET", raising=False)
    seen = receiver()
    save_pipeline(store, pipeline_text(steps=notify_steps(seen.url)), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    assert run.error == "step 1 (notify): the environment variable RECON_TEST_HOOK_SECRET (the webhook's secret) is not set"
    assert seen.requests == []


def test_a_failed_run_sends_the_failure_event_with_its_error(store, receiver, fast_webhooks):
    seen = receiver()
    steps = '[[steps]]\nkind = "fetch"\nsource = "inbox"\nfolder = "nowhere"\n' + notify_steps(seen.url, "failure")
    save_pipeline(store, pipeline_text(steps=steps, retry="[retry]\nmax_attempts = 1\n"), actor="ana")
    run = run_now(store, "daily-bank", actor="ana")
    [request] = seen.requests
    assert request["body"]["event"] == "pipeline.run.failed"
    assert request["body"]["data"]["error"] == run.error and request["body"]["data"]["will_retry"] is False


def test_the_receiver_turns_away_a_replay_of_an_old_signed_request(receiver):
    import urllib.error
    import urllib.request

    seen = receiver()
    body = event_body("pipeline.run.succeeded", {}).encode()
    signature = sign(SECRET, int(time.time()) - 600, body)
    old = urllib.request.Request(seen.url, data=body, method="POST", headers={"Recon-Signature": signature})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(old, timeout=5)
    assert refused.value.code == 401 and seen.requests[0]["valid"] is False
