"""Export requests: asked for once, answered with one file, reused until the data changes.

A request (what, which accounts, which dates, which format, where to) has an identity: the
SHA-256 of its canonical form and of the version of the data it reads. The export holding that
identity's claim (a unique index in the store) answers it:

- asked again once it is COMPLETED, the same export answers (``reused: true``) and no file is
  written, unless a refresh is forced: then a new export takes the claim over;
- asked again while it is PENDING or RUNNING, the asker joins it (``reused: true`` too): two
  people, or two processes, asking at once never make two files;
- asked again once it FAILED, it is started again under the same reference (a retry).

``run_export`` builds the file (the worker runs it, and so does ``python -m core export`` in the
foreground): it claims the PENDING export by moving it to RUNNING, renews a heartbeat while it
writes, and records rows, bytes and the file's SHA-256. ``reap_stalled`` fails a RUNNING export
whose heartbeat stopped (its worker was killed), so nothing is left running for ever.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError

from core.store import Store, record_audit
from core.store.models import ExportAsk, ExportRecord, utc_now
from core.webhooks import emit

__all__ = ["DESTINATION_LOCAL", "FORMATS", "KINDS", "STATUSES", "ExportError", "ExportRecordView", "ExportRequest", "ExportTicket",
           "export_now", "export_or_fail", "export_statistics", "file_url", "get_export", "hand_over", "list_exports", "local_file", "reap_stalled",
           "request_export", "run_export", "run_in_background", "run_pending", "wait_for_export"]

KINDS = ("transactions", "breaks", "matches", "journals", "brs")
FORMATS = ("csv", "xlsx", "parquet")
STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED")
DESTINATION_LOCAL = "local"
HEARTBEAT_SECONDS = 5.0  # how often a running export tells the store it is alive
STALLED_SECONDS = 120  # the reaper's default: a RUNNING export silent for this long has lost its worker


class ExportError(ValueError):
    """A request that cannot be answered, in one readable line."""


@dataclass(frozen=True)
class ExportRequest:
    """What to export.

    ``accounts`` empty: every account. ``destination``: ``"local"`` (the data folder's
    ``exports/``), a local folder's absolute path, or ``"s3://bucket/prefix"``. ``dataset_id``:
    transactions of one dataset (else of every dataset). ``run_id``: breaks or matches of that
    run (else of the latest completed run).
    """

    kind: str
    accounts: tuple[str, ...] = ()
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    format: str = "csv"
    destination: str = DESTINATION_LOCAL
    dataset_id: str | None = None
    run_id: int | None = None

    def canonical(self) -> dict[str, Any]:
        """The request as plain JSON values, checked, in one form whatever way it was written."""
        kind = (self.kind or "").strip().lower()
        if kind not in KINDS:
            raise ExportError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        fmt = (self.format or "").strip().lower()
        if fmt not in FORMATS:
            raise ExportError(f"format {self.format!r} is not one of {', '.join(FORMATS)}")
        if isinstance(self.accounts, str):
            raise ExportError("accounts must be a list of account identifiers, not one string")
        accounts = sorted({str(a).strip() for a in self.accounts if str(a).strip()})
        for name, value in (("date_from", self.date_from), ("date_to", self.date_to)):
            if value is not None and (not isinstance(value, dt.date) or isinstance(value, dt.datetime)):
                raise ExportError(f"{name} {value!r} is not a date")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ExportError(f"date_from {self.date_from.isoformat()} is after date_to {self.date_to.isoformat()}")
        if self.dataset_id is not None and kind != "transactions":
            raise ExportError("dataset_id is for transactions only")
        if self.run_id is not None and kind not in ("breaks", "matches"):
            raise ExportError("run_id is for breaks and matches only")
        if self.run_id is not None and (isinstance(self.run_id, bool) or not isinstance(self.run_id, int)):
            raise ExportError(f"run_id {self.run_id!r} is not a run's number")
        return {"kind": kind, "accounts": accounts, "date_from": self.date_from.isoformat() if self.date_from else None,
                "date_to": self.date_to.isoformat() if self.date_to else None, "format": fmt,
                "destination": canonical_destination(self.destination), "dataset_id": self.dataset_id or None,
                "run_id": self.run_id}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ExportRequest:
        """A request from its canonical form (as stored with an export)."""
        return cls(kind=values["kind"], accounts=tuple(values.get("accounts") or ()),
                   date_from=_date(values.get("date_from")), date_to=_date(values.get("date_to")), format=values["format"],
                   destination=values.get("destination") or DESTINATION_LOCAL, dataset_id=values.get("dataset_id"),
                   run_id=values.get("run_id"))


@dataclass(frozen=True)
class ExportTicket:
    """How a request was answered: the export's reference, its status, and whether an existing
    export answered it (``reused``: already done, or being built and joined)."""

    reference_id: str
    status: str
    reused: bool
    message: str


@dataclass(frozen=True)
class ExportRecordView:
    """An export as the pages, the command line and the API show it."""

    reference_id: str
    request: dict
    status: str
    reused: bool  # asked for again and answered by this export at least once
    row_count: int | None
    file_size: int | None
    sha256: str | None
    location: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    error: str | None
    requested_by: str
    worker: str | None = None
    attempts: int = 0
    asks: int = 1
    heartbeat_at: dt.datetime | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.completed_at is None:
            return None
        return (self.completed_at - self.started_at).total_seconds()


def canonical_destination(destination: str | None) -> str:
    """``local``, ``s3://bucket/prefix`` (no trailing slash) or a local folder's absolute path."""
    text = (destination or DESTINATION_LOCAL).strip()
    if text == DESTINATION_LOCAL:
        return text
    if text.lower().startswith("s3://"):
        bucket, _, prefix = text[5:].partition("/")
        if not bucket:
            raise ExportError(f"destination {text!r} names no bucket")
        prefix = "/".join(part for part in prefix.split("/") if part)
        return f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
    if "://" in text:
        raise ExportError(f"destination {text!r} is neither a folder nor s3://bucket/prefix")
    if not Path(text).expanduser().is_absolute():  # resolved against the server's working folder: never what was meant
        raise ExportError(f"destination {text!r} is not local, a folder's absolute path or s3://bucket/prefix")
    return str(Path(text).expanduser().resolve())


