"""Running a pipeline: one row per run, one per step, retries as new rows, nothing run twice.

A run is claimed by inserting its row as ``running``; the unique (pipeline, scheduled_for,
attempt) index makes a second claim of the same scheduled time fail, whichever worker or
process tries, so each scheduled time runs once. :func:`execute_run` then runs the steps in
order, each with a row of its own (running, then succeeded, failed or skipped, its one-line
message and outputs), and finishes the run ``succeeded`` or ``failed`` with the failing step's
message. It never raises for a step's failure; an unexpected exception in a step fails the
run too, with its message and type (never a traceback).

A failed run with attempts left (the pipeline's ``max_attempts``) queues its retry: a new row,
``queued``, trigger ``retry``, the next attempt, not to start before ``backoff_seconds * 2 **
(attempt - 1)`` from now. A retry starts at the step that failed: the steps done by the
attempts before it are recorded as skipped ("done by run N") and what they produced is carried
over, so a retry does not fetch, import or reconcile again what an earlier attempt did.

A run whose process died is left ``running``; :func:`fail_abandoned`, called by the worker
that holds the lease, fails the runs of any other worker ("the worker stopped") and queues
their retries. A run asked for by hand (``run_now``: the CLI, a page) is named
``manual:USER@HOST:PID`` and failed that way only when its process is gone from this host.

A scheduled time the worker could not run in time is recorded as ``missed``
(:func:`record_missed`), never dropped silently.
"""

from __future__ import annotations

import datetime as dt
import os
import socket

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.jobs.pipelines import PipelineError, PipelineSpec, get_pipeline
from core.jobs.steps import RunContext, StepFailed, StopRun, run_step
from core.store import Store
from core.store.models import PipelineRun, PipelineRunStep, utc_now
from core.webhooks import emit

__all__ = ["ABANDONED", "claim_run", "due_retries", "execute_run", "fail_abandoned", "list_runs", "manual_worker_name", "record_missed", "running_by_hand",
           "run_now", "run_steps", "run_steps_of"]

ABANDONED = "the worker stopped"
_OUTPUT_KEYS = ("fetched", "datasets", "runs", "holdings_runs", "files", "posted", "alerts", "deliveries")


