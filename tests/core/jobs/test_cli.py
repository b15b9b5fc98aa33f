"""``python -m core jobs ...`` in a child process, as scripts and the worker's users call it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.core.jobs.conftest import BANK_DAY_ONE, BOOKS, NOT_A_STATEMENT

ROOT = Path(__file__).resolve().parents[3]


def cli(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / "data"), "RECON_USER": "ops"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def pipeline(tmp_path, retry="[retry]\nmax_attempts = 1\n") -> Path:
    path = tmp_path / "daily.toml"
    path.write_text(f'''name = "daily-bank"
[schedule]
cron = "0 6 * * *"
timezone = "Europe/Amsterdam"
{retry}
[[steps]]
kind = "fetch"
source = "inbox"
folder = "inbox"
[[steps]]
kind = "import"
[[steps]]
kind = "reconcile"
books = "fetched:books*"
statement = "fetched:bank*"
''')
    return path


def test_save_list_run_and_history(tmp_path):
    saved = cli(tmp_path, "jobs", "save", str(pipeline(tmp_path)))
    assert (saved.returncode, saved.stdout.strip()) == (0, "pipeline daily-bank saved")
    listed = json.loads(cli(tmp_path, "jobs", "list", "--json").stdout)
    assert [(p["name"], p["version"], p["paused"], p["schedule"]) for p in listed] == [
        ("daily-bank", 1, False, "0 6 * * * (Europe/Amsterdam)")]
    assert listed[0]["next_run"] is not None and listed[0]["last_run"] is None
    inbox = tmp_path / "data" / "inbox"
    (inbox).mkdir(parents=True)
    (inbox / "books.csv").write_bytes(BOOKS)
    (inbox / "bank.csv").write_bytes(BANK_DAY_ONE)
    ran = cli(tmp_path, "jobs", "run", "daily-bank")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "run 1 of daily-bank: succeeded"
    assert "step 3 (reconcile): succeeded: run 1:" in ran.stderr
    history = json.loads(cli(tmp_path, "jobs", "history", "daily-bank", "--json").stdout)
    assert [(r["id"], r["status"], r["trigger"], r["worker"].split("@")[0]) for r in history] == [(1, "succeeded", "manual", "manual:ops")]
    assert [s["kind"] for s in history[0]["steps"]] == ["fetch", "import", "reconcile"] and history[0]["outputs"]["runs"] == [1]
    lines = cli(tmp_path, "jobs", "history").stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("1\tdaily-bank\tsucceeded\tmanual #1\t")
    assert cli(tmp_path, "jobs", "list").stdout.startswith("daily-bank\tv1\tactive\t0 6 * * * (Europe/Amsterdam)\tnext ")


def test_a_failed_run_exits_1_with_its_error(tmp_path):
    cli(tmp_path, "jobs", "save", str(pipeline(tmp_path)))
    (tmp_path / "data" / "inbox").mkdir(parents=True)
    (tmp_path / "data" / "inbox" / "bank.csv").write_bytes(NOT_A_STATEMENT)
    ran = cli(tmp_path, "jobs", "run", "daily-bank")
    assert ran.returncode == 1
    assert ran.stdout.startswith("run 1 of daily-bank: failed: step 2 (import): bank.csv, row 2")


def test_bad_input_exits_2_with_one_line(tmp_path):
    unknown = cli(tmp_path, "jobs", "run", "nightly")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "error: pipeline nightly: no pipeline has that name")
    bad = pipeline(tmp_path)
    bad.write_text(bad.read_text().replace('timezone = "Europe/Amsterdam"', 'timezone = "Europe/Atlantis"'))
    refused = cli(tmp_path, "jobs", "save", str(bad))
    assert refused.returncode == 2
    assert refused.stderr.strip() == (f"error: {bad}: pipeline daily-bank: schedule.timezone: 'Europe/Atlantis' is not a known time zone "
                                      "(an IANA name such as Europe/Amsterdam)")
    assert json.loads(cli(tmp_path, "jobs", "list", "--json").stdout) == []
    missing = cli(tmp_path, "jobs", "save", str(tmp_path / "missing.toml"))
    assert missing.returncode == 2 and "missing.toml: cannot read the pipeline" in missing.stderr
    assert cli(tmp_path, "jobs", "history", "--limit", "0").returncode == 2


def test_pause_and_resume(tmp_path):
    cli(tmp_path, "jobs", "save", str(pipeline(tmp_path)))
    assert cli(tmp_path, "jobs", "pause", "daily-bank").stdout.strip() == "pipeline daily-bank paused"
    listed = json.loads(cli(tmp_path, "jobs", "list", "--json").stdout)
    assert (listed[0]["paused"], listed[0]["version"], listed[0]["next_run"]) == (True, 2, None)
    cli(tmp_path, "jobs", "resume", "daily-bank")
    assert json.loads(cli(tmp_path, "jobs", "list", "--json").stdout)[0]["paused"] is False
    assert cli(tmp_path, "jobs", "pause", "nightly").returncode == 2
