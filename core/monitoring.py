"""What operations watch: the store reachable, the worker alive, the queues, the last failures,
and the same figures as Prometheus metrics.

Everything is read from the store, so every process (the app, each API process, the worker)
reports the same numbers: exports from their own table (``core.exports``), worker runs from
``pipeline_runs``, the worker's lease from ``worker_leases``, and the API's requests from a
counter table every API process adds to (:func:`count_api_request`).
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from core.store import Store
from core.store.models import ApiRequestCount, PipelineRun, WorkerLease

__all__ = ["Failure", "StoreCheck", "SystemStatus", "WorkerState", "check_store", "count_api_request", "metrics_text", "system_status"]


class StoreCheck(NamedTuple):
    reachable: bool
    database: str  # sqlite | postgresql | ...
    revision: str | None  # the schema's migration
    detail: str  # what went wrong, when it did


class WorkerState(NamedTuple):
    """A worker's lease: who holds it, when it was last renewed and when it runs out."""

    name: str
    holder: str
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_at: dt.datetime
    alive: bool  # not expired now


class Failure(NamedTuple):
    what: str  # export | pipeline
    subject: str  # the export's reference id and kind, the pipeline's name and run id
    at: dt.datetime | None
    error: str


class SystemStatus(NamedTuple):
    store: StoreCheck
    workers: list[WorkerState]
    exports_pending: int
    exports_running: int
    runs_queued: int
    runs_running: int
    failures: list[Failure]

    @property
    def worker_alive(self) -> bool:
        return any(w.alive for w in self.workers)


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def check_store(store: Store) -> StoreCheck:
    """Whether the database answers, and the migration its schema is at."""
    database = store.engine.dialect.name
    try:
        with store.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        return StoreCheck(False, database, None, f"{type(exc).__name__}: {str(exc.orig if hasattr(exc, 'orig') else exc)[:200]}")
    return StoreCheck(True, database, revision, "")


def _export_models():
    from core.store.models import ExportAsk, ExportRecord

    return ExportRecord, ExportAsk


def system_status(store: Store, *, failures: int = 10) -> SystemStatus:
    """The store, the worker's lease, the queue depth and the last ``failures`` failed exports and pipeline runs."""
    check = check_store(store)
    if not check.reachable:
        return SystemStatus(check, [], 0, 0, 0, 0, [])
    ExportRecord, _ = _export_models()
    now = dt.datetime.now(dt.UTC)
    with store.session() as session:
        workers = [WorkerState(w.name, w.holder, _utc(w.acquired_at), _utc(w.renewed_at), _utc(w.expires_at), _utc(w.expires_at) > now)
                   for w in session.scalars(select(WorkerLease).order_by(WorkerLease.name))]
        exports = dict(session.execute(select(ExportRecord.status, func.count()).where(ExportRecord.status.in_(("PENDING", "RUNNING")))
                                       .group_by(ExportRecord.status)).all())
        runs = dict(session.execute(select(PipelineRun.status, func.count()).where(PipelineRun.status.in_(("queued", "running")))
                                    .group_by(PipelineRun.status)).all())
        failed_exports = session.execute(select(ExportRecord.reference_id, ExportRecord.kind, ExportRecord.completed_at,
                                                ExportRecord.created_at, ExportRecord.error)
                                         .where(ExportRecord.status == "FAILED")
                                         .order_by(ExportRecord.created_at.desc()).limit(failures)).all()
        failed_runs = session.execute(select(PipelineRun.id, PipelineRun.pipeline, PipelineRun.finished_at, PipelineRun.queued_at,
                                             PipelineRun.error)
                                      .where(PipelineRun.status == "failed")
                                      .order_by(PipelineRun.id.desc()).limit(failures)).all()
    found = [Failure("export", f"{ref} ({kind})", _utc(done or made), error or "") for ref, kind, done, made, error in failed_exports]
    found += [Failure("pipeline", f"{name} run {run_id}", _utc(done or queued), error or "")
              for run_id, name, done, queued, error in failed_runs]
    found.sort(key=lambda f: f.at or dt.datetime.min.replace(tzinfo=dt.UTC), reverse=True)
    return SystemStatus(check, workers, exports.get("PENDING", 0), exports.get("RUNNING", 0), runs.get("queued", 0),
                        runs.get("running", 0), found[:failures])


def count_api_request(store: Store, route: str, method: str, status: int, seconds: float) -> None:
    """Add one answered request to the store's counters (one row per route, method and status)."""
    spent = Decimal(f"{seconds:.6f}")
    route = route[:128]
    where = (ApiRequestCount.route == route, ApiRequestCount.method == method, ApiRequestCount.status == status)
    for _ in range(3):
        try:
            with store.session() as session:
                changed = session.execute(update(ApiRequestCount).where(*where)
                                          .values(count=ApiRequestCount.count + 1, seconds=ApiRequestCount.seconds + spent)).rowcount
                if not changed:
                    session.add(ApiRequestCount(route=route, method=method, status=status, count=1, seconds=spent))
            return
        except IntegrityError:  # another process added the row first: add to it
            continue


