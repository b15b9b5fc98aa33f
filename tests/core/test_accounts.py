"""The account alias table: approvers add and remove aliases, every change is audited, others only read."""

import pytest
from sqlalchemy import select

from core.accounts import AccountAliasError, add_alias, list_aliases, load_aliases, remove_alias
from core.auth import create_user
from core.ingest.datasets import import_bytes
from core.store.models import AuditEntry

PASSWORD = "a long enough password"


BOOKS = b"""id,account,date,amount,currency,reference
b1,4471-0092-18,2026-10-01,100.00,EUR,INV-1
b2,999,2026-10-02,-20.00,EUR,INV-2
b3,OLD-4471,2026-10-03,-30.00,EUR,INV-3
b4,USD-CASH-7,2026-10-03,-7.00,USD,INV-4
"""


@pytest.fixture
def approver(store):
    import_bytes(store, BOOKS, "books.csv")
    return create_user(store, "approver", PASSWORD, "approver")


@pytest.fixture
def analyst(store):
    return create_user(store, "analyst", PASSWORD, "analyst")


def audited(store):
    with store.session() as session:
        return [(a.actor, a.action, a.entity_id, a.before, a.after) for a in
                session.scalars(select(AuditEntry).where(AuditEntry.entity_type == "account_alias").order_by(AuditEntry.id))]


def test_an_approver_adds_an_alias_by_key_and_it_is_audited(store, approver):
    add_alias(store, "old-4471 EUR", "4471-0092-18", actor=approver, note="renumbered in 2019")
    assert load_aliases(store) == {"OLD4471": "4471009218"}
    [row] = list_aliases(store)
    assert (row.created_by, row.note) == ("approver", "renumbered in 2019")
    assert audited(store) == [("approver", "add_account_alias", "OLD4471", None,
                               {"alias_key": "OLD4471", "target_key": "4471009218", "note": "renumbered in 2019"})]


def test_an_approver_removes_an_alias_and_it_is_audited(store, approver):
    add_alias(store, "OLD4471", "4471009218", actor=approver)
    remove_alias(store, "old 4471", actor=approver)
    assert load_aliases(store) == {}
    assert [entry[1] for entry in audited(store)] == ["add_account_alias", "remove_account_alias"]
    assert audited(store)[-1][3] == {"alias_key": "OLD4471", "target_key": "4471009218", "note": ""}


def test_an_analyst_may_not_change_aliases(store, approver, analyst):
    with pytest.raises(AccountAliasError, match="needs the approver role"):
        add_alias(store, "OLD4471", "4471009218", actor=analyst)
    add_alias(store, "OLD4471", "4471009218", actor=approver)
    with pytest.raises(AccountAliasError, match="needs the approver role"):
        remove_alias(store, "OLD4471", actor=analyst)
    assert load_aliases(store) == {"OLD4471": "4471009218"}
    assert [entry[1] for entry in audited(store)] == ["add_account_alias"]


@pytest.mark.parametrize(("alias", "target", "message"), [
    ("4471-0092-18", "4471009218", "already one account"),
    ("", "4471009218", "alias account is blank"),
    ("OLD4471", " ", "target account is blank"),
])
def test_an_alias_that_says_nothing_is_refused(store, approver, alias, target, message):
    with pytest.raises(AccountAliasError, match=message):
        add_alias(store, alias, target, actor=approver)
    assert load_aliases(store) == {}


def test_a_second_alias_of_one_key_and_a_loop_are_refused(store, approver):
    add_alias(store, "OLD4471", "4471009218", actor=approver)
    with pytest.raises(AccountAliasError, match="already stands for 4471009218"):
        add_alias(store, "OLD4471", "999", actor=approver)
    with pytest.raises(AccountAliasError, match="loop"):
        add_alias(store, "4471009218", "OLD4471", actor=approver)
    assert load_aliases(store) == {"OLD4471": "4471009218"}


def test_removing_what_is_not_an_alias_is_refused(store, approver):
    with pytest.raises(AccountAliasError, match="not an alias"):
        remove_alias(store, "OLD4471", actor=approver)


def test_an_alias_to_an_account_no_dataset_holds_is_refused(store, approver):
    with pytest.raises(AccountAliasError, match="no dataset holds account 4471009219; check the spelling"):
        add_alias(store, "OLD4471", "4471-0092-19", actor=approver)
    assert load_aliases(store) == {}


def test_an_alias_of_an_account_not_yet_imported_is_allowed(store, approver):
    add_alias(store, "NEW-1", "4471009218", actor=approver)
    assert load_aliases(store) == {"NEW1": "4471009218"}


def test_an_alias_joining_accounts_in_different_currencies_is_refused(store, approver):
    with pytest.raises(AccountAliasError, match="USDCASH7 holds records in USD and 4471009218 in EUR"):
        add_alias(store, "USD-CASH-7", "4471009218", actor=approver)
    add_alias(store, "OLD4471", "4471009218", actor=approver)
    with pytest.raises(AccountAliasError, match="USDCASH7 holds records in USD and OLD4471 in EUR"):
        add_alias(store, "USD-CASH-7", "OLD4471", actor=approver)
    assert load_aliases(store) == {"OLD4471": "4471009218"}
