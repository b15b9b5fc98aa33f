"""The demo month: deterministic files, every source imports through its profile, real breaks."""

import hashlib
from decimal import Decimal

from core.demo import DEMO_ACCOUNTS, demo_files, seed_demo
from core.ingest.datasets import list_datasets, load_dataset_table


def digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p, _ in demo_files(folder)}


def test_demo_files_are_byte_identical_every_time(tmp_path):
    assert digests(tmp_path / "a") == digests(tmp_path / "b")


def test_demo_seeds_books_and_a_statement_per_account_in_different_layouts(store):
    seed_demo(store)
    datasets = {d.name: d for d in list_datasets(store)}
    assert len(datasets) == 1 + len(DEMO_ACCOUNTS)
    assert {d.format for d in datasets.values()} == {"csv", "xlsx"}
    books = load_dataset_table(store, datasets["general_ledger_cash_2026-10.csv"]).to_pylist()
    assert {r["account"] for r in books} == {a.account for a in DEMO_ACCOUNTS}
    for account in DEMO_ACCOUNTS:
        statement = load_dataset_table(store, datasets[account.file_name]).to_pylist()
        assert {(r["account"], r["currency"]) for r in statement} == {(account.account, account.currency)}
        book_amounts = sorted(r["amount"] for r in books if r["account"] == account.account)
        bank_amounts = sorted(r["amount"] for r in statement)
        matched = set(book_amounts) & set(bank_amounts)
        assert len(matched) >= 30, "most items should agree"
        assert set(book_amounts) - set(bank_amounts), "books hold items the bank does not (breaks)"
        assert set(bank_amounts) - set(book_amounts), "the bank holds items the books do not (breaks)"
        assert all(isinstance(a, Decimal) for a in bank_amounts)


def test_seeding_twice_adds_nothing(store):
    seed_demo(store)
    before = [(d.id, d.row_count) for d in list_datasets(store)]
    summary = seed_demo(store)
    assert summary.count("already there") == len(before) + len(DEMO_ACCOUNTS) + 1
    assert [(d.id, d.row_count) for d in list_datasets(store)] == before


def test_demo_runs_leave_the_usual_breaks_open_per_account(store):
    from sqlalchemy import select

    from core.store.models import Break, MatchGroup, Run

    seed_demo(store)
    with store.session() as session:
        runs = session.scalars(select(Run)).all()
        assert len(runs) == len(DEMO_ACCOUNTS)
        for run in runs:
            breaks = session.scalars(select(Break).where(Break.run_id == run.id)).all()
            assert {b.account for b in breaks} == set(run.accounts)
            descriptions = " ".join(b.description for b in breaks).upper()
            assert "MAINTENANCE FEE" in descriptions and "INTEREST" in descriptions, "bank charges are not in the books"
            assert sum(b.reference.startswith("CHQ-") for b in breaks) == 2, "outstanding cheques"
            assert any(b.reason == "possible_duplicate" for b in breaks), "the line the bank booked twice"
        proposed = session.scalars(select(MatchGroup.rule)).all()
        assert "fee_deducted" in proposed
