"""The tables the pages show, on SQLite and PostgreSQL: breaks with age, filters, aging, history."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import pyarrow as pa

from core.auth import create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import manual_match, resolve_break
from core.runs.reconcile import reconcile_datasets
from core.views import (BreakFilters, aging_summary, audit_frame, confirmed_groups, filter_breaks, filter_proposals, history_page,
                        load_breaks, money_per_currency, picked_records, proposed_frame, reconcile_selection, run_account_summary)

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-06-01,-2500.50,USD,
b3,B,2026-10-20,7.25,EUR,
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s2,B,2026-09-01,-0.10,EUR,FEE
"""


def test_breaks_with_age_filters_and_aging(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    frame = load_breaks(store, run.id, today=dt.date(2026, 10, 31))
    assert [(r.record_id, r.amount, r.age_days, r.age_bucket) for r in frame.itertuples()] == [
        ("b2", Decimal("-2500.50"), 152, "90+"), ("s2", Decimal("-0.10"), 60, "31-90"), ("b3", Decimal("7.25"), 11, "8-30")]
    assert all(isinstance(d, dt.date) for d in frame["date"])
    assert filter_breaks(frame, BreakFilters(accounts=("B",), amount_min=Decimal("1"))).record_id.tolist() == ["b3"]
    assert filter_breaks(frame, BreakFilters(amount_max=Decimal("0.10"))).record_id.tolist() == ["s2"]
    assert filter_breaks(frame, BreakFilters(age_buckets=("90+",), sides=("internal",))).record_id.tolist() == ["b2"]
    aging = aging_summary(frame)
    assert aging[(aging.age == "90+") & (aging.side == "internal")][["breaks", "amount"]].values.tolist() == [[1, Decimal("2500.50")]]
    history = history_page(store, "A").frame
    assert set(history["record_id"]) == {"b1", "s1"}
    assert {"import", "reconcile"} <= set(audit_frame(store)["action"])


def test_history_is_one_typed_frame_with_resolved_and_hand_matched_breaks_and_says_how_many(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    breaks = {r.record_id: r for r in load_breaks(store, run.id).itertuples()}
    analyst = create_user(store, "ana", "a-long-password-1", "analyst")
    resolve_break(store, breaks["b2"].id, breaks["b2"].version, "timing", "", analyst)
    manual_match(store, [breaks["b3"].id, breaks["s2"].id], {breaks["b3"].id: breaks["b3"].version, breaks["s2"].id: breaks["s2"].version},
                 analyst, reason_code="other", comment="pair")

    everything = history_page(store)
    assert everything.total == 5
    frame = everything.frame
    assert [(r.record_id, r.cleared_as, r.date, r.amount) for r in frame.itertuples()] == [
        ("b3", "matched by hand", dt.date(2026, 10, 20), Decimal("7.25")), ("s1", "matched", dt.date(2026, 10, 2), Decimal("100.00")),
        ("b1", "matched", dt.date(2026, 10, 1), Decimal("100.00")), ("s2", "matched by hand", dt.date(2026, 9, 1), Decimal("-0.10")),
        ("b2", "resolved", dt.date(2026, 6, 1), Decimal("-2500.50"))]
    assert all(type(d) is dt.date for d in frame["date"]) and all(isinstance(a, Decimal) for a in frame["amount"])
    assert pa.Table.from_pandas(frame).schema.field("date").type == pa.date32()

    second = history_page(store, offset=2, limit=2)
    assert (second.total, second.frame["record_id"].tolist()) == (5, ["b1", "s2"])
    assert history_page(store, "A", limit=1).total == 3
    decided = history_page(store, cleared_as=("resolved", "matched by hand"))
    assert (decided.total, decided.frame["record_id"].tolist()) == (3, ["b3", "s2", "b2"])
    assert history_page(store, cleared_as=("matched",)).frame["record_id"].tolist() == ["s1", "b1"]


def test_a_selection_is_read_against_the_grid_clicked_and_kept_by_id():
    clicked = [(11, 1), (12, 3), (13, 1)]
    assert picked_records(clicked, [1, 5]) == {12: 3}
    now = pd.DataFrame({"id": [13, 11], "version": [2, 1]})
    assert reconcile_selection({12: 3, 13: 1}, now) == ({13: 1}, [12])


def test_proposals_show_both_sides_and_follow_account_pass_and_size(store):
    from sqlalchemy import select

    from core.demo import seed_demo
    from core.store.models import Run

    seed_demo(store)
    with store.session() as session:
        run_id = next(r.id for r in session.scalars(select(Run)) if r.accounts == ["4471-0092-18"])
    proposals = proposed_frame(store, run_id)
    assert len(proposals) >= 2 and set(proposals["account"]) == {"4471-0092-18"} and set(proposals["currency"]) == {"USD"}
    for row in proposals.itertuples():
        assert row.books and row.statement and isinstance(row.books_amount, Decimal) and isinstance(row.statement_amount, Decimal)
        assert row.size == max(abs(row.books_amount), abs(row.statement_amount))
    assert filter_proposals(proposals, accounts=("CS-00192-CASH",)).empty
    assert len(filter_proposals(proposals, accounts=("4471-0092-18",))) == len(proposals)
    smallest = min(proposals["size"])
    assert smallest not in set(filter_proposals(proposals, amount_min=smallest + Decimal("0.01"))["size"])
    assert set(filter_proposals(proposals, rules=(proposals.iloc[0]["rule"],))["rule"]) == {proposals.iloc[0]["rule"]}
    assert money_per_currency(proposals, "size") == {"USD": sum(proposals["size"], Decimal(0))}


def test_confirmed_matches_carry_their_version_and_exact_amounts_and_follow_the_account_filter(store):
    from core.review import unmatch_group

    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    breaks = {r.record_id: r for r in load_breaks(store, run.id).itertuples()}
    analyst = create_user(store, "ana", "a-long-password-1", "analyst")
    manual_match(store, [breaks["b3"].id, breaks["s2"].id], {breaks["b3"].id: breaks["b3"].version, breaks["s2"].id: breaks["s2"].version},
                 analyst, reason_code="other", comment="pair")

    groups = confirmed_groups(store, run.id)
    assert [(g.account, g.records, g.amount_diff, g.version) for g in groups.itertuples()] == [
        ("A", "external s1 100.00 | internal b1 100.00", Decimal("0.00"), 1),
        ("B", "external s2 -0.10 | internal b3 7.25", Decimal("-7.35"), 1)]
    assert confirmed_groups(store, run.id, accounts=("B",))["account"].tolist() == ["B"]
    engine = groups.iloc[0]
    unmatch_group(store, run.id, int(engine["match_id"]), analyst, "wrong", version=int(engine["version"]))
    assert confirmed_groups(store, run.id)["account"].tolist() == ["B"]


def test_confirmed_matches_are_found_by_record_id_or_account_and_kept_to_the_limit(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    breaks = {r.record_id: r for r in load_breaks(store, run.id).itertuples()}
    analyst = create_user(store, "ana", "a-long-password-1", "analyst")
    manual_match(store, [breaks["b3"].id, breaks["s2"].id], {breaks["b3"].id: breaks["b3"].version, breaks["s2"].id: breaks["s2"].version},
                 analyst, reason_code="other", comment="pair")
    assert confirmed_groups(store, run.id, search="s2")["account"].tolist() == ["B"]
    assert confirmed_groups(store, run.id, search="b1")["account"].tolist() == ["A"]
    assert confirmed_groups(store, run.id, search="nothing like it").empty
    assert len(confirmed_groups(store, run.id, limit=1)) == 1


def test_run_account_summary_counts_matched_and_open_records_per_account_and_side_exactly(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    summary = run_account_summary(store, run.id)
    assert [(r.account, r.side, r.matched, r.open, r.matched_amount, r.open_amount) for r in summary.itertuples()] == [
        ("A", "external", 1, 0, Decimal("100.00"), Decimal("0")), ("A", "internal", 1, 1, Decimal("100.00"), Decimal("-2500.50")),
        ("B", "external", 0, 1, Decimal("0"), Decimal("-0.10")), ("B", "internal", 0, 1, Decimal("0"), Decimal("7.25"))]
    assert all(isinstance(a, Decimal) for a in [*summary["matched_amount"], *summary["open_amount"]])


def test_history_shows_only_what_is_cleared_now_not_proposed_or_rejected_matches(store):
    from sqlalchemy import select

    from core.review import approve_proposed, reject_proposed
    from core.store.models import MatchGroup, MatchItem

    books, _ = import_bytes(store, b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b3,A,2026-10-05,5000.00,USD,INV-9
c1,C,2026-10-05,7000.00,USD,INV-3
""", "books.csv")
    bank, _ = import_bytes(store, b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,inv1
s3,A,2026-10-06,4985.00,USD,
t1,C,2026-10-06,6990.00,USD,
""", "bank.csv")
    reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "")
    with store.session() as session:
        proposals = {i.account: (g.id, g.version) for g, i in session.execute(
            select(MatchGroup, MatchItem).join(MatchItem, MatchItem.group_id == MatchGroup.id).where(MatchGroup.status == "proposed"))}
    assert set(proposals) == {"A", "C"}
    page = history_page(store)
    assert (sorted(page.frame["record_id"]), page.total) == (["b1", "s1"], 2), "nobody has reviewed the proposals yet"
    analyst = create_user(store, "ana", "a-long-password-1", "analyst")
    reject_proposed(store, *proposals["A"], analyst, "different wire")
    approve_proposed(store, *proposals["C"], analyst)
    page = history_page(store)
    assert sorted(page.frame["record_id"]) == ["b1", "c1", "s1", "t1"] and page.total == 4
    assert set(page.frame["cleared_as"]) == {"matched"}
    assert history_page(store, search="b3").total == 0, "a rejected match's record is an open break, not matched"


def test_the_proposed_frame_marks_the_groups_that_wait_for_an_approver(store, monkeypatch):
    from core.review import approve_proposed

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000.00")
    books, _ = import_bytes(store, b"""id,account,date,amount,currency,reference
b3,A,2026-10-05,5000.00,USD,INV-9
c1,C,2026-10-05,700.00,USD,INV-3
""", "books.csv")
    bank, _ = import_bytes(store, b"""id,account,date,amount,currency,reference
s3,A,2026-10-06,4985.00,USD,
t1,C,2026-10-06,699.00,USD,
""", "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    before = proposed_frame(store, run.id)
    assert before["waits_for_decision"].isna().all()
    big = next(r for r in before.itertuples() if r.account == "A")
    analyst = create_user(store, "ana", "a-long-password-1", "analyst")
    waiting = approve_proposed(store, big.id, big.version, analyst)
    assert waiting.status == "pending"
    frame = proposed_frame(store, run.id)
    assert len(frame) == 2
    marks = dict(zip(frame["id"], frame["waits_for_decision"]))
    assert marks[big.id] == waiting.decision_id
    assert [pd.isna(d) for g, d in marks.items() if g != big.id] == [True]
