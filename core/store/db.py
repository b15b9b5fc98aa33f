"""Opening the store: engine, migrations to the newest revision, sessions, bulk rows, audit.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the app, the CLI and the
scheduler can share one file. Any other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, insert
from sqlalchemy.orm import Session, sessionmaker

from core import config
from core.store.models import AuditEntry

__all__ = ["Store", "bulk_insert", "open_store", "record_audit"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_BULK_CHUNK = 5000


class Store(NamedTuple):
    """The database and the data folder, passed to every core function that persists."""

    engine: Engine
    data_dir: Path
    sessions: sessionmaker

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.sessions() as session, session.begin():
            yield session


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_store(url: str | None = None, data_dir: Path | None = None) -> Store:
    """Connect to the store and bring its schema to the newest migration.

    Args:
        url: any SQLAlchemy URL; default ``DATABASE_URL`` or ``data/recon.db``.
        data_dir: the folder for Parquet files and exports; default ``RECON_DATA_DIR`` or ``data/``.
    """
    folder = Path(data_dir or config.data_dir())
    folder.mkdir(parents=True, exist_ok=True)
    url = url or config.database_url(folder)
    engine = create_engine(url, json_serializer=lambda v: json.dumps(v, default=str, sort_keys=True))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return Store(engine, folder, sessionmaker(engine, expire_on_commit=False))


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` inside one transaction."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def bulk_insert(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many rows with executemany-style statements, never one ORM object per row."""
    count = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= _BULK_CHUNK:
            session.execute(insert(model), chunk)
            count += len(chunk)
            chunk = []
    if chunk:
        session.execute(insert(model), chunk)
        count += len(chunk)
    return count


def record_audit(session: Session, actor: str, action: str, entity_type: str, entity_id: str,
                 before: dict | None = None, after: dict | None = None) -> None:
    """Append one audit entry in the caller's transaction, so it lands with the change it records."""
    session.add(AuditEntry(actor=actor, action=action, entity_type=entity_type, entity_id=str(entity_id), before=before, after=after))
