"""Outputs appear whole or not at all: commands killed with SIGKILL halfway leave their previous
files as they were, and the next start sweeps what they left, never the files of a live process."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.atomic import sweep_leftovers, temporary_path, write_atomically

ROOT = Path(__file__).resolve().parents[2]
SMALL = "id,account,date,amount,currency,reference\nb1,A,2026-10-01,100.00,USD,INV-1\n"


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RECON_DEBUG")}
    env["RECON_DATA_DIR"] = str(data_dir)
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_cli(*args, data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], capture_output=True, text=True,
                          env=_environment(data_dir), cwd=ROOT, timeout=120)


def kill_when(data_dir: Path, args: list, ready) -> None:
    """Start ``python -m core ARGS``, and SIGKILL it as soon as ``ready()`` holds."""
    process = subprocess.Popen([sys.executable, "-m", "core", *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=_environment(data_dir), cwd=ROOT)
    deadline = time.monotonic() + 120
    try:
        while not ready():
            if process.poll() is not None:
                pytest.fail(f"the command ended (exit {process.returncode}) before it could be killed: {process.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("the command never reached the point to kill it at")
            time.sleep(0.0005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp")) if folder.exists() else []


def write_rows(path: Path, rows: int, prefix: str) -> Path:
    """A canonical CSV of ``rows`` rows, written in well under a second."""
    path.write_text("id,account,date,amount,currency,reference,description\n" + "".join(
        f"{prefix}{i},A,2026-10-{i % 28 + 1:02d},{i}.{i % 100:02d},USD,INV{i},payment {i}\n" for i in range(rows)))
    return path


def test_a_killed_import_leaves_the_previous_out_file_whole_and_the_next_start_sweeps(tmp_path):
    big = write_rows(tmp_path / "big.csv", 500_000, "r")
    out = tmp_path / "out" / "normalized.csv"
    out.parent.mkdir()
    out.write_text("previous,content\n")
    previous_size = out.stat().st_size

    def writing() -> bool:  # a temporary beside the file, or (written in place) the file changing
        return bool(leftovers(out.parent)) or out.stat().st_size != previous_size

    kill_when(tmp_path / "data", ["import", big, "--out", out], writing)
    assert out.read_text() == "previous,content\n"
    assert leftovers(out.parent), "the killed command was writing beside the file"

    (tmp_path / "small.csv").write_text(SMALL)
    again = run_cli("import", tmp_path / "small.csv", "--out", out, data_dir=tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert leftovers(out.parent) == []
    assert out.read_text().splitlines()[1].startswith("b1,A,2026-10-01,100.00,USD,INV-1")


def test_an_import_killed_while_storing_its_dataset_stores_nothing_and_the_next_start_sweeps(tmp_path):
    big = write_rows(tmp_path / "big.csv", 500_000, "r")
    datasets = tmp_path / "data" / "datasets"
    kill_when(tmp_path / "data", ["import", big], lambda: bool(leftovers(datasets)))
    assert [p.name for p in datasets.glob("*.parquet")] == []
    with sqlite3.connect(tmp_path / "data" / "recon.db") as db:
        assert db.execute("SELECT count(*) FROM datasets").fetchone() == (0,)
    assert leftovers(datasets)

    (tmp_path / "small.csv").write_text(SMALL)
    again = run_cli("import", tmp_path / "small.csv", data_dir=tmp_path / "data")
    assert again.returncode == 0, again.stderr
    assert leftovers(datasets) == [] and len(list(datasets.glob("*.parquet"))) == 1


def test_a_killed_match_leaves_the_previous_results_whole_and_the_next_start_sweeps(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    (tmp_path / "books.csv").write_text(SMALL)
    (tmp_path / "bank.csv").write_text(SMALL.replace("b1", "s1"))
    first = run_cli("match", "--internal", tmp_path / "books.csv", "--external", tmp_path / "bank.csv", "--out", out, data_dir=data)
    assert first.returncode == 0, first.stderr
    previous = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(previous) == ["breaks.csv", "matches.csv", "summary.json"]

    books = write_rows(tmp_path / "big_books.csv", 300_000, "b")
    bank = write_rows(tmp_path / "big_bank.csv", 300_000, "s")
    kill_when(data, ["match", "--internal", books, "--external", bank, "--out", out],
              lambda: bool(leftovers(out)) and bool(leftovers(data / "runs")))
    assert {p.name: p.read_bytes() for p in out.iterdir() if not p.name.endswith(".tmp")} == previous
    with sqlite3.connect(data / "recon.db") as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)

    # Any command that opens the store sweeps the data folder; one writing into the folder sweeps it.
    assert run_cli("import", tmp_path / "books.csv", data_dir=data).returncode == 0
    assert leftovers(data / "runs") == [] and leftovers(data / "datasets") == [] and leftovers(data) == []
    again = run_cli("match", "--internal", tmp_path / "books.csv", "--external", tmp_path / "bank.csv", "--out", out, data_dir=data)
    assert again.returncode == 0, again.stderr
    assert leftovers(out) == []
    assert {p.name: p.read_bytes() for p in out.iterdir()} == previous


def _finished_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_the_sweep_removes_what_dead_processes_left_and_never_a_live_process_file(tmp_path):
    target = tmp_path / "matches.csv"
    live = temporary_path(target)
    live.write_text("being written")
    dead = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{_finished_pid()}-"))
    dead.write_text("left by a killed run")
    dead_folder = temporary_path(tmp_path / "7").with_name(dead.name.replace("matches.csv", "7"))
    dead_folder.mkdir()
    (dead_folder / "groups.parquet").write_text("half")
    foreign = tmp_path / ".matches.csv.otherhost-1-0123abcd.tmp"
    foreign.write_text("another container's, just now")
    mine = tmp_path / "notes.tmp"
    mine.write_text("a file of the user's")

    assert sorted(p.name for p in sweep_leftovers(tmp_path, tmp_path / "missing")) == sorted([dead.name, dead_folder.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, foreign.name, "notes.tmp"])

    day_ago = time.time() - 2 * 24 * 3600
    os.utime(foreign, (day_ago, day_ago))
    assert sweep_leftovers(tmp_path) == [foreign]


def test_a_failed_write_leaves_the_target_as_it_was_and_no_temporary(tmp_path):
    target = tmp_path / "report.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), write_atomically(target, "w", encoding="utf-8") as handle:
        handle.write("new, half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
    with write_atomically(target, "w", encoding="utf-8") as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"
    assert target.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["report.csv"]
