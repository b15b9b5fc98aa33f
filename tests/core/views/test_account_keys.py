"""The read models group and filter accounts by key and show the text as written."""

import datetime as dt

from core.accounts import add_alias
from core.auth import create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.runs.reconcile import reconcile_datasets
from core.views import (BreakFilters, account_choices, breaks_stamp, dataset_accounts, filter_breaks, history_page, load_breaks,
                        run_account_summary, workbench_overview)

BOOKS = b"""id,account,date,amount,currency,reference
b1,4471-0092-18,2026-10-01,100.00,USD,INV-1
b2,4471-0092-18,2026-10-02,-20.00,USD,NOPE
b3,4471-0092-18,2026-10-03,-30.00,USD,NEVER
b4,LEDGER-12,2026-10-03,-7.00,USD,ALSO
"""
BANK = b"""id,account,date,amount,currency,reference
s1,4471009218,2026-10-01,100.00,USD,INV-1
s2,4471009218,2026-10-09,55.00,USD,OTHER
"""


def run_once(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    return books.dataset, bank.dataset, reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run


def test_breaks_carry_their_key_and_one_filter_choice_covers_both_spellings(store):
    _, _, run = run_once(store)
    frame = load_breaks(store, run.id, today=dt.date(2026, 10, 31))
    assert dict(zip(frame["record_id"], frame["account"])) == {"b2": "4471-0092-18", "b3": "4471-0092-18", "b4": "LEDGER-12",
                                                               "s2": "4471009218"}
    assert account_choices(frame) == {"4471009218": "4471-0092-18", "LEDGER12": "LEDGER-12"}
    assert sorted(filter_breaks(frame, BreakFilters(accounts=("4471009218",)))["record_id"]) == ["b2", "b3", "s2"]
    assert sorted(filter_breaks(frame, BreakFilters(accounts=("4471-0092-18",)))["record_id"]) == ["b2", "b3", "s2"]


def test_an_alias_change_refreshes_the_breaks_stamp_and_their_keys(store):
    _, _, run = run_once(store)
    before = breaks_stamp(store, run.id)
    add_alias(store, "LEDGER-12", "4471009218", actor=create_user(store, "pat", "a long enough password", "approver"))
    assert breaks_stamp(store, run.id) != before
    frame = load_breaks(store, run.id)
    assert set(frame["account_key"]) == {"4471009218"}
    assert sorted(filter_breaks(frame, BreakFilters(accounts=("4471009218",)))["record_id"]) == ["b2", "b3", "b4", "s2"]


def test_a_datasets_accounts_are_listed_as_key_and_label(store):
    books, bank, _ = run_once(store)
    assert dataset_accounts(store, books) == {"4471009218": "4471-0092-18", "LEDGER12": "LEDGER-12"}
    assert dataset_accounts(store, bank) == {"4471009218": "4471009218"}


def test_a_runs_figures_overview_and_history_go_by_key(store):
    _, _, run = run_once(store)
    summary = run_account_summary(store, run.id)
    one = summary[summary["account_key"] == "4471009218"]
    assert set(one["account"]) == {"4471-0092-18"}, "both spellings in one row per side, shown by the commoner"
    assert dict(zip(one["side"], zip(one["matched"], one["open"]))) == {"internal": (1, 2), "external": (1, 1)}
    overview = workbench_overview(store, today=dt.date(2026, 10, 31))
    assert [(a.account_key, a.account, a.internal_open, a.external_open) for a in overview.open_breaks] == [
        ("4471009218", "4471-0092-18", 2, 1), ("LEDGER12", "LEDGER-12", 1, 0)]
    assert sorted(history_page(store, "4471 0092 18").frame["record_id"]) == ["b1", "s1"]
    assert history_page(store, "LEDGER-12").total == 0