def _utc(moment: dt.datetime) -> dt.datetime:
    """An aware UTC time (SQLite gives back naive UTC times; a naive argument is taken as UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def claim_run(store: Store, name: str, scheduled_for: dt.datetime, *, trigger: str, worker: str, attempt: int = 1,
              retry_of: int | None = None) -> int | None:
    """Claim one scheduled time of a pipeline: insert its run as ``running``.

    Args:
        scheduled_for: the scheduled time (any time zone; kept in UTC); for a run by hand, now.
        trigger: ``schedule``, ``manual`` or ``retry``.
        worker: who runs it: the worker's name, or ``manual:USER@HOST:PID``.

    Returns:
        The run's id, or ``None`` when that (pipeline, scheduled_for, attempt) was claimed
        (or recorded as missed) already: then it is not run again.
    """
    now = utc_now()
    try:
        with store.session() as session:
            run = PipelineRun(pipeline=name, scheduled_for=_utc(scheduled_for), trigger=trigger, attempt=attempt, retry_of=retry_of,
                              status="running", worker=worker, queued_at=now, started_at=now, outputs={})
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        return None


def record_missed(store: Store, name: str, scheduled_for: dt.datetime, *, worker: str) -> None:
    """Record a scheduled time that was not run (the worker was down or busy past the grace time).

    Nothing is recorded when that time was claimed already.
    """
    now = utc_now()
    moment = _utc(scheduled_for)
    try:
        with store.session() as session:
            session.add(PipelineRun(pipeline=name, scheduled_for=moment, trigger="schedule", attempt=1, status="missed", worker=worker,
                                    queued_at=now, finished_at=now, outputs={},
                                    error=f"missed: not run at {moment:%Y-%m-%d %H:%M:%S} UTC (no worker ran it in time)"))
    except IntegrityError:
        pass


def execute_run(store: Store, run_id: int, *, worker: str | None = None) -> PipelineRun:
    """Run the steps of a claimed (``running``) or queued run, and finish it.

    A ``queued`` run (a retry) is taken first, atomically: when another worker took it, or it
    is not queued or running, it is returned as it is and nothing runs.

    Args:
        worker: who runs a queued retry (default: the worker named on its row).

    Returns:
        The run as finished: ``succeeded`` or ``failed`` with the error. A failure with
        attempts left has queued its retry (see :func:`due_retries`).
    """
    with store.session() as session:
        run = session.get(PipelineRun, run_id)
        if run is None:
            raise ValueError(f"pipeline run {run_id}: no such run")
        status = run.status
    if status == "queued":
        with store.session() as session:
            taken = session.execute(update(PipelineRun).where(PipelineRun.id == run_id, PipelineRun.status == "queued")
                                    .values(status="running", started_at=utc_now(), worker=worker or run.worker)).rowcount
        if not taken:
            return _load_run(store, run_id)
    elif status != "running":
        return run
    run = _load_run(store, run_id)
    try:
        spec = get_pipeline(store, run.pipeline).spec
    except PipelineError as exc:
        return _finish(store, run_id, None, "failed", str(exc), {})
    return run_steps(store, run, spec)


def run_steps(store: Store, run: PipelineRun, spec: PipelineSpec) -> PipelineRun:
    """The steps of ``spec`` for a running ``run``, each with its row, then the run finished."""
    context = RunContext(store=store, run_id=run.id, pipeline=spec, actor=_actor_of(run.worker),
                         scheduled_for=_utc(run.scheduled_for), attempt=run.attempt, outputs={key: [] for key in _OUTPUT_KEYS})
    start = _resume(store, run, context)
    error, stopped = None, None
    for position, step in enumerate(spec.steps, start=1):
        if position < start:
            continue
        if stopped is not None or (error is not None and not _notifies_failure(step)) or (error is None and _notifies_failure_only(step)):
            reason = stopped or ("an earlier step failed" if error is not None else "the run did not fail")
            _step_row(store, run.id, position, step.kind, "skipped", reason, {})
            continue
        context.failure, context.position = error, position
        step_id = _step_row(store, run.id, position, step.kind, "running", "", {})
        try:
            message, outputs = run_step(context, step)
            status = "succeeded"
        except StopRun as exc:
            message, outputs, status, stopped = str(exc), {}, "succeeded", f"the run stopped at step {position}: nothing new to work on"
        except StepFailed as exc:
            message, outputs, status = _one_line(exc), exc.outputs, "failed"
        except Exception as exc:  # noqa: BLE001 (a bug or an outside failure: the run fails with it, the worker carries on)
            message, outputs, status = f"{_one_line(exc)} ({type(exc).__name__})", {}, "failed"
        for key, values in outputs.items():
            context.outputs.setdefault(key, []).extend(values)
        _end_step(store, step_id, status, message, outputs)
        if status == "failed" and error is None:
            error = f"step {position} ({step.kind}): {message}"
    return _finish(store, run.id, spec, "failed" if error else "succeeded", error, context.outputs)


def _notifies_failure(step) -> bool:
    return step.kind == "notify" and step.when in ("failure", "always")


def _notifies_failure_only(step) -> bool:
    return step.kind == "notify" and step.when == "failure"


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 1,000 characters."""
    text = " ".join(str(exc).split())
    return (text if len(text) <= 1000 else text[:999] + "…") or type(exc).__name__


def _resume(store: Store, run: PipelineRun, context: RunContext) -> int:
    """For a retry: the position to start at, the earlier steps recorded as done, their outputs carried."""
    if run.retry_of is None:
        return 1
    with store.session() as session:
        earlier = session.get(PipelineRun, run.retry_of)
        steps = list(session.scalars(select(PipelineRunStep).where(PipelineRunStep.run_id == run.retry_of)
                                     .order_by(PipelineRunStep.position)))
    kinds = {row.position: row.kind for row in steps}
    done = {}
    for row in steps:
        if row.status == "succeeded" and row.kind != "notify":
            done[row.position] = run.retry_of
        elif row.status == "skipped" and row.outputs.get("done_by"):
            done[row.position] = row.outputs["done_by"]
    start = 1
    # Resumed only while the steps are still the ones done (an edit since may have changed them).
    while start in done and start <= len(context.pipeline.steps) and context.pipeline.steps[start - 1].kind == kinds[start]:
        _step_row(store, run.id, start, kinds[start], "skipped", f"done by run {done[start]}", {"done_by": done[start]})
        start += 1
    if start > 1 and earlier is not None:
        for key, values in (earlier.outputs or {}).items():
            if key != "deliveries":
                context.outputs.setdefault(key, []).extend(values)
    return start


