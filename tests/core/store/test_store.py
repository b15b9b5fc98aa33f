"""The store on SQLite and PostgreSQL: migrations, exact money, bulk rows, append-only logs."""

import datetime as dt
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from core.store import bulk_insert, open_store, record_audit, verify_audit_chain
from core.store.db import head_revision, migrate
from core.store.models import AuditEntry, Base, Break, DatasetRecord, Decision, Run


def seed_run(store) -> int:
    with store.session() as session:
        session.add(DatasetRecord(id="d" * 64, name="x.csv", format="csv", profile=None, row_count=0, account_count=0,
                                  amount_scale=2, columns=[], warnings=[], parquet_path="x", created_by="t"))
        session.flush()
        run = Run(internal_dataset_id="d" * 64, external_dataset_id="d" * 64, rules_name="default", rules_sha256="0" * 64,
                  rules_text="", status="completed", created_by="t")
        session.add(run)
        session.flush()
        return run.id


def test_migrated_schema_matches_the_models(store):
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in differences if d[0] not in ("modify_comment",)] == []


def test_migration_is_idempotent_and_reaches_head(store):
    migrate(store.engine)
    with store.engine.connect() as connection:
        assert connection.execute(text("select version_num from alembic_version")).scalar() == head_revision()


def test_money_round_trips_exactly(store):
    run_id = seed_run(store)
    amounts = [Decimal("0.10"), Decimal("-123456789012.345678"), Decimal("0.000001"), Decimal("1E+3")]
    rows = [dict(run_id=run_id, side="internal", dataset_id="d" * 64, record_id=str(i), account="A", date=dt.date(2024, 1, 1),
                 amount=a, currency="USD", reference="", description="", reason="unmatched", status="open",
                 first_seen_on=dt.date(2024, 1, 1)) for i, a in enumerate(amounts)]
    with store.session() as session:
        bulk_insert(session, Break, rows)
    with store.session() as session:
        stored = session.scalars(select(Break.amount).order_by(Break.id)).all()
    assert stored == amounts
    assert all(isinstance(a, Decimal) for a in stored)


def test_a_float_is_refused_for_money(store):
    run_id = seed_run(store)
    with pytest.raises(Exception, match="Decimal"):
        with store.session() as session:
            session.add(Decision(run_id=run_id, target_type="break", target_id="1", action="resolve", amount=0.1, status="applied", made_by="t"))


def test_bulk_insert_lands_many_rows_in_chunks(store):
    run_id = seed_run(store)
    rows = [dict(run_id=run_id, side="external", dataset_id="d" * 64, record_id=f"r{i}", account="A", date=dt.date(2024, 1, 1),
                 amount=Decimal(i) / 100, currency="USD", reference="", description="", reason="unmatched", status="open",
                 first_seen_on=dt.date(2024, 1, 1)) for i in range(12_345)]
    with store.session() as session:
        assert bulk_insert(session, Break, rows) == 12_345
    with store.session() as session:
        assert session.execute(text("select count(*) from breaks")).scalar() == 12_345


@pytest.mark.parametrize("model", [AuditEntry, Decision])
def test_decisions_and_audit_log_are_append_only(store, model):
    run_id = seed_run(store)
    with store.session() as session:
        if model is AuditEntry:
            record_audit(session, "ana", "resolve", "break", "1", {"status": "open"}, {"status": "resolved"})
        else:
            session.add(Decision(run_id=run_id, target_type="break", target_id="1", action="resolve", status="applied", made_by="ana"))
    for statement in (update(model).values(action="tampered"), delete(model)):
        with pytest.raises(DBAPIError, match="append-only"):
            with store.session() as session:
                session.execute(statement)
    with store.session() as session:
        assert session.scalar(select(model.action)) == "resolve"


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError):
        with store.session() as session:
            record_audit(session, "ana", "x", "y", "1")
            raise RuntimeError("boom")
    with store.session() as session:
        assert session.scalars(select(AuditEntry)).all() == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'w.db'}", tmp_path)
    with store.engine.connect() as connection:
        assert connection.execute(text("pragma journal_mode")).scalar() == "wal"
        assert connection.execute(text("pragma foreign_keys")).scalar() == 1


