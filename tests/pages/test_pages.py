"""Every page through Streamlit's AppTest, signed in as the demo users, on the demo month."""

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.demo import DEMO_USERS
from core.store import open_store
from core.store.models import Break, Decision
from tests.pages.app import HOME, frame_with, open_page, signed_in

def test_nothing_but_the_sign_in_form_before_sign_in(demo):
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert [t.key for t in at.text_input] == ["sign_in_username", "sign_in_password"]
    assert not at.metric and not at.dataframe and not at.sidebar.button
    at.text_input(key="sign_in_username").input("analyst")
    at.text_input(key="sign_in_password").input("wrong password")
    at.button[0].click().run()
    assert any("Wrong username or password" in e.value for e in at.error)
    assert not at.metric


def test_demo_passwords_refuse_a_production_start(demo, monkeypatch):
    monkeypatch.delenv("RECON_DEMO")
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert any("published demo passwords" in e.value for e in at.error)
    assert not at.text_input


def test_home_shows_the_demo_datasets_runs_and_breaks(demo):
    at = signed_in("viewer")
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Datasets"], metrics["Rows imported"], metrics["Reconciliation runs"]) == ("5", "384", "4")
    assert int(metrics["Open breaks"]) > 0
    names = frame_with(at, "Name")["Name"].tolist()
    assert "general_ledger_cash_2026-10.csv" in names and "clear_street_cash_activity_2026-10.xlsx" in names
    per_account = next(d.value for d in at.dataframe if "Account" in d.value.columns and "Kind" not in d.value.columns)
    assert set(per_account["Account"]) == {"4471-0092-18", "DE89370400440532013000", "CS-00192-CASH", "RC-7781-SAR"}


def test_home_on_an_empty_store_says_how_to_start(app_data):
    from core.auth import create_user

    create_user(open_store(), "solo", "a-long-password", "viewer")
    at = AppTest.from_file(HOME, default_timeout=60).run()
    at.text_input(key="sign_in_username").input("solo")
    at.text_input(key="sign_in_password").input("a-long-password")
    at.button[0].click().run()
    assert any("python -m core demo" in i.value for i in at.info)


def test_sources_upload_preview_errors_save_and_reupload(demo):
    at = open_page(signed_in("analyst"), "pages/sources.py")
    good = b"Date;Account;Amount;Currency\n01.11.2026;ACC-9;1.234,56;EUR\n02.11.2026;ACC-9;-10,00;EUR\n"
    at.file_uploader(key="sources_upload").upload("november.csv", good).run()
    assert not at.exception
    preview = frame_with(at, "amount")
    assert [str(a) for a in preview["amount"]] == ["1234.56", "-10.00"]
    at.button(key="sources_save").click().run()
    assert any("Saved as dataset" in s.value for s in at.success)
    at.file_uploader(key="sources_upload").upload("november-again.csv", good).run()
    assert any("already imported" in i.value for i in at.info)
    at.file_uploader(key="sources_upload").upload("bad.csv", b"Date,Amount,Currency\n2026-11-01,abc,EUR\n").run()
    problems = frame_with(at, "problem")
    assert (problems.loc[0, "row"], problems.loc[0, "column"]) == (2, "Amount")


def test_a_viewer_has_no_sources_or_reconcile_page(demo):
    at = signed_in("viewer")
    with pytest.raises(Exception):
        at.switch_page("pages/sources.py").run()
        assert not at.file_uploader


def test_reconcile_runs_and_shows_the_summary(demo):
    at = open_page(signed_in("analyst"), "pages/reconcile.py")
    datasets = {d.name: d.id for d in __import__("core.ingest.datasets", fromlist=["list_datasets"]).list_datasets(demo)}
    at.selectbox(key="reconcile_internal").set_value(datasets["general_ledger_cash_2026-10.csv"]).run()
    at.selectbox(key="reconcile_external").set_value(datasets["first_national_4471_2026-10.csv"]).run()
    at.button(key="reconcile_run").click().run()
    assert not at.exception
    passes = frame_with(at, "pass")
    assert "reference_and_amount" in passes["pass"].tolist()
    per_account = frame_with(at, "matched")
    assert set(per_account["account"]) == {"4471-0092-18"}


def run_of(store, account):
    from core.store.models import Run

    with store.session() as session:
        return max(r.id for r in session.scalars(select(Run)) if r.accounts == [account])


def breaks_of(store, account):
    """The breaks page signed in as an analyst, on the latest run of ``account``, and its grid."""
    at = open_page(signed_in("analyst"), "pages/breaks.py")
    at.selectbox(key="breaks_run").set_value(run_of(store, account)).run()
    return at, frame_with(at, "reason")


