"""Ownership and follow-up of breaks on SQLite and PostgreSQL: assignment, due dates, comments,
"my breaks", overdue marks and saved views."""

import datetime as dt

import pytest
from sqlalchemy import select, update

from core.auth import Account, create_user
from core.ingest.datasets import import_bytes
from core.matching.rules import load_rules
from core.review import PeriodLockedError, ReviewError, resolve_break
from core.review.followup import assign_break, comment_on_break
from core.runs.reconcile import reconcile_datasets
from core.store.models import AuditEntry, Break, ReconciliationSignOff, User
from core.views import load_breaks
from core.views.followup import (SavedViewError, assignable_users, break_thread, delete_break_view, mine, save_break_view,
                                 saved_break_views, with_follow_up)

ANA = Account("ana", "Ana", "analyst", 1)
BEN = Account("ben", "Ben", "analyst", 2)
VIC = Account("vic", "Vic", "viewer", 3)
OLD = Account("old", "Old", "analyst", 4)

BOOKS = b"""id,account,date,amount,currency,reference
b1,A,2026-10-01,100.00,USD,INV-1
b2,A,2026-10-05,5000.00,USD,INV-9
"""
BANK = b"""id,account,date,amount,currency,reference
s1,A,2026-10-02,100.00,USD,INV-1
s5,A,2026-10-20,-35.00,USD,CHARGES
"""


@pytest.fixture(autouse=True)
def people(store, monkeypatch):
    from argon2 import PasswordHasher

    from core import auth

    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    for person in (ANA, BEN, VIC, OLD):
        assert create_user(store, person.username, "a-long-password", person.role, display_name=person.display_name) == person
    with store.session() as session:
        session.execute(update(User).where(User.username == "old").values(active=False))


@pytest.fixture
def breaks(store):
    books, _ = import_bytes(store, BOOKS, "books.csv")
    bank, _ = import_bytes(store, BANK, "bank.csv")
    run = reconcile_datasets(store, books.dataset, bank.dataset, load_rules(), "").run
    with store.session() as session:
        return {b.record_id: (b.id, b.version) for b in session.scalars(select(Break).where(Break.run_id == run.id))}, run.id


def audit_of(store, break_id):
    with store.session() as session:
        return [(e.actor, e.action, e.after) for e in session.scalars(
            select(AuditEntry).where(AuditEntry.entity_type == "break", AuditEntry.entity_id == str(break_id)).order_by(AuditEntry.id))]


def test_an_assignment_with_a_due_date_shows_on_the_break_and_is_audited(store, breaks):
    ids, run_id = breaks
    assign_break(store, ids["b2"][0], "Ben", dt.date(2026, 11, 5), ANA)
    frame = with_follow_up(store, load_breaks(store, run_id), today=dt.date(2026, 11, 6))
    row = frame.set_index("record_id").loc["b2"]
    assert (row["assignee"], row["due_on"], row["overdue"]) == ("ben", dt.date(2026, 11, 5), True)
    assert "overdue" in row["marks"]
    assert frame.set_index("record_id").loc["s5", "assignee"] == ""
    assert audit_of(store, ids["b2"][0]) == [("ana", "assign", {"assignee": "ben", "due_on": "2026-11-05"})]
    assert mine(frame, BEN)["record_id"].tolist() == ["b2"] and mine(frame, ANA).empty


def test_a_break_not_yet_due_is_not_overdue_and_freeing_it_clears_the_due_date(store, breaks):
    ids, run_id = breaks
    assign_break(store, ids["b2"][0], "ben", dt.date(2026, 11, 5), ANA)
    frame = with_follow_up(store, load_breaks(store, run_id), today=dt.date(2026, 11, 5))
    assert not frame.set_index("record_id").loc["b2", "overdue"]
    assign_break(store, ids["b2"][0], None, None, BEN)
    frame = with_follow_up(store, load_breaks(store, run_id), today=dt.date(2026, 12, 1))
    assert frame.set_index("record_id").loc["b2", ["assignee", "overdue"]].tolist() == ["", False]
    assert [a for _, a, _ in audit_of(store, ids["b2"][0])] == ["assign", "unassign"]


@pytest.mark.parametrize("who, message", [("nobody", "no user 'nobody'"), ("old", "old is disabled"),
                                          ("vic", "vic is a viewer and cannot work breaks")])
