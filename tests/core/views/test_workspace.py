"""The matching workspace on SQLite and PostgreSQL: each side filtered, sorted and paged, its
totals, candidates ranked and explained, the selection's net and the match made from it."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.auth import create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import ConflictError, ReviewError, reject_proposed
from core.runs.reconcile import reconcile_datasets
from core.store.models import Break, MatchGroup
from core.views import workspace
from core.views.format import format_money
from core.views.workspace import (SideFilters, candidate_window_days, candidates_for, load_open_items, mark_candidates,
                                  match_selection, selection_net, side_accounts, side_page, totals_frame)

# Nothing here pairs under the default rules but b5 and s6 (a fee deducted: proposed, then
# rejected by the fixture, so both are open again).
BOOKS = b"""id,account,date,amount,currency,reference,description
b1,ACC-1,2026-10-01,1000.00,USD,INV-7001,Receipt Fabrikam
b2,ACC-1,2026-10-06,-250.00,USD,CHQ-1,Cheque one
b3,ACC 1,2026-10-08,500.00,USD,INV-7002,Receipt Contoso
b4,ACC-2,2026-10-02,300.00,EUR,INV-8001,Receipt Euro
b5,ACC-1,2026-10-13,5000.00,USD,INV-9100,Receipt Northwind
"""
BANK = b"""id,account,date,amount,currency,reference,description
s1,ACC-1,2026-10-02,900.00,USD,inv 7001,FABRIKAM PART
s2,ACC-1,2026-10-03,1040.00,USD,,WIRE IN
s3,ACC-1,2026-12-21,1000.00,USD,,LATE WIRE
s4,ACC-2,2026-10-02,310.00,EUR,INV-8001,EURO RECEIPT
s5,ACC-1,2026-10-01,1000.01,GBP,,STERLING
s6,ACC-1,2026-10-14,4985.00,USD,INV9100,NORTHWIND LESS FEE
"""


@pytest.fixture
def people(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))  # cheap: not what is tested here
    return create_user(store, "ana", "a-long-password", "analyst"), create_user(store, "ben", "a-long-password", "analyst")


@pytest.fixture
def run(store, people, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    made = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    with store.session() as session:
        fee = session.scalar(select(MatchGroup).where(MatchGroup.run_id == made.id, MatchGroup.status == "proposed"))
    reject_proposed(store, fee.id, fee.version, people[0], "look again")
    return made


def ids_of(store, run_id) -> dict[str, int]:
    with store.session() as session:
        return {b.record_id: b.id for b in session.scalars(select(Break).where(Break.run_id == run_id))}


def records(store, run_id, frame) -> list[str]:
    names = {v: k for k, v in ids_of(store, run_id).items()}
    return [names[i] for i in frame["id"]]


def test_each_side_is_filtered_on_its_own_and_sorted(store, run):
    items = load_open_items(store, run.id)
    assert records(store, run.id, side_page(items, "internal").rows) == ["b1", "b4", "b2", "b3", "b5"]
    assert records(store, run.id, side_page(items, "external").rows) == ["s5", "s1", "s4", "s2", "s6", "s3"]
    assert side_accounts(items, "internal") == {"ACC1": "ACC-1", "ACC2": "ACC-2"}
    # The account goes by key: "ACC 1" is ACC-1 written another way.
    assert records(store, run.id, side_page(items, "internal", SideFilters(account="ACC1")).rows) == ["b1", "b2", "b3", "b5"]
    window = SideFilters(date_from=dt.date(2026, 10, 2), date_to=dt.date(2026, 10, 8))
    assert records(store, run.id, side_page(items, "internal", window).rows) == ["b4", "b2", "b3"]
    assert records(store, run.id, side_page(items, "internal", SideFilters(amount_min=Decimal("250"), amount_max=Decimal("500"))).rows) \
        == ["b4", "b2", "b3"]
    assert records(store, run.id, side_page(items, "external", SideFilters(text="WIRE")).rows) == ["s2", "s3"]
    assert records(store, run.id, side_page(items, "external", SideFilters(text="7001")).rows) == ["s1"]
    assert records(store, run.id, side_page(items, "external", sort="amount", descending=True).rows) == ["s6", "s2", "s5", "s3", "s1", "s4"]
    shown = side_page(items, "internal", SideFilters(text="cheque")).rows
    assert shown[["amount", "amount_shown", "currency"]].values.tolist() == [[Decimal("-250.00"), "-250.00", "USD"]]


def test_a_side_is_paged_and_its_totals_cover_every_filtered_item(store, run, monkeypatch):
    monkeypatch.setattr(workspace, "PAGE_SIZE", 2)
    items = load_open_items(store, run.id)
    first, last = side_page(items, "internal", page=1), side_page(items, "internal", page=9)
    assert (first.total, first.pages, first.first, first.last, len(first.rows)) == (5, 3, 1, 2, 2)
    assert (last.page, last.first, last.last, records(store, run.id, last.rows)) == (3, 5, 5, ["b5"])
    assert first.totals == last.totals == (
        workspace.CurrencyTotals("EUR", 1, Decimal("300.00"), Decimal("0.00"), Decimal("300.00")),
        workspace.CurrencyTotals("USD", 4, Decimal("6500.00"), Decimal("-250.00"), Decimal("6250.00")))
    assert totals_frame(first.totals).values.tolist() == [["EUR", "1", "300.00", "0.00", "300.00"],
                                                          ["USD", "4", "6,500.00", "-250.00", "6,250.00"]]
    narrowed = side_page(items, "internal", SideFilters(account="ACC1", amount_max=Decimal("1000")))
    assert narrowed.totals == (workspace.CurrencyTotals("USD", 3, Decimal("1500.00"), Decimal("-250.00"), Decimal("1250.00")),)
    nothing = side_page(items, "internal", SideFilters(text="no such text"))
    assert (nothing.total, nothing.pages, nothing.first, nothing.last, nothing.totals, len(nothing.rows)) == (0, 1, 0, 0, (), 0)


def test_candidates_are_ranked_as_the_engine_ranks_them_and_explained(store, run):
    items = load_open_items(store, run.id)
    ids = ids_of(store, run.id)
    found = candidates_for(items, ids["b1"])
    # s2 is nearer in amount (40.00) than s1 (100.00) though s1 has the reference; s3 is outside
    # the run's widest window and s5 in another currency.
    assert records(store, run.id, found) == ["s2", "s1"]
    assert found["rank"].tolist() == [1, 2]
    assert found["difference"].tolist() == [Decimal("40.00"), Decimal("-100.00")]
    assert found["reference_agreement"].tolist() == ["no reference to compare", "same reference once normalised"]
    assert found["explanation"].iloc[1] == ("statement less by USD 100.00 · same reference once normalised · statement 1 day later · "
                                            "meets no one-to-one pass of the run's rules")
    assert candidate_window_days(items.rules) == 10
    # From the statement side too: the books' records of its account and currency.
    assert records(store, run.id, candidates_for(items, ids["s4"])) == ["b4"]
    marked = mark_candidates(side_page(items, "external").rows, found)
    assert dict(zip(records(store, run.id, marked), marked["candidate"])) == {"s5": "", "s1": "#2", "s4": "", "s2": "#1", "s6": "",
                                                                             "s3": ""}
    assert candidates_for(items, 10**9).empty


def test_a_candidate_the_engine_would_only_propose_names_the_pass_it_meets(store, run):
    items = load_open_items(store, run.id)
    ids = ids_of(store, run.id)
    best = candidates_for(items, ids["b5"]).iloc[0]
    assert (best["id"], best["fits_pass"], best["difference"]) == (ids["s6"], "fee_deducted", Decimal("-15.00"))
    assert best["explanation"].endswith("meets pass fee_deducted (proposed)")


def test_the_selection_nets_statement_less_books_and_a_mixed_currency_one_is_refused_in_words(store, run):
    ids = ids_of(store, run.id)
    net = selection_net(store, {ids["b1"]: 1, ids["s1"]: 1, ids["s2"]: 1})
    assert (net.books, net.statement, net.currency, net.books_total, net.statement_total, net.net, net.nets_to_zero, net.refusal) == (
        1, 2, "USD", Decimal("1000.00"), Decimal("1940.00"), Decimal("940.00"), False, "")
    mixed = selection_net(store, {ids["b1"]: 1, ids["s5"]: 1})
    assert mixed.net is None and mixed.refusal.startswith("The selection mixes GBP and USD: it has no one net difference")
    with pytest.raises(ReviewError, match="mixes GBP and USD"):
        match_selection(store, {ids["b1"]: 1, ids["s5"]: 1}, create_user(store, "cy", "a-long-password", "analyst"))
    assert selection_net(store, {ids["b1"]: 1}).refusal == "Pick at least two records to match."
    assert "on 2 accounts" in selection_net(store, {ids["b1"]: 1, ids["b3"]: 1}).refusal


def test_matching_a_selection_goes_through_manual_match_and_a_stale_version_is_refused(store, run, people):
    ana, ben = people
    ids = ids_of(store, run.id)
    with pytest.raises(ReviewError, match="differ by USD 40.00; give a reason code"):
        match_selection(store, {ids["b1"]: 1, ids["s2"]: 1}, ana)
    # Someone else changes s2 after ana picked it: her selection is refused, named.
    outcome = match_selection(store, {ids["b2"]: 1, ids["s2"]: 1}, ben, "other", "not what it seems")
    assert outcome.status == "applied"
    stale = selection_net(store, {ids["b1"]: 1, ids["s2"]: 1})
    assert stale.refusal == f"Record {ids['s2']} was changed by ben since you picked it (it is matched now); pick again."
    with pytest.raises(ReviewError, match="changed by ben"):
        match_selection(store, {ids["b1"]: 1, ids["s2"]: 1}, ana, "timing")
    # A version that is stale by the time the match writes is refused by the match itself.
    with pytest.raises(ConflictError):
        workspace.manual_match(store, [ids["b1"], ids["s1"]], {ids["b1"]: 0, ids["s1"]: 1}, ana, reason_code="timing")
    assert match_selection(store, {ids["b1"]: 1, ids["s1"]: 1}, ana, "timing").status == "applied"
    items = load_open_items(store, run.id)
    assert records(store, run.id, side_page(items, "internal").rows) == ["b4", "b3", "b5"]
    assert side_page(items, "external").totals[-1] == workspace.CurrencyTotals("USD", 2, Decimal("5985.00"), Decimal("0.00"),
                                                                                Decimal("5985.00"))


def test_a_selection_that_nets_to_zero_matches_without_a_reason(store, people, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "10000.00")
    books, _ = import_bytes(store, b"id,account,date,amount,currency,reference\nb1,A,2026-10-01,70.00,USD,X\n", "books.csv")
    bank, _ = import_bytes(store, b"id,account,date,amount,currency,reference\ns1,A,2026-10-30,30.00,USD,\ns2,A,2026-10-30,40.00,USD,\n",
                           "bank.csv")
    made = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    ids = ids_of(store, made.id)
    chosen = {ids["b1"]: 1, ids["s1"]: 1, ids["s2"]: 1}
    assert selection_net(store, chosen).nets_to_zero
    assert match_selection(store, chosen, people[0]).status == "applied"
    assert load_open_items(store, made.id).query("SELECT count(*) FROM items").fetchone() == (0,)


def test_amounts_are_shown_with_thousands_separators_in_their_currency_places():
    assert format_money(Decimal("1234567.5"), "USD") == "1,234,567.50"
    assert format_money(Decimal("1234567"), "JPY") == "1,234,567"
    assert format_money(Decimal("-1234.5"), "KWD") == "-1,234.500"
    assert format_money(Decimal("0.125"), "EUR") == "0.125"


def test_a_run_with_nothing_open_shows_empty_sides(store, people, monkeypatch):
    books, _ = import_bytes(store, b"id,account,date,amount,currency,reference\nb1,A,2026-10-01,70.00,USD,X\n", "books.csv")
    bank, _ = import_bytes(store, b"id,account,date,amount,currency,reference\ns1,A,2026-10-01,70.00,USD,X\n", "bank.csv")
    items = load_open_items(store, reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run.id)
    empty = side_page(items, "internal", SideFilters(text="x"))
    assert (empty.total, empty.totals, list(empty.rows.columns)) == (
        0, (), ["id", "version", "account", "date", "amount", "currency", "amount_shown", "reference", "description", "reason"])
    assert side_accounts(items, "external") == {} and totals_frame(empty.totals).empty
