"""API keys: how another system signs its HTTP API requests (``Authorization: Bearer sk_...``).

A key is ``sk_`` followed by 32 random bytes (``secrets.token_urlsafe``). It is shown once, when
it is made; the store keeps only its SHA-256 and its first characters (the prefix, to tell keys
apart in a list). A key has a name (unique) and a role, ``viewer``, ``analyst`` or ``approver``
(the roles of ``core.auth``; administration is for people, never for a key), and may be
disabled or deleted. Every use stamps its last-used time (at most once a minute, so a busy
client does not write on every request). Making, disabling and deleting a key are in the audit
log; who may is an admin signed in, or the operator at the command line.

A presented key is looked up by its SHA-256: a wrong, disabled or deleted key is simply not
found, and the caller is told nothing more (the API answers 401 without a reason).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.auth import Account, acting_user
from core.store import Store, record_audit, serialised_change
from core.store.models import ApiKey

__all__ = ["KEY_PREFIX", "KEY_ROLES", "ApiKeyError", "ApiKeyView", "authenticate_api_key", "create_api_key", "delete_api_key",
           "disable_api_key", "hash_api_key", "list_api_keys"]

KEY_PREFIX = "sk_"
KEY_ROLES = ("viewer", "analyst", "approver")
_SHOWN = 11  # "sk_" and eight characters of the random part
_LAST_USED_EVERY = dt.timedelta(minutes=1)


class ApiKeyError(ValueError):
    """A key change that is not allowed; the message says why."""


class ApiKeyView(NamedTuple):
    """What is known of a key once made: never the key itself."""

    id: int
    name: str
    prefix: str
    role: str
    active: bool
    created_by: str
    created_at: dt.datetime
    disabled_at: dt.datetime | None
    last_used_at: dt.datetime | None


def _view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(key.id, key.name, key.prefix, key.role, key.active, key.created_by, key.created_at, key.disabled_at,
                      key.last_used_at)


def hash_api_key(key: str) -> str:
    """The SHA-256 (hex) under which a key is stored and looked up."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _actor_name(session: Session, actor: Account | str) -> str:
    """An ``Account`` must be an active admin in the store; a plain name is the operator at the command line."""
    if isinstance(actor, str):
        return actor
    return acting_user(session, actor, "admin", ApiKeyError).username


def _changing_keys(store: Store):
    return serialised_change(store, ApiKeyError, same="the same API key", kind="API keys")


def _key_named(session: Session, name: str) -> ApiKey:
    key = session.scalar(select(ApiKey).where(ApiKey.name == name.strip()).with_for_update())
    if key is None:
        raise ApiKeyError(f"no API key named {name.strip()!r}")
    return key


def create_api_key(store: Store, name: str, role: str = "viewer", *, actor: Account | str) -> tuple[ApiKeyView, str]:
    """Make a key; the key itself is in the answer and nowhere else.

    Returns:
        ``(view, key)``: the stored description and the key, to be shown once.

    Raises:
        ``ApiKeyError`` for an empty or taken name, a role keys cannot have, or an actor who is
        not an active admin.
    """
    name = name.strip()
    if not name or len(name) > 64:
        raise ApiKeyError("the key's name must have 1 to 64 characters")
    if role not in KEY_ROLES:
        raise ApiKeyError(f"a key's role is one of {', '.join(KEY_ROLES)}, not {role!r}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    with _changing_keys(store) as session:
        by = _actor_name(session, actor)
        if session.scalar(select(ApiKey.id).where(ApiKey.name == name)):
            raise ApiKeyError(f"an API key named {name!r} exists already")
        key = ApiKey(name=name, prefix=secret[:_SHOWN], key_sha256=hash_api_key(secret), role=role, active=True, created_by=by,
                     created_at=_now())
        session.add(key)
        session.flush()
        record_audit(session, by, "create_api_key", "api_key", name, None, {"role": role, "prefix": key.prefix})
        view = _view(key)
    return view, secret


def list_api_keys(store: Store) -> list[ApiKeyView]:
    """Every key, newest first: name, prefix, role, state and times."""
    with store.session() as session:
        return [_view(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc()))]


def disable_api_key(store: Store, name: str, *, actor: Account | str) -> ApiKeyView:
    """Stop a key from working; it stays listed (and audited) as disabled."""
    with _changing_keys(store) as session:
        by = _actor_name(session, actor)
        key = _key_named(session, name)
        if not key.active:
            raise ApiKeyError(f"the API key {key.name!r} is disabled already")
        key.active, key.disabled_at = False, _now()
        record_audit(session, by, "disable_api_key", "api_key", key.name, {"active": True}, {"active": False})
        return _view(key)


def delete_api_key(store: Store, name: str, *, actor: Account | str) -> None:
    """Remove a key; the audit log keeps that it existed and who removed it."""
    with _changing_keys(store) as session:
        by = _actor_name(session, actor)
        key = _key_named(session, name)
        record_audit(session, by, "delete_api_key", "api_key", key.name, {"role": key.role, "prefix": key.prefix, "active": key.active},
                     None)
        session.delete(key)


def authenticate_api_key(store: Store, presented: str | None) -> ApiKeyView | None:
    """The active key ``presented`` is, or ``None`` (wrong, disabled, deleted, malformed: all alike).

    Stamps the key's last-used time when it is older than a minute.
    """
    if not presented or not presented.startswith(KEY_PREFIX) or len(presented) > 128:
        return None
    digest, now = hash_api_key(presented), _now()
    with store.session() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_sha256 == digest))
        if key is None or not key.active:
            return None
        last = key.last_used_at
        if last is not None and last.tzinfo is None:
            last = last.replace(tzinfo=dt.UTC)
        if last is None or now - last >= _LAST_USED_EVERY:
            session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now))
            key.last_used_at = now
        return _view(key)
