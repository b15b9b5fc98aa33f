"""The worker (``python -m core worker``): the one process that runs a store's scheduled pipelines.

What it guarantees, and how:

- **One worker per store.** A worker runs nothing until it holds the store's lease
  (``core.jobs.lease``); it renews the lease every ``RECON_WORKER_RENEW_SECONDS`` and stops
  scheduling at once when a renewal fails. A second worker waits, saying who holds the lease,
  and takes over once the lease lapses (``RECON_WORKER_LEASE_SECONDS`` after the holder's last
  renewal) or is released by a clean stop.
- **Each scheduled time runs once.** The scheduler is APScheduler 3.11 (a
  ``BackgroundScheduler``) with its jobs in the project's database (``SQLAlchemyJobStore`` on the
  store's engine, table ``apscheduler_jobs``), so a worker taking over carries on from the times
  the last one reached. A job is ``core.jobs.worker:fire`` with the pipeline's name, under the id
  ``pipeline:NAME``; :func:`fire` claims the scheduled time (``runs.claim_run``), and the unique
  (pipeline, scheduled time, attempt) index turns a second claim of one time, by whichever
  worker, into nothing. The scheduled time is the trigger's (APScheduler's
  ``scheduled_run_time``), never the clock's.
- **Nothing is dropped without a trace.** Settings chosen on purpose, per job:

  * ``misfire_grace_time`` = ``RECON_WORKER_MISFIRE_GRACE_SECONDS`` (default 3600): a run found
    due up to an hour late (the worker was restarting, or down over the time) still runs: a daily
    reconciliation due at 06:00 still happens at 06:20. Later than that it is recorded ``missed``
    (APScheduler's ``EVENT_JOB_MISSED``) and not run: the next scheduled time, or "run now", does
    the work with the files as they are then. APScheduler's default of one second drops runs
    for any hiccup.
  * coalescing: when several times of one pipeline are due at once (after a pause in the
    worker), only the latest runs, once; the earlier ones are recorded ``missed``. Running a
    backlog one after another would fetch and reconcile the same files again and again.
    APScheduler's own ``coalesce=True`` would drop the earlier times without a word, so the job
    is given ``coalesce=False`` and this module coalesces where it sees every due time (the
    executor below).
  * ``max_instances=1``: a pipeline never runs twice at once (two runs importing the same files
    together). A time that comes while the pipeline is still running is recorded ``missed``
    (APScheduler's ``EVENT_JOB_MAX_INSTANCES``), and so is one that comes while a run asked
    for by hand ("run now", ``jobs run``) is going; a due retry waits for that run to end.

- **Edits apply without a restart.** Every ``RECON_WORKER_POLL_SECONDS`` the worker re-reads
  the pipelines: a new or rescheduled pipeline gets its job (replaced, ``replace_existing``),
  a deleted, paused or unscheduled one loses it; an edit that keeps the schedule keeps the job
  (its next time stays where it was). The same poll starts the retries that are due
  (``runs.due_retries``), builds the queued exports, sends the webhook events that are due
  (``core.webhooks.deliver_pending``) and, when ``RECON_IMAP_HOST`` is set, takes in the unseen
  mail of the IMAP mailbox (``core.underwriting.applications.take_in_imap``), each on a thread
  of its own.
- **No run is left running.** On taking the lease the worker fails the runs a stopped worker
  left ``running`` (``runs.fail_abandoned``), and they are retried like any failure. On a clean
  stop (SIGTERM, SIGINT) it stops scheduling, lets the runs in progress finish while it keeps
  renewing the lease, then releases it; a second SIGINT stops it at once, leaving those runs to
  the next worker. A time the scheduler had handed to its executor but not yet claimed (the job
  store has moved on to the next time by then) counts as in progress: the stop waits for its
  claim, and a forced stop records it ``missed``, so no time falls between two workers.

Each event is one line on standard error.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor as _Threads

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core import config
from core.config import WorkerSettings
from core.jobs import pipelines, runs
from core.jobs.lease import current_lease, release_lease, renew_lease, take_lease
from core.store import Store
from core.store.models import utc_now
from core.webhooks import deliver_pending

__all__ = ["JOB_PREFIX", "Worker", "fire", "trigger_for"]

JOB_PREFIX = "pipeline:"
_FIRE = "core.jobs.worker:fire"

log = logging.getLogger("core.jobs.worker")

_active: Worker | None = None  # the worker of this process, for fire()
_scheduled = threading.local()  # the scheduled time the executor is running now, per thread


def fire(name: str) -> None:
    """The scheduled job: claim this scheduled time of pipeline ``name`` and run it.

    Called by the scheduler of the running worker, which puts the trigger's time at hand; a
    time another worker claimed already is left alone.
    """
    if _active is None:
        raise RuntimeError("fire() runs inside `python -m core worker` only")
    _active.run_scheduled(name, _scheduled.time, handed=getattr(_scheduled, "handed", None))


def trigger_for(schedule: pipelines.Schedule):
    """The APScheduler trigger of a pipeline's schedule: a five-field cron (days of the week as
    crontab reads them) or an interval, in its time zone."""
    if schedule.cron:
        return pipelines.cron_trigger(schedule.cron, schedule.timezone)
    return IntervalTrigger(seconds=schedule.every_seconds, timezone=schedule.timezone)


def _same_schedule(one, other) -> bool:
    return (type(one), str(one), str(one.timezone)) == (type(other), str(other), str(other.timezone))


class _LatestDueTime(ThreadPoolExecutor):
    """Runs the latest due time of a job, and reports the earlier ones as missed.

    APScheduler hands an executor every time of a job that is due (the job has
    ``coalesce=False``). The earlier ones become ``EVENT_JOB_MISSED`` at once, as a run past its
    grace does (recorded before the run starts, so a worker dying during it leaves no gap); the
    latest goes through APScheduler's own ``run_job`` (grace check, events) with its time in
    ``_scheduled`` for :func:`fire` to claim.


    The time handed over is counted as the worker's until :func:`fire` has claimed it (or found
    it claimed, paused or past its grace): APScheduler has already moved the job store on to the
    next time, so a worker stopping in between must wait for that claim, or record the time
    missed, or the time would be lost between two workers.
    """

    def __init__(self, worker: Worker, max_workers: int):
        super().__init__(max_workers=max_workers)
        self._worker = worker

    def _do_submit_job(self, job, run_times):
        def done(future):
            if future.exception() is not None:
                self._run_job_error(job.id, future.exception(), future.exception().__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        for run_time in run_times[:-1]:
            self._scheduler._dispatch_event(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
        handed = self._worker.hand_over(job.id.removeprefix(JOB_PREFIX), run_times[-1])
        try:
            future = self._pool.submit(_run_latest, self._worker, handed, job, job._jobstore_alias, run_times[-1], self._logger.name)
        except BaseException:
            self._worker.settle(handed)
            raise
        future.add_done_callback(done)


def _run_latest(worker: Worker, handed: object, job, jobstore_alias, run_time, logger_name) -> list:
    _scheduled.time, _scheduled.handed = run_time, handed
    try:
        return run_job(job, jobstore_alias, [run_time], logger_name)
    finally:
        _scheduled.time = _scheduled.handed = None
        worker.settle(handed)  # past its grace, or an error before the claim: no longer waited for


class Worker:
    """One worker process: its identity, its store, and (while it holds the lease) its scheduler."""

    def __init__(self, store: Store, identity: str, settings: WorkerSettings):
        self.store = store
        self.identity = identity
        self.settings = settings
        self.scheduler: BackgroundScheduler | None = None
        self._retries = _Threads(max_workers=settings.threads, thread_name_prefix="retry")
        self._exports = _Threads(max_workers=1, thread_name_prefix="export")
        self._exporting = None  # the future of the export queue's pass in progress
        self._webhooks = _Threads(max_workers=1, thread_name_prefix="webhooks")
        self._sending = None  # the future of the webhook outbox's pass in progress
        self._mail = _Threads(max_workers=1, thread_name_prefix="imap")
        self._reading_mail = None  # the future of the IMAP mailbox's pass in progress
        self._lock = threading.Lock()
        self._running: dict[int, str] = {}  # run id -> pipeline, for the runs going now
        self._handed: dict[object, tuple[str, dt.datetime]] = {}  # times handed to the executor, not claimed yet
        self._waiting_for: str | None = None

    # -- the main loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event, force: threading.Event) -> int:
        """Hold the lease and schedule until ``stop`` is set; then finish the runs in progress
        (unless ``force`` is set too) and release the lease.

        Returns:
            How many runs are still going (stopped by ``force``): the caller ends the process
            without waiting for them.
        """
        global _active
        _active = self
        log.info("worker %s started (lease %gs, renewed every %gs, pipelines re-read every %gs)", self.identity,
                 self.settings.lease_seconds, self.settings.renew_seconds, self.settings.poll_seconds)
        next_renew = next_poll = 0.0
        try:
            while not stop.is_set():
                now = time.monotonic()
                if self.scheduler is None:
                    if now >= next_renew:
                        next_renew = now + self.settings.renew_seconds
                        if self._take_lease():
                            next_poll = now
                elif now >= next_renew:
                    next_renew = now + self.settings.renew_seconds
                    self._renew_lease()
                if self.scheduler is not None and now >= next_poll:
                    next_poll = now + self.settings.poll_seconds
                    self._poll()
                due = min(next_renew, next_poll) if self.scheduler is not None else next_renew
                stop.wait(max(0.0, due - time.monotonic()))
        finally:
            self._stop(force)
            _active = None
        return len(self._running)

    def _take_lease(self) -> bool:
        try:
            taken = take_lease(self.store, self.identity, seconds=self.settings.lease_seconds)
        except Exception as exc:  # the database is away: try again at the next renewal
            log.error("cannot reach the store to take the lease: %s", _one_line(exc))
            return False
        if not taken:
            try:
                lease = current_lease(self.store)
            except Exception:
                lease = None
            holder = lease.holder if lease else "?"
            if holder != self._waiting_for:
                self._waiting_for = holder
                log.info("waiting: the lease is held by %s (until %s unless renewed)", holder, _moment(lease.expires_at) if lease else "?")
            return False
        self._waiting_for = None
        log.info("took the lease: this worker runs the schedules")
        try:
            for run_id in runs.fail_abandoned(self.store, alive_worker=self.identity):
                log.info("run %d was left running by a stopped worker: failed (and queued for retry if attempts are left)", run_id)
            self._start_scheduler()
        except Exception as exc:  # the store failed half way: start again at the next renewal (the lease is still ours)
            log.error("could not start scheduling: %s", _one_line(exc))
            self._stop_scheduler()
            return False
        return True

    def _renew_lease(self) -> None:
        try:
            kept = renew_lease(self.store, self.identity, seconds=self.settings.lease_seconds)
            reason = "another worker took it over"
        except Exception as exc:
            kept, reason = False, f"the store did not answer: {_one_line(exc)}"
        if not kept:
            log.error("lost the lease (%s): scheduling stopped", reason)
            self._stop_scheduler()

    def _poll(self) -> None:
        try:
            self.sync_jobs(pipelines.list_pipelines(self.store))
            self._start_due_retries()
            if self._exporting is None or self._exporting.done():
                self._exporting = self._exports.submit(self._build_exports)
            if self._sending is None or self._sending.done():
                self._sending = self._webhooks.submit(self._deliver_webhooks)
            if config.imap_configured() and (self._reading_mail is None or self._reading_mail.done()):
                self._reading_mail = self._mail.submit(self._take_in_imap)
        except Exception as exc:  # a bad moment of the store must not stop the worker
            log.error("re-reading the pipelines failed: %s", _one_line(exc))

    def _stop(self, force: threading.Event) -> None:
        if self.scheduler is None:
            self._record_unclaimed()  # handed over before a lost lease stopped the scheduler
            log.info("worker %s stopped", self.identity)
            return
        # APScheduler submits under its job-store lock, which shutdown takes too: once this
        # returns, no time is handed over any more, and every one handed over is in _handed.
        self._stop_scheduler()
        self._retries.shutdown(wait=False, cancel_futures=True)
        self._exports.shutdown(wait=False, cancel_futures=True)
        self._webhooks.shutdown(wait=False, cancel_futures=True)
        self._mail.shutdown(wait=False, cancel_futures=True)
        if self._running:
            log.info("stopping: waiting for run(s) %s to finish (Ctrl-C again to stop now)", ", ".join(map(str, sorted(self._running))))
        next_renew = time.monotonic() + self.settings.renew_seconds
        while (self._running or self._handed) and not force.is_set():
            force.wait(min(0.05, self.settings.renew_seconds))
            if time.monotonic() < next_renew:
                continue
            next_renew = time.monotonic() + self.settings.renew_seconds
            try:
                kept = renew_lease(self.store, self.identity, seconds=self.settings.lease_seconds)
            except Exception:
                kept = False
            if not kept:
                log.error("lost the lease while finishing runs")
                break
        self._record_unclaimed()
        if self._running:
            log.info("stopping now: run(s) %s are left to the next worker, which fails and retries them",
                     ", ".join(map(str, sorted(self._running))))
        release_lease(self.store, self.identity)
        log.info("released the lease; worker %s stopped", self.identity)

    # -- the scheduler -----------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=self.store.engine)},
            executors={"default": _LatestDueTime(self, max_workers=self.settings.threads)},
            job_defaults={"misfire_grace_time": self.settings.misfire_grace_seconds, "coalesce": False, "max_instances": 1},
            timezone=dt.UTC)
        scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        # Paused until its jobs match the pipelines: a job left in the store for a pipeline
        # paused or deleted while no worker ran must not fire first.
        scheduler.start(paused=True)
        self.scheduler = scheduler
        self.sync_jobs(pipelines.list_pipelines(self.store))
        scheduler.resume()

    def _stop_scheduler(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=False)

    def sync_jobs(self, stored: list) -> None:
        """Make the scheduler's jobs match the pipelines: one job per scheduled, unpaused pipeline."""
        scheduler = self.scheduler
        if scheduler is None:
            return
        wanted = {JOB_PREFIX + p.name: p for p in stored if not p.paused and p.spec.schedule is not None}
        jobs = {job.id: job for job in scheduler.get_jobs() if job.id.startswith(JOB_PREFIX)}
        for job_id in jobs.keys() - wanted.keys():
            scheduler.remove_job(job_id)
            log.info("pipeline %s: unscheduled (paused, deleted or run by hand only)", job_id.removeprefix(JOB_PREFIX))
        for job_id, pipeline in wanted.items():
            job, label = jobs.get(job_id), f"{pipeline.name} v{pipeline.version}"
            if job is not None and job.name == label:
                continue
            trigger = trigger_for(pipeline.spec.schedule)
            if job is not None and _same_schedule(job.trigger, trigger):
                scheduler.modify_job(job_id, name=label)
                continue
            job = scheduler.add_job(_FIRE, trigger=trigger, args=[pipeline.name], id=job_id, name=label, replace_existing=True)
            log.info("pipeline %s: %s %s, next at %s", pipeline.name, "scheduled" if job_id not in jobs else "rescheduled",
                     _describe(pipeline.spec.schedule), _moment(job.next_run_time))

    def _on_event(self, event) -> None:
        name = event.job_id.removeprefix(JOB_PREFIX)
        if event.code == EVENT_JOB_ERROR:
            log.error("pipeline %s: the run at %s stopped on an error: %s", name, _moment(event.scheduled_run_time), _one_line(event.exception))
            return
        times = event.scheduled_run_times if event.code == EVENT_JOB_MAX_INSTANCES else [event.scheduled_run_time]
        for when in times:
            if event.code == EVENT_JOB_MAX_INSTANCES:
                why = "the run before it was still going"
            elif utc_now() - when > dt.timedelta(seconds=self.settings.misfire_grace_seconds):
                why = f"more than {self.settings.misfire_grace_seconds}s late"
            else:
                why = "a later time of it was due too, and ran instead"
            try:
                runs.record_missed(self.store, name, when.astimezone(dt.UTC), worker=self.identity)
            except Exception as exc:
                log.error("pipeline %s: could not record the run at %s as missed: %s", name, _moment(when), _one_line(exc))
            else:
                log.info("pipeline %s: the run at %s is missed (%s)", name, _moment(when), why)

    # -- runs --------------------------------------------------------------------------------

    def hand_over(self, name: str, scheduled_for: dt.datetime) -> object:
        """Count a scheduled time as handed to the executor until it is claimed (see :meth:`settle`)."""
        handed = object()
        with self._lock:
            self._handed[handed] = (name, scheduled_for)
        return handed

    def settle(self, handed: object | None, run_id: int | None = None, name: str | None = None) -> None:
        """A handed-over time is claimed (as run ``run_id``, counted as running from now), or
        will not be: it is no longer waited for by a stop."""
        with self._lock:
            if run_id is not None:
                self._running[run_id] = name
            self._handed.pop(handed, None)

    def _record_unclaimed(self) -> None:
        """Record as missed the times handed over that a forced stop leaves unclaimed; a claim
        racing this one wins or loses on the run's unique index, never both."""
        with self._lock:
            unclaimed = list(self._handed.values())
        for name, when in unclaimed:
            try:
                runs.record_missed(self.store, name, when.astimezone(dt.UTC), worker=self.identity)
            except Exception as exc:
                log.error("pipeline %s: could not record the run at %s as missed: %s", name, _moment(when), _one_line(exc))
            else:
                log.info("pipeline %s: the run at %s is missed (the worker stopped before claiming it)", name, _moment(when))

    def run_scheduled(self, name: str, scheduled_for: dt.datetime, *, handed: object | None = None) -> None:
        """Claim and run one scheduled time of a pipeline (what :func:`fire` does).

        Args:
            handed: the executor's token of this time (see :meth:`hand_over`), settled once claimed.
        """
        scheduled_for = scheduled_for.astimezone(dt.UTC)
        run_id = None
        try:
            try:
                paused = pipelines.get_pipeline(self.store, name).paused
            except pipelines.PipelineError:
                paused = True
            if paused:  # paused or deleted since the last re-read: the job goes at the next one
                log.info("pipeline %s: the run at %s is not run (paused or deleted)", name, _moment(scheduled_for))
                return
            by_hand = runs.running_by_hand(self.store, name)
            if by_hand is not None:  # one run of a pipeline at a time, whoever started it
                runs.record_missed(self.store, name, scheduled_for, worker=self.identity)
                log.info("pipeline %s: the run at %s is missed (run %d, asked for by hand, was still going)", name,
                         _moment(scheduled_for), by_hand.id)
                return
            run_id = runs.claim_run(self.store, name, scheduled_for, trigger="schedule", worker=self.identity)
        finally:
            if run_id is None:
                self.settle(handed)
        if run_id is None:
            log.info("pipeline %s: the run at %s was claimed already", name, _moment(scheduled_for))
            return
        self.settle(handed, run_id, name)  # running from the claim on: a stop waits for it without a gap
        self._execute(name, run_id, f"the run at {_moment(scheduled_for)}", runs.execute_run)

    def _start_due_retries(self) -> None:
        for run in runs.due_retries(self.store, utc_now()):
            if runs.running_by_hand(self.store, run.pipeline) is not None:
                continue  # waits for the run asked for by hand
            with self._lock:
                if run.id in self._running or run.pipeline in self._running.values():
                    continue  # going already, or waits for the pipeline's run in progress
                self._running[run.id] = run.pipeline
            self._retries.submit(self._execute, run.pipeline, run.id, f"retry {run.attempt - 1}", self._execute_retry)

    def _build_exports(self) -> None:
        """Fail the exports whose builder stopped answering, then build the queued ones in turn."""
        # Imported here: a worker whose pipelines export nothing never loads the export files' code.
        from core.exports.requests import reap_stalled, run_pending

        try:
            for reference_id in reap_stalled(self.store):
                log.info("export %s: its builder stopped answering; failed (asking again retries it)", reference_id)
            for view in run_pending(self.store, worker=self.identity):
                log.info("export %s: %s%s", view.reference_id, view.status, f" ({view.error})" if view.error else "")
        except Exception as exc:  # the next poll tries again
            log.error("building queued exports failed: %s", _one_line(exc))

    def _deliver_webhooks(self) -> None:
        """Send the webhook events that are due (``core.webhooks``: the outbox), each once per poll."""
        try:
            for event_id, status in deliver_pending(self.store):
                log.info("webhook event %d: %s", event_id, status)
        except Exception as exc:  # the next poll tries again
            log.error("sending webhook events failed: %s", _one_line(exc))

    def _take_in_imap(self) -> None:
        """Take in the unseen messages of the mailbox read over IMAP (``RECON_IMAP_*``), as the
        Applications page's "Take in mail" does."""
        from core.underwriting.applications import take_in_imap

        try:
            for message, application_id, added in take_in_imap(self.store, user="mail"):
                log.info("mail %s: application %d, %d document(s) added", message, application_id, added)
        except Exception as exc:  # the next poll tries again; the message never holds the password
            log.error("taking in mail over IMAP failed: %s", _one_line(exc))

    def _execute_retry(self, store: Store, run_id: int):
        return runs.execute_run(store, run_id, worker=self.identity)

    def _execute(self, name: str, run_id: int, what: str, execute: Callable) -> None:
        with self._lock:
            self._running[run_id] = name
        log.info("pipeline %s: %s started (run %d)", name, what, run_id)
        try:
            run = execute(self.store, run_id)
        except Exception as exc:
            log.error("pipeline %s: %s (run %d) stopped on an error: %s", name, what, run_id, _one_line(exc))
            raise
        finally:
            with self._lock:
                self._running.pop(run_id, None)
        ending = f": {run.error}" if run.error else ""
        log.info("pipeline %s: %s %s (run %d)%s", name, what, run.status, run_id, ending)


def _describe(schedule: pipelines.Schedule) -> str:
    every = f"cron {schedule.cron}" if schedule.cron else f"every {schedule.every_seconds}s"
    return f"{every} ({schedule.timezone})"


def _moment(value: dt.datetime | None) -> str:
    if value is None:
        return "never"
    value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