def test_a_break_is_assigned_only_to_an_active_user_who_can_work_it(store, breaks, who, message):
    ids, _ = breaks
    with pytest.raises(ReviewError, match=message):
        assign_break(store, ids["b2"][0], who, None, ANA)
    assert audit_of(store, ids["b2"][0]) == []
    assert assignable_users(store) == ["ana", "ben"]


def test_a_viewer_neither_assigns_nor_comments(store, breaks):
    ids, _ = breaks
    with pytest.raises(ReviewError, match="needs the analyst role"):
        assign_break(store, ids["b2"][0], "ana", None, VIC)
    with pytest.raises(ReviewError, match="needs the analyst role"):
        comment_on_break(store, ids["b2"][0], "looking", VIC)


def test_a_due_date_needs_an_assignee_and_a_resolved_break_is_not_assigned(store, breaks):
    ids, _ = breaks
    with pytest.raises(ReviewError, match="a due date needs someone"):
        assign_break(store, ids["b2"][0], "", dt.date(2026, 11, 5), ANA)
    resolve_break(store, ids["s5"][0], ids["s5"][1], "bank_fee", "", ANA)
    with pytest.raises(ReviewError, match="is resolved, not open"):
        assign_break(store, ids["s5"][0], "ben", None, ANA)


def test_comments_make_a_thread_oldest_first_each_in_the_audit_log(store, breaks):
    ids, run_id = breaks
    first = comment_on_break(store, ids["s5"][0], "  asked the bank  ", ANA)
    second = comment_on_break(store, ids["s5"][0], "bank says: monthly fee", BEN)
    assert [(c.id, c.author, c.text) for c in break_thread(store, ids["s5"][0])] == [(first, "ana", "asked the bank"),
                                                                                     (second, "ben", "bank says: monthly fee")]
    assert break_thread(store, ids["b2"][0]) == []
    assert [(actor, action) for actor, action, _ in audit_of(store, ids["s5"][0])] == [("ana", "comment"), ("ben", "comment")]
    assert with_follow_up(store, load_breaks(store, run_id)).set_index("record_id").loc["s5", "comments"] == 2
    with pytest.raises(ReviewError, match="needs some text"):
        comment_on_break(store, ids["s5"][0], "   ", ANA)
    with pytest.raises(ReviewError, match="no break 999999"):
        comment_on_break(store, 999999, "hello", ANA)


def test_a_locked_period_refuses_assignments_and_comments(store, breaks):
    ids, run_id = breaks
    with store.session() as session:
        session.add(ReconciliationSignOff(run_id=run_id, account_key="A", account="A", as_of=dt.date(2026, 10, 31), currency="USD",
                                          lines={}, status="signed_off", prepared_by="ana", prepared_by_id=1, signed_by="ben",
                                          signed_by_id=2, signed_at=dt.datetime(2026, 11, 2, tzinfo=dt.UTC)))
    with pytest.raises(PeriodLockedError, match="account A is locked to 2026-10-31"):
        assign_break(store, ids["b2"][0], "ben", None, ANA)
    with pytest.raises(PeriodLockedError, match="record s5 of 2026-10-20 is in the locked period"):
        comment_on_break(store, ids["s5"][0], "too late", ANA)
    assert break_thread(store, ids["s5"][0]) == [] and audit_of(store, ids["b2"][0]) == []


def test_saved_views_belong_to_their_user_and_a_name_is_replaced(store):
    save_break_view(store, ANA, "My big ones", {"amount_min": "1000", "statuses": ("open",), "mine": True})
    save_break_view(store, ANA, "My big ones", {"amount_min": "5000", "statuses": ["open"], "mine": True})
    save_break_view(store, BEN, "Fees", {"reasons": ["unmatched"]})
    assert saved_break_views(store, ANA) == {"My big ones": {"amount_min": "5000", "statuses": ["open"], "mine": True}}
    assert list(saved_break_views(store, BEN)) == ["Fees"]
    with pytest.raises(SavedViewError, match="needs a name"):
        save_break_view(store, ANA, " ", {})
    with pytest.raises(SavedViewError, match="not colour"):
        save_break_view(store, ANA, "odd", {"colour": "red"})
    assert delete_break_view(store, ANA, "My big ones") and not delete_break_view(store, ANA, "My big ones")
    assert saved_break_views(store, ANA) == {}
