"""Running a pipeline: one row per run and per step, each scheduled time claimed once, failures
as one line, retries as queued rows with backoff, runs of a stopped worker failed and retried."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import socket

import pytest
from sqlalchemy import select, update

from core.jobs import steps as step_module
from core.jobs.pipelines import save_pipeline
from core.jobs.runs import (claim_run, due_retries, execute_run, fail_abandoned, list_runs, record_missed, run_now, run_steps_of)
from core.store.models import DatasetRecord, PipelineRun, PipelineRunStep
from tests.core.jobs.conftest import BANK_DAY_ONE, NOT_A_STATEMENT, inbox_steps, pipeline_text

SIX = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


def utc(moment):
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def steps_of(store, run_id):
    return [(s.position, s.kind, s.status) for s in run_steps_of(store, run_id)]


def test_a_scheduled_time_is_claimed_once_whatever_worker_or_time_zone_asks(store):
    first = claim_run(store, "daily-bank", SIX, trigger="schedule", worker="worker-a")
    amsterdam = SIX.astimezone(dt.timezone(dt.timedelta(hours=1)))
    assert first is not None
    assert claim_run(store, "daily-bank", amsterdam, trigger="schedule", worker="worker-b") is None
    assert claim_run(store, "daily-bank", SIX + dt.timedelta(days=1), trigger="schedule", worker="worker-b") is not None
    with store.session() as session:
        run = session.get(PipelineRun, first)
    assert (run.status, run.worker, run.trigger, run.attempt, utc(run.scheduled_for)) == ("running", "worker-a", "schedule", 1, SIX)


def test_a_missed_time_is_recorded_once_and_then_not_claimed(store):
    record_missed(store, "daily-bank", SIX, worker="worker-a")
    record_missed(store, "daily-bank", SIX, worker="worker-b")
    assert claim_run(store, "daily-bank", SIX, trigger="schedule", worker="worker-a") is None
    [run] = list_runs(store, "daily-bank")
    assert run.status == "missed" and "missed: not run at 2026-12-01 06:00:00 UTC" in run.error


def test_a_successful_run_has_a_row_per_step_and_its_outputs(store, books, inbox):
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id)), actor="ana")
    (inbox / "bank-2026-11-03.csv").write_bytes(BANK_DAY_ONE)
    run_id = claim_run(store, "daily-bank", SIX, trigger="schedule", worker="worker-a")
    run = execute_run(store, run_id)
    assert (run.status, run.error) == ("succeeded", None)
    assert steps_of(store, run_id) == [(1, "fetch", "succeeded"), (2, "import", "succeeded"), (3, "reconcile", "succeeded")]
    assert [d["name"] for d in run.outputs["datasets"]] == ["bank-2026-11-03.csv"]
    assert len(run.outputs["runs"]) == 1 and run.outputs["fetched"][0]["sha256"] == run.outputs["datasets"][0]["id"]
    assert utc(run.finished_at) >= utc(run.started_at)
    assert execute_run(store, run_id).status == "succeeded"  # a finished run is not run again
    assert len(run_steps_of(store, run_id)) == 3


def test_a_failing_step_fails_the_run_with_its_line_and_queues_a_retry_after_the_backoff(store, books, inbox):
    retry = '[retry]\nmax_attempts = 2\nbackoff_seconds = 30\n'
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id), retry=retry), actor="ana")
    (inbox / "bank.csv").write_bytes(NOT_A_STATEMENT)
    run = run_now(store, "daily-bank", actor="ana")
    assert run.status == "failed"
    assert run.error.startswith("step 2 (import): bank.csv, row 2") and "\n" not in run.error
    assert steps_of(store, run.id) == [(1, "fetch", "succeeded"), (2, "import", "failed"), (3, "reconcile", "skipped")]
    with store.session() as session:
        assert session.scalars(select(DatasetRecord).where(DatasetRecord.name == "bank.csv")).all() == []
    [queued] = due_retries(store, utc(run.finished_at) + dt.timedelta(seconds=31))
    assert (queued.status, queued.trigger, queued.attempt, queued.retry_of) == ("queued", "retry", 2, run.id)
    assert utc(queued.run_after) - utc(run.finished_at) == pytest.approx(dt.timedelta(seconds=30), abs=dt.timedelta(seconds=1))
    assert due_retries(store, utc(run.finished_at) + dt.timedelta(seconds=20)) == []
    assert (inbox / "bank.csv").is_file()  # not processed: it stays in the inbox for the retry and for a person


def test_a_retry_starts_at_the_failed_step_with_what_the_earlier_steps_produced(store, books, inbox, monkeypatch):
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id), retry='[retry]\nmax_attempts = 3\nbackoff_seconds = 0\n'), actor="ana")
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    real = step_module._STEPS["reconcile"]
    def late(context, step):
        raise step_module.StepFailed("the bank is late")

    monkeypatch.setitem(step_module._STEPS, "reconcile", late)
    first = run_now(store, "daily-bank", actor="ana")
    assert first.error == "step 3 (reconcile): the bank is late"
    monkeypatch.setitem(step_module._STEPS, "reconcile", real)
    [retry] = due_retries(store, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    second = execute_run(store, retry.id, worker="worker-b")
    assert (second.status, second.worker, second.attempt) == ("succeeded", "worker-b", 2)
    assert steps_of(store, second.id) == [(1, "fetch", "skipped"), (2, "import", "skipped"), (3, "reconcile", "succeeded")]
    assert [s.message for s in run_steps_of(store, second.id)][:2] == [f"done by run {first.id}"] * 2
    assert second.outputs["datasets"] == first.outputs["datasets"] and len(second.outputs["runs"]) == 1
    assert execute_run(store, retry.id, worker="worker-c").worker == "worker-b"  # taken once


def test_no_retry_is_queued_once_the_attempts_are_used_up(store, books, inbox, monkeypatch):
    save_pipeline(store, pipeline_text(steps=inbox_steps(books.id), retry='[retry]\nmax_attempts = 2\nbackoff_seconds = 0\n'), actor="ana")
    (inbox / "bank.csv").write_bytes(NOT_A_STATEMENT)
    first = run_now(store, "daily-bank", actor="ana")
    [retry] = due_retries(store, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    second = execute_run(store, retry.id, worker="worker-a")
    assert (second.status, second.attempt, second.retry_of) == ("failed", 2, first.id)
    assert due_retries(store, dt.datetime.now(dt.UTC) + dt.timedelta(days=1)) == []


def test_backoff_doubles_with_each_attempt(store, monkeypatch):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n',
                                       retry='[retry]\nmax_attempts = 4\nbackoff_seconds = 10\n'), actor="ana")
    def down(context, step):
        raise step_module.StepFailed("down")

    monkeypatch.setitem(step_module._STEPS, "notify", down)
    run = execute_run(store, claim_run(store, "daily-bank", SIX, trigger="schedule", worker="w"))
    waits = []
    for _ in range(3):
        with store.session() as session:
            queued = session.scalars(select(PipelineRun).where(PipelineRun.retry_of == run.id)).one()
        waits.append(round((utc(queued.run_after) - utc(run.finished_at)).total_seconds()))
        with store.session() as session:
            session.execute(update(PipelineRun).where(PipelineRun.id == queued.id).values(run_after=run.finished_at))
        run = execute_run(store, queued.id, worker="w")
    assert waits == [10, 20, 40]
    assert run.attempt == 4 and run.status == "failed"
    assert [r.attempt for r in list_runs(store, "daily-bank")] == [4, 3, 2, 1]


def test_an_unexpected_exception_fails_the_run_with_its_message_and_type_never_a_traceback(store, monkeypatch):
    steps = '[[steps]]\nkind = "notify"\nalert = true\n'
    save_pipeline(store, pipeline_text(steps=steps, retry="[retry]\nmax_attempts = 1\n"), actor="ana")

    def broken(context, step):
        return {}["missing setting"]

    monkeypatch.setitem(step_module._STEPS, "notify", broken)
    run = run_now(store, "daily-bank", actor="ana")
    assert (run.status, run.error) == ("failed", "step 1 (notify): 'missing setting' (KeyError)")
    assert "Traceback" not in run_steps_of(store, run.id)[0].message


def test_a_run_of_a_pipeline_deleted_or_unknown_fails_with_that_line(store):
    run = execute_run(store, claim_run(store, "gone", SIX, trigger="schedule", worker="w"))
    assert (run.status, run.error) == ("failed", "pipeline gone: no pipeline has that name")


def test_runs_left_running_by_a_stopped_worker_are_failed_and_retried(store):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n'), actor="ana")
    dead = claim_run(store, "daily-bank", SIX, trigger="schedule", worker="host:111:dead")
    alive = claim_run(store, "daily-bank", SIX + dt.timedelta(hours=1), trigger="schedule", worker="host:222:alive")
    with store.session() as session:
        session.add(PipelineRunStep(run_id=dead, position=1, kind="notify", status="running", message="", outputs={}))
    assert fail_abandoned(store, alive_worker="host:222:alive") == [dead]
    assert fail_abandoned(store, alive_worker="host:222:alive") == []
    with store.session() as session:
        failed, kept = session.get(PipelineRun, dead), session.get(PipelineRun, alive)
        retry = session.scalars(select(PipelineRun).where(PipelineRun.retry_of == dead)).one()
    assert (failed.status, failed.error) == ("failed", "the worker stopped (host:111:dead)")
    assert kept.status == "running"
    assert [(s.status, s.message) for s in run_steps_of(store, dead)] == [("failed", "the worker stopped")]
    assert (retry.status, retry.attempt, retry.trigger) == ("queued", 2, "retry")


def _exit_at_once():
    os._exit(0)


def test_a_manual_run_is_failed_only_once_its_process_is_gone(store):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n'), actor="ana")
    process = multiprocessing.get_context("spawn").Process(target=_exit_at_once)
    process.start()
    process.join(30)
    host = socket.gethostname()
    gone = claim_run(store, "daily-bank", SIX, trigger="manual", worker=f"manual:ana@{host}:{process.pid}")
    here = claim_run(store, "daily-bank", SIX + dt.timedelta(seconds=1), trigger="manual", worker=f"manual:ana@{host}:{os.getpid()}")
    elsewhere = claim_run(store, "daily-bank", SIX + dt.timedelta(seconds=2), trigger="manual", worker="manual:ana@other-host:1")
    assert fail_abandoned(store, alive_worker="worker-a") == [gone]
    with store.session() as session:
        assert [session.get(PipelineRun, i).status for i in (here, elsewhere)] == ["running", "running"]


def test_run_now_is_refused_while_a_run_of_the_pipeline_is_running(store):
    from core.jobs.pipelines import PipelineError

    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n'), actor="ana")
    running = claim_run(store, "daily-bank", SIX, trigger="schedule", worker="worker-a")
    with pytest.raises(PipelineError, match=f"pipeline daily-bank: run {running} is running \\(worker-a\\)"):
        run_now(store, "daily-bank", actor="ana")
    execute_run(store, running)
    assert run_now(store, "daily-bank", actor="ana").status == "succeeded"


def test_run_now_fails_first_a_run_by_hand_whose_process_is_gone(store):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n'), actor="ana")
    process = multiprocessing.get_context("spawn").Process(target=_exit_at_once)
    process.start()
    process.join(30)
    stale = claim_run(store, "daily-bank", SIX, trigger="manual", worker=f"manual:ana@{socket.gethostname()}:{process.pid}")
    assert run_now(store, "daily-bank", actor="ana").status == "succeeded"
    with store.session() as session:
        assert session.get(PipelineRun, stale).status == "failed"
