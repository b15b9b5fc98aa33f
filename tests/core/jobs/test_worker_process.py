"""The worker as real processes (``python -m core worker``) on a store of the test's own.

Each pipeline here ends in a webhook to a receiver on loopback, so every run that really ran is
a request the receiver saw: a scheduled time run twice would show there even where the store's
unique claim would hide it. Lease and poll timings are shortened through the environment.
Every process a test starts is stopped by that test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from core.jobs.pipelines import save_pipeline, set_paused
from core.store import open_store
from core.store.models import PipelineRun, PipelineRunStep
from tests.core.jobs.conftest import SECRET

ROOT = Path(__file__).resolve().parents[3]
TIMINGS = {"RECON_WORKER_LEASE_SECONDS": "5", "RECON_WORKER_RENEW_SECONDS": "0.5", "RECON_WORKER_POLL_SECONDS": "0.4",
           "RECON_WEBHOOK_ATTEMPTS": "1", "RECON_WEBHOOK_TIMEOUT_SECONDS": "60"}


class SlowReceiver:
    """A webhook receiver on loopback that holds its first request open until ``release`` is set."""

    def __init__(self):
        self.requests: list[dict] = []
        self.release = threading.Event()
        requests, release = self.requests, self.release

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                requests.append(json.loads(body))
                if len(requests) == 1:
                    release.wait(60)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class WorkerProcess:
    """One ``python -m core worker`` with its log in a file; its identity read from that log."""

    def __init__(self, env: dict[str, str], log: Path):
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen([sys.executable, "-m", "core", "worker"], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=self._log)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def identity(self) -> str:
        found = re.search(r"worker (\S+) started", wait_for(lambda: "started" in self.log and self.log, 30, "the worker to start"))
        return found.group(1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._log.close()
        return code


@pytest.fixture
def workers(tmp_path):
    """Start workers on a store: ``start(store)``; each is stopped (killed if it will not stop) after the test."""
    started: list[WorkerProcess] = []

    def start(store, **settings: str) -> WorkerProcess:
        env = {**os.environ, **TIMINGS, **settings, "DATABASE_URL": store.engine.url.render_as_string(hide_password=False),
               "RECON_DATA_DIR": str(store.data_dir), "RECON_TEST_HOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}
        worker = WorkerProcess(env, tmp_path / f"worker-{len(started) + 1}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)
        print(f"--- {worker.log_path.name}\n{worker.log}")  # shown by pytest when the test failed


@pytest.fixture
def sqlite_store(tmp_path):
    handle = open_store(f"sqlite:///{tmp_path / 'recon.db'}", tmp_path / "data")
    yield handle
    handle.engine.dispose()


def pipeline(name: str, url: str, *, every_seconds: int, max_attempts: int = 1, backoff_seconds: float = 0.5) -> str:
    return f"""