def test_breaks_resolve_manual_match_and_approve_a_proposal(demo):
    at, grid = breaks_of(demo, "4471-0092-18")
    fee = grid[grid["description"] == "ACCOUNT MAINTENANCE FEE"].iloc[0]
    at.text_input(key="breaks_ids").input(str(fee["id"])).run()
    at.selectbox(key="breaks_resolve_code").set_value("bank_fee")
    at.text_input(key="breaks_resolve_comment").input("October fee")
    next(b for b in at.button if b.label == "Resolve selected").click().run()
    assert any("resolved" in s.value for s in at.success), [e.value for e in at.error]
    with demo.session() as session:
        assert session.get(Break, int(fee["id"])).resolution == "bank_fee"
    at.text_input(key="breaks_ids").set_value(str(fee["id"])).run()
    trail = next(d.value for d in at.dataframe if "before" in d.value.columns)
    assert trail.iloc[0]["action"] == "resolve" and "status=open" in trail.iloc[0]["before"] and "status=resolved" in trail.iloc[0]["after"]

    proposals = frame_with(at, "explanation")
    assert len(proposals) >= 1 and proposals["explanation"].str.len().min() > 10
    at.text_input(key="breaks_proposed_ids").input(str(proposals.iloc[0]["id"])).run()
    at.button(key="breaks_approve").click().run()
    assert not any("confirmed" in s.value for s in at.success)
    at.button(key="breaks_proposed_confirm_yes").click().run()
    assert any(s.value in ("1 confirmed.", "1 sent for approval.") for s in at.success), [e.value for e in at.error]


def test_breaks_manual_match_and_unmatch(demo):
    at, grid = breaks_of(demo, "DE89370400440532013000")
    duplicate = grid[grid["reason"] == "possible_duplicate"].iloc[0]
    interest = grid[grid["description"] == "CREDIT INTEREST"].iloc[0]
    at.text_input(key="breaks_ids").input(f"{duplicate['id']},{interest['id']}").run()
    at.selectbox(key="breaks_match_code").set_value("other")
    at.text_input(key="breaks_match_comment").input("test pairing")
    next(b for b in at.button if b.label == "Match selected").click().run()
    assert any(s.value in ("Matched.",) or "approval" in s.value for s in at.success), [e.value for e in at.error]

    at.selectbox(key="breaks_unmatch_id").set_value(1)
    at.text_input(key="breaks_unmatch_comment").input("wrong pair")
    next(b for b in at.button if b.label == "Unmatch").click().run()
    assert any("Unmatched" in s.value or "approval" in s.value for s in at.success), [e.value for e in at.error]


def test_maker_checker_self_approval_is_refused_and_another_approver_applies(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    run_id = run_of(demo, "4471-0092-18")
    with demo.session() as session:
        cheque = session.scalar(select(Break).where(Break.run_id == run_id, Break.reference == "CHQ-1041"))
    approver = open_page(signed_in("approver"), "pages/breaks.py")
    approver.selectbox(key="breaks_run").set_value(run_id).run()
    approver.text_input(key="breaks_ids").input(str(cheque.id)).run()
    approver.selectbox(key="breaks_resolve_code").set_value("missing_at_bank")
    next(b for b in approver.button if b.label == "Resolve selected").click().run()
    assert any("sent for approval" in s.value for s in approver.success), [e.value for e in approver.error]

    open_page(approver, "pages/approvals.py")
    assert "an approver other than approver" in frame_with(approver, "waits_for")["waits_for"].tolist()
    approver.button[-2].click().run() if False else next(b for b in approver.button if b.label == "Approve").click().run()
    assert any("their own decision" in e.value for e in approver.error)
    with demo.session() as session:
        assert session.get(Break, cheque.id).status == "open"

    admin = open_page(signed_in("admin"), "pages/approvals.py")
    next(b for b in admin.button if b.label == "Approve").click().run()
    assert any("approved and applied" in s.value for s in admin.success), [e.value for e in admin.error]
    with demo.session() as session:
        assert session.get(Break, cheque.id).status == "resolved"


def test_two_users_on_one_break_the_second_is_told_who_changed_it(demo):
    run_id = run_of(demo, "CS-00192-CASH")
    first = open_page(signed_in("analyst"), "pages/breaks.py")
    second = open_page(signed_in("analyst2"), "pages/breaks.py")
    for at in (first, second):
        at.selectbox(key="breaks_run").set_value(run_id).run()
    fee = frame_with(first, "reason")
    fee_id = int(fee[fee["description"] == "ACCOUNT MAINTENANCE FEE"].iloc[0]["id"])
    for at in (first, second):
        at.text_input(key="breaks_ids").input(str(fee_id)).run()
        at.selectbox(key="breaks_resolve_code").set_value("bank_fee")
    next(b for b in second.button if b.label == "Resolve selected").click().run()
    assert any("resolved" in s.value for s in second.success)
    next(b for b in first.button if b.label == "Resolve selected").click().run()
    assert any("changed by analyst2 at" in e.value for e in first.error), [e.value for e in first.error]
    with demo.session() as session:
        assert len(session.scalars(select(Decision).where(Decision.target_id == str(fee_id))).all()) == 1


def test_audit_history_and_users_pages(demo):
    at = open_page(signed_in("admin"), "pages/audit.py")
    assert {"import", "reconcile", "create_user"} <= set(frame_with(at, "action")["action"])
    at.text_input(key="audit_action").input("reconcile").run()
    assert set(frame_with(at, "action")["action"]) == {"reconcile"}
    open_page(at, "pages/history.py")
    at.text_input(key="history_account").input("RC-7781-SAR").run()
    history = frame_with(at, "cleared_as")
    assert len(history) > 30 and set(history["account"]) == {"RC-7781-SAR"}
    open_page(at, "pages/users.py")
    at.text_input(key="users_new_name").input("carol")
    at.text_input(key="users_new_password").input("carol-password-1")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert any("added" in s.value for s in at.success), [e.value for e in at.error]
    assert "carol" in frame_with(at, "username")["username"].tolist()


def test_holdings_page_reconciles_uploaded_files_and_saves_the_run(demo, tmp_path):
    from tests.core.holdings.test_holdings import BOOKS, cams_transactions, kfintech_holdings

    at = open_page(signed_in("analyst"), "pages/holdings.py")
    import datetime as dt

    at.date_input(key="holdings_as_of").set_value(dt.date(2026, 10, 31))
    at.file_uploader(key="holdings_books").upload("books.csv", BOOKS.encode())
    at.file_uploader(key="holdings_registrars").set_value([
        ("WBR2.dbf", cams_transactions(tmp_path).read_bytes(), "application/octet-stream"),
        ("MFSD203.dbf", kfintech_holdings(tmp_path).read_bytes(), "application/octet-stream")])
    next(b for b in at.button if b.label == "Reconcile holdings").click().run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["matched"], metrics["mismatched"], metrics["registrar only"], metrics["internal only"]) == ("3", "1", "2", "1")
    from core.store.models import HoldingsRun

    with demo.session() as session:
        run = session.scalars(select(HoldingsRun)).one()
        assert run.summary == {"matched": 3, "mismatched": 1, "registrar_only": 2, "internal_only": 1}


