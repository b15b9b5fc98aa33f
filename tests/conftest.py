"""Shared fixtures: a throwaway PostgreSQL cluster per test session, and a ``store`` fixture
that runs every persistence test against SQLite and against that real PostgreSQL."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from core.store import open_store

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(autouse=True)
def keep_pytest_main_module():
    """Streamlit's script runner (AppTest) installs each page it runs as ``__main__``, and a
    process started with ``spawn`` re-runs ``__main__``: put pytest's back after every test, or a
    worker process of a later test would run a page."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def postgres_url():
    """Start a PostgreSQL cluster on 127.0.0.1 for this session; stop and delete it after."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.fail("PostgreSQL server binaries are missing: `make test` installs the postgresql package")
    bin_dir = Path(found[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="recon-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data, log = folder / "data", folder / "log"
    subprocess.run(_as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]),
                   check=True, capture_output=True)
    port = _free_port()
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-o", options, "start"]),
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(_as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]), capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


_database_numbers = itertools.count(1)


def _new_postgres_database(base_url: str) -> str:
    import psycopg

    name = f"recon_test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(base_url.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """A fresh, migrated store on each backend, with its own data folder."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'recon.db'}"
    else:
        url = _new_postgres_database(request.getfixturevalue("postgres_url"))
    handle = open_store(url, tmp_path / "data")
    yield handle
    handle.engine.dispose()


@pytest.fixture
def write_file(tmp_path):
    """Write text (in an encoding) or bytes to a file under the test's folder."""

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
        return path

    return write