def _step_row(store: Store, run_id: int, position: int, kind: str, status: str, message: str, outputs: dict) -> int:
    now = utc_now()
    with store.session() as session:
        row = PipelineRunStep(run_id=run_id, position=position, kind=kind, status=status, started_at=now,
                              finished_at=None if status == "running" else now, message=message, outputs=outputs)
        session.add(row)
        session.flush()
        return row.id


def _end_step(store: Store, step_id: int, status: str, message: str, outputs: dict) -> None:
    with store.session() as session:
        session.execute(update(PipelineRunStep).where(PipelineRunStep.id == step_id)
                        .values(status=status, message=message, outputs=outputs, finished_at=utc_now()))


def _finish(store: Store, run_id: int, spec: PipelineSpec | None, status: str, error: str | None, outputs: dict) -> PipelineRun:
    """End a run and, when it failed with attempts left, queue its retry in the same transaction."""
    with store.session() as session:
        run = session.get(PipelineRun, run_id)
        run.status, run.error, run.outputs, run.finished_at = status, error, outputs, utc_now()
        if status == "failed":
            retry = _queue_retry(session, run, spec) if spec is not None else None
            _emit_failed(session, run, retry)
    return run


def _emit_failed(session, run: PipelineRun, retry: PipelineRun | None) -> None:
    """Tell the webhook subscribers of ``pipeline.failed``, in the transaction that fails the run."""
    emit(session, "pipeline.failed", {"pipeline": run.pipeline, "run_id": run.id, "attempt": run.attempt, "error": run.error,
                                      "retry_at": retry.run_after.isoformat() if retry is not None else None})


def _queue_retry(session, run: PipelineRun, spec: PipelineSpec) -> PipelineRun | None:
    if run.attempt >= spec.max_attempts:
        return None
    now = utc_now()
    retry = PipelineRun(pipeline=run.pipeline, scheduled_for=_utc(run.scheduled_for), trigger="retry", attempt=run.attempt + 1,
                        retry_of=run.id, status="queued", worker=run.worker, queued_at=now,
                        run_after=now + dt.timedelta(seconds=spec.backoff_seconds * 2 ** (run.attempt - 1)), outputs={})
    try:
        with session.begin_nested():
            session.add(retry)
    except IntegrityError:  # queued already (by another worker failing the same abandoned run)
        return None
    return retry


def _load_run(store: Store, run_id: int) -> PipelineRun:
    with store.session() as session:
        return session.get(PipelineRun, run_id)


def fail_abandoned(store: Store, *, alive_worker: str) -> list[int]:
    """Fail the runs left ``running`` by a worker that stopped, and queue their retries.

    A run of any worker other than ``alive_worker`` (the one holding the lease) is failed with
    "the worker stopped", as are its steps left running. A run asked for by hand is failed only
    when it was started on this host and its process is gone.

    Returns:
        The ids of the runs failed.
    """
    failed = []
    with store.session() as session:
        running = list(session.scalars(select(PipelineRun).where(PipelineRun.status == "running", PipelineRun.worker != alive_worker)))
    for run in running:
        if run.worker.startswith("manual:") and _manual_process_alive(run.worker):
            continue
        if _fail_abandoned_run(store, run):
            failed.append(run.id)
    return failed


def _fail_abandoned_run(store: Store, run: PipelineRun) -> bool:
    """Fail one run whose process stopped, its running steps too, and queue its retry; ``False``
    when it had finished (or been failed by another) meanwhile."""
    try:
        spec = get_pipeline(store, run.pipeline).spec
    except PipelineError:
        spec = None
    with store.session() as session:
        claimed = session.execute(update(PipelineRun).where(PipelineRun.id == run.id, PipelineRun.status == "running")
                                  .values(status="failed", error=f"{ABANDONED} ({run.worker})", finished_at=utc_now())).rowcount
        if not claimed:
            return False
        session.execute(update(PipelineRunStep).where(PipelineRunStep.run_id == run.id, PipelineRunStep.status == "running")
                        .values(status="failed", message=ABANDONED, finished_at=utc_now()))
        failed = session.get(PipelineRun, run.id)
        _emit_failed(session, failed, _queue_retry(session, failed, spec) if spec is not None else None)
    return True


