"""Opening the store: engine, migrations to the newest revision, sessions, bulk rows, audit.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so the app, the CLI and the
scheduler can share one file. Any other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Date, Engine, create_engine, event, insert, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core import config
from core.atomic import sweep_leftovers
from core.runs.folder import runs_root
from core.store import chain  # noqa: F401  (chains every audit entry and decision as it is flushed)
from core.store.models import AuditEntry
from core.store.types import ExactDecimal

__all__ = ["Store", "bulk_insert", "bulk_insert_text", "lost_to_another_writer", "open_store", "record_audit"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_BULK_CHUNK = 20_000


class Store(NamedTuple):
    """The database and the data folder, passed to every core function that persists."""

    engine: Engine
    data_dir: Path
    sessions: sessionmaker

    @contextmanager
    def session(self, *, serialised: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error.

        ``serialised``: on SQLite, take the write lock at the start (``BEGIN IMMEDIATE``), so
        that what the transaction reads first (the acting user, a version) cannot change before
        it writes. PostgreSQL gets the same from row locks taken by the reads that need them.
        """
        with self.sessions() as session, session.begin():
            if serialised and self.engine.dialect.name == "sqlite":
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
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
    # What killed processes left half written (core.atomic), where the product writes.
    sweep_leftovers(folder, runs_root(folder), *(folder / name for name in ("datasets", "holdings", "demo", "pending_imports")))
    url = url or config.database_url(folder)
    engine = create_engine(url, json_serializer=lambda v: json.dumps(v, default=str, sort_keys=True))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    migrate(engine)
    return Store(engine, folder, sessionmaker(engine, expire_on_commit=False))


def alembic_config():
    # Start-up speed: alembic loads only when the schema is to change; opening a current store never pays for it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration; revision ids are the ``NNNN`` that starts each file's name."""
    return max(path.name.split("_", 1)[0] for path in (_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` inside one transaction (nothing to do when current)."""
    if revision == "head":
        try:
            with engine.connect() as connection:
                if connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == head_revision():
                    return
        except Exception:  # no version table yet: a new store
            pass
    from alembic import command  # start-up speed, as in alembic_config

    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def bulk_insert(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> int:
    """Insert many rows in the session's transaction, never one ORM object per row.

    SQLite gets the driver's ``executemany`` and PostgreSQL gets ``COPY``; values pass
    through each column's own type processing first, so money stays exact. Every row must
    carry the same keys; columns left out take their database default.
    """
    iterator = iter(rows)
    first = next(iterator, None)
    if first is None:
        return 0
    table = model.__table__
    names = list(first)
    dialect = session.connection().dialect
    if dialect.name not in ("sqlite", "postgresql"):
        batch = [first, *iterator]
        session.execute(insert(model), batch)
        return len(batch)
    processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]

    def converted(row: dict[str, Any]) -> tuple:
        if row.keys() != first.keys():
            raise ValueError(f"bulk rows for {table.name} must all have the keys {names}")
        return tuple(value if process is None or value is None else process(value)
                     for value, process in zip(row.values(), processors))

    return _write_rows(session, table.name, names, (converted(row) for row in _chain(first, iterator)))


def bulk_insert_text(session: Session, model: type, names: list[str], rows: Iterable[tuple]) -> int:
    """Insert rows whose values are already in the database's text form.

    For row data produced by the engine: amounts as exact decimal text (``-12.50``), dates
    as ISO text. SQLite stores exactly that text (as ``ExactDecimal`` and ``Date`` do);
    PostgreSQL's ``COPY`` parses it into NUMERIC and DATE. Other databases go through
    :func:`bulk_insert`.
    """
    table = model.__table__
    if session.connection().dialect.name not in ("sqlite", "postgresql"):
        decimal_columns = {n for n in names if isinstance(table.c[n].type, ExactDecimal)}
        date_columns = {n for n in names if isinstance(table.c[n].type, Date)}

        def typed(name, value):
            if value is None:
                return None
            if name in decimal_columns:
                return Decimal(value)
            return dt.date.fromisoformat(value) if name in date_columns else value

        return bulk_insert(session, model, ({n: typed(n, v) for n, v in zip(names, row)} for row in rows))
    return _write_rows(session, table.name, names, rows)


def _write_rows(session: Session, table: str, names: list[str], rows: Iterable[tuple]) -> int:
    """Database-ready tuples in: ``executemany`` in chunks on SQLite, ``COPY`` on PostgreSQL."""
    connection = session.connection()
    driver = connection.connection.driver_connection
    columns = ", ".join(f'"{name}"' for name in names)
    count = 0
    if connection.dialect.name == "postgresql":
        with driver.cursor() as cursor, cursor.copy(f'COPY "{table}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    statement = f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join("?" for _ in names)})'
    cursor = driver.cursor()
    try:
        for chunk in chunks(rows, _BULK_CHUNK):
            cursor.executemany(statement, chunk)
            count += len(chunk)
    finally:
        cursor.close()
    return count


def chunks(rows: Iterable, size: int) -> Iterator[list]:
    """Rows in lists of at most ``size``."""
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _chain(first, rest):
    yield first
    yield from rest


def record_audit(session: Session, actor: str, action: str, entity_type: str, entity_id: str,
                 before: dict | None = None, after: dict | None = None) -> None:
    """Append one audit entry in the caller's transaction, so it lands with the change it records.

    The entry is chained as it is flushed (``core.store.chain``): writers wait for each other there.
    """
    session.add(AuditEntry(actor=actor, action=action, entity_type=entity_type, entity_id=str(entity_id), before=before, after=after))


@contextmanager
def serialised_change(store: Store, error: Callable[[str], Exception], *, same: str, kind: str) -> Iterator[Session]:
    """A change's transaction, serialised with other writers; nothing is written half.

    A clash the database catches becomes ``error`` with a message that tells the person to reload
    and try again: a unique key taken at the same moment ("someone else changed {same} ..."), a
    deadlock or a lock waited on too long ("someone else was changing {kind} ...").
    """
    try:
        with store.session(serialised=True) as session:
            yield session
    except IntegrityError:
        raise error(f"someone else changed {same} at the same moment; reload and try again") from None
    except DBAPIError as exc:
        if lost_to_another_writer(exc):
            raise error(f"someone else was changing {kind} at the same moment; reload and try again") from None
        raise


def lost_to_another_writer(exc: DBAPIError) -> bool:
    """Whether the database refused a write because another writer got there first: a
    serialisation failure or deadlock (PostgreSQL 40001, 40P01) or a lock waited on too long
    (SQLite's "database is locked"). The caller tells the person to reload and try again."""
    return getattr(exc.orig, "sqlstate", None) in ("40001", "40P01") or "locked" in str(exc.orig)
