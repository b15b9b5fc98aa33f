"""Runs saved to the store on SQLite and PostgreSQL: breaks, proposed groups, Parquet files, audit."""

from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

import core.runs.saving as saving
from core.ingest.datasets import import_bytes
from core.matching.rules import default_rules_path, load_rules
from core.runs.reconcile import reconcile_datasets
from core.store.models import AuditEntry, Break, MatchGroup, MatchItem, Run

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-02,-250.10,USD,PAY-7
b3,A,2026-10-05,5000.00,USD,INV-9
b4,A,2026-10-06,-0.05,USD,
b5,B,2026-10-06,77.77,EUR,
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s2,A,2026-10-05,-250.10,USD,
s3,A,2026-10-06,4985.00,USD,
s4,A,2026-10-07,-12.345,USD,FEE
"""


def datasets(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return books.dataset, bank.dataset


def test_run_saves_breaks_proposed_groups_parquet_and_audit(store):
    books, bank = datasets(store)
    text = default_rules_path().read_text()
    outcome = reconcile_datasets(store, books, bank, load_rules(), text, user="ana")
    with store.session() as session:
        run = session.get(Run, outcome.run.id)
        assert (run.status, run.created_by, run.rules_name, run.rules_text) == ("completed", "ana", "default", text)
        breaks = session.scalars(select(Break).where(Break.run_id == run.id).order_by(Break.side, Break.record_id)).all()
        assert [(b.side, b.record_id, b.amount, b.reason, b.status) for b in breaks] == [
            ("external", "s4", Decimal("-12.345"), "unmatched", "open"),
            ("internal", "b4", Decimal("-0.050"), "unmatched", "open"),
            ("internal", "b5", Decimal("77.770"), "unmatched", "open"),
        ]
        proposed = session.scalars(select(MatchGroup).where(MatchGroup.run_id == run.id)).all()
        assert [(g.rule, g.status, g.amount_diff) for g in proposed] == [("fee_deducted", "proposed", Decimal("-15.000"))]
        items = session.scalars(select(MatchItem).where(MatchItem.group_id == proposed[0].id).order_by(MatchItem.side)).all()
        assert [(i.side, i.record_id, i.amount) for i in items] == [("external", "s3", Decimal("4985.000")), ("internal", "b3", Decimal("5000.000"))]
        assert session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reconcile")) == 1
    folder = store.data_dir / "runs" / str(outcome.run.id)
    groups = pq.read_table(folder / "groups.parquet").to_pylist()
    assert [(g["rule"], g["status"]) for g in groups] == [("reference_and_amount", "confirmed"), ("amount_and_date", "confirmed"),
                                                           ("fee_deducted", "proposed")]
    assert pq.read_table(folder / "items.parquet").num_rows == 6
    assert pq.read_table(folder / "breaks.parquet").num_rows == 3


def test_a_run_spills_to_the_temporary_folder_not_the_working_one(store, tmp_path, monkeypatch):
    # What DuckDB cannot keep in memory goes under TMPDIR, wherever the command was started.
    import tempfile

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    books, bank = datasets(store)
    outcome = reconcile_datasets(store, books, bank, load_rules(), "")
    spill = outcome.result.con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    assert spill == str(tmp_path / "recon-duckdb")


def test_accounts_and_period_limit_a_run(store):
    books, bank = datasets(store)
    import datetime as dt

    outcome = reconcile_datasets(store, books, bank, load_rules(), "", accounts=["B"], date_to=dt.date(2026, 10, 31))
    assert outcome.result.summary["sides"]["internal"]["records"] == 1
    assert outcome.result.summary["sides"]["external"]["records"] == 0


def test_a_failed_save_leaves_the_store_as_it_was(store, monkeypatch):
    books, bank = datasets(store)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(saving, "_save_proposed", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        reconcile_datasets(store, books, bank, load_rules(), "")
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0
        assert session.scalar(select(func.count()).select_from(Break)) == 0
    assert not list((store.data_dir / "runs").glob("*")) if (store.data_dir / "runs").exists() else True


def test_a_run_whose_files_fail_halfway_leaves_no_folder_and_no_temporary(store, monkeypatch):
    books, bank = datasets(store)
    written = []
    copy = saving.copy_query

    def fails_on_the_second_file(con, query, target, options):
        if written:
            raise OSError(28, "No space left on device")
        copy(con, query, target, options)
        written.append(target)

    monkeypatch.setattr(saving, "copy_query", fails_on_the_second_file)
    with pytest.raises(OSError, match="No space left"):
        reconcile_datasets(store, books, bank, load_rules(), "")
    assert written and list((store.data_dir / "runs").iterdir()) == []
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 0


OCTOBER_BOOKS = b"""id,account,date,amount,currency,reference
c1,A,2026-10-30,-500.00,USD,CHQ-1001
d1,A,2026-10-02,75.00,USD,
"""
OCTOBER_BANK = b"""id,account,date,amount,currency,reference
x1,A,2026-10-02,75.00,USD,
x2,A,2026-10-31,-9.99,USD,FEE
"""
NOVEMBER_BOOKS = b"""id,account,date,amount,currency,reference
n1,A,2026-11-03,20.00,USD,
"""
NOVEMBER_BANK = b"""id,account,date,amount,currency,reference
y1,A,2026-11-04,-500.00,USD,1001
y2,A,2026-11-03,20.00,USD,
"""


def test_open_breaks_are_carried_into_the_next_run_and_clear_there(store):
    import datetime as dt

    october = [import_bytes(store, data, name)[0].dataset for data, name in ((OCTOBER_BOOKS, "oct-books.csv"), (OCTOBER_BANK, "oct-bank.csv"))]
    first = reconcile_datasets(store, *october, load_rules(), "")
    november = [import_bytes(store, data, name)[0].dataset for data, name in ((NOVEMBER_BOOKS, "nov-books.csv"), (NOVEMBER_BANK, "nov-bank.csv"))]
    second = reconcile_datasets(store, *november, load_rules(), "")
    with store.session() as session:
        old = {b.record_id: b.status for b in session.scalars(select(Break).where(Break.run_id == first.run.id))}
        assert old == {"c1": "matched", "x2": "carried"}, "the cheque cleared in November; the fee is still open"
        new = session.scalars(select(Break).where(Break.run_id == second.run.id)).all()
        assert [(b.record_id, b.first_seen_on, b.carried_from_id is not None) for b in new] == [("x2", dt.date(2026, 10, 31), True)]
        assert new[0].dataset_id == october[1].id
    items = {i["record_id"] for i in second.result.items.to_pylist()}
    assert {"c1", "y1", "n1", "y2"} <= items


def test_decisions_survive_a_rerun_of_the_same_files(store):
    from core.auth import create_user
    from core.review import reject_proposed, resolve_break

    analyst = create_user(store, "ana", "a-long-password", "analyst")
    books, bank = datasets(store)
    first = reconcile_datasets(store, books, bank, load_rules(), "")
    with store.session() as session:
        fee = session.scalar(select(Break).where(Break.record_id == "s4"))
        proposal = session.scalar(select(MatchGroup).where(MatchGroup.status == "proposed"))
    resolve_break(store, fee.id, fee.version, "bank_fee", "", analyst)
    reject_proposed(store, proposal.id, proposal.version, analyst, "different wire")
    second = reconcile_datasets(store, books, bank, load_rules(), "")
    with store.session() as session:
        rows = {b.record_id: (b.status, b.reason) for b in session.scalars(select(Break).where(Break.run_id == second.run.id))}
        assert "s4" not in rows, "a resolved break stays resolved"
        assert rows["b3"] == ("open", "rejected_proposal") and rows["s3"] == ("open", "rejected_proposal"), "a rejected proposal is not proposed again"
        assert session.scalar(select(func.count()).select_from(MatchGroup).where(MatchGroup.run_id == second.run.id)) == 0
    assert first.run.id != second.run.id


def test_a_rerun_is_refused_while_a_decision_on_its_accounts_waits_for_an_approver(store, monkeypatch):
    from core.auth import create_user
    from core.review import approve_proposed, decide_pending, resolve_break
    from core.runs.scope import RunRefused

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10.00")
    analyst = create_user(store, "ana", "a-long-password", "analyst")
    approver = create_user(store, "pat", "a-long-password", "approver")
    books, bank = datasets(store)
    first = reconcile_datasets(store, books, bank, load_rules(), "")
    with store.session() as session:
        fee = session.scalar(select(Break).where(Break.record_id == "s4"))
        proposal = session.scalar(select(MatchGroup).where(MatchGroup.status == "proposed"))
    match = approve_proposed(store, proposal.id, proposal.version, analyst)
    resolution = resolve_break(store, fee.id, fee.version, "bank_fee", "", analyst)
    assert (match.status, resolution.status) == ("pending", "pending")
    decisions = sorted((match.decision_id, resolution.decision_id))
    for accounts in (None, ["A"], ["A", "B"]):
        with pytest.raises(RunRefused) as refused:
            reconcile_datasets(store, books, bank, load_rules(), "", accounts=accounts)
        assert str(refused.value) == (f"2 decisions wait for an approver on A (decisions {decisions[0]}, {decisions[1]}): "
                                      "decide them before re-running")
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 1, "nothing of a refused run is saved"
    reconcile_datasets(store, books, bank, load_rules(), "", accounts=["B"])  # another account is not held
    decide_pending(store, match.decision_id, True, approver)
    decide_pending(store, resolution.decision_id, False, approver, "show the advice")
    third = reconcile_datasets(store, books, bank, load_rules(), "", accounts=["A"])
    with store.session() as session:
        rows = {b.record_id: b.status for b in session.scalars(select(Break).where(Break.run_id == third.run.id))}
        assert rows.get("s4") == "open", "the refused resolution's break is open in the new run"
        assert session.scalar(select(func.count()).select_from(MatchGroup).where(MatchGroup.run_id == third.run.id)) == 0, \
            "the approved match is not proposed again"
        assert session.scalar(select(MatchGroup.status).where(MatchGroup.id == proposal.id)) == "confirmed"
    assert first.run.id < third.run.id


def test_a_carried_break_cleared_by_a_later_run_is_in_history_once_as_matched(store):
    from core.views import history_page

    october = [import_bytes(store, data, name)[0].dataset
               for data, name in ((OCTOBER_BOOKS, "oct-books.csv"), (OCTOBER_BANK, "oct-bank.csv"))]
    reconcile_datasets(store, *october, load_rules(), "")
    november = [import_bytes(store, data, name)[0].dataset
                for data, name in ((NOVEMBER_BOOKS, "nov-books.csv"), (NOVEMBER_BANK, "nov-bank.csv"))]
    second = reconcile_datasets(store, *november, load_rules(), "")
    cheque = history_page(store, search="c1").frame
    assert [(r.record_id, r.cleared_as, r.run_id) for r in cheque.itertuples()] == [("c1", "matched", second.run.id)]
