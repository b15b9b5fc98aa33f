"""Operations' figures read from the store: the status of the System page and the metrics text."""

import datetime as dt
import threading

from core.monitoring import check_store, count_api_request, metrics_text, system_status
from core.store.models import ExportAsk, ExportRecord, PipelineRun, WorkerLease


def _export(reference_id, status, *, started=None, completed=None, size=None, error=None):
    return ExportRecord(reference_id=reference_id, identity=reference_id.ljust(64, "0"), claim=reference_id.ljust(64, "0"),
                        kind="transactions", request={}, data_version="v", status=status, requested_by="test", attempts=1,
                        started_at=started, completed_at=completed, file_size=size, error=error)


def test_the_status_counts_the_queues_and_lists_failures_newest_first(store):
    now = dt.datetime.now(dt.UTC)
    assert check_store(store).reachable
    empty = system_status(store)
    assert not empty.worker_alive and empty.failures == [] and empty.exports_pending == 0
    with store.session() as session:
        session.add(WorkerLease(name="scheduler", holder="old", acquired_at=now, renewed_at=now, expires_at=now - dt.timedelta(seconds=1)))
        session.add_all([_export("exp_a", "PENDING"), _export("exp_b", "PENDING"), _export("exp_c", "RUNNING", started=now),
                         _export("exp_d", "FAILED", completed=now - dt.timedelta(minutes=5), error="no space left")])
        session.add(PipelineRun(pipeline="nightly", scheduled_for=now, trigger="schedule", attempt=1, status="failed", worker="w",
                                finished_at=now, error="login refused", outputs={}))
    status = system_status(store)
    assert not status.worker_alive and status.workers[0].holder == "old"
    assert (status.exports_pending, status.exports_running, status.runs_queued) == (2, 1, 0)
    assert [(f.what, f.error) for f in status.failures] == [("pipeline", "login refused"), ("export", "no space left")]


def test_requests_counted_from_several_threads_add_up(store):
    threads = [threading.Thread(target=lambda: [count_api_request(store, "/api/v1/health", "GET", 200, 0.001) for _ in range(5)])
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    count_api_request(store, "/api/v1/exports", "GET", 401, 0.5)
    text = metrics_text(store)
    assert 'recon_api_requests_total{route="/api/v1/health",method="GET",status="200"} 20' in text
    assert 'recon_api_requests_total{route="/api/v1/exports",method="GET",status="401"} 1' in text


def test_export_metrics_follow_the_exports_table(store):
    start = dt.datetime(2026, 10, 31, 12, 0, tzinfo=dt.UTC)
    with store.session() as session:
        session.add_all([_export("exp_1", "COMPLETED", started=start, completed=start + dt.timedelta(seconds=2), size=100),
                         _export("exp_2", "COMPLETED", started=start, completed=start + dt.timedelta(seconds=6), size=50),
                         _export("exp_3", "FAILED", error="x")])
        session.flush()
        session.add_all([ExportAsk(reference_id="exp_1", asked_by="a", outcome="new"),
                         ExportAsk(reference_id="exp_1", asked_by="b", outcome="reused"),
                         ExportAsk(reference_id="exp_2", asked_by="a", outcome="new")])
    lines = set(metrics_text(store).splitlines())
    assert {"recon_exports_completed_total 2", "recon_exports_failed_total 1", "recon_export_bytes_total 150",
            "recon_exports_reused_total 1", 'recon_export_requests_total{outcome="new"} 2',
            'recon_export_duration_seconds{quantile="0.5"} 4.000', "recon_export_duration_seconds_count 2",
            "recon_export_duration_seconds_sum 8.000", 'recon_exports{status="PENDING"} 0'} <= lines
