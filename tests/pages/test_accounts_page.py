"""The Accounts page through AppTest: the keys seen in the demo datasets, and the alias table
that an approver edits and a viewer only reads."""

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.accounts import add_alias, load_aliases
from core.auth import authenticate
from core.demo import DEMO_USERS
from core.store.models import AuditEntry
from tests.pages.app import HOME, open_page, signed_in


def accounts_page(username: str) -> AppTest:
    return open_page(signed_in(username), "pages/accounts.py")


def test_the_page_lists_each_account_by_key_with_its_spellings(demo):
    at = accounts_page("viewer")
    known = next(d.value for d in at.dataframe if "key" in d.value.columns)
    row = known.set_index("key").loc["4471009218"]
    assert row["shown as"] == "4471-0092-18"
    assert "DE89370400440532013000" in set(known["key"])


def test_a_viewer_reads_the_aliases_but_has_no_form(demo):
    add_alias(demo, "OLD-4471", "4471009218", actor=authenticate(demo, "approver", DEMO_USERS["approver"]), note="renumbered")
    at = accounts_page("viewer")
    aliases = next(d.value for d in at.dataframe if "alias" in d.value.columns)
    assert (aliases["alias"].tolist(), aliases["note"].tolist()) == (["OLD4471"], ["renumbered"])
    assert not at.text_input and not at.button
    assert any("needs the approver role" in c.value for c in at.caption)


def test_an_approver_adds_and_removes_an_alias_and_both_are_audited(demo):
    at = accounts_page("approver")
    at.text_input(key="accounts_new_alias").input("old 4471 EUR")
    at.text_input(key="accounts_new_target").input("4471-0092-18")
    at.text_input(key="accounts_new_note").input("renumbered")
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("OLD4471 is now compared as 4471009218" in s.value for s in at.success)
    assert load_aliases(demo) == {"OLD4471": "4471009218"}
    aliases = next(d.value for d in at.dataframe if "alias" in d.value.columns)
    assert aliases["is account"].tolist() == ["4471009218"]
    at.selectbox(key="accounts_remove_alias").select("OLD4471")
    next(b for b in at.button if b.label == "Remove alias").click().run()
    assert not at.exception, at.exception
    assert load_aliases(demo) == {}
    with demo.session() as session:
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "account_alias").order_by(AuditEntry.id)).all()
    assert actions == ["add_account_alias", "remove_account_alias"]


def test_a_refused_alias_is_said_in_one_line(demo):
    at = accounts_page("approver")
    at.text_input(key="accounts_new_alias").input("4471009218")
    at.text_input(key="accounts_new_target").input("4471-0092-18")
    at.button[0].click().run()
    assert any("already one account" in e.value for e in at.error)
    assert load_aliases(demo) == {}


def test_reconcile_and_breaks_offer_one_choice_per_account_shown_by_its_label(demo):
    from core.ingest.datasets import import_bytes

    books = (b"id,account,date,amount,currency,reference\nk1,4471 0092 18,2026-10-05,-42.00,USD,KEY-1\n"
             b"k2,4471 0092 18,2026-10-06,-9.99,USD,KEY-2\n")
    bank = (b"id,account,date,amount,currency,reference\nq1,4471-0092-18 USD,2026-10-05,-42.00,USD,KEY-1\n"
            b"q2,4471-0092-18 USD,2026-10-07,13.00,USD,KEY-3\nq3,4471-0092-18 USD,2026-10-08,14.00,USD,KEY-4\n")
    books_id = import_bytes(demo, books, "spaced-books.csv")[0].dataset.id
    bank_id = import_bytes(demo, bank, "suffixed-bank.csv")[0].dataset.id
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.text_input(key="sign_in_username").input("analyst")
    at.text_input(key="sign_in_password").input(DEMO_USERS["analyst"])
    at.button[0].click().run()
    at.switch_page("pages/reconcile.py").run()
    # A books file of one account reads as a statement: the analyst offers every dataset on both sides.
    at.checkbox(key="reconcile_every_role").check().run()
    at.selectbox(key="reconcile_internal").set_value(books_id).run()
    at.selectbox(key="reconcile_external").set_value(bank_id).run()
    chosen = at.multiselect(key=f"reconcile_accounts_{bank_id}")
    assert chosen.value == ["4471009218"] and chosen.options == ["4471-0092-18 USD"], \
        "two spellings, one choice, shown as the statement writes it"
    at.button(key="reconcile_run").click().run()
    assert not at.exception, at.exception
    per_account = next(d.value for d in at.dataframe if "matched" in d.value.columns)
    # The demo's open breaks of the account (written 4471-0092-18) are carried into the run too.
    assert per_account["account_key"].tolist() == ["4471009218", "4471009218"] and per_account["account"].nunique() == 1
    at.switch_page("pages/breaks.py").run()
    assert not at.exception, at.exception
    accounts = at.multiselect(key="breaks_accounts")
    assert len(accounts.options) == 1
    accounts.select("4471009218").run()
    grid = next(d.value for d in at.dataframe if "reason" in d.value.columns)
    mine = grid[grid["reference"].str.startswith("KEY-")]
    assert sorted(mine["reference"]) == ["KEY-2", "KEY-3", "KEY-4"]
    assert set(mine["account"]) == {"4471 0092 18", "4471-0092-18 USD"}, "each break keeps its account as written"
    assert len(grid) > len(mine), "the carried breaks written 4471-0092-18 are under the same choice"


def test_a_refused_alias_keeps_what_was_typed(demo):
    at = accounts_page("approver")
    at.text_input(key="accounts_new_alias").input("OLD-4471")
    at.text_input(key="accounts_new_target").input("4471-0092-19")
    at.text_input(key="accounts_new_note").input("renumbered")
    at.button[0].click().run()
    assert any("no dataset holds account 4471009219" in e.value for e in at.error)
    assert [at.text_input(key=k).value for k in ("accounts_new_alias", "accounts_new_target", "accounts_new_note")] == \
        ["OLD-4471", "4471-0092-19", "renumbered"]
    at.text_input(key="accounts_new_target").input("4471-0092-18")
    at.button[0].click().run()
    assert load_aliases(demo) == {"OLD4471": "4471009218"}
    assert at.text_input(key="accounts_new_alias").value == "", "an added alias clears the form"


def test_the_aliases_table_shows_where_a_chain_of_aliases_leads(demo):
    approver = authenticate(demo, "approver", DEMO_USERS["approver"])
    add_alias(demo, "OLD-4471", "4471009218", actor=approver)
    add_alias(demo, "OLDER-4471", "OLD-4471", actor=approver)
    at = accounts_page("viewer")
    aliases = next(d.value for d in at.dataframe if "alias" in d.value.columns).set_index("alias")
    assert aliases.loc["OLDER4471", "is account"] == "OLD4471"
    assert aliases.loc["OLDER4471", "finally compared as"] == "4471009218"


def test_an_account_with_an_empty_key_shows_as_no_account(demo):
    from core.ingest.datasets import import_bytes

    import_bytes(demo, b"id,account,date,amount,currency,reference\nz1,--,2026-10-05,-42.00,USD,Z-1\n", "dashes.csv")
    at = accounts_page("viewer")
    known = next(d.value for d in at.dataframe if "key" in d.value.columns)
    assert "(no account)" in set(known["key"])
