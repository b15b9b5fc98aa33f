"""Accounts on SQLite and PostgreSQL: canonical usernames, the store as the only authority on
who someone is, and sign-in backoff per username and per client, audited."""

import datetime as dt

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, select

from core import auth
from core.auth import (Account, AuthError, SignInLocked, authenticate, canonical_username, create_user, reload_account, set_password,
                       update_user)
from core.store import open_store
from core.store.models import AuditEntry, User

PASSWORD = "a-long-password"


class Clock:
    """The time ``core.auth`` sees, moved by hand."""

    def __init__(self):
        self.now = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    found = Clock()
    monkeypatch.setattr(auth, "_now", found)
    return found


@pytest.fixture
def admin(store):
    return create_user(store, "root", PASSWORD, "admin")


def audit_actions(store, *actions):
    with store.session() as session:
        return [(a.action, a.entity_id, a.after) for a in
                session.scalars(select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id))]


def test_usernames_are_stored_and_found_in_one_canonical_spelling(store):
    made = create_user(store, "  Approver ", PASSWORD, "approver")
    assert (made.username, made.display_name) == ("approver", "approver")
    assert canonical_username(" ÄNNA\t") == "änna"
    for variant in ("APPROVER", " approver", "Approver  "):
        assert authenticate(store, variant, PASSWORD) == made
    with pytest.raises(AuthError, match="'approver' is taken"):
        create_user(store, "approver ", PASSWORD, "viewer")
    with store.session() as session:
        assert session.scalars(select(User.username)).all() == ["approver"]


def test_a_disabled_or_re_roled_user_is_signed_out_or_narrowed_on_the_next_page_load(store, admin):
    ana = create_user(store, "ana", PASSWORD, "analyst", display_name="Ana")
    signed_in = authenticate(store, "ana", PASSWORD)
    assert signed_in == ana and signed_in.user_id is not None
    assert reload_account(store, signed_in) == ana
    update_user(store, "ana", actor=admin, role="viewer")
    assert reload_account(store, signed_in) == Account("ana", "Ana", "viewer", ana.user_id)
    update_user(store, "ana", actor=admin, active=False)
    assert reload_account(store, signed_in) is None
    assert authenticate(store, "ana", PASSWORD) is None


def test_an_account_the_store_does_not_vouch_for_is_signed_out(store):
    approver = create_user(store, "approver", PASSWORD, "approver")
    analyst = create_user(store, "ana", PASSWORD, "analyst")
    forged = [Account("approver", "Approver", "approver"), Account("approver", "Approver", "admin", analyst.user_id),
              Account("Approver", "Approver", "approver", approver.user_id), Account("approver ", "Approver", "approver", approver.user_id),
              Account("ghost", "Ghost", "admin", 999)]
    assert [reload_account(store, account) for account in forged] == [None] * len(forged)
    promoted = Account("ana", "Ana", "admin", analyst.user_id)
    assert reload_account(store, promoted) == analyst, "the role comes from the store, not from the account"


def test_user_changes_need_an_active_admin_as_the_store_has_it(store, admin):
    ana = create_user(store, "ana", PASSWORD, "analyst", actor=admin)
    for forged in (Account("ana", "Ana", "admin", ana.user_id), Account("root", "Root", "admin"),
                   Account("Root", "Root", "admin", admin.user_id)):
        with pytest.raises(AuthError):
            update_user(store, "ana", actor=forged, role="admin")
        with pytest.raises(AuthError):
            set_password(store, "ana", "another-long-password", actor=forged)
        with pytest.raises(AuthError):
            create_user(store, "eve", PASSWORD, "admin", actor=forged)
    second = create_user(store, "second", PASSWORD, "admin", actor=admin)
    update_user(store, "root", actor=second, active=False)
    with pytest.raises(AuthError, match="root is disabled"):
        update_user(store, "ana", actor=admin, role="admin")
    update_user(store, " ANA", actor=second, role="approver")
    with store.session() as session:
        assert session.scalar(select(User.role).where(User.username == "ana")) == "approver"
    assert audit_actions(store, "update_user")[-1][:2] == ("update_user", "ana")


