"""The worker's scheduling inside one process: jobs kept in step with the pipelines, due
times coalesced and late ones recorded missed. (Real processes: test_worker_process.py.)"""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from core import config
from core.config import WorkerSettings
from core.jobs import worker as worker_module
from core.jobs.lease import take_lease
from core.jobs.pipelines import save_pipeline, set_paused
from core.jobs.worker import Worker
from core.store.models import PipelineRun

ALERT_ONLY = '\n[[steps]]\nkind = "notify"\nalert = true\n'


def pipeline(name: str, schedule: str, description: str = "") -> str:
    return f'name = "{name}"\ndescription = "{description}"\n{schedule}\n[retry]\nmax_attempts = 1\n{ALERT_ONLY}'


@pytest.fixture
def scheduling(store, monkeypatch):
    """A worker holding the lease with its scheduler going; stopped after the test."""
    started = []

    def start(grace_seconds: int = 3600) -> Worker:
        worker = Worker(store, "host:1:test", WorkerSettings(30, 3, 2, grace_seconds, 2))
        monkeypatch.setattr(worker_module, "_active", worker)
        assert take_lease(store, worker.identity, seconds=30)
        worker._start_scheduler()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker._stop_scheduler()


def runs_of(store, name: str) -> list[PipelineRun]:
    with store.session() as session:
        return list(session.scalars(select(PipelineRun).where(PipelineRun.pipeline == name).order_by(PipelineRun.scheduled_for)))


def wait_for(probe, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_jobs_follow_the_pipelines_and_an_edit_keeping_the_schedule_keeps_the_next_time(store, scheduling):
    save_pipeline(store, pipeline("hourly", "[schedule]\nevery_seconds = 3600"), actor="tester")
    save_pipeline(store, pipeline("by-hand", ""), actor="tester")
    worker = scheduling()
    job = worker.scheduler.get_job("pipeline:hourly")
    assert [j.id for j in worker.scheduler.get_jobs()] == ["pipeline:hourly"]
    first_time = job.next_run_time

    save_pipeline(store, pipeline("hourly", "[schedule]\nevery_seconds = 3600", description="reworded"), actor="tester")
    worker.sync_jobs(worker_module.pipelines.list_pipelines(store))
    job = worker.scheduler.get_job("pipeline:hourly")
    assert (job.name, job.next_run_time) == ("hourly v2", first_time)

    # Sundays at 06:00 in Amsterdam, day 0 as crontab counts (APScheduler's own count starts on Monday).
    save_pipeline(store, pipeline("hourly", '[schedule]\ncron = "0 6 * * 0"\ntimezone = "Europe/Amsterdam"'), actor="tester")
    worker.sync_jobs(worker_module.pipelines.list_pipelines(store))
    job = worker.scheduler.get_job("pipeline:hourly")
    local = job.next_run_time.astimezone(ZoneInfo("Europe/Amsterdam"))
    assert (job.name, local.hour, local.minute, local.strftime("%A")) == ("hourly v3", 6, 0, "Sunday")

    set_paused(store, "hourly", True, actor="tester")
    worker.sync_jobs(worker_module.pipelines.list_pipelines(store))
    assert worker.scheduler.get_jobs() == []


def test_of_several_due_times_the_latest_runs_and_the_earlier_are_recorded_missed(store, scheduling):
    save_pipeline(store, pipeline("backlog", "[schedule]\nevery_seconds = 1"), actor="tester")
    worker = scheduling()
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=3)
    worker.scheduler.modify_job("pipeline:backlog", next_run_time=due)
    wait_for(lambda: [run for run in runs_of(store, "backlog") if run.status == "succeeded"] and len(runs_of(store, "backlog")) >= 4)
    worker._stop_scheduler()
    runs = runs_of(store, "backlog")
    times = [run.scheduled_for.replace(tzinfo=None) for run in runs]
    assert times == [due.replace(tzinfo=None) + dt.timedelta(seconds=n) for n in range(len(runs))]
    # The backlog (due, due+1s, due+2s, due+3s at least) ran once, for its latest time; the rest is recorded.
    ran = next(n for n, run in enumerate(runs) if run.status == "succeeded")
    assert ran >= 3
    assert [run.status for run in runs[:ran]] == ["missed"] * ran
    assert all(run.error.startswith("missed") for run in runs[:ran])


