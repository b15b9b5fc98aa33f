"""Local accounts and roles. Passwords are hashed with argon2 (argon2-cffi); never stored.

Roles, each including the ones before it:

- ``viewer``: reads every page.
- ``analyst``: imports files, runs reconciliations, works breaks (approve or reject proposed
  matches, match by hand, resolve, unmatch).
- ``approver``: approves or refuses other people's decisions that need a second person.
- ``admin``: adds, disables and re-roles users.

The store is the only authority on who someone is. An ``Account`` is what a page keeps in its
session; core never takes its word: every decision re-reads the user by ``user_id`` in its own
transaction and uses the store's active flag and role (:func:`acting_user`), and pages reload
the account on every page load (:func:`reload_account`), so a disabled or re-roled user is
signed out or narrowed at once. Usernames are canonical: surrounding space removed, case folded.

Sign-in is slowed down for guessers: after ``RECON_SIGNIN_MAX_FAILURES`` failures (default 5)
for one username, or ``RECON_SIGNIN_MAX_CLIENT_FAILURES`` (default 20) from one client, since
its last success and within a day, that username or client is locked for
``RECON_SIGNIN_LOCK_MINUTES`` (default 5), doubled by every further failure up to
``RECON_SIGNIN_MAX_LOCK_MINUTES``. Attempts live in the store, so every process sees them and
a restart forgets nothing. Every failure, refusal and lock is in the audit log. An unknown
username costs what a known one costs: the same queries, one password verification, one audit
entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import config
from core.store import Store, record_audit, serialised_change
from core.store.models import SignInAttempt, User

__all__ = ["ROLES", "Account", "AuthError", "SignInLocked", "acting_user", "authenticate", "can", "canonical_username", "create_user",
           "demo_passwords_in_use", "list_users", "reload_account", "set_password", "update_user"]

ROLES = ("viewer", "analyst", "approver", "admin")
MIN_PASSWORD_LENGTH = 10
_HASHER = PasswordHasher()
# Checked against the stored hash, so that one verification costs the same whether or not
# the user exists.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")
# Failures older than this no longer count towards a lock.
_FAILURE_MEMORY = dt.timedelta(days=1)
_NOT_VOUCHED = "this account is not known to the store as given; sign in again"


class AuthError(ValueError):
    """A user change that is not allowed; the message says why."""


class SignInLocked(AuthError):
    """Too many failed sign-ins for a username or from a client; the message says for how long."""


class Account(NamedTuple):
    """The signed-in user, as pages keep it in their session. Core re-reads it from the store."""

    username: str
    display_name: str
    role: str
    user_id: int | None = None


def canonical_username(name: str) -> str:
    """The one spelling a username is stored and looked up in: no surrounding space, case folded."""
    return name.strip().casefold()


def can(account: Account | None, role: str) -> bool:
    """Whether the account has at least ``role``."""
    return account is not None and ROLES.index(account.role) >= ROLES.index(role)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def acting_user(session: Session, account: Account | None, role: str, error: type[Exception] = AuthError) -> User:
    """The acting user as the store has it now, checked to be active and to hold ``role``.

    Read by ``user_id`` in the caller's transaction; on PostgreSQL the row is locked for share,
    so a concurrent disable or re-role waits for this transaction (and vice versa). The
    account's role is never used, and its username must be the stored one exactly.

    Raises:
        ``error`` (``AuthError`` unless given) naming what is wrong.
    """
    if not isinstance(account, Account) or account.user_id is None:
        raise error(_NOT_VOUCHED)
    user = session.scalar(select(User).where(User.id == account.user_id).with_for_update(read=True))
    if user is None or user.username != account.username:
        raise error(_NOT_VOUCHED)
    if not user.active:
        raise error(f"{user.username} is disabled")
    if ROLES.index(user.role) < ROLES.index(role):
        raise error(f"{user.username} ({user.role}) may not do this; it needs the {role} role")
    return user


def reload_account(store: Store, account: Account | None) -> Account | None:
    """The account as the store has it now, or ``None`` when it must be signed out.

    ``None`` for an account without ``user_id``, one whose username is not the stored one, and
    a user who is gone or disabled. Otherwise a fresh ``Account`` with the store's role.
    """
    if not isinstance(account, Account) or account.user_id is None:
        return None
    with store.session() as session:
        user = session.get(User, account.user_id)
    if user is None or not user.active or user.username != account.username:
        return None
    return Account(user.username, user.display_name, user.role, user.id)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def _actor_name(session: Session, actor: Account | str) -> str:
    """An ``Account`` must be an active admin in the store; a plain name is a system process (seeding)."""
    if isinstance(actor, str):
        return actor
    return acting_user(session, actor, "admin").username


def create_user(store: Store, username: str, password: str, role: str, *, display_name: str = "",
                actor: Account | str = "system") -> Account:
    """Add a user, stored under its canonical name.

    Args:
        actor: the signed-in admin; a plain name only for system processes (demo, first admin).

    Raises:
        ``AuthError`` for a taken name (in any case or spacing), an unknown role, a short
        password, or an actor who is not an active admin.
    """
    username = canonical_username(username)
    if not username or len(username) > 64:
        raise AuthError("the username must have 1 to 64 characters")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    _check_password(password)
    with serialised_change(store, AuthError, same="the same user", kind="users") as session:
        by = _actor_name(session, actor)
        if session.scalar(select(User.id).where(User.username == username)):
            raise AuthError(f"the username {username!r} is taken")
        user = User(username=username, display_name=display_name.strip() or username, password_hash=_HASHER.hash(password),
                    role=role, active=True)
        session.add(user)
        session.flush()
        record_audit(session, by, "create_user", "user", username, None, {"role": role, "active": True})
    return Account(user.username, user.display_name, role, user.id)


class _Lock(NamedTuple):
    scope: str  # username | client
    until: dt.datetime
    minutes: int

    def message(self, now: dt.datetime) -> str:
        left = max(1, math.ceil((self.until - now).total_seconds() / 60))
        whose = "for this username" if self.scope == "username" else "from this browser"
        return f"Too many failed sign-ins {whose}; try again in {left} minute{'s' if left != 1 else ''}."


def _lock_in_force(session: Session, username: str, client: str, now: dt.datetime) -> _Lock | None:
    """The lock on the username (its key, see :func:`_attempt_key`) or the client at ``now``, if
    any; the longer one when both."""
    policy = config.sign_in_policy()
    found = []
    buckets = [("username", SignInAttempt.username == username, policy.max_failures)]
    if client:
        buckets.append(("client", SignInAttempt.client == client, policy.max_client_failures))
    for scope, same, limit in buckets:
        last_ok = session.scalar(select(func.max(SignInAttempt.at)).where(same, SignInAttempt.outcome == "ok"))
        since = max(_as_utc(last_ok), now - _FAILURE_MEMORY) if last_ok else now - _FAILURE_MEMORY
        count, last = session.execute(select(func.count(), func.max(SignInAttempt.at))
                                      .where(same, SignInAttempt.outcome == "failed", SignInAttempt.at > since)).one()
        if count >= limit:
            minutes = min(policy.lock_minutes * 2 ** (count - limit), policy.max_lock_minutes)
            until = _as_utc(last) + dt.timedelta(minutes=minutes)
            if now < until:
                found.append(_Lock(scope, until, minutes))
    return max(found, key=lambda lock: lock.until, default=None)


def _attempt_key(username: str) -> str:
    """Attempts are kept under the SHA-256 of the canonical name: what is typed as a username is
    sometimes a password, and it is not stored."""
    return hashlib.sha256(username.encode()).hexdigest()


def authenticate(store: Store, username: str, password: str, *, client: str = "") -> Account | None:
    """The account for a correct username and password of an active user; otherwise ``None``.

    Args:
        client: what identifies the browser or caller (the page passes one); failures are
            counted per canonical username and, when given, per client.

    Raises:
        ``SignInLocked`` while the username or the client is locked, and at the failure that
        locks it; its message says for how many minutes, for the person to read.
    """
    name, client = canonical_username(username), client.strip()[:128]
    key, now = _attempt_key(name), _now()
    with store.session() as session:
        lock = _lock_in_force(session, key, client, now)
        user = session.scalar(select(User).where(User.username == name))
    # Unknown usernames are audited without the text typed, which may be a password.
    shown = user.username if user is not None else "unknown"
    if lock is not None:
        with store.session() as session:
            session.add(SignInAttempt(at=now, username=key, client=client, outcome="locked"))
            record_audit(session, shown, "sign_in_refused", "user", shown, None,
                         {"client": client, "locked": lock.scope, "until": lock.until.isoformat(timespec="seconds")})
        raise SignInLocked(lock.message(now))
    try:
        _HASHER.verify(user.password_hash if user is not None else _DUMMY_HASH, password)
        correct = True
    except (VerificationError, InvalidHashError):
        correct = False
    if correct and user is not None and user.active:
        with store.session() as session:
            session.add(SignInAttempt(at=now, username=key, client=client, outcome="ok"))
            record_audit(session, user.username, "sign_in", "user", user.username, None, {"client": client})
        return Account(user.username, user.display_name, user.role, user.id)
    with store.session() as session:
        session.add(SignInAttempt(at=now, username=key, client=client, outcome="failed"))
        session.flush()
        lock = _lock_in_force(session, key, client, now)
        record_audit(session, shown, "sign_in_failed", "user", shown, None, {"client": client})
        if lock is not None:
            record_audit(session, shown, "sign_in_locked", "user", shown, None,
                         {"client": client, "locked": lock.scope, "minutes": lock.minutes,
                          "until": lock.until.isoformat(timespec="seconds")})
    if lock is not None:
        raise SignInLocked(lock.message(now))
    return None


def list_users(store: Store) -> list[User]:
    with store.session() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def _user_to_change(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == canonical_username(username)).with_for_update())
    if user is None:
        raise AuthError(f"no user {username!r}")
    return user


def update_user(store: Store, username: str, *, actor: Account, role: str | None = None, active: bool | None = None) -> None:
    """Change a user's role or active flag. The last active admin cannot be removed or disabled.

    Args:
        actor: the signed-in admin, checked against the store.
    """
    if role is not None and role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    with serialised_change(store, AuthError, same="the same user", kind="users") as session:
        by = acting_user(session, actor, "admin").username
        user = _user_to_change(session, username)
        before = {"role": user.role, "active": user.active}
        new_role = role if role is not None else user.role
        new_active = active if active is not None else user.active
        if user.role == "admin" and (new_role != "admin" or not new_active):
            others = session.scalar(select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id))
            if not others:
                raise AuthError("the last active admin cannot be disabled or given another role")
        user.role, user.active, user.updated_at = new_role, new_active, _now()
        record_audit(session, by, "update_user", "user", user.username, before, {"role": new_role, "active": new_active})


def set_password(store: Store, username: str, password: str, *, actor: Account) -> None:
    """Give a user a new password. ``actor``: the signed-in admin, checked against the store."""
    _check_password(password)
    with serialised_change(store, AuthError, same="the same user", kind="users") as session:
        by = acting_user(session, actor, "admin").username
        user = _user_to_change(session, username)
        user.password_hash, user.updated_at = _HASHER.hash(password), _now()
        record_audit(session, by, "set_password", "user", user.username, None, None)


def demo_passwords_in_use(store: Store, demo_passwords: dict[str, str]) -> list[str]:
    """Active users whose password is still the published demo password."""
    found = []
    with store.session() as session:
        users = session.scalars(select(User).where(User.username.in_(list(demo_passwords)), User.active.is_(True))).all()
    for user in users:
        try:
            _HASHER.verify(user.password_hash, demo_passwords[user.username])
            found.append(user.username)
        except (VerificationError, InvalidHashError):
            continue
    return found