def test_failed_sign_ins_lock_the_username_for_minutes_growing_and_every_one_is_audited(store, clock, monkeypatch):
    monkeypatch.setenv("RECON_SIGNIN_MAX_FAILURES", "5")
    monkeypatch.setenv("RECON_SIGNIN_LOCK_MINUTES", "5")
    ana = create_user(store, "ana", PASSWORD, "analyst")
    for _ in range(4):
        assert authenticate(store, "ana", "wrong-password", client="browser-1") is None
        clock.advance(seconds=10)
    with pytest.raises(SignInLocked, match=r"^Too many failed sign-ins for this username; try again in 5 minutes\.$"):
        authenticate(store, "Ana", "wrong-password", client="browser-2")
    clock.advance(minutes=1)
    with pytest.raises(SignInLocked, match="try again in 4 minutes"):
        authenticate(store, "ana", PASSWORD, client="browser-3")
    clock.advance(minutes=4)
    with pytest.raises(SignInLocked, match="try again in 10 minutes"):
        authenticate(store, "ana", "wrong-password")
    clock.advance(minutes=10)
    assert authenticate(store, "ana", PASSWORD) == ana
    assert authenticate(store, "ana", "wrong-password") is None, "a success starts the count again"
    failed = audit_actions(store, "sign_in_failed")
    assert len(failed) == 7 and {entity for _, entity, _ in failed} == {"ana"}
    assert [after["client"] for _, _, after in failed][:5] == ["browser-1"] * 4 + ["browser-2"]
    locks = audit_actions(store, "sign_in_locked")
    assert [(after["locked"], after["minutes"]) for _, _, after in locks] == [("username", 5), ("username", 10)]
    assert [after["client"] for _, _, after in audit_actions(store, "sign_in_refused")] == ["browser-3"]


def test_a_lock_is_kept_in_the_store_for_every_process_and_restart(store, clock):
    create_user(store, "ana", PASSWORD, "analyst")
    for _ in range(5):
        try:
            authenticate(store, "ana", "wrong-password")
        except SignInLocked:
            pass
    other = open_store(store.engine.url.render_as_string(hide_password=False), store.data_dir)
    try:
        with pytest.raises(SignInLocked, match="for this username"):
            authenticate(other, "ana", PASSWORD)
    finally:
        other.engine.dispose()


def test_one_client_guessing_many_usernames_is_locked_from_that_client(store, clock, monkeypatch):
    monkeypatch.setenv("RECON_SIGNIN_MAX_CLIENT_FAILURES", "3")
    create_user(store, "ana", PASSWORD, "analyst")
    assert authenticate(store, "ben", "guess-1", client="10.0.0.9") is None
    assert authenticate(store, "cara", "guess-2", client="10.0.0.9") is None
    with pytest.raises(SignInLocked, match=r"from this browser; try again in 5 minutes"):
        authenticate(store, "dan", "guess-3", client="10.0.0.9")
    with pytest.raises(SignInLocked, match="from this browser"):
        authenticate(store, "ana", PASSWORD, client="10.0.0.9")
    assert authenticate(store, "ana", PASSWORD, client="10.0.0.7") is not None
    assert {entity for _, entity, _ in audit_actions(store, "sign_in_failed")} == {"unknown"}, \
        "what was typed as an unknown username (perhaps a password) stays out of the log"


def test_an_unknown_username_costs_what_a_known_one_costs(store, clock, monkeypatch):
    """Same password verifications and the same statements, in the same order; only values differ."""
    create_user(store, "ana", PASSWORD, "analyst")
    verified = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash, password):
            verified.append(hash)
            return super().verify(hash, password)

    monkeypatch.setattr(auth, "_HASHER", CountingHasher())
    statements = []

    def remember(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", remember)
    try:
        costs = {}
        for name in ("ana", "nobody"):
            verified.clear()
            statements.clear()
            assert authenticate(store, name, "wrong-password", client="c") is None
            costs[name] = (len(verified), list(statements))
    finally:
        event.remove(store.engine, "before_cursor_execute", remember)
    assert costs["ana"][0] == costs["nobody"][0] == 1
    assert costs["ana"][1] == costs["nobody"][1]
    assert any("INSERT INTO audit_log" in s for s in costs["nobody"][1])


def _disable_in_a_process(url, data_dir, actor, target, start, results) -> None:
    store = open_store(url, data_dir)
    try:
        start.wait()
        update_user(store, target, actor=Account(*actor), active=False)
        results.put("disabled")
    except AuthError:
        results.put("refused")
    except Exception as exc:  # anything else is the failure this test is about
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.engine.dispose()


def test_two_admins_disabling_each_other_at_once_leave_one_admin(store, admin):
    import multiprocessing

    other = create_user(store, "second", PASSWORD, "admin", actor=admin)
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    url = store.engine.url.render_as_string(hide_password=False)
    workers = [context.Process(target=_disable_in_a_process, args=(url, str(store.data_dir), tuple(actor), target.username, start, results))
               for actor, target in ((admin, other), (other, admin))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert sorted(results.get(timeout=5) for _ in workers) == ["disabled", "refused"]
    with store.session() as session:
        assert session.scalars(select(User.username).where(User.role == "admin", User.active.is_(True))).all() in (["root"], ["second"])
