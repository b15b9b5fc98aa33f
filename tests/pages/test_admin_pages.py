"""The admin pages of the HTTP API and of operations: API keys and System."""

import datetime as dt

import pytest

from core.apikeys import authenticate_api_key, list_api_keys
from core.store.models import ExportRecord, PipelineRun, WorkerLease
from tests.pages.app import frame_with, on_page, signed_in


def _button(at, key):
    return next(b for b in at.button if b.key == key)


def test_a_new_api_key_is_shown_once_and_works_until_disabled(demo):
    at = on_page("admin", "pages/api_keys.py")
    at.text_input(key="api_keys_name").input("warehouse")
    at.selectbox(key="api_keys_role").select("analyst")
    next(b for b in at.button if "Make key" in b.label).click().run()
    assert not at.exception, at.exception
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("sk_")
    key = authenticate_api_key(demo, shown[0])
    assert key is not None and key.name == "warehouse" and key.role == "analyst"
    grid = frame_with(at, "prefix")
    assert list(grid["name"]) == ["warehouse"] and shown[0] not in grid.to_string() and grid["prefix"][0] == shown[0][:11] + "…"
    assert grid["last used"][0] == "never" and grid["disabled"][0] == "", "an empty time reads None on screen"

    at.run()
    assert not at.code, "the key is shown once"
    _button(at, "api_keys_disable").click().run()
    assert not at.exception, at.exception
    assert authenticate_api_key(demo, shown[0]) is None
    grid = frame_with(at, "prefix")
    assert grid["state"][0] == "disabled" and grid["disabled"][0][:10] == dt.datetime.now(dt.UTC).date().isoformat()
    assert len(grid["last used"][0]) == len("2026-12-06 05:41")
    _button(at, "api_keys_delete").click().run()
    assert any(w.value.startswith("Delete the key 'warehouse'?") for w in at.warning)
    assert [k.name for k in list_api_keys(demo)] == ["warehouse"], "deleted before it was confirmed"
    _button(at, "api_keys_delete_no").click().run()
    assert not at.warning and [k.name for k in list_api_keys(demo)] == ["warehouse"]
    _button(at, "api_keys_delete").click().run()
    _button(at, "api_keys_delete_yes").click().run()
    assert not at.exception, at.exception
    assert list_api_keys(demo) == [] and any("Key 'warehouse' deleted." in s.value for s in at.success)


def test_a_non_admin_gets_no_api_keys_or_system_page(demo):
    at = signed_in("approver")
    for page in ("pages/api_keys.py", "pages/system.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


def test_the_system_page_shows_the_store_the_worker_the_queue_and_the_failures(demo):
    now = dt.datetime.now(dt.UTC)
    at = on_page("admin", "pages/system.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Store"] == "reachable" and metrics["Worker"] == "not running"
    assert metrics["Exports waiting / running"] == "0 / 0"
    with demo.session() as session:
        session.add(WorkerLease(name="scheduler", holder="host:4242:start", acquired_at=now, renewed_at=now,
                                expires_at=now + dt.timedelta(seconds=60)))
        session.add(ExportRecord(reference_id="exp_waiting", identity="a" * 64, claim="a" * 64, kind="transactions", request={},
                                 data_version="v", status="PENDING", requested_by="test", attempts=0))
        session.add(ExportRecord(reference_id="exp_broken", identity="b" * 64, claim="b" * 64, kind="breaks", request={},
                                 data_version="v", status="FAILED", requested_by="test", attempts=1, error="disk full"))
        session.add(PipelineRun(pipeline="nightly", scheduled_for=now, trigger="schedule", attempt=1, status="failed", worker="w",
                                finished_at=now, error="the SFTP server refused the login", outputs={}))
        session.add(PipelineRun(pipeline="nightly", scheduled_for=now + dt.timedelta(hours=1), trigger="schedule", attempt=1,
                                status="queued", worker="w", outputs={}))
    _button(at, "system_refresh").click().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Worker"] == "alive"
    assert metrics["Exports waiting / running"] == "1 / 0" and metrics["Pipeline runs queued / running"] == "1 / 0"
    assert list(frame_with(at, "holder")["holder"]) == ["host:4242:start"]
    failures = frame_with(at, "error")
    assert set(failures["error"]) == {"disk full", "the SFTP server refused the login"}
    assert set(failures["what"]) == {"export", "pipeline"}


def test_when_the_store_does_not_answer_the_worker_and_queues_read_unknown_not_zero(demo, monkeypatch):
    import core.monitoring as monitoring

    monkeypatch.setattr(monitoring, "check_store", lambda store: monitoring.StoreCheck(False, "sqlite", None, "OperationalError: gone"))
    at = on_page("admin", "pages/system.py")
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Store": "unreachable", "Worker": "unknown", "Exports waiting / running": "unknown",
                       "Pipeline runs queued / running": "unknown"}
    assert any("The store does not answer: OperationalError: gone" in e.value for e in at.error)
