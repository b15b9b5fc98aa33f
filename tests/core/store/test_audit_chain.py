"""The hash chain over the audit log and the decisions, on SQLite and PostgreSQL: what writes it,
what breaks it, how verification names the first broken link, and writers in several processes."""

import multiprocessing
from decimal import Decimal

import pytest
from sqlalchemy import func, insert, select, text

from core import cli
from core.store import open_store, record_audit, verify_audit_chain
from core.store.chain import GENESIS, entry_hash
from core.store.models import AuditEntry, Decision

TRIGGERS = {"sqlite": ["DROP TRIGGER {table}_no_update", "DROP TRIGGER {table}_no_delete"],
            "postgresql": ["DROP TRIGGER {table}_append_only ON {table}"]}


def url_of(store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


def write_entries(store, count: int, actor: str = "ana") -> list[int]:
    ids = []
    for n in range(count):
        with store.session() as session:
            entry = AuditEntry(actor=actor, action="resolve", entity_type="break", entity_id=str(n),
                               before={"status": "open", "amount": Decimal("10.50")}, after={"status": "resolved"})
            session.add(entry)
            session.add(Decision(target_type="break", target_id=str(n), action="resolve", amount=Decimal("73410.87"), status="applied",
                                 made_by=actor, payload={"break_ids": [n]}))
            session.flush()
            ids.append(entry.id)
    return ids


def drop_append_only_triggers(store) -> None:
    """What someone with the database's keys could do first."""
    with store.session() as session:
        for table in ("audit_log", "decisions"):
            for statement in TRIGGERS[store.engine.dialect.name]:
                session.execute(text(statement.format(table=table)))


def run_cli(monkeypatch, capsys, store, *argv) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", url_of(store))
    monkeypatch.setenv("RECON_DATA_DIR", str(store.data_dir))
    code = cli.main(list(argv))
    return code, capsys.readouterr().out.strip()


def test_every_entry_is_chained_to_the_one_before_and_the_chain_verifies(store, monkeypatch, capsys):
    write_entries(store, 3)
    with store.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.chain_seq)).all()
    assert [e.chain_seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS and [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    values = {c.key: getattr(entries[1], c.key) for c in AuditEntry.__table__.columns}
    assert entry_hash(AuditEntry, values) == entries[1].hash and len(entries[1].hash) == 64
    report = verify_audit_chain(store)
    assert report.intact and report.entries == {"audit_log": 3, "decisions": 3}
    code, out = run_cli(monkeypatch, capsys, store, "audit", "verify")
    assert code == 0 and out.startswith("audit chain intact: 3 audit_log, 3 decisions entries verified")


def test_an_entry_stamped_in_another_time_zone_still_verifies(store):
    import datetime as dt

    with store.session() as session:
        session.add(AuditEntry(at=dt.datetime(2026, 11, 2, 14, 30, 0, 250, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
                               actor="ana", action="resolve", entity_type="break", entity_id="1"))
    assert verify_audit_chain(store).intact


def test_an_edited_entry_is_named(store, monkeypatch, capsys):
    ids = write_entries(store, 4)
    drop_append_only_triggers(store)
    with store.session() as session:
        session.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[1]})
    report = verify_audit_chain(store)
    assert (report.table, report.entry_id, report.problem) == ("audit_log", ids[1], "edited")
    code, out = run_cli(monkeypatch, capsys, store, "audit", "verify")
    assert code == 1 and out == f"audit chain broken at audit_log entry {ids[1]}: edited: its content no longer matches its hash"


def test_an_edited_decision_amount_is_named(store):
    write_entries(store, 3)
    drop_append_only_triggers(store)
    with store.session() as session:
        second = session.scalars(select(Decision.id).order_by(Decision.id)).all()[1]
        session.execute(text("UPDATE decisions SET amount = 7341.87 WHERE id = :id"), {"id": second})
    report = verify_audit_chain(store)
    assert (report.table, report.entry_id, report.problem) == ("decisions", second, "edited")


def test_an_edited_entry_whose_hash_was_computed_again_is_named(store):
    ids = write_entries(store, 4)
    drop_append_only_triggers(store)
    with store.session() as session:
        row = session.get(AuditEntry, ids[1])
        values = {c.key: getattr(row, c.key) for c in AuditEntry.__table__.columns} | {"actor": "mallory"}
        session.execute(text("UPDATE audit_log SET actor = 'mallory', hash = :hash WHERE id = :id"),
                        {"hash": entry_hash(AuditEntry, values), "id": ids[1]})
    report = verify_audit_chain(store)
    assert (report.table, report.entry_id, report.problem) == ("audit_log", ids[1], "edited")
    assert f"entry {ids[2]} no longer follows it" in report.detail


@pytest.mark.parametrize("which", ["middle", "last"])
def test_a_deleted_entry_is_named(store, which):
    ids = write_entries(store, 4)
    drop_append_only_triggers(store)
    gone = ids[1] if which == "middle" else ids[-1]
    with store.session() as session:
        session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": gone})
    report = verify_audit_chain(store)
    assert (report.table, report.problem) == ("audit_log", "deleted")
    if which == "middle":
        assert report.entry_id == ids[2] and "1 entry missing just before it (places 2-1)" not in report.detail
        assert "missing just before it" in report.detail
    else:
        assert report.entry_id == ids[-2] and "the last 1 entry" in report.detail


@pytest.mark.parametrize("imitates", [True, False])
def test_a_forged_entry_is_named_whether_or_not_it_imitates_the_chain(store, imitates):
    ids = write_entries(store, 3)
    with store.session() as session:
        if imitates:
            last = session.get(AuditEntry, ids[-1])
            forged = {"at": last.at, "actor": "mallory", "action": "resolve", "entity_type": "break", "entity_id": "9", "before": None,
                      "after": None, "chain_seq": last.chain_seq + 1, "prev_hash": last.hash}
            forged["hash"] = entry_hash(AuditEntry, forged)
            forged_id = session.execute(insert(AuditEntry).values(**forged).returning(AuditEntry.id)).scalar()
        else:
            forged_id = session.execute(text("INSERT INTO audit_log (at, actor, action, entity_type, entity_id) "
                                             "VALUES (CURRENT_TIMESTAMP, 'mallory', 'x', 'y', '1') RETURNING id")).scalar()
    report = verify_audit_chain(store)
    assert (report.table, report.entry_id, report.problem) == ("audit_log", forged_id, "forged")


def test_a_removed_chain_head_is_named(store):
    write_entries(store, 2)
    with store.session() as session:
        session.execute(text("DELETE FROM audit_chain_heads WHERE name = 'decisions'"))
    report = verify_audit_chain(store)
    assert (report.table, report.entry_id, report.problem) == ("decisions", None, "deleted")


def _append(url: str, data_dir: str, actor: str, count: int, start) -> None:
    start.wait()
    store = open_store(url, data_dir)
    try:
        for n in range(count):
            with store.session() as session:
                # Half the time the audit entry goes first, half the time the decision.
                if n % 3 == 0 and n % 2 == 0:
                    session.add(Decision(target_type="break", target_id=str(n), action="resolve", status="applied", made_by=actor))
                    session.flush()
                record_audit(session, actor, "resolve", "break", str(n), None, {"n": n})
                if n % 3 == 0 and n % 2 == 1:
                    session.flush()
                    session.add(Decision(target_type="break", target_id=str(n), action="resolve", status="applied", made_by=actor))
    finally:
        store.engine.dispose()


def test_writers_in_several_processes_never_fork_the_chain(store, tmp_path):
    processes, count = 4, 25
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_append, args=(url_of(store), str(store.data_dir), f"writer{w}", count, start))
               for w in range(processes)]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
    assert [w.exitcode for w in workers] == [0] * processes
    report = verify_audit_chain(store)
    assert report.intact, str(report)
    assert report.entries == {"audit_log": processes * count, "decisions": processes * 9}
    with store.session() as session:
        assert session.scalar(select(func.count(func.distinct(AuditEntry.prev_hash)))) == processes * count
