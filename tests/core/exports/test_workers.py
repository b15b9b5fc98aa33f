"""Exports across processes: a worker killed mid-export is reaped to FAILED and a retry completes;
two processes asking for the same export at once make one file."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from core.exports.requests import ExportRequest, export_now, get_export, reap_stalled, request_export
from tests.core.exports.export_helpers import add_dataset, rows_table

ROOT = Path(__file__).resolve().parents[3]

DOOMED_WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import core.exports.files as files
    import core.exports.requests as requests
    from core.store import open_store

    requests.HEARTBEAT_SECONDS = 0.2

    def stuck(store, request, path, **options):
        path.write_bytes(b"id,account\\nr0,ACC-1\\n")  # half a file, then the worker hangs
        print("writing", flush=True)
        time.sleep(600)

    files.write_export = stuck
    requests.run_export(open_store(sys.argv[1], Path(sys.argv[2])), sys.argv[3], worker="doomed-worker")
""")


def test_a_killed_worker_is_reaped_to_failed_and_a_retry_completes(store):
    add_dataset(store, rows_table(1000))
    request = ExportRequest("transactions")
    ticket = request_export(store, request, actor="ana")
    url = store.engine.url.render_as_string(hide_password=False)
    worker = subprocess.Popen([sys.executable, "-c", DOOMED_WORKER, url, str(store.data_dir), ticket.reference_id], cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "writing"
        running = get_export(store, ticket.reference_id)
        assert (running.status, running.worker) == ("RUNNING", "doomed-worker")
        time.sleep(1.5)
        assert reap_stalled(store, older_than_seconds=1) == []  # alive: its heartbeat is fresh
        joined = request_export(store, request, actor="bob")
        assert (joined.reference_id, joined.status, joined.reused) == (ticket.reference_id, "RUNNING", True)
    finally:
        worker.kill()
        worker.wait()
    leftovers = list((store.data_dir / "exports").glob(".*.tmp"))
    assert len(leftovers) == 1  # what the killed process was writing
    time.sleep(1.5)
    assert reap_stalled(store, older_than_seconds=1) == [ticket.reference_id]
    failed = get_export(store, ticket.reference_id)
    assert failed.status == "FAILED" and "doomed-worker stopped answering" in failed.error
    retry, done = export_now(store, request, actor="ana")
    assert (retry.reference_id, retry.reused) == (ticket.reference_id, False)
    assert (done.status, done.row_count, done.attempts, done.error) == ("COMPLETED", 1000, 2, None)
    assert [p.name for p in (store.data_dir / "exports").iterdir()] == [Path(done.location).name]


def test_two_processes_asking_at_once_make_one_file(tmp_path):
    data = tmp_path / "data"
    from core.store import open_store

    store = open_store(f"sqlite:///{data / 'recon.db'}", data)
    add_dataset(store, rows_table(300_000))
    store.engine.dispose()
    env = {**os.environ, "RECON_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "core", "export", "--kind", "transactions", "--format", "parquet", "--dest", str(tmp_path / "out")]
    processes = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    answers = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        answers.append(json.loads(out))
    assert answers[0]["reference_id"] == answers[1]["reference_id"]
    assert sorted(a["reused"] for a in answers) == [False, True]
    assert {a["status"] for a in answers} == {"COMPLETED"} and {a["row_count"] for a in answers} == {300_000}
    assert len(list((tmp_path / "out").iterdir())) == 1