def test_a_time_found_due_past_the_grace_is_recorded_missed_and_not_run(store, scheduling):
    save_pipeline(store, pipeline("late", "[schedule]\nevery_seconds = 3600"), actor="tester")
    worker = scheduling(grace_seconds=1)
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=5)
    worker.scheduler.modify_job("pipeline:late", next_run_time=due)
    [run] = wait_for(lambda: runs_of(store, "late"))
    assert (run.status, run.trigger, run.scheduled_for.replace(tzinfo=None)) == ("missed", "schedule", due.replace(tzinfo=None))
    assert run.worker == "host:1:test"


def test_worker_settings_refuse_a_renewal_slower_than_half_the_lease(monkeypatch):
    monkeypatch.setenv("RECON_WORKER_LEASE_SECONDS", "4")
    monkeypatch.setenv("RECON_WORKER_RENEW_SECONDS", "3")
    with pytest.raises(ValueError, match="RECON_WORKER_RENEW_SECONDS=3 must be at most half"):
        config.worker_settings()
    monkeypatch.setenv("RECON_WORKER_RENEW_SECONDS", "two")
    with pytest.raises(ValueError, match="RECON_WORKER_RENEW_SECONDS='two' is not a number"):
        config.worker_settings()


def _handed_over(store, scheduling, monkeypatch, name: str):
    """A worker whose scheduler has handed pipeline ``name``'s due time to its executor, the
    claim held back until the returned ``release`` is set: ``(worker, release, due)``."""
    save_pipeline(store, pipeline(name, "[schedule]\nevery_seconds = 3600"), actor="tester")
    worker = scheduling()
    held, release = threading.Event(), threading.Event()
    real = worker_module.pipelines.get_pipeline

    def get_pipeline(store, name):
        held.set()
        release.wait(10)
        return real(store, name)

    monkeypatch.setattr(worker_module.pipelines, "get_pipeline", get_pipeline)
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    worker.scheduler.modify_job(f"pipeline:{name}", next_run_time=due)
    assert held.wait(10)
    return worker, release, due


def test_a_clean_stop_waits_for_a_time_handed_over_but_not_yet_claimed(store, scheduling, monkeypatch):
    worker, release, due = _handed_over(store, scheduling, monkeypatch, "handover")
    # The job store has moved on to the next time already: this time exists only in the executor.
    assert worker.scheduler.get_job("pipeline:handover").next_run_time > due
    threading.Timer(0.5, release.set).start()
    worker._stop(threading.Event())
    [run] = runs_of(store, "handover")
    assert (run.status, run.scheduled_for.replace(tzinfo=None)) == ("succeeded", due.replace(tzinfo=None))


def test_a_forced_stop_records_a_time_handed_over_but_not_yet_claimed_as_missed(store, scheduling, monkeypatch):
    worker, release, due = _handed_over(store, scheduling, monkeypatch, "forced")
    force = threading.Event()
    force.set()
    worker._stop(force)
    [run] = runs_of(store, "forced")
    assert (run.status, run.scheduled_for.replace(tzinfo=None)) == ("missed", due.replace(tzinfo=None))
    release.set()  # the held claim goes on now and finds the time recorded: it runs nothing
    wait_for(lambda: not worker._handed)
    assert [r.status for r in runs_of(store, "forced")] == ["missed"]


def test_a_time_due_while_a_run_by_hand_is_going_is_recorded_missed(store, scheduling):
    from core.jobs.runs import claim_run, manual_worker_name

    save_pipeline(store, pipeline("busy", "[schedule]\nevery_seconds = 3600"), actor="tester")
    by_hand = claim_run(store, "busy", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30), trigger="manual",
                        worker=manual_worker_name("ana"))  # this process: alive
    worker = scheduling()
    due = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    worker.scheduler.modify_job("pipeline:busy", next_run_time=due)
    missed = wait_for(lambda: [run for run in runs_of(store, "busy") if run.trigger == "schedule"])
    assert [(run.status, run.scheduled_for.replace(tzinfo=None)) for run in missed] == [("missed", due.replace(tzinfo=None))]
    assert [run.status for run in runs_of(store, "busy") if run.id == by_hand] == ["running"]
