"""Local accounts and roles. Passwords are hashed with argon2 (argon2-cffi); never stored.

Roles, each including the ones before it:

- ``viewer``: reads every page.
- ``analyst``: imports files, runs reconciliations, works breaks (approve or reject proposed
  matches, match by hand, resolve, unmatch).
- ``approver``: approves or refuses other people's decisions that need a second person.
- ``admin``: adds, disables and re-roles users.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select

from core.store import Store, record_audit
from core.store.models import User

__all__ = ["ROLES", "AuthError", "Account", "authenticate", "can", "create_user", "demo_passwords_in_use", "list_users",
           "set_password", "update_user"]

ROLES = ("viewer", "analyst", "approver", "admin")
MIN_PASSWORD_LENGTH = 10
_HASHER = PasswordHasher()
# Checked against the stored hash, so that one verification costs the same whether or not
# the user exists.
_DUMMY_HASH = _HASHER.hash("not-a-real-password")


class AuthError(ValueError):
    """A user change that is not allowed; the message says why."""


class Account(NamedTuple):
    """The signed-in user, as pages keep it in their session."""

    username: str
    display_name: str
    role: str


def can(account: Account | None, role: str) -> bool:
    """Whether the account has at least ``role``."""
    return account is not None and ROLES.index(account.role) >= ROLES.index(role)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


def create_user(store: Store, username: str, password: str, role: str, *, display_name: str = "", actor: str = "system") -> Account:
    """Add a user. Raises ``AuthError`` for a taken name, an unknown role or a short password."""
    username = username.strip()
    if not username or len(username) > 64:
        raise AuthError("the username must have 1 to 64 characters")
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    _check_password(password)
    with store.session() as session:
        if session.scalar(select(User.id).where(User.username == username)):
            raise AuthError(f"the username {username!r} is taken")
        user = User(username=username, display_name=display_name or username, password_hash=_HASHER.hash(password),
                    role=role, active=True)
        session.add(user)
        record_audit(session, actor, "create_user", "user", username, None, {"role": role, "active": True})
    return Account(username, user.display_name, role)


def authenticate(store: Store, username: str, password: str) -> Account | None:
    """The account for a correct username and password of an active user; otherwise ``None``."""
    with store.session() as session:
        user = session.scalar(select(User).where(User.username == username.strip()))
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    return Account(user.username, user.display_name, user.role)


def list_users(store: Store) -> list[User]:
    with store.session() as session:
        return list(session.scalars(select(User).order_by(User.username)))


def update_user(store: Store, username: str, *, actor: str, role: str | None = None, active: bool | None = None) -> None:
    """Change a user's role or active flag. The last active admin cannot be removed or disabled."""
    if role is not None and role not in ROLES:
        raise AuthError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    with store.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise AuthError(f"no user {username!r}")
        before = {"role": user.role, "active": user.active}
        new_role = role if role is not None else user.role
        new_active = active if active is not None else user.active
        if user.role == "admin" and (new_role != "admin" or not new_active):
            others = session.scalar(select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id))
            if not others:
                raise AuthError("the last active admin cannot be disabled or given another role")
        user.role, user.active, user.updated_at = new_role, new_active, dt.datetime.now(dt.UTC)
        record_audit(session, actor, "update_user", "user", username, before, {"role": new_role, "active": new_active})


def set_password(store: Store, username: str, password: str, *, actor: str) -> None:
    _check_password(password)
    with store.session() as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise AuthError(f"no user {username!r}")
        user.password_hash, user.updated_at = _HASHER.hash(password), dt.datetime.now(dt.UTC)
        record_audit(session, actor, "set_password", "user", username, None, None)


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
