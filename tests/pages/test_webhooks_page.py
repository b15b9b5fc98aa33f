"""The Webhooks page: an admin adds and changes subscribers (the secret never shown back), an analyst
reads deliveries and their attempts and sends a failed one again, a viewer has no such page."""

import time

import pytest
from sqlalchemy import select

from core.store.models import WebhookSubscriber
from core.webhooks import deliver_pending, emit, list_events, list_subscribers, subscribe
from tests.core.jobs.conftest import SECRET, receiver  # noqa: F401 (a fixture)
from tests.pages.app import frame_with, on_page, signed_in


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_an_admin_adds_a_subscriber_whose_secret_is_never_shown_back_and_changes_it(demo):
    at = on_page("admin", "pages/webhooks.py")
    at.text_input(key="webhooks_url").input("https://erp.example.com/hooks/recon")
    at.text_input(key="webhooks_secret").input(SECRET)
    at.multiselect(key="webhooks_events").select("application.ready").select("alert.raised")
    next(b for b in at.button if "Add subscriber" in b.label).click().run()
    assert not at.exception, at.exception
    [made] = list_subscribers(demo)
    assert made.url == "https://erp.example.com/hooks/recon" and made.events == ["alert.raised", "application.ready"]
    grid = frame_with(at, "events")
    assert list(grid["url"]) == [made.url] and SECRET not in grid.to_string()
    shown = [e.value for kind in ("markdown", "success", "code", "caption", "info") for e in at.get(kind)]
    assert any("Subscriber 1 added" in str(v) for v in shown) and not any(SECRET in str(v) for v in shown)

    at.checkbox(key=f"webhooks_edit_active_{made.id}").uncheck()
    next(b for b in at.button if "Save changes" in b.label).click().run()
    assert not at.exception, at.exception
    assert not list_subscribers(demo)[0].active
    with demo.session() as session:
        kept = session.scalar(select(WebhookSubscriber.secret_encrypted))
    assert SECRET not in kept  # encrypted at rest, and the empty secret field kept it

    at.text_input(key="webhooks_url").input("not a url")
    at.text_input(key="webhooks_secret").input(SECRET)
    at.multiselect(key="webhooks_events").select("alert.raised")
    next(b for b in at.button if "Add subscriber" in b.label).click().run()
    assert "http:// or https://" in at.error[0].value and len(list_subscribers(demo)) == 1

    _button(at, "webhooks_remove").click().run()
    assert list_subscribers(demo) == []


def test_an_analyst_reads_the_attempts_and_redelivers_a_failed_event(demo, receiver, monkeypatch):  # noqa: F811
    monkeypatch.setenv("RECON_WEBHOOK_ATTEMPTS", "1")
    seen = receiver([500])
    subscribe(demo, seen.url, SECRET, ["alert.raised"], actor="admin")
    with demo.session() as session:
        emit(session, "alert.raised", {"alert_id": 1})
    assert [status for _, status in deliver_pending(demo)] == ["failed"]

    at = on_page("analyst", "pages/webhooks.py")
    assert not [f for f in at.get("form")], "an analyst gets no subscriber forms"
    events = frame_with(at, "subscriber")
    assert list(events["status"]) == ["failed"] and list(events["event"]) == ["alert.raised"]
    attempts = frame_with(at, "status code")
    assert list(attempts["status code"]) == [500] and not attempts["delivered"][0]

    _button(at, "webhooks_redeliver").click().run()
    assert not at.exception, at.exception
    deadline = time.monotonic() + 30
    while list_events(demo)[0]["status"] != "delivered":
        assert time.monotonic() < deadline, "the redelivery was not sent"
        time.sleep(0.1)
    assert len(seen.requests) == 2 and seen.requests[1]["valid"]
    at.run()
    assert list(frame_with(at, "status code")["status code"]) == [500, 200]


def test_a_viewer_has_no_webhooks_page(demo):
    at = signed_in("viewer")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("pages/webhooks.py")
