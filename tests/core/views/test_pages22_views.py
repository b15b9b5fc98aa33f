"""Read models of the Datasets, Reconcile, Overview and Holdings pages, on SQLite and PostgreSQL."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.holdings import run_holdings
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules, parse_rules
from core.runs.reconcile import reconcile_datasets
from core.runs.scope import RunRefused
from core.store.models import AuditEntry
from core.ingest.retirement import DatasetRetireError, retire_dataset
from core.views.datasets import (accounts_missing_from_books, dataset_catalogue, dataset_csv, dataset_preview, datasets_frame,
                                 reconcile_choices)
from core.views.holdings import format_units, formatted_units, holdings_runs, reopen_holdings_run, unit_differences, units_places
from core.views.reconcile import pass_figures, pass_summary, rules_summary, run_summary_text
from core.views.trends import account_trends

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-03,-250.50,USD,
b3,B,2026-10-20,7.25,EUR,
b4,A,2026-10-05,40.00,USD,
b5,A,2026-10-12,999.99,USD,LOST-1
"""
BANK_A = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s2,A,2026-10-04,-250.50,USD,
s3,A,2026-10-07,39.50,USD,
"""
BANK_C = b"""id,account,date,amount,currency,reference
c1,C,2026-10-02,5.00,USD,
"""


def imported(store, data, name):
    outcome, errors = import_bytes(store, data, name)
    assert not errors, errors
    return outcome.dataset


def test_datasets_are_listed_by_role_with_their_runs_and_previewed_and_downloaded_exactly(store):
    books = imported(store, BOOKS, "books.csv")
    bank = imported(store, BANK_A, "bank_a.csv")
    run = reconcile_datasets(store, books, bank, load_rules(), "").run
    entries = {e.dataset.name: e for e in dataset_catalogue(store)}
    assert (entries["books.csv"].role, entries["bank_a.csv"].role) == ("books", "statement")
    assert entries["books.csv"].runs == [run.id] and entries["bank_a.csv"].runs == [run.id]
    assert sorted(entries["books.csv"].accounts.values()) == ["A", "B"]
    frame = datasets_frame(list(entries.values()))
    assert set(frame["Role"]) == {"books", "statement"} and set(frame["Runs"]) == {str(run.id)}
    preview = dataset_preview(store, books.id, 2)
    assert preview["amount"].tolist() == [Decimal("100.00"), Decimal("-250.50")]
    rows = list(csv.DictReader(io.StringIO(dataset_csv(store, books.id).decode("utf-8-sig"))))
    assert [r["amount"] for r in rows] == ["100.00", "-250.50", "7.25", "40.00", "999.99"]


def test_a_dataset_a_run_read_is_refused_retirement_in_words_and_an_unused_one_is_retired_audited_and_no_longer_offered(store):
    books = imported(store, BOOKS, "books.csv")
    bank = imported(store, BANK_A, "bank_a.csv")
    spare = imported(store, BANK_C, "bank_c.csv")
    run = reconcile_datasets(store, books, bank, load_rules(), "").run
    with pytest.raises(DatasetRetireError, match=f"bank_a.csv cannot be retired: run {run.id} reads it"):
        retire_dataset(store, bank.id, "ana")
    assert spare.id in {e.dataset.id for e in reconcile_choices(store).statements}
    retire_dataset(store, spare.id, "ana", "sent twice")
    with pytest.raises(DatasetRetireError, match="retired already, by ana"):
        retire_dataset(store, spare.id, "ana")
    choices = reconcile_choices(store)
    assert spare.id not in {e.dataset.id for e in choices.books + choices.statements}
    assert [e.retired_by for e in dataset_catalogue(store) if e.dataset.id == spare.id] == ["ana"]
    with store.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "retire_dataset")).one()
    assert (entry.actor, entry.entity_id, entry.after["reason"]) == ("ana", spare.id, "sent twice")
    with pytest.raises(RunRefused, match="bank_c.csv was retired by ana on .*: runs no longer read it"):
        reconcile_datasets(store, books, spare, load_rules(), "")


def test_the_statement_offered_first_holds_only_accounts_of_the_books_and_the_others_are_named(store):
    books = imported(store, BOOKS, "books.csv")
    fitting = imported(store, BANK_A, "bank_a.csv")
    imported(store, BANK_C, "bank_c.csv")  # newest, but its account C is not in the books
    choices = reconcile_choices(store)
    assert (choices.books_guess, choices.statement_guess) == (books.id, fitting.id)
    entries = {e.dataset.name: e for e in choices.books + choices.statements}
    assert accounts_missing_from_books(entries["books.csv"], entries["bank_c.csv"]) == ["C"]
    assert accounts_missing_from_books(entries["books.csv"], entries["bank_a.csv"]) == []


def test_passes_read_as_sentences_and_a_run_summary_in_words_with_figures_in_the_rules_order(store):
    rules = parse_rules('[[passes]]\nname = "fees"\nreference = "digits"\namount_tolerance = "5.00"\namount_tolerance_pct = "1.5"\n'
                        'amount_difference = "external_less"\ndate_window = 3\nbusiness_days = true\nstatus = "proposed"\n'
                        '[[passes]]\nname = "batch"\ncardinality = "n:1"\nmax_group_size = 4\n', "mine.toml")
    fees, batch = rules.passes
    assert pass_summary(fees) == ("fees: pairs one books record with one statement record; same account and currency; the digits of the "
                                  "references equal; amounts within 5.00 and 1.5%, the statement's amount the smaller (a fee deducted); "
                                  "dates within 3 business days; matches are proposed for a person to review.")
    assert "several books records with one statement record (at most 4 per group)" in pass_summary(batch)
    assert [line[:9] for line in rules_summary(rules)] == ["1. fees: ", "2. batch:"]

    books = imported(store, BOOKS, "books.csv")
    bank = imported(store, BANK_A, "bank_a.csv")
    summary = reconcile_datasets(store, books, bank, load_rules(), "", accounts=["A"]).result.summary
    order = [p.name for p in load_rules().passes]
    figures = pass_figures(summary, order)
    assert figures["pass"].tolist() == order
    assert figures["amount"].sum() == sum(Decimal(f["internal_amount"]) for f in summary["passes"].values())
    text = run_summary_text(summary)
    books_side, bank_side = summary["sides"]["internal"], summary["sides"]["external"]
    assert text.startswith(f"Read {books_side['records']} books records and {bank_side['records']} statement records. "
                           f"{summary['groups']['confirmed']} groups were matched and {summary['groups']['proposed']} proposed")
    assert books_side["open"] == 1 and text.endswith(f"1 books record (999.99) and {bank_side['open']} statement records (0.00) "
                                                     "stay open as breaks.")


def test_trends_count_open_breaks_and_money_per_run_and_a_proposal_is_not_a_match(store):
    books = imported(store, BOOKS, "books.csv")
    bank = imported(store, BANK_A, "bank_a.csv")
    first = reconcile_datasets(store, books, bank, load_rules(), "", accounts=["A"])
    trends = account_trends(store)
    row = trends[trends["account"] == "A"].iloc[0]
    proposed_records = sum(f["internal_records"] + f["external_records"] for f in first.result.summary["passes"].values()
                           if f["proposed"] and not f["confirmed"])
    sides = first.result.summary["sides"]
    assert proposed_records > 0, "the fixture must hold a proposal (b4 against s3: a fee of 0.50)"
    assert row["records"] == sides["internal"]["records"] + sides["external"]["records"]
    assert row["matched_records"] == sides["internal"]["matched"] + sides["external"]["matched"] - proposed_records
    assert row["match_rate"] == pytest.approx(row["matched_records"] / row["records"])
    assert row["open_breaks"] == sides["internal"]["open"] + sides["external"]["open"]
    # A second run of the same account is a second point; the trend is oldest first.
    reconcile_datasets(store, books, bank, parse_rules('[[passes]]\nname = "none"\nreference = "exact"\n', "strict.toml"), "",
                       accounts=["A"])
    points = account_trends(store)
    points = points[points["account"] == "A"]
    assert points["run"].tolist() == sorted(points["run"].tolist()) and len(points) == 2
    later = points.iloc[1]
    assert later["open_amount"] > row["open_amount"] and later["match_rate"] < row["match_rate"]


def test_units_keep_the_datas_scale_and_past_holdings_runs_reopen_exactly(store, tmp_path):
    from tests.core.holdings.test_holdings import BOOKS as HOLDINGS_BOOKS, cams_transactions, kfintech_holdings

    assert format_units(Decimal("1234.5"), 3) == "1,234.500" and format_units(Decimal("-0.25"), 4) == "-0.2500"
    assert units_places([Decimal("1.5"), Decimal("2.125"), Decimal("3")]) == 3
    outcome = run_holdings(store, ("books.csv", HOLDINGS_BOOKS.encode()),
                           [("WBR2.dbf", cams_transactions(tmp_path).read_bytes()),
                            ("MFSD203.dbf", kfintech_holdings(tmp_path).read_bytes())],
                           dt.date(2026, 10, 31), user="ana")
    [kept] = holdings_runs(store)
    assert (kept.id, kept.created_by, kept.summary) == (outcome.run.id, "ana", {"matched": 3, "mismatched": 1, "registrar_only": 2,
                                                                                 "internal_only": 1})
    frame = reopen_holdings_run(store, kept.id)
    assert sorted(zip(frame["folio"], frame["product"], frame["difference"])) == sorted(
        (r.folio, r.product, r.difference) for r in outcome.rows)
    differences = unit_differences(frame)
    assert len(differences) == 4 and "matched" not in set(differences["status"])
    assert sorted(differences["difference"]) == sorted(float(r.difference) for r in outcome.rows if r.status != "matched")
    shown = formatted_units(frame)
    assert len({len(v.rsplit(".", 1)[1]) for column in ("internal_units", "registrar_units", "difference") for v in shown[column]}) == 1
    with pytest.raises(KeyError, match="no holdings run 999"):
        reopen_holdings_run(store, 999)