def test_a_password_reset_keeps_the_users_role_and_active_flag(demo):
    from core.auth import authenticate, list_users

    at = open_page(signed_in("admin"), "pages/users.py")
    at.selectbox(key="users_change_name").set_value("approver").run()
    assert (at.selectbox(key="users_change_role_approver").value, at.selectbox(key="users_change_active_approver").value) == (
        "approver", "yes")
    at.text_input(key="users_password_approver_new").input("a-fresh-password-1")
    next(b for b in at.button if b.label == "Set password").click().run()
    assert any("Password of 'approver' changed" in s.value for s in at.success), [e.value for e in at.error]
    approver = next(u for u in list_users(demo) if u.username == "approver")
    assert (approver.role, approver.active) == ("approver", True)
    assert authenticate(demo, "approver", "a-fresh-password-1").role == "approver"

    at.selectbox(key="users_change_name").set_value("viewer").run()
    at.selectbox(key="users_change_role_viewer").set_value("analyst")
    next(b for b in at.button if b.label == "Save role and active").click().run()
    assert next(u for u in list_users(demo) if u.username == "viewer").role == "analyst"
    assert next(u for u in list_users(demo) if u.username == "approver").role == "approver"


def session_keys(at: AppTest) -> set[str]:
    return set(at.session_state.keys())


def test_sign_out_forgets_everything_the_previous_user_left_in_the_session(demo):
    at = open_page(signed_in("analyst"), "pages/reconcile.py")
    at.button(key="reconcile_run").click().run()
    assert any(h.value.startswith("Run ") for h in at.subheader)
    open_page(at, "pages/breaks.py")
    at.text_input(key="breaks_ids").input("1").run()
    left_behind = session_keys(at)
    assert {"account", "reconcile_last_run", "breaks_ids"} <= left_behind

    # AppTest runs a page switched to without the entry file around it: back to Home for the sidebar.
    at.switch_page("Home.py").run()
    at.sidebar.button(key="sign_out").click().run()
    assert not at.exception
    assert session_keys(at) <= {"sign_in_username", "sign_in_password", "FormSubmitter:sign_in-Sign in"}, session_keys(at)
    at.text_input(key="sign_in_username").input("analyst2")
    at.text_input(key="sign_in_password").input(DEMO_USERS["analyst2"])
    at.button[0].click().run()
    open_page(at, "pages/reconcile.py")
    assert not any(h.value.startswith("Run ") for h in at.subheader)
    assert at.session_state["account"].username == "analyst2"
    assert not (left_behind - {"account"}) & session_keys(at), (left_behind - {"account"}) & session_keys(at)


