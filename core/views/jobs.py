"""What the command line and the Jobs page show of pipelines: each pipeline with its schedule,
next time and last run, and the run history with each run's steps. Plain JSON-ready values."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import func, select

from core.jobs.pipelines import Schedule, cron_trigger, list_pipelines
from core.jobs.runs import list_runs, run_steps_of
from core.store import Store
from core.store.models import PipelineRun, utc_now

__all__ = ["describe_schedule", "failing_pipelines", "next_run_time", "pipeline_summaries", "run_history", "schedule_in_words"]


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    moment = _utc(moment)
    return None if moment is None else moment.isoformat(timespec="seconds")


def describe_schedule(schedule: Schedule | None) -> str:
    """``0 6 * * 1-5 (Europe/Amsterdam)``, ``every 3600 s``, or ``by hand``."""
    if schedule is None:
        return "by hand"
    if schedule.cron is not None:
        return f"{schedule.cron} ({schedule.timezone})"
    return f"every {schedule.every_seconds} s"


_DAY_NAMES = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")


def schedule_in_words(schedule: Schedule | None) -> str:
    """``every day at 07:30``, ``Monday to Friday at 06:00``, ``every 15 minutes``, ``by hand``;
    a cron expression too irregular for a short phrase is shown as written."""
    if schedule is None:
        return "by hand"
    if schedule.cron is None:
        seconds = schedule.every_seconds
        for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute"), (1, "second")):
            if seconds % size == 0:
                count = seconds // size
                return f"every {unit}" if count == 1 else f"every {count} {unit}s"
    minute, hour, day, month, weekdays = schedule.cron.split()
    if not (minute.isdigit() and hour.isdigit() and day == "*" and month == "*"):
        return f"cron {schedule.cron}"
    at = f"at {int(hour):02d}:{int(minute):02d}"
    if weekdays == "*":
        return f"every day {at}"
    if weekdays in ("1-5", "mon-fri"):
        return f"Monday to Friday {at}"
    if weekdays.isdigit() and int(weekdays) <= 7:
        return f"every {_DAY_NAMES[int(weekdays) % 7]} {at}"
    return f"cron {schedule.cron}"


def next_run_time(schedule: Schedule | None, last_scheduled: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """The next scheduled time after ``now``: from the cron expression, or one interval after the
    last scheduled run (``None`` for an interval pipeline that has not run yet, or one run by hand)."""
    now = _utc(now) or utc_now()
    if schedule is None:
        return None
    if schedule.cron is not None:
        zone = zoneinfo.ZoneInfo(schedule.timezone)
        found = cron_trigger(schedule.cron, schedule.timezone).get_next_fire_time(None, now.astimezone(zone))
        return None if found is None else found.astimezone(dt.UTC)
    if last_scheduled is None:
        return None
    step = dt.timedelta(seconds=schedule.every_seconds)
    moment = _utc(last_scheduled) + step
    if moment <= now:
        moment += step * ((now - moment) // step + 1)
    return moment


def pipeline_summaries(store: Store, now: dt.datetime | None = None) -> list[dict]:
    """Each pipeline: name, description, version, paused, schedule, next run, and its last run."""
    with store.session() as session:
        last_ids = dict(session.execute(select(PipelineRun.pipeline, func.max(PipelineRun.id)).group_by(PipelineRun.pipeline)).all())
        last_runs = {r.pipeline: r for r in session.scalars(select(PipelineRun).where(PipelineRun.id.in_(list(last_ids.values()))))}
        last_scheduled = dict(session.execute(select(PipelineRun.pipeline, func.max(PipelineRun.scheduled_for))
                                              .where(PipelineRun.trigger == "schedule").group_by(PipelineRun.pipeline)).all())
    rows = []
    for stored in list_pipelines(store):
        last = last_runs.get(stored.name)
        upcoming = None if stored.paused else next_run_time(stored.spec.schedule, last_scheduled.get(stored.name), now)
        rows.append({"name": stored.name, "description": stored.spec.description, "version": stored.version, "paused": stored.paused,
                     "schedule": describe_schedule(stored.spec.schedule), "schedule_words": schedule_in_words(stored.spec.schedule),
                     "timezone": None if stored.spec.schedule is None else stored.spec.schedule.timezone,
                     "steps": [s.kind for s in stored.spec.steps],
                     "max_attempts": stored.spec.max_attempts, "next_run": _iso(upcoming),
                     "last_run": None if last is None else {"id": last.id, "status": last.status, "scheduled_for": _iso(last.scheduled_for),
                                                            "finished_at": _iso(last.finished_at), "error": last.error,
                                                            "seconds": _seconds(last.started_at, last.finished_at)},
                     "updated_by": stored.updated_by, "updated_at": _iso(stored.updated_at)})
    return rows


def _seconds(started: dt.datetime | None, finished: dt.datetime | None) -> float | None:
    started, finished = _utc(started), _utc(finished)
    return round((finished - started).total_seconds(), 3) if started and finished else None


def failing_pipelines(store: Store) -> list[dict]:
    """The pipelines whose last run (a retry waiting aside) failed or was missed: name, status,
    when, the error, and whether a retry is queued."""
    found = []
    with store.session() as session:
        finished = select(PipelineRun.pipeline, func.max(PipelineRun.id).label("id")).where(PipelineRun.status != "queued") \
            .group_by(PipelineRun.pipeline).subquery()
        last_runs = list(session.scalars(select(PipelineRun).join(finished, finished.c.id == PipelineRun.id)
                                         .order_by(PipelineRun.pipeline)))
        queued = set(session.scalars(select(PipelineRun.pipeline).where(PipelineRun.status == "queued")))
    for run in last_runs:
        if run.status in ("failed", "missed"):
            found.append({"pipeline": run.pipeline, "run": run.id, "status": run.status, "finished_at": _iso(run.finished_at),
                          "error": run.error, "retry_queued": run.pipeline in queued})
    return found


def run_history(store: Store, name: str | None = None, *, limit: int = 20, with_steps: bool = True) -> list[dict]:
    """The latest runs, newest first, each with its times, duration, error, outputs and steps."""
    rows = []
    for run in list_runs(store, name, limit=limit):
        started, finished = _utc(run.started_at), _utc(run.finished_at)
        row = {"id": run.id, "pipeline": run.pipeline, "status": run.status, "trigger": run.trigger, "attempt": run.attempt,
               "retry_of": run.retry_of, "worker": run.worker, "scheduled_for": _iso(run.scheduled_for), "run_after": _iso(run.run_after),
               "started_at": _iso(started), "finished_at": _iso(finished),
               "seconds": _seconds(started, finished),
               "error": run.error, "outputs": run.outputs}
        if with_steps:
            row["steps"] = [{"position": s.position, "kind": s.kind, "status": s.status, "message": s.message, "outputs": s.outputs}
                            for s in run_steps_of(store, run.id)]
        rows.append(row)
    return rows