def request_identity(canonical: dict[str, Any], data_version: str) -> str:
    """SHA-256 of the canonical request and the version of the data it reads."""
    text = json.dumps({"request": canonical, "data_version": data_version}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def request_export(store: Store, request: ExportRequest, *, actor: str, force: bool = False,
                   folders: bool = True) -> ExportTicket:
    """Answer a request with the export that holds its identity, or a new PENDING one.

    Args:
        force: make a new file even though a completed export answers the request (one being
            built is still joined: it reads the same version of the data).
        folders: whether the asker may name a folder on the server as the destination (the
            operator at the command line, a pipeline, an admin); otherwise only ``local`` (the
            data folder's ``exports/``) or ``s3://`` is taken, so nobody else writes files into
            the server's folders.

    A RUNNING export silent for ``STALLED_SECONDS`` is reaped first, so asking again retries it.

    Raises:
        ExportError: the request is not valid (kind, format, dates, destination, dataset).
    """
    from core.exports import sources  # the data each kind reads

    canonical = request.canonical()
    if not folders and canonical["destination"] != DESTINATION_LOCAL and not canonical["destination"].startswith("s3://"):
        raise ExportError(f"destination {request.destination.strip()!r}: a folder on the server is for an admin; "
                          "write local (the data folder's exports/) or s3://bucket/prefix")
    version = sources.data_version(store, canonical)
    identity = request_identity(canonical, version)
    reap_stalled(store, older_than_seconds=STALLED_SECONDS)  # a run whose worker died is retried, never joined
    for _ in range(5):
        try:
            return _answer(store, canonical, version, identity, actor, force)
        except IntegrityError:  # another process made the export for this identity first: join it
            continue
    raise ExportError("the export could not be claimed; try again")


def _answer(store: Store, canonical: dict, version: str, identity: str, actor: str, force: bool) -> ExportTicket:
    with store.session(serialised=True) as session:
        current = session.scalars(select(ExportRecord).where(ExportRecord.claim == identity).with_for_update()).first()
        if current is not None and current.status == "COMPLETED" and (force or not _file_present(store, current)):
            current.claim = None  # superseded: the new export takes the identity over
            session.flush()
            outcome = "refreshed"
        elif current is not None:
            outcome = {"COMPLETED": "reused", "FAILED": "retried"}.get(current.status, "joined")
            if outcome == "retried":
                current.status, current.error, current.worker, current.heartbeat_at = "PENDING", None, None, None
            session.add(ExportAsk(reference_id=current.reference_id, asked_by=actor, outcome=outcome))
            record_audit(session, actor, f"export.{outcome}", "export", current.reference_id)
            message = {"reused": "the same export was already made: its file is reused",
                       "joined": "the same export is being made: this request joins it",
                       "retried": "the same export failed before: it is started again"}[outcome]
            return ExportTicket(current.reference_id, current.status, outcome != "retried", message)
        else:
            outcome = "new"
        record = ExportRecord(reference_id=new_reference_id(), identity=identity, claim=identity, kind=canonical["kind"],
                              request=canonical, data_version=version, status="PENDING", requested_by=actor, attempts=0)
        session.add(record)
        session.flush()  # the unique claim: a concurrent twin fails here and joins
        session.add(ExportAsk(reference_id=record.reference_id, asked_by=actor, outcome=outcome))
        record_audit(session, actor, "export.request", "export", record.reference_id, after={"request": canonical, "outcome": outcome})
        return ExportTicket(record.reference_id, "PENDING", False,
                            "a new export is queued" + (" (refresh forced)" if outcome == "refreshed" else ""))


def new_reference_id() -> str:
    return "exp_" + secrets.token_hex(12)


def _file_present(store: Store, record: ExportRecord) -> bool:
    from core.exports.storage import storage_for

    if not record.location:
        return False
    try:
        return storage_for(store, record.request.get("destination", DESTINATION_LOCAL)).exists(record.location)
    except Exception:  # the storage cannot be reached now: trust the record
        return True


def run_export(store: Store, reference_id: str, *, worker: str) -> ExportRecordView:
    """Build an export's file: claim it (PENDING or FAILED -> RUNNING), write, store, record.

    An export already COMPLETED, or RUNNING under another worker, is returned as it is. A
    failure ends the export FAILED with its reason in one line (and is raised again unless it
    is an ``ExportError``, which the record says all about).

    Raises:
        ExportError: no such export.
    """
    from core.exports import files
    from core.exports.storage import staged_file, storage_for

    attempt = _claim_run(store, reference_id, worker)
    if attempt is None:  # done already, or another worker is building it
        return get_export(store, reference_id)
    record = _record(store, reference_id)
    canonical = record.request
    storage = storage_for(store, canonical["destination"])
    try:
        name = file_name(record, attempt)
        with _heartbeat(store, reference_id, attempt), staged_file(storage, name) as staging:
            written = files.write_export(store, canonical, staging)
            location = storage.put(staging, name)
    except Exception as exc:
        _finish(store, reference_id, attempt, worker, error=_one_line(exc))
        if isinstance(exc, ExportError):
            return get_export(store, reference_id)
        raise
    finished = _finish(store, reference_id, attempt, worker, written=written, location=location)
    if finished is None:  # reaped meanwhile (and maybe retried): this attempt's file answers nothing
        storage.remove(location)
        return get_export(store, reference_id)
    return finished


def _record(store: Store, reference_id: str) -> ExportRecord:
    with store.session() as session:
        record = session.get(ExportRecord, reference_id)
        session.expunge(record)
        return record


def _claim_run(store: Store, reference_id: str, worker: str) -> int | None:
    """Move a PENDING or FAILED export to RUNNING under ``worker``; its attempt number, which
    names this claim alone (two workers may share a name), or None when it is not to be built here."""
    with store.session(serialised=True) as session:
        record = session.get(ExportRecord, reference_id, with_for_update=True)
        if record is None:
            raise ExportError(f"no export {reference_id!r}")
        if record.status in ("PENDING", "FAILED"):
            if record.claim is None:
                raise ExportError(f"export {reference_id} was superseded by a newer one of the same request")
            now = utc_now()
            record.status, record.worker, record.started_at, record.heartbeat_at = "RUNNING", worker, now, now
            record.completed_at, record.error, record.attempts = None, None, (record.attempts or 0) + 1
            return record.attempts
        return None


@contextmanager
def _heartbeat(store: Store, reference_id: str, attempt: int) -> Iterator[None]:
    """Renew the export's heartbeat every ``HEARTBEAT_SECONDS`` while the block runs (from a
    thread, so a long ``COPY`` keeps it alive; a killed process stops it, and the reaper sees)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with store.session() as session:
                    session.execute(update(ExportRecord).where(ExportRecord.reference_id == reference_id, ExportRecord.status == "RUNNING",
                                                               ExportRecord.attempts == attempt).values(heartbeat_at=utc_now()))
            except Exception:  # a busy store: the next beat tries again, well within the reaper's limit
                continue

    thread = threading.Thread(target=beat, name=f"export-heartbeat-{reference_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _finish(store: Store, reference_id: str, attempt: int, worker: str, *, written=None, location: str | None = None,
            error: str | None = None) -> ExportRecordView | None:
    with store.session(serialised=True) as session:
        record = session.get(ExportRecord, reference_id, with_for_update=True)
        if record is None or record.status != "RUNNING" or record.attempts != attempt:
            return None
        record.completed_at = utc_now()
        if error is not None:
            record.status, record.error = "FAILED", error
            record_audit(session, worker, "export.fail", "export", reference_id, after={"error": error})
        else:
            record.status = "COMPLETED"
            record.row_count, record.file_size, record.sha256, record.location = (written.row_count, written.file_size,
                                                                                  written.sha256, location)
            record_audit(session, worker, "export.complete", "export", reference_id,
                         after={"row_count": written.row_count, "file_size": written.file_size, "sha256": written.sha256})
            emit(session, "export.completed", {"reference_id": reference_id, "kind": record.kind, "request": record.request,
                                               "row_count": written.row_count, "file_size": written.file_size, "sha256": written.sha256})
        session.flush()
        return _views(session, [record])[0]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, ExportError) else f"{type(exc).__name__}: {text}"[:2000]


def file_name(record: ExportRecord, attempt: int = 1) -> str:
    """``KIND[_FROM][_TO]_REFERENCE[_ATTEMPT].EXT``: the file's name in its folder or under its
    prefix (a retry writes a name of its own, so a stalled attempt that wakes up harms nothing)."""
    request = record.request
    parts = [request["kind"], request.get("date_from"), request.get("date_to"), record.reference_id,
             str(attempt) if attempt > 1 else None]
    return "_".join(p for p in parts if p) + "." + request["format"]


def get_export(store: Store, reference_id: str) -> ExportRecordView | None:
    """One export, or None."""
    with store.session() as session:
        record = session.get(ExportRecord, reference_id)
        return None if record is None else _views(session, [record])[0]


def list_exports(store: Store, *, limit: int = 50, offset: int = 0) -> list[ExportRecordView]:
    """Exports, newest first."""
    with store.session() as session:
        records = list(session.scalars(select(ExportRecord).order_by(ExportRecord.created_at.desc(), ExportRecord.reference_id)
                                       .limit(max(0, limit)).offset(max(0, offset))))
        return _views(session, records)


def _views(session, records: list[ExportRecord]) -> list[ExportRecordView]:
    ids = [r.reference_id for r in records]
    asks: dict[str, tuple[int, int]] = {}
    if ids:
        rows = session.execute(select(ExportAsk.reference_id, func.count(),
                                      func.sum(case((ExportAsk.outcome.in_(("reused", "joined")), 1), else_=0)))
                               .where(ExportAsk.reference_id.in_(ids)).group_by(ExportAsk.reference_id))
        asks = {ref: (int(total), int(reused or 0)) for ref, total, reused in rows}
    return [ExportRecordView(reference_id=r.reference_id, request=dict(r.request), status=r.status,
                             reused=asks.get(r.reference_id, (1, 0))[1] > 0, row_count=r.row_count, file_size=r.file_size,
                             sha256=r.sha256, location=r.location, created_at=_aware(r.created_at), started_at=_aware(r.started_at),
                             completed_at=_aware(r.completed_at), error=r.error, requested_by=r.requested_by, worker=r.worker,
                             attempts=r.attempts or 0, asks=asks.get(r.reference_id, (1, 0))[0], heartbeat_at=_aware(r.heartbeat_at))
            for r in records]


def _aware(moment: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands times back without their zone: they were written in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _date(value) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def file_url(store: Store, record: ExportRecordView, *, expires_in: int = 3600) -> str | None:
    """A link to the export's file: pre-signed for S3 (``expires_in`` seconds, at most seven
    days), None for a local file (the page offers it as a download) or an export with no file."""
    from core.exports.storage import storage_for

    if record.status != "COMPLETED" or not record.location:
        return None
    return storage_for(store, record.request["destination"]).url(record.location, expires_in=expires_in)


def reap_stalled(store: Store, *, older_than_seconds: int = STALLED_SECONDS) -> list[str]:
    """Fail the RUNNING exports whose heartbeat is older than ``older_than_seconds``.

    Returns:
        Their references. Each keeps its claim, so asking again (or ``run_export``) retries it.
    """
    limit = utc_now() - dt.timedelta(seconds=older_than_seconds)
    with store.session() as session:  # a look first: the write lock only when there is something to reap
        if not session.scalar(select(func.count()).select_from(ExportRecord)
                              .where(ExportRecord.status == "RUNNING", ExportRecord.heartbeat_at < limit)):
            return []
    with store.session(serialised=True) as session:
        stalled = list(session.scalars(select(ExportRecord).where(ExportRecord.status == "RUNNING",
                                                                  ExportRecord.heartbeat_at < limit).with_for_update()))
        for record in stalled:
            record.status, record.completed_at = "FAILED", utc_now()
            record.error = f"the worker {record.worker} stopped answering (no heartbeat for {older_than_seconds} s)"
            record_audit(session, "reaper", "export.reap", "export", record.reference_id, after={"error": record.error})
        return [r.reference_id for r in stalled]


def wait_for_export(store: Store, reference_id: str, *, timeout: float = 3600.0, poll: float = 0.5,
                    stalled_after: int = STALLED_SECONDS) -> ExportRecordView:
    """Wait until an export another worker is building is COMPLETED or FAILED (reaping it if it stalls)."""
    deadline = time.monotonic() + timeout
    while True:
        view = get_export(store, reference_id)
        if view is None:
            raise ExportError(f"no export {reference_id!r}")
        if view.status in ("COMPLETED", "FAILED") or time.monotonic() > deadline:
            return view
        if view.status == "RUNNING":
            reap_stalled(store, older_than_seconds=stalled_after)
        time.sleep(poll)


def export_now(store: Store, request: ExportRequest, *, actor: str, force: bool = False,
               worker: str | None = None) -> tuple[ExportTicket, ExportRecordView]:
    """Request an export and see it through in this process: what ``python -m core export`` does.

    A PENDING (or failed) export is built here; one another worker is building is waited for.
    """
    ticket = request_export(store, request, actor=actor, force=force)
    worker = worker or f"cli:{actor}@{socket.gethostname()}:{os.getpid()}"
    try:
        view = run_export(store, ticket.reference_id, worker=worker)
    except ExportError:
        raise
    except Exception:  # recorded as FAILED with its reason, which the caller shows
        view = get_export(store, ticket.reference_id)
    if view.status in ("PENDING", "RUNNING"):
        view = wait_for_export(store, ticket.reference_id)
    return ticket, view


def export_or_fail(store: Store, request: ExportRequest, *, actor: str, worker: str, force: bool = False) -> ExportRecordView:
    """An export seen through to COMPLETED, or an ``ExportError`` saying why it failed: what a
    pipeline's export step calls, so that a failure fails the step and the worker retries it
    (asking again retries the same export)."""
    _, view = export_now(store, request, actor=actor, force=force, worker=worker)
    if view.status != "COMPLETED":
        raise ExportError(f"export {view.reference_id} {view.status.lower()}: {view.error or 'not finished in time'}")
    return view


def run_in_background(store: Store, reference_id: str, *, worker: str) -> threading.Thread:
    """Build an export on a thread of this process (the app's, until the worker takes its queue):
    its failure is recorded on the export, never raised into the caller."""

    def build() -> None:
        try:
            run_export(store, reference_id, worker=worker)
        except Exception:  # recorded as FAILED by run_export; nobody waits on this thread
            pass
        from core.webhooks import hand_over as send_webhooks

        send_webhooks(store)  # no worker runs: this process sends what the export owes (export.completed)

    thread = threading.Thread(target=build, name=f"export-{reference_id}", daemon=True)
    thread.start()
    return thread


def hand_over(store: Store, reference_id: str, *, worker: str) -> threading.Thread | None:
    """Leave a PENDING export to the worker when one holds the store's lease; with no worker
    running, build it on a thread of this process (the app's or the API's) instead."""
    # Imported here: the lease is the worker's, and exports are used without a worker as well.
    from core.jobs.lease import worker_alive

    return None if worker_alive(store) else run_in_background(store, reference_id, worker=worker)


def run_pending(store: Store, *, worker: str, limit: int = 10) -> list[ExportRecordView]:
    """Build the oldest PENDING exports, one after another (what the worker runs each tick)."""
    with store.session() as session:
        waiting = list(session.scalars(select(ExportRecord.reference_id).where(ExportRecord.status == "PENDING")
                                       .order_by(ExportRecord.created_at).limit(limit)))
    done = []
    for reference_id in waiting:
        try:
            done.append(run_export(store, reference_id, worker=worker))
        except Exception:  # recorded as FAILED; the next export still runs
            done.append(get_export(store, reference_id))
    return done


def local_file(store: Store, record: ExportRecordView) -> Path | None:
    """The file of a COMPLETED export kept in a local folder, or None (S3, not done, gone)."""
    if record.status != "COMPLETED" or not record.location or record.location.startswith("s3://"):
        return None
    path = Path(record.location)
    return path if path.is_file() else None


def export_statistics(store: Store) -> dict:
    """Requests, reuse rate, success rate, median duration and bytes, overall and per day.

    ``requests``: times an export was asked for; ``reuse_rate``: the share answered by an
    existing export (reused or joined); ``success_rate``: completed among finished exports;
    ``median_duration_seconds``: of completed exports; ``bytes``: of completed exports' files.
    """
    with store.session() as session:
        outcomes = dict(session.execute(select(ExportAsk.outcome, func.count()).group_by(ExportAsk.outcome)).all())
        statuses = dict(session.execute(select(ExportRecord.status, func.count()).group_by(ExportRecord.status)).all())
        done = session.execute(select(ExportRecord.started_at, ExportRecord.completed_at, ExportRecord.file_size,
                                      ExportRecord.row_count, ExportRecord.kind, ExportRecord.request)
                               .where(ExportRecord.status == "COMPLETED")).all()
        per_day = session.execute(select(ExportAsk.asked_at, ExportAsk.outcome)).all()
    requests = sum(outcomes.values())
    reused = outcomes.get("reused", 0) + outcomes.get("joined", 0)
    finished = statuses.get("COMPLETED", 0) + statuses.get("FAILED", 0)
    durations = [(_aware(end) - _aware(start)).total_seconds() for start, end, *_ in done if start and end]
    days: dict[str, dict[str, int]] = {}
    for asked_at, outcome in per_day:
        day = _aware(asked_at).date().isoformat()
        entry = days.setdefault(day, {"requests": 0, "reused": 0})
        entry["requests"] += 1
        entry["reused"] += outcome in ("reused", "joined")
    by_format: dict[str, int] = {}
    for *_, request in done:
        by_format[request["format"]] = by_format.get(request["format"], 0) + 1
    return {"requests": requests, "reused": reused, "reuse_rate": reused / requests if requests else None,
            "exports": sum(statuses.values()), "by_status": {s: statuses.get(s, 0) for s in STATUSES},
            "success_rate": statuses.get("COMPLETED", 0) / finished if finished else None,
            "median_duration_seconds": statistics.median(durations) if durations else None,
            "durations_seconds": durations, "bytes": sum(size or 0 for _, _, size, *_ in done),
            "rows": sum(rows or 0 for _, _, _, rows, *_ in done), "per_day": dict(sorted(days.items())), "by_format": by_format}