def test_history_shows_resolved_and_hand_matched_breaks_as_dates_and_says_how_many(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000000.00")
    from core.auth import authenticate
    from core.review import manual_match, resolve_break
    from core.views import load_breaks

    analyst = authenticate(demo, "analyst", DEMO_USERS["analyst"])
    breaks = load_breaks(demo, run_of(demo, "DE89370400440532013000"))
    fee, duplicate, interest = (breaks[breaks["description"] == "ACCOUNT MAINTENANCE FEE"].iloc[0],
                                breaks[breaks["reason"] == "possible_duplicate"].iloc[0],
                                breaks[breaks["description"] == "CREDIT INTEREST"].iloc[0])
    resolve_break(demo, int(fee["id"]), int(fee["version"]), "bank_fee", "", analyst)
    manual_match(demo, [int(duplicate["id"]), int(interest["id"])], {int(duplicate["id"]): 1, int(interest["id"]): 1}, analyst,
                 reason_code="other", comment="pair")

    at = open_page(signed_in("viewer"), "pages/history.py")
    assert not at.exception
    history = frame_with(at, "cleared_as")
    assert {"resolved", "matched by hand", "matched"} <= set(history["cleared_as"])
    assert all(type(d) is dt.date for d in history["date"])
    import pyarrow.parquet as pq

    from core.store.models import MatchGroup, MatchItem

    with demo.session() as session:
        decided = len(session.scalars(select(Break).where(Break.status == "resolved")).all())
        decided += len(session.scalars(select(MatchItem).join(MatchGroup, MatchGroup.id == MatchItem.group_id)
                                       .where(MatchGroup.rule == "manual")).all())
    confirmed = 0  # the engine's confirmed groups' records; nobody has decided on a proposal here
    for items in (demo.data_dir / "runs").glob("*/items.parquet"):
        groups = pq.read_table(items.with_name("groups.parquet"), columns=["match_id", "status"]).to_pylist()
        kept = {g["match_id"] for g in groups if g["status"] == "confirmed"}
        confirmed += sum(m in kept for m in pq.read_table(items, columns=["match_id"]).column("match_id").to_pylist())
    total = decided + confirmed
    assert total == len(history) and f"Showing items 1 to {len(history):,} of {total:,}, newest first." in [c.value for c in at.caption]
    at.number_input(key="history_page").set_value(2).run()
    assert f"No item on page 2; {total:,} item(s) in all." in [c.value for c in at.caption]
    at.number_input(key="history_page").set_value(1)
    at.multiselect(key="history_cleared_as").set_value(["resolved", "matched by hand"]).run()
    decided = frame_with(at, "cleared_as")
    assert (len(decided), set(decided["cleared_as"])) == (3, {"resolved", "matched by hand"})
    assert "Showing items 1 to 3 of 3, newest first." in [c.value for c in at.caption]


def select_rows(at: AppTest, key: str, rows: list[int]) -> AppTest:
    """What a click on grid rows sends: the selected positions of the grid on screen."""
    at.session_state[key] = {"selection": {"rows": rows, "columns": []}}
    return at.run()


def selected_breaks(at: AppTest) -> list[int]:
    """The break a single selection names, read from its audit trail's title."""
    return [int(e.label.rsplit(" ", 1)[1]) for e in at.expander if e.label.startswith("Audit trail of break ")]


def test_a_grid_selection_names_the_breaks_picked_and_never_a_position(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000000.00")
    at, grid = breaks_of(demo, "CS-00192-CASH")
    assert len(grid) == 7
    last = int(grid.iloc[6]["id"])
    select_rows(at, "breaks_grid", [6])
    assert selected_breaks(at) == [last]
    at.selectbox(key="breaks_resolve_code").set_value("timing")
    next(b for b in at.button if b.label == "Resolve selected").click().run()
    assert not at.exception, at.exception
    assert any(s.value == f"Break {last}: resolved." for s in at.success), [e.value for e in at.error]
    assert selected_breaks(at) == [] and not any(b.label == "Resolve selected" for b in at.button)

    grid = frame_with(at, "reason")
    third = int(grid.iloc[2]["id"])
    select_rows(at, "breaks_grid", [2])
    assert selected_breaks(at) == [third]
    next(b for b in at.button if b.label == "Resolve selected").click().run()
    assert not at.exception, at.exception
    assert selected_breaks(at) == [] and not any(b.label == "Resolve selected" for b in at.button)
    with demo.session() as session:
        assert {b.id for b in session.scalars(select(Break).where(Break.status == "resolved"))} == {last, third}

    grid = frame_with(at, "reason")
    receipt = grid[grid["description"] == "Receipt from Fabrikam Inc"].index[0]
    select_rows(at, "breaks_grid", [int(receipt)])
    assert selected_breaks(at) == [int(grid.loc[receipt, "id"])]
    at.multiselect(key="breaks_sides").select("external").run()
    assert not at.exception
    assert any("no longer shown" in w.value and str(grid.loc[receipt, "id"]) in w.value for w in at.warning), [w.value for w in at.warning]
    assert selected_breaks(at) == [] and not any(b.label == "Resolve selected" for b in at.button)
    statement = frame_with(at, "reason")
    select_rows(at, "breaks_grid", [0])
    assert selected_breaks(at) == [int(statement.iloc[0]["id"])]
    at.multiselect(key="breaks_sides").set_value([]).run()
    assert selected_breaks(at) == [int(statement.iloc[0]["id"])]


def test_proposed_matches_follow_the_filters_show_both_sides_and_a_bulk_approval_asks_first(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000000.00")
    from core.store.models import MatchGroup

    at, _ = breaks_of(demo, "4471-0092-18")
    proposals = frame_with(at, "explanation")
    assert len(proposals) >= 2
    assert set(proposals["account"]) == {"4471-0092-18"} and set(proposals["currency"]) == {"USD"}
    assert all(proposals["books"].str.len() > 0) and all(proposals["statement"].str.len() > 0)
    sizes = {int(i): max(abs(b), abs(s)) for i, b, s in zip(proposals["id"], proposals["books_amount"], proposals["statement_amount"])}
    smallest = min(sizes, key=sizes.get)
    at.text_input(key="breaks_proposed_min").input(str(min(sizes.values()) + 1)).run()
    shown = frame_with(at, "explanation")
    assert smallest not in set(shown["id"]) and len(shown) == len(sizes) - 1
    kept = {i: v for i, v in sizes.items() if i != smallest}

    next(c for c in at.checkbox if c.label.startswith("Select every proposal shown")).check().run()
    at.button(key="breaks_approve").click().run()
    question = next(w.value for w in at.warning if w.value.startswith("Approve"))
    assert f"{len(kept)} proposed match(es) covering USD {sum(kept.values()):,.2f}" in question, question
    at.button(key="breaks_proposed_confirm_no").click().run()
    with demo.session() as session:
        assert {g.status for g in session.scalars(select(MatchGroup).where(MatchGroup.id.in_(list(sizes))))} == {"proposed"}

    at.button(key="breaks_approve").click().run()
    at.button(key="breaks_proposed_confirm_yes").click().run()
    assert any(s.value == f"{len(kept)} confirmed." for s in at.success), [e.value for e in at.error]
    with demo.session() as session:
        status = {g.id: g.status for g in session.scalars(select(MatchGroup).where(MatchGroup.id.in_(list(sizes))))}
    assert status == {i: "proposed" if i == smallest else "confirmed" for i in sizes}
    assert not at.exception and not next(c for c in at.checkbox if c.label.startswith("Select every proposal shown")).value


def page_load_of(account) -> AppTest:
    """The next page load of a browser session that holds ``account``, as signed in earlier."""
    at = AppTest.from_file(HOME, default_timeout=60)
    at.session_state["account"] = account
    at.session_state["reconcile_last_run"] = 1
    return at.run()


def test_a_disabled_user_is_signed_out_at_the_next_page_load_and_a_new_role_applies_at_once(demo):
    from core.auth import authenticate, update_user

    admin = authenticate(demo, "admin", DEMO_USERS["admin"])
    viewer = authenticate(demo, "viewer", DEMO_USERS["viewer"])
    analyst = authenticate(demo, "analyst", DEMO_USERS["analyst"])
    update_user(demo, "viewer", actor=admin, role="analyst")
    at = page_load_of(viewer)
    assert not at.exception
    assert at.session_state["account"].role == "analyst"
    assert any("(analyst)" in m.value for m in at.sidebar.markdown)

    update_user(demo, "analyst", actor=admin, active=False)
    at = page_load_of(analyst)
    assert not at.exception
    assert "account" not in at.session_state and "reconcile_last_run" not in at.session_state and not at.sidebar.button
    assert any("You were signed out" in w.value for w in at.warning)
    assert [t.key for t in at.text_input] == ["sign_in_username", "sign_in_password"]


def test_a_locked_sign_in_says_so_on_the_form(demo):
    at = AppTest.from_file(HOME, default_timeout=60).run()
    for _ in range(12):
        at.text_input(key="sign_in_username").input("analyst")
        at.text_input(key="sign_in_password").input("not the password")
        at.button[0].click().run()
        if any("locked" in e.value.lower() or "minute" in e.value.lower() for e in at.error):
            break
    assert not at.exception
    assert any("minute" in e.value.lower() for e in at.error), [e.value for e in at.error]


def test_a_proposal_picked_in_the_grid_is_the_one_approved_and_the_page_lives_on(demo, monkeypatch):
    from core.store.models import MatchGroup

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "1000000.00")
    at, _ = breaks_of(demo, "CS-00192-CASH")
    proposals = frame_with(at, "explanation")
    first = int(proposals.iloc[0]["id"])
    select_rows(at, "breaks_proposed_grid", [0])
    assert any(m.value.startswith("**Selected: 1 proposed match(es) covering USD") for m in at.markdown)
    at.button(key="breaks_approve").click().run()
    at.button(key="breaks_proposed_confirm_yes").click().run()
    assert not at.exception, at.exception
    assert any(s.value == "1 confirmed." for s in at.success), [e.value for e in at.error]
    assert not any(m.value.startswith("**Selected:") for m in at.markdown)
    with demo.session() as session:
        assert {g.id: g.status for g in session.scalars(select(MatchGroup).where(MatchGroup.id.in_(proposals["id"].tolist())))} == {
            int(i): "confirmed" if int(i) == first else "proposed" for i in proposals["id"]}
    assert frame_with(at, "explanation")["id"].tolist() == proposals["id"].tolist()[1:]


def test_dates_show_as_dates_and_moments_to_the_minute_on_every_grid(demo):
    import json

    at = signed_in("admin")
    unformatted = []
    for page in ("pages/overview.py", "pages/breaks.py", "pages/history.py", "pages/users.py"):
        open_page(at, page)
        for grid in at.dataframe:
            config = json.loads(grid.proto.columns or "{}")
            for column in grid.value.columns:
                if str(grid.value[column].dtype).startswith("datetime"):
                    shown = config.get(column, {}).get("type_config", {})
                    if shown.get("type") != "datetime" or "ss" in shown.get("format", "ss"):
                        unformatted.append((page, column))
                values = grid.value[column].dropna()
                if len(values) and type(values.iloc[0]) is dt.date:
                    assert all(type(v) is dt.date for v in values), (page, column)
    assert unformatted == []


# Bad input on each page: one readable message, never a traceback.

@pytest.mark.parametrize("typed", ["NaN", "inf", "1e999", "abc"])
def test_breaks_an_amount_filter_that_is_not_a_number_says_so(demo, typed):
    at, _ = breaks_of(demo, "4471-0092-18")
    at.text_input(key="breaks_amount_min").input(typed).run()
    assert not at.exception, at.exception
    assert any(e.value.startswith(f"Amount from: {typed!r}") for e in at.error), [e.value for e in at.error]


def test_holdings_a_tolerance_that_is_not_a_number_says_so_and_saves_nothing(demo, tmp_path):
    from core.store.models import HoldingsRun
    from tests.core.holdings.test_holdings import BOOKS, cams_transactions

    at = open_page(signed_in("analyst"), "pages/holdings.py")
    at.date_input(key="holdings_as_of").set_value(dt.date(2026, 10, 31))
    at.text_input(key="holdings_tolerance").input("NaN")
    at.file_uploader(key="holdings_books").upload("books.csv", BOOKS.encode())
    at.file_uploader(key="holdings_registrars").set_value([("WBR2.dbf", cams_transactions(tmp_path).read_bytes(),
                                                            "application/octet-stream")])
    next(b for b in at.button if b.label == "Reconcile holdings").click().run()
    assert not at.exception, at.exception
    assert any(e.value.startswith("Unit tolerance: 'NaN' is not a number") for e in at.error), [e.value for e in at.error]
    with demo.session() as session:
        assert session.scalars(select(HoldingsRun)).all() == []


def test_sources_recognises_a_known_layout_and_offers_the_shipped_layouts(demo):
    at = open_page(signed_in("analyst"), "pages/sources.py")
    assert any(o.startswith("paypal_activity: PayPal") for o in at.selectbox(key="sources_profile").options)
    starling = (b"Date,Counter Party,Reference,Type,Amount (GBP),Balance (GBP),Spending Category,Notes\n"
                b"11/03/2024,Bike Shop,Inner tube,CONTACTLESS,-7.99,492.01,SHOPPING,\n")
    at.file_uploader(key="sources_upload").upload("starling.csv", starling).run()
    assert not at.exception, at.exception
    assert at.warning[0].value.startswith("read as the known layout 'starling'")
    assert any("read as starling" in c.value for c in at.caption)
    assert [str(a) for a in frame_with(at, "amount")["amount"]] == ["-7.99"]
    at.selectbox(key="sources_profile").select("paypal_activity").run()
    assert not at.exception, at.exception
    assert 'amount = "Net"' in at.text_area(key="sources_profile_text_paypal_activity").value


def test_sources_a_file_that_is_not_a_table_says_so(demo):
    at = open_page(signed_in("analyst"), "pages/sources.py")
    at.file_uploader(key="sources_upload").upload("statement.csv", b"\x00\x01\x02 not a table \xff\xfe").run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["1 problem(s) found in this file."], "nothing was saved: no save was tried"
    assert at.text, "each problem is written out in full, not only in a grid cell"
    assert not any(b.key == "sources_save" for b in at.button)


def test_reconcile_an_invalid_rule_set_names_the_problem_and_runs_nothing(demo):
    at = open_page(signed_in("analyst"), "pages/reconcile.py")
    key = next(t.key for t in at.text_area if t.key.startswith("reconcile_rules_text_"))
    at.text_area(key=key).input('[[passes]]\nname = "broken"\ncardinality = "seven_to_nine"\n').run()
    assert not at.exception, at.exception
    assert any("broken" in e.value and "cardinality" in e.value for e in at.error), [e.value for e in at.error]
    assert not any(b.key == "reconcile_run" for b in at.button)


def test_users_a_password_too_short_is_refused_with_a_message(demo):
    from core.auth import list_users

    at = open_page(signed_in("admin"), "pages/users.py")
    at.text_input(key="users_new_name").input("carol")
    at.text_input(key="users_new_password").input("short")
    next(b for b in at.button if b.label == "Add user").click().run()
    assert not at.exception, at.exception
    assert any("password" in e.value.lower() for e in at.error), [e.value for e in at.error]
    assert "carol" not in [u.username for u in list_users(demo)]


def test_history_a_page_past_the_end_and_a_search_full_of_wildcards_say_so(demo):
    at = open_page(signed_in("viewer"), "pages/history.py")
    at.text_input(key="history_search").input("%_'\\; --").run()
    assert not at.exception, at.exception
    assert frame_with(at, "cleared_as").empty
    at.text_input(key="history_search").set_value("").run()
    at.number_input(key="history_page").set_value(9999).run()
    assert not at.exception, at.exception
    assert any(c.value.startswith("No item on page 9999;") for c in at.caption), [c.value for c in at.caption]


def test_audit_a_filter_that_matches_nothing_shows_an_empty_log_and_the_chain_intact(demo):
    at = open_page(signed_in("viewer"), "pages/audit.py")
    at.text_input(key="audit_actor").input("'; DROP TABLE audit_log; --").run()
    at.text_input(key="audit_entity").input("%").run()
    assert not at.exception, at.exception
    assert any(c.value == "0 entries (newest first)" for c in at.caption), [c.value for c in at.caption]
    at.text_input(key="audit_actor").set_value("").run()
    at.text_input(key="audit_entity").set_value("").run()
    assert any(s.value.startswith("Chain verified") for s in at.success) and len(frame_with(at, "action")) > 0


def test_approvals_a_decision_taken_meanwhile_by_another_approver_is_never_applied_in_its_place(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "100.00")
    from core.auth import authenticate
    from core.review import decide_pending, pending_decisions, resolve_break

    analyst = authenticate(demo, "analyst", DEMO_USERS["analyst"])
    run_id = run_of(demo, "4471-0092-18")
    with demo.session() as session:
        big = session.scalars(select(Break).where(Break.run_id == run_id, Break.status == "open")).all()
        big = sorted((b for b in big if abs(b.amount) > 100), key=lambda b: b.id)[:2]
    first, second = (resolve_break(demo, b.id, b.version, "timing", "", analyst) for b in big)
    at = open_page(signed_in("approver"), "pages/approvals.py")
    assert at.selectbox(key="approvals_decision").value == first.decision_id
    decide_pending(demo, first.decision_id, True, authenticate(demo, "admin", DEMO_USERS["admin"]))
    next(b for b in at.button if b.label == "Approve").click().run()
    assert not at.exception, at.exception
    assert [p.id for p in pending_decisions(demo)] == [second.decision_id]
    assert any(f"decision {first.decision_id}" in e.value and "already been decided" in e.value for e in at.error), [
        e.value for e in at.error]


def test_a_proposal_waiting_for_an_approver_is_not_offered_and_does_not_block_select_every(demo, monkeypatch):
    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "0.00")
    at, _ = breaks_of(demo, "CS-00192-CASH")
    proposals = frame_with(at, "explanation")
    first = int(proposals.iloc[0]["id"])
    select_rows(at, "breaks_proposed_grid", [0])
    at.button(key="breaks_approve").click().run()
    at.button(key="breaks_proposed_confirm_yes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert first not in frame_with(at, "explanation")["id"].tolist()
    assert any(f"{first} (decision" in i.value for i in at.info), [i.value for i in at.info]
    at.checkbox(key="breaks_proposed_all").check().run()
    at.button(key="breaks_approve").click().run()
    at.button(key="breaks_proposed_confirm_yes").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert frame_with(at, "explanation").empty


def test_a_reconcile_over_an_account_with_a_decision_waiting_is_refused_in_one_line(demo, monkeypatch):
    from core.auth import authenticate
    from core.review import resolve_break
    from core.views import load_breaks

    monkeypatch.setenv("RECON_APPROVAL_THRESHOLD", "0.00")
    analyst = authenticate(demo, "analyst", DEMO_USERS["analyst"])
    fee = load_breaks(demo, run_of(demo, "4471-0092-18")).iloc[0]
    waiting = resolve_break(demo, int(fee["id"]), int(fee["version"]), "other", "held", analyst)
    at = open_page(signed_in("analyst"), "pages/reconcile.py")
    datasets = {d.name: d.id for d in __import__("core.ingest.datasets", fromlist=["list_datasets"]).list_datasets(demo)}
    at.selectbox(key="reconcile_internal").set_value(datasets["general_ledger_cash_2026-10.csv"]).run()
    at.selectbox(key="reconcile_external").set_value(datasets["first_national_4471_2026-10.csv"]).run()
    at.button(key="reconcile_run").click().run()
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [f"1 decision waits for an approver on 4471-0092-18 (decision {waiting.decision_id}): "
                                           "decide it before re-running"]
    assert not any(h.value.startswith("Run ") for h in at.subheader)


def test_a_bulk_question_is_withdrawn_when_a_filter_hides_one_of_its_picks(demo):
    from core.store.models import MatchGroup

    at, _ = breaks_of(demo, "4471-0092-18")
    proposals = frame_with(at, "explanation")
    assert len(proposals) >= 2
    sizes = {int(i): max(abs(b), abs(s)) for i, b, s in zip(proposals["id"], proposals["books_amount"], proposals["statement_amount"])}
    next(c for c in at.checkbox if c.label.startswith("Select every proposal shown")).check().run()
    at.text_input(key="breaks_reject_comment").input("not these")
    at.button(key="breaks_reject").click().run()
    assert any(w.value.startswith(f"Reject {len(sizes)} proposed") for w in at.warning)
    at.text_input(key="breaks_proposed_min").input(str(min(sizes.values()) + 1)).run()
    assert any("question was withdrawn" in i.value for i in at.info), [i.value for i in at.info]
    assert not [b for b in at.button if b.key == "breaks_proposed_confirm_yes"]
    with demo.session() as session:
        assert {g.status for g in session.scalars(select(MatchGroup).where(MatchGroup.id.in_(list(sizes))))} == {"proposed"}
    assert not at.exception


def test_a_typed_break_hidden_by_the_filters_is_said_to_be_picked_by_its_id(demo):
    at, grid = breaks_of(demo, "4471-0092-18")
    internal = int(grid[grid["side"] == "internal"].iloc[0]["id"])
    at.multiselect(key="breaks_sides").set_value(["external"]).run()
    at.text_input(key="breaks_ids").input(str(internal)).run()
    assert any(f"Break {internal} is not among the breaks shown" in i.value for i in at.info), [i.value for i in at.info]
    assert not at.exception


def test_a_statement_that_does_not_add_up_is_imported_flagged_once_an_approver_says_yes(demo):
    from core.review import pending_decisions
    from core.store.models import DatasetRecord
    from tests.statement_samples import camt053

    short = camt053(closing="1490.00")  # 9.75 short of opening plus entries
    analyst = open_page(signed_in("analyst"), "pages/sources.py")
    analyst.file_uploader(key="sources_upload").upload("short.xml", short).run()
    assert "ask an approver" in frame_with(analyst, "problem").loc[0, "problem"]
    assert any(t.value.endswith("ask an approver") for t in analyst.text), "the refusal is readable in full"
    analyst.button(key="sources_unbalanced_ask").click().run()
    assert any("comment is required" in e.value for e in analyst.error), [e.value for e in analyst.error]
    analyst.text_area(key="sources_unbalanced_comment").input("the bank booked a 9.75 fee the next day")
    analyst.button(key="sources_unbalanced_ask").click().run()
    assert not analyst.exception, analyst.exception
    assert any("Sent for approval" in s.value for s in analyst.success), [e.value for e in analyst.error]
    [request] = [p for p in pending_decisions(demo) if p.action == "import_unbalanced"]
    assert request.target.startswith("file short.xml: statement 42") and request.made_by == "analyst"
    assert any(f"decision {request.id}" in i.value for i in analyst.info)

    approver = open_page(signed_in("approver"), "pages/approvals.py")
    grid = frame_with(approver, "on").set_index("decision")
    assert grid.loc[request.id, "on"].startswith("file short.xml")
    assert (grid.loc[request.id, "what"], grid.loc[request.id, "account"], grid.loc[request.id, "currency"]) == \
        ("import unbalanced", "CH9300762011623852957", "CHF")
    assert grid.loc[request.id, "amount"] == Decimal("-9.75")
    assert grid.loc[request.id, "comment"] == "the bank booked a 9.75 fee the next day"
    picker = approver.selectbox(key="approvals_decision")
    assert picker.format_func(request.id).startswith(f"{request.id}: import unbalanced on file short.xml")
    approver.selectbox(key="approvals_decision").set_value(request.id)
    next(b for b in approver.button if b.label == "Approve").click().run()
    assert any("approved and applied" in s.value for s in approver.success), [e.value for e in approver.error]
    with demo.session() as session:
        dataset = session.scalar(select(DatasetRecord).where(DatasetRecord.name == "short.xml"))
    assert dataset is not None and "differs from opening plus entries by -9.75" in dataset.unbalanced

    analyst.file_uploader(key="sources_upload").upload("short.xml", short).run()
    assert any("does not add up" in w.value for w in analyst.warning)
    assert not analyst.error, "the difference already recorded is not refused again as if new"
    open_page(analyst, "pages/reconcile.py")
    assert any(o.startswith("⚠ unbalanced · short.xml") for o in analyst.selectbox(key="reconcile_external").options)
    home = signed_in("viewer")
    assert any("short.xml" in w.value for w in home.warning)
    flags = frame_with(home, "Flag")
    assert flags.loc[flags["Name"] == "short.xml", "Flag"].tolist() == ["⚠ unbalanced"]

    from core.matching.rules import load_rules
    from core.runs.reconcile import reconcile_datasets

    with demo.session() as session:
        books = session.scalar(select(DatasetRecord).where(DatasetRecord.name == "general_ledger_cash_2026-10.csv"))
    run = reconcile_datasets(demo, books, dataset, load_rules(), "", accounts=["CH9300762011623852957"]).run
    breaks = open_page(home, "pages/breaks.py")
    breaks.selectbox(key="breaks_run").set_value(run.id).run()
    assert any("This run read a dataset imported although it does not add up" in w.value for w in breaks.warning)