def test_database_url_from_the_environment(tmp_path, monkeypatch, postgres_url):
    from tests.conftest import _new_postgres_database

    url = _new_postgres_database(postgres_url)
    monkeypatch.setenv("DATABASE_URL", url)
    store = open_store(data_dir=tmp_path)
    assert store.engine.dialect.name == "postgresql"
    store.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_at_0005(request, tmp_path):
    """A URL whose schema stands at revision 0005, the one before the audit chain."""
    from sqlalchemy import create_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        from tests.conftest import _new_postgres_database

        url = _new_postgres_database(request.getfixturevalue("postgres_url"))
    engine = create_engine(url)
    migrate(engine, "0005")
    yield url, engine
    engine.dispose()


def _old_rows(engine, usernames: list[str]) -> None:
    with engine.begin() as connection:
        for name in usernames:
            connection.execute(text("INSERT INTO users (username, display_name, password_hash, role, active, created_at, updated_at) "
                                    "VALUES (:name, :name, 'x', 'analyst', :yes, :at, :at)"),
                               {"name": name, "yes": True, "at": dt.datetime(2026, 10, 1, tzinfo=dt.UTC)})
        for n in range(3):
            connection.execute(text("INSERT INTO audit_log (at, actor, action, entity_type, entity_id, before, after) "
                                    "VALUES (:at, :actor, 'resolve', 'break', :id, NULL, :after)"),
                               {"at": dt.datetime(2026, 10, 2, 8, n, 30, 123456, tzinfo=dt.UTC), "actor": usernames[0], "id": str(n),
                                "after": '{"status": "resolved", "amount": "73410.87"}'})
            connection.execute(text("INSERT INTO decisions (target_type, target_id, action, comment, amount, status, made_by, made_at, "
                                    "payload) VALUES ('break', :id, 'resolve', '', :amount, 'pending', :maker, :at, NULL)"),
                               {"id": str(n), "amount": "73410.870000" if engine.dialect.name == "sqlite" else Decimal("73410.87"),
                                "maker": usernames[0], "at": dt.datetime(2026, 10, 2, 8, n, tzinfo=dt.UTC)})


def test_the_upgrade_makes_usernames_canonical_and_chains_what_was_written_before(store_at_0005, tmp_path):
    url, engine = store_at_0005
    _old_rows(engine, [" Ana ", "BEN"])
    store = open_store(url, tmp_path / "data")
    try:
        with store.session() as session:
            assert session.scalars(select(text("username")).select_from(text("users")).order_by(text("id"))).all() == ["ana", "ben"]
            assert set(session.scalars(select(Decision.made_by_id))) == {1}
        report = verify_audit_chain(store)
        assert report.intact and report.entries == {"audit_log": 3, "decisions": 3}, str(report)
        with store.session() as session:
            record_audit(session, "ana", "resolve", "break", "9")
        assert verify_audit_chain(store).entries["audit_log"] == 4
        with pytest.raises(DBAPIError, match="append-only"):
            with store.session() as session:
                session.execute(update(AuditEntry).values(actor="mallory"))
    finally:
        store.engine.dispose()


def test_the_upgrade_stops_at_two_usernames_that_would_collide(store_at_0005, tmp_path):
    url, engine = store_at_0005
    _old_rows(engine, ["Ana", "ana "])
    with pytest.raises(RuntimeError, match="users 'Ana' and 'ana ' would both be 'ana'"):
        open_store(url, tmp_path / "data")
    with engine.connect() as connection:
        assert connection.execute(text("select version_num from alembic_version")).scalar() == "0005"