def manual_worker_name(actor: str) -> str:
    """How a run asked for by hand names its process: ``manual:USER@HOST:PID``."""
    return f"manual:{actor}@{socket.gethostname()}:{os.getpid()}"


def _actor_of(worker: str) -> str:
    """Who a run acts as (datasets, runs and audit entries are theirs): the person for a manual
    run, else the worker."""
    if worker.startswith("manual:"):
        return worker.removeprefix("manual:").rsplit("@", 1)[0]
    return worker


def _manual_process_alive(worker: str) -> bool:
    """Whether the process of a manual run may still be running: not on this host (it cannot be
    told from here), or its process id still answers."""
    host, _, pid = worker.rsplit("@", 1)[-1].rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def due_retries(store: Store, now: dt.datetime) -> list[PipelineRun]:
    """The queued retries whose time has come (``run_after <= now``), the longest waiting first."""
    with store.session() as session:
        return list(session.scalars(select(PipelineRun).where(PipelineRun.status == "queued", PipelineRun.run_after <= _utc(now))
                                    .order_by(PipelineRun.run_after, PipelineRun.id)))


def run_now(store: Store, name: str, *, actor: str) -> PipelineRun:
    """Run a pipeline now, in this process (the CLI's ``jobs run``, a page's "run now").

    Works on a paused pipeline too. A failure with attempts left queues a retry for the worker.
    One run of a pipeline at a time: while one is running (by the worker or by hand), this is
    refused, so two runs never take the same new files. A run by hand on this host whose process
    is gone does not count: it is failed first, as the worker would.

    Raises:
        PipelineError: no pipeline has that name, or a run of it is running (nothing is recorded).
    """
    spec = get_pipeline(store, name).spec
    with store.session() as session:
        running = list(session.scalars(select(PipelineRun).where(PipelineRun.pipeline == name, PipelineRun.status == "running")))
    for run in running:
        if run.worker.startswith("manual:") and not _manual_process_alive(run.worker):
            _fail_abandoned_run(store, run)
        else:
            raise PipelineError(f"pipeline {name}: run {run.id} is running ({run.worker}); try again when it has finished")
    run_id = None
    while run_id is None:  # two requests in the same microsecond: the second takes the next one
        run_id = claim_run(store, name, utc_now(), trigger="manual", worker=manual_worker_name(actor))
    return run_steps(store, _load_run(store, run_id), spec)


def running_by_hand(store: Store, name: str) -> PipelineRun | None:
    """A run of pipeline ``name`` asked for by hand that is going now (its process may be alive),
    if any: the worker starts no scheduled time or retry of the pipeline meanwhile, as
    :func:`run_now` starts nothing while the worker runs it."""
    with store.session() as session:
        running = list(session.scalars(select(PipelineRun).where(PipelineRun.pipeline == name, PipelineRun.status == "running",
                                                                 PipelineRun.worker.startswith("manual:"))))
    return next((run for run in running if _manual_process_alive(run.worker)), None)


def list_runs(store: Store, name: str | None = None, *, limit: int = 20) -> list[PipelineRun]:
    """The latest runs (of one pipeline, or all), newest first."""
    query = select(PipelineRun).order_by(PipelineRun.queued_at.desc(), PipelineRun.id.desc()).limit(limit)
    if name is not None:
        query = query.where(PipelineRun.pipeline == name)
    with store.session() as session:
        return list(session.scalars(query))


def run_steps_of(store: Store, run_id: int) -> list[PipelineRunStep]:
    """A run's step log, in order."""
    with store.session() as session:
        return list(session.scalars(select(PipelineRunStep).where(PipelineRunStep.run_id == run_id)
                                    .order_by(PipelineRunStep.position, PipelineRunStep.id)))

