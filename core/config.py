"""Where things live. Embedded defaults: a SQLite file and Parquet files under ``data/``.

``RECON_DATA_DIR`` moves the data folder; ``DATABASE_URL`` points the store at any
SQLAlchemy URL (``postgresql+psycopg://...``); ``RECON_MAX_IMPORT_MB`` caps an upload.
DuckDB spills what does not fit in memory under the system's temporary folder (``TMPDIR``),
never into the folder the command was started from.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["data_dir", "database_url", "duckdb_settings", "max_import_bytes"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("RECON_DATA_DIR") or PROJECT_ROOT / "data")


def database_url(folder: Path | None = None) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite:///{(folder or data_dir()) / 'recon.db'}"


def max_import_bytes() -> int:
    return int(os.environ.get("RECON_MAX_IMPORT_MB", "200")) * 1024 * 1024


def duckdb_settings() -> dict[str, str]:
    """Settings for the DuckDB connections runs work in."""
    return {"temp_directory": str(Path(tempfile.gettempdir()) / "recon-duckdb")}
