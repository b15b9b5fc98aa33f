"""Runs compare accounts by key: one account written two ways matches, carries forward and waits
for decisions as one account; an alias joins two numbers; the text as imported is kept."""

import pytest
from sqlalchemy import select

from core.accounts import add_alias
from core.auth import create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.runs.reconcile import reconcile_datasets
from core.store.models import Break

BOOKS = b"""id,account,date,amount,currency,reference
b1,DE89 3704 0044 0532 0130 00,2026-10-01,100.00,EUR,INV-1
b2,DE89 3704 0044 0532 0130 00,2026-10-02,-250.10,EUR,PAY-7
b3,4471-0092-18,2026-10-03,-40.00,USD,CHQ-9
"""
BANK = b"""id,account,date,amount,currency,reference
s1,DE89370400440532013000,2026-10-01,100.00,EUR,INV-1
s2,DE89370400440532013000,2026-10-02,-250.10,EUR,PAY-7
s3,4471009218-USD,2026-10-03,-40.00,USD,CHQ-9
"""
OCTOBER_BOOKS = b"""id,account,date,amount,currency,reference
c1,4471-0092-18,2026-10-30,-500.00,USD,CHQ-1001
"""
OCTOBER_BANK = b"""id,account,date,amount,currency,reference
o1,4471009218,2026-10-02,12.00,USD,INT
"""
NOVEMBER_BOOKS = b"""id,account,date,amount,currency,reference
n1,4471009218,2026-11-03,75.00,USD,DEP-4
"""
NOVEMBER_BANK = b"""id,account,date,amount,currency,reference
m1,4471009218 USD,2026-11-02,-500.00,USD,CHQ-1001
m2,4471009218 USD,2026-11-03,75.00,USD,DEP-4
"""
PASSWORD = "a long enough password"


def imported(store, *files):
    return [import_bytes(store, data, name)[0].dataset for data, name in files]


def test_books_and_statement_writing_one_account_differently_match_and_keep_their_text(store):
    books, bank = imported(store, (BOOKS, "books.csv"), (BANK, "bank.csv"))
    outcome = reconcile_datasets(store, books, bank, load_rules(), "")
    assert outcome.result.breaks.num_rows == 0
    items = {(i["record_id"], i["account"]) for i in outcome.result.items.to_pylist()}
    assert ("b1", "DE89 3704 0044 0532 0130 00") in items and ("s1", "DE89370400440532013000") in items
    assert ("s3", "4471009218-USD") in items and ("b3", "4471-0092-18") in items


def test_a_run_over_one_spelling_takes_in_every_spelling_of_the_account(store):
    books, bank = imported(store, (BOOKS, "books.csv"), (BANK, "bank.csv"))
    outcome = reconcile_datasets(store, books, bank, load_rules(), "", accounts=["4471009218"])
    assert (outcome.result.summary["sides"]["internal"]["records"], outcome.result.summary["sides"]["external"]["records"]) == (1, 1)
    assert outcome.result.breaks.num_rows == 0


def test_an_open_break_is_carried_forward_by_key_and_clears_under_another_spelling(store):
    reconcile_datasets(store, *imported(store, (OCTOBER_BOOKS, "oct-books.csv"), (OCTOBER_BANK, "oct-bank.csv")), load_rules(), "")
    november = imported(store, (NOVEMBER_BOOKS, "nov-books.csv"), (NOVEMBER_BANK, "nov-bank.csv"))
    second = reconcile_datasets(store, *november, load_rules(), "", accounts=["4471009218"])
    matched = {i["record_id"]: i["account"] for i in second.result.items.to_pylist()}
    assert matched["c1"] == "4471-0092-18" and matched["m1"] == "4471009218 USD"
    with store.session() as session:
        assert session.scalar(select(Break.status).where(Break.record_id == "c1")) == "matched"
        still_open = session.scalars(select(Break).where(Break.run_id == second.run.id)).all()
        assert [(b.record_id, b.account, b.carried_from_id is not None) for b in still_open] == [("o1", "4471009218", True)]


def test_an_alias_joins_two_numbers_of_one_account(store):
    approver = create_user(store, "pat", PASSWORD, "approver")
    books = b"id,account,date,amount,currency,reference\nb1,LEDGER-12,2026-10-01,10.00,USD,X-1\n"
    bank = b"id,account,date,amount,currency,reference\ns1,4471009218,2026-10-01,10.00,USD,X-1\n"
    datasets = imported(store, (books, "books.csv"), (bank, "bank.csv"))
    assert reconcile_datasets(store, *datasets, load_rules(), "").result.breaks.num_rows == 2
    add_alias(store, "ledger 12", "4471-0092-18", actor=approver)
    again = reconcile_datasets(store, *datasets, load_rules(), "")
    assert again.result.breaks.num_rows == 0
    assert {(i["record_id"], i["account"]) for i in again.result.items.to_pylist()} == {("b1", "LEDGER-12"), ("s1", "4471009218")}


def test_a_decision_waiting_on_one_spelling_holds_a_run_named_by_another(store, monkeypatch):
    from core.review import resolve_break
    from core.runs.scope import RunRefused

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10.00")
    analyst = create_user(store, "ana", PASSWORD, "analyst")
    datasets = imported(store, (OCTOBER_BOOKS, "oct-books.csv"), (OCTOBER_BANK, "oct-bank.csv"))
    reconcile_datasets(store, *datasets, load_rules(), "")
    with store.session() as session:
        cheque = session.scalar(select(Break).where(Break.record_id == "c1"))
    assert resolve_break(store, cheque.id, cheque.version, "timing", "", analyst).status == "pending"
    with pytest.raises(RunRefused, match="on 4471-0092-18"):
        reconcile_datasets(store, *datasets, load_rules(), "", accounts=["4471009218 USD"])


def test_the_command_lines_files_match_by_key_and_apply_the_aliases(store, tmp_path):
    from core.runs.reconcile import reconcile_files

    approver = create_user(store, "pat", PASSWORD, "approver")
    imported(store, (BANK, "bank.csv"))
    add_alias(store, "LEDGER-12", "4471009218", actor=approver)
    books, bank = tmp_path / "books.csv", tmp_path / "bank.csv"
    books.write_bytes(BOOKS + b"b4,LEDGER-12,2026-10-04,8.00,USD,L-1\n")
    bank.write_bytes(BANK + b"s4,4471009218,2026-10-04,8.00,USD,L-1\n")
    outcome, problems = reconcile_files(store, books, bank, load_rules(), "", out=tmp_path / "out")
    assert problems == [] and outcome.result.breaks.num_rows == 0
    import csv

    with open(tmp_path / "out" / "matches.csv", newline="") as handle:
        group_of = {row["record_id"]: row["match_id"] for row in csv.DictReader(handle)}
    assert group_of["b4"] == group_of["s4"] and group_of["b1"] == group_of["s1"]