def _label(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, object], value: object) -> str:
    inside = ",".join(f'{key}="{_label(v)}"' for key, v in labels.items())
    return f"{name}{{{inside}}} {value}" if inside else f"{name} {value}"


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def metrics_text(store: Store) -> str:
    """Every metric in the Prometheus text exposition format (version 0.0.4)."""
    ExportRecord, ExportAsk = _export_models()
    check = check_store(store)
    out = _family("recon_store_up", "gauge", "Whether the store answered (1) or not (0).",
                  [_sample("recon_store_up", {}, int(check.reachable))])
    if not check.reachable:
        return "\n".join(out) + "\n"
    now = dt.datetime.now(dt.UTC)
    with store.session() as session:
        asks = dict(session.execute(select(ExportAsk.outcome, func.count()).group_by(ExportAsk.outcome)).all())
        by_status = dict(session.execute(select(ExportRecord.status, func.count()).group_by(ExportRecord.status)).all())
        done = session.execute(select(ExportRecord.started_at, ExportRecord.completed_at, ExportRecord.file_size)
                               .where(ExportRecord.status == "COMPLETED")).all()
        requests = session.execute(select(ApiRequestCount.route, ApiRequestCount.method, ApiRequestCount.status, ApiRequestCount.count,
                                          ApiRequestCount.seconds).order_by(ApiRequestCount.route, ApiRequestCount.method,
                                                                            ApiRequestCount.status)).all()
        runs = session.execute(select(PipelineRun.pipeline, PipelineRun.status, func.count())
                               .group_by(PipelineRun.pipeline, PipelineRun.status).order_by(PipelineRun.pipeline, PipelineRun.status)).all()
        leases = session.execute(select(WorkerLease.name, WorkerLease.expires_at)).all()
    durations = [(_utc(end) - _utc(start)).total_seconds() for start, end, _ in done if start and end]
    out += _family("recon_export_requests_total", "counter",
                   "Export requests, by how each was answered (new, reused, joined, retried, refreshed).",
                   [_sample("recon_export_requests_total", {"outcome": o}, n) for o, n in sorted(asks.items())])
    out += _family("recon_exports_reused_total", "counter", "Export requests answered with an existing file.",
                   [_sample("recon_exports_reused_total", {}, asks.get("reused", 0))])
    out += _family("recon_exports", "gauge", "Exports in the store by status (PENDING, RUNNING, COMPLETED, FAILED).",
                   [_sample("recon_exports", {"status": s}, by_status.get(s, 0)) for s in ("PENDING", "RUNNING", "COMPLETED", "FAILED")])
    for name, status in (("recon_exports_completed_total", "COMPLETED"), ("recon_exports_failed_total", "FAILED")):
        out += _family(name, "counter", f"Exports that ended {status}.", [_sample(name, {}, by_status.get(status, 0))])
    quantile = [_sample("recon_export_duration_seconds", {"quantile": "0.5"}, f"{statistics.median(durations):.3f}")] if durations else []
    out += _family("recon_export_duration_seconds", "summary", "Time from start to completion of the completed exports.",
                   [*quantile, _sample("recon_export_duration_seconds_sum", {}, f"{sum(durations):.3f}"),
                    _sample("recon_export_duration_seconds_count", {}, len(durations))])
    out += _family("recon_export_bytes_total", "counter", "Bytes of the completed exports' files.",
                   [_sample("recon_export_bytes_total", {}, sum(size or 0 for _, _, size in done))])
    out += _family("recon_api_requests_total", "counter", "HTTP API requests answered, by route, method and status.",
                   [_sample("recon_api_requests_total", {"route": r, "method": m, "status": s}, n) for r, m, s, n, _ in requests])
    out += _family("recon_api_request_seconds_total", "counter", "Time spent answering HTTP API requests, by route, method and status.",
                   [_sample("recon_api_request_seconds_total", {"route": r, "method": m, "status": s}, f"{Decimal(t):f}")
                    for r, m, s, _, t in requests])
    out += _family("recon_pipeline_runs_total", "counter", "Worker runs of pipelines, by pipeline and status.",
                   [_sample("recon_pipeline_runs_total", {"pipeline": p, "status": s}, n) for p, s, n in runs])
    out += _family("recon_worker_alive", "gauge", "Whether a worker holds an unexpired lease (1) or not (0).",
                   [_sample("recon_worker_alive", {}, int(any(_utc(expires) > now for _, expires in leases)))])
    return "\n".join(out) + "\n"