name = "{name}"
[schedule]
every_seconds = {every_seconds}
[retry]
max_attempts = {max_attempts}
backoff_seconds = {backoff_seconds}
[[steps]]
kind = "notify"
webhook = "{url}"
secret_env = "RECON_TEST_HOOK_SECRET"
"""


def wait_for(probe, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def runs_of(store, name: str) -> list[PipelineRun]:
    with store.session() as session:
        return list(session.scalars(select(PipelineRun).where(PipelineRun.pipeline == name)
                                    .order_by(PipelineRun.scheduled_for, PipelineRun.attempt)))


def steps_of(store, run_id: int) -> list[PipelineRunStep]:
    with store.session() as session:
        return list(session.scalars(select(PipelineRunStep).where(PipelineRunStep.run_id == run_id).order_by(PipelineRunStep.position)))


def scheduled(runs: list[PipelineRun]) -> list[dt.datetime]:
    return [run.scheduled_for for run in runs if run.trigger == "schedule"]


def assert_every_second_once(times: list[dt.datetime]) -> None:
    """One row for each second of the grid, from the first time to the last: no gap, no repeat."""
    assert len(times) == len(set(times)), "a scheduled time has two rows"
    gaps = {later - earlier for earlier, later in zip(times, times[1:])}
    assert gaps <= {dt.timedelta(seconds=1)}, f"scheduled times not one second apart: {sorted(gaps)}"


def test_a_one_second_pipeline_runs_once_a_second_with_a_history_row_each(sqlite_store, workers, receiver):
    hook = receiver()
    save_pipeline(sqlite_store, pipeline("tick", hook.url, every_seconds=1), actor="tester")
    worker = workers(sqlite_store)
    first = wait_for(lambda: runs_of(sqlite_store, "tick"), 30, "the first run")[0].scheduled_for
    time.sleep(4)
    stopped_at = dt.datetime.now(dt.UTC)
    assert worker.stop() == 0

    runs = runs_of(sqlite_store, "tick")
    first = first.replace(tzinfo=dt.UTC) if first.tzinfo is None else first
    expected = int((stopped_at - first).total_seconds()) + 1
    assert expected - 1 <= len(runs) <= expected, worker.log
    assert {run.trigger for run in runs} == {"schedule"}
    assert_every_second_once(scheduled(runs))
    ran = [run for run in runs if run.status == "succeeded"]
    # A run slowed past the next second by a busy machine makes that second missed (never doubled).
    assert len(ran) >= len(runs) - 1 and {run.status for run in runs} <= {"succeeded", "missed"}, [run.error for run in runs]
    assert [step.status for run in ran for step in steps_of(sqlite_store, run.id)] == ["succeeded"] * len(ran)
    assert len(hook.requests) == len(ran)
    assert all(request["valid"] for request in hook.requests)
    assert "released the lease" in worker.log


def test_two_workers_on_one_store_run_each_scheduled_time_exactly_once(store, workers, receiver):
    hook = receiver()
    save_pipeline(store, pipeline("tick", hook.url, every_seconds=1), actor="tester")
    first, second = workers(store), workers(store)
    holder = wait_for(lambda: next((worker for worker in (first, second) if "took the lease" in worker.log), None),
                      30, "a worker to take the lease")
    started = time.monotonic()
    waiting = second if holder is first else first
    wait_for(lambda: f"the lease is held by {holder.identity}" in waiting.log, 30, "the other worker to wait")
    time.sleep(max(0.0, 10 - (time.monotonic() - started)))
    assert holder.stop() == 0  # a clean stop releases the lease: the waiting worker takes over
    wait_for(lambda: "took the lease" in waiting.log, 10, "the waiting worker to take over")
    time.sleep(max(0.0, 20 - (time.monotonic() - started)))
    assert waiting.stop() == 0
    assert "pipeline tick" not in waiting.log.split("took the lease")[0], "the waiting worker ran something"

    runs = runs_of(store, "tick")
    by_first = [run for run in runs if run.worker == holder.identity]
    by_second = [run for run in runs if run.worker == waiting.identity]
    assert len(by_first) >= 5 and len(by_second) >= 5, holder.log + waiting.log
    assert len(by_first) + len(by_second) == len(runs)
    assert max(run.scheduled_for for run in by_first) < min(run.scheduled_for for run in by_second)
    assert_every_second_once(scheduled(runs))
    ran = [run for run in runs if run.status == "succeeded"]
    assert {run.status for run in runs} <= {"succeeded", "missed"}
    # At most the handover's second or two are missed, never dropped; on a loaded machine a second
    # that comes while the run before it is still going is missed too, and the log says so.
    overlapping = (holder.log + waiting.log).count("is missed (the run before it was still going)")
    assert len(ran) >= len(runs) - 2 - overlapping, holder.log + waiting.log
    assert len(hook.requests) == len(ran)
    assert len({request["body"]["id"] for request in hook.requests}) == len(ran)
    assert all(request["valid"] for request in hook.requests)


def test_a_run_of_a_killed_worker_is_failed_and_retried_by_the_next_worker(sqlite_store, workers):
    hook = SlowReceiver()
    try:
        save_pipeline(sqlite_store, pipeline("slow", hook.url, every_seconds=1, max_attempts=2, backoff_seconds=0.5), actor="tester")
        killed = workers(sqlite_store)
        wait_for(lambda: hook.requests, 30, "the first run to reach the receiver")
        stuck = runs_of(sqlite_store, "slow")[0]
        assert stuck.status == "running"
        assert killed.stop(signal.SIGKILL) == -signal.SIGKILL
        hook.release.set()  # the killed worker's request is answered into the void

        successor = workers(sqlite_store)
        retry = wait_for(lambda: [run for run in runs_of(sqlite_store, "slow") if run.retry_of == stuck.id and run.status == "succeeded"],
                         30, "the retry to succeed")[0]
        assert successor.stop() == 0
    finally:
        hook.close()

    failed = next(run for run in runs_of(sqlite_store, "slow") if run.id == stuck.id)
    assert failed.status == "failed"
    assert failed.error == f"the worker stopped ({killed.identity})"
    assert [step.status for step in steps_of(sqlite_store, failed.id)] == ["failed"]
    assert (retry.trigger, retry.attempt, retry.worker) == ("retry", 2, successor.identity)
    runs = runs_of(sqlite_store, "slow")
    assert not [run for run in runs if run.status in ("running", "queued")]
    # The times that came while the first run hung, and while no worker held the lease, are there as missed.
    assert [run for run in runs if run.status == "missed"], killed.log + successor.log
    assert_every_second_once(scheduled(runs))


def test_an_edited_schedule_is_picked_up_without_a_restart(sqlite_store, workers, receiver):
    hook = receiver()
    save_pipeline(sqlite_store, pipeline("edited", hook.url, every_seconds=3600), actor="tester")
    worker = workers(sqlite_store)
    wait_for(lambda: "pipeline edited: scheduled every 3600s" in worker.log, 30, "the hourly schedule")
    time.sleep(1)
    assert runs_of(sqlite_store, "edited") == []

    save_pipeline(sqlite_store, pipeline("edited", hook.url, every_seconds=1), actor="tester")
    wait_for(lambda: len(runs_of(sqlite_store, "edited")) >= 3, 10, "runs on the new one-second schedule")
    assert "pipeline edited: rescheduled every 1s" in worker.log
    assert_every_second_once(scheduled(runs_of(sqlite_store, "edited")))

    set_paused(sqlite_store, "edited", True, actor="tester")
    wait_for(lambda: "pipeline edited: unscheduled" in worker.log, 10, "the paused pipeline to leave the schedule")
    count = len(runs_of(sqlite_store, "edited"))
    time.sleep(1.5)
    assert len(runs_of(sqlite_store, "edited")) == count
    assert worker.stop() == 0
