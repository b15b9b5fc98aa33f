"""What ``jobs list`` and a Jobs page show: the schedule in words, the next run time in the
schedule's time zone, the last run, and the run history with steps and durations."""

from __future__ import annotations

import datetime as dt

from core.jobs.pipelines import Schedule, save_pipeline, set_paused
from core.jobs.runs import claim_run, execute_run
from core.views.jobs import (describe_schedule, failing_pipelines, next_run_time, pipeline_summaries, run_history,
                             schedule_in_words)
from tests.core.jobs.conftest import pipeline_text

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)  # a Friday


def test_the_next_cron_time_is_in_the_schedules_time_zone():
    weekdays_at_six = Schedule("0 6 * * 1-5", None, "Europe/Amsterdam")
    assert next_run_time(weekdays_at_six, None, NOW) == dt.datetime(2026, 12, 7, 5, 0, tzinfo=dt.UTC)  # Monday 06:00 CET
    assert describe_schedule(weekdays_at_six) == "0 6 * * 1-5 (Europe/Amsterdam)"


def test_the_next_interval_time_follows_the_last_scheduled_run():
    every_hour = Schedule(None, 3600, "UTC")
    assert next_run_time(every_hour, None, NOW) is None
    assert next_run_time(every_hour, NOW - dt.timedelta(minutes=10), NOW) == NOW + dt.timedelta(minutes=50)
    assert next_run_time(every_hour, NOW - dt.timedelta(hours=5, minutes=10), NOW) == NOW + dt.timedelta(minutes=50)
    assert (describe_schedule(every_hour), describe_schedule(None)) == ("every 3600 s", "by hand")


def test_summaries_show_the_last_run_and_no_next_time_while_paused(store):
    save_pipeline(store, pipeline_text(steps='[[steps]]\nkind = "notify"\nalert = true\n', schedule='[schedule]\nevery_seconds = 60\n'),
                  actor="ana")
    run = execute_run(store, claim_run(store, "daily-bank", NOW - dt.timedelta(seconds=30), trigger="schedule", worker="w"))
    [summary] = pipeline_summaries(store, NOW)
    assert summary["last_run"]["id"] == run.id and summary["last_run"]["status"] == "succeeded"
    assert summary["next_run"] == (NOW + dt.timedelta(seconds=30)).isoformat()
    set_paused(store, "daily-bank", True, actor="ana")
    assert pipeline_summaries(store, NOW)[0]["next_run"] is None
    [row] = run_history(store, "daily-bank")
    assert row["steps"] == [{"position": 1, "kind": "notify", "status": "succeeded", "message": "alert 1 raised", "outputs": {"alerts": [1]}}]
    assert row["seconds"] >= 0 and run_history(store, "another") == []


def test_schedules_read_as_words():
    assert schedule_in_words(Schedule("30 7 * * *", None, "America/New_York")) == "every day at 07:30"
    assert schedule_in_words(Schedule("0 6 * * 1-5", None, "UTC")) == "Monday to Friday at 06:00"
    assert schedule_in_words(Schedule("5 18 * * 0", None, "UTC")) == "every Sunday at 18:05"
    assert schedule_in_words(Schedule("*/15 * * * *", None, "UTC")) == "cron */15 * * * *"
    assert schedule_in_words(Schedule("0 6 1 * *", None, "UTC")) == "cron 0 6 1 * *"
    assert [schedule_in_words(Schedule(None, s, "UTC")) for s in (1, 90, 900, 3600, 7200, 86_400)] == \
        ["every second", "every 90 seconds", "every 15 minutes", "every hour", "every 2 hours", "every day"]
    assert schedule_in_words(None) == "by hand"


def test_a_pipeline_is_failing_while_its_last_run_failed_or_was_missed(store):
    from core.jobs.runs import fail_abandoned, record_missed

    for name in ("alpha", "beta", "gamma"):
        save_pipeline(store, pipeline_text(name, steps='[[steps]]\nkind = "notify"\nalert = true\n'), actor="ana")
    assert failing_pipelines(store) == []
    # alpha: failed (abandoned by its worker), its retry queued; beta: missed; gamma: missed, then succeeded.
    claim_run(store, "alpha", NOW, trigger="schedule", worker="dead-worker")
    fail_abandoned(store, alive_worker="live")
    record_missed(store, "beta", NOW, worker="live")
    record_missed(store, "gamma", NOW, worker="live")
    execute_run(store, claim_run(store, "gamma", NOW + dt.timedelta(days=1), trigger="schedule", worker="live"))
    failing = failing_pipelines(store)
    assert [(f["pipeline"], f["status"], f["retry_queued"]) for f in failing] == [("alpha", "failed", True), ("beta", "missed", False)]
    assert "the worker stopped" in failing[0]["error"] and failing[1]["error"].startswith("missed")
