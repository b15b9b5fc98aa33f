"""What every decision shares: its errors and outcome, its transaction, versioned changes, its row.

Private to ``core.review``: the decision modules build on these; nothing else should.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from core import config
from core.auth import Account, acting_user, canonical_username
from core.domain.accounts import resolve_account_key
from core.store import Store, lost_to_another_writer
from core.store.models import AccountAlias, Break, Decision, ReconciliationSignOff, User

__all__ = ["REASON_CODES", "ConflictError", "IDS_PER_QUERY", "Outcome", "PeriodLockedError", "ReviewError", "approval_threshold",
           "decision_amount"]

REASON_CODES = {
    "timing": "Timing difference",
    "bank_fee": "Bank fee",
    "duplicate": "Duplicate",
    "missing_in_books": "Missing in books",
    "missing_at_bank": "Missing at bank",
    "fx": "FX difference",
    "other": "Other",
}


class ReviewError(ValueError):
    """A decision that cannot be taken; the message says why."""


class ConflictError(ReviewError):
    """Someone changed the break or group since it was read."""


class PeriodLockedError(ReviewError):
    """A decision on records a signed-off bank reconciliation covers (the period is locked)."""


class Outcome(NamedTuple):
    decision_id: int
    status: str  # applied | pending


def approval_threshold() -> Decimal:
    """Amounts above this need a second person (``RECON_APPROVAL_THRESHOLD``, default 10000.00)."""
    return config.approval_threshold()


def decision_amount(records: Iterable) -> Decimal:
    """What the approval threshold measures: the larger side total, in absolute value.

    ``records``: anything with ``side`` and ``amount`` (breaks, match items). One record on its
    own weighs its own amount.
    """
    totals = {"internal": Decimal(0), "external": Decimal(0)}
    for record in records:
        totals[record.side] += abs(record.amount)
    return max(totals.values())


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _user_as_stored(session, actor: Account, role: str) -> User:
    """The acting user as the store has it now (active, role), read in the decision's transaction."""
    return acting_user(session, actor, role, ReviewError)


@contextmanager
def _deciding(store: Store) -> Iterator:
    """One decision's transaction, serialised with other writers.

    A clash the database catches (two people creating the same group at once, a deadlock, a
    lock waited on too long) is a ``ConflictError``; any other refusal a ``ReviewError``. The
    transaction is rolled back either way: nothing is written half.
    """
    try:
        with store.session(serialised=True) as session:
            yield session
    except IntegrityError:
        raise ConflictError("someone else decided on the same records at the same moment; reload and decide again") from None
    except DBAPIError as exc:
        if lost_to_another_writer(exc):
            raise ConflictError("someone else was deciding on the same records; reload and decide again") from None
        raise ReviewError(f"the store refused the decision ({type(exc.orig).__name__}: {exc.orig}); nothing was changed") from None


def _update_if_unchanged(session, model, row_id: int, seen_version: int, by: User, **values) -> None:
    """Apply a change only if the row is still at the version its author saw."""
    result = session.execute(
        update(model).where(model.id == row_id, model.version == seen_version)
        .values(version=model.version + 1, updated_by=by.username, updated_at=_now(), **values)
    )
    if result.rowcount != 1:
        current = session.get(model, row_id)
        if current is None:
            raise ReviewError(f"{model.__tablename__[:-1]} {row_id} does not exist")
        raise _conflict("break" if model is Break else "match", current)
    session.expire_all()


def _refuse_if_locked(session, records) -> None:
    """Refuse a decision on records of a locked period: the one check every kind of decision passes.

    A signed-off bank reconciliation (``core.banking.signoff``) locks its account, by key after
    the aliases, up to its date: a record on that account dated on or before it may not be
    resolved, matched, unmatched, or have its proposal approved or rejected, nor may a waiting
    decision on it be approved. ``records``: anything with ``record_id``, ``account`` and ``date``
    (breaks, match items).

    Raises:
        PeriodLockedError: naming the lock, who signed it and the first record it covers.
    """
    locks: dict[str, ReconciliationSignOff] = {}
    for signed in session.scalars(select(ReconciliationSignOff).where(ReconciliationSignOff.status == "signed_off")):
        if signed.account_key not in locks or signed.as_of > locks[signed.account_key].as_of:
            locks[signed.account_key] = signed
    if not locks:
        return
    aliases = dict(session.execute(select(AccountAlias.alias_key, AccountAlias.target_key)).all())
    for record in sorted(records, key=lambda r: (r.date, r.record_id)):
        lock = locks.get(resolve_account_key(record.account, aliases))
        if lock is not None and record.date <= lock.as_of:
            raise PeriodLockedError(
                f"account {lock.account} is locked to {lock.as_of} by the signed-off reconciliation of {lock.as_of} "
                f"(signed by {lock.signed_by} on {lock.signed_at:%Y-%m-%d}); record {record.record_id} of {record.date} "
                "is in the locked period: no decision on it can be taken")


def _made_by(decision: Decision, user: User) -> bool:
    """Whether ``user`` made the decision: by user id (by name only for decisions older than ids)."""
    if decision.made_by_id is not None:
        return decision.made_by_id == user.id
    return canonical_username(decision.made_by) == user.username


def _break_state(row: Break) -> dict:
    return {"status": row.status, "resolution": row.resolution, "version": row.version, "pending_decision_id": row.pending_decision_id}


def _record_decision(session, by: User, action: str, target_type: str, target_id: str, *, run_id: int | None, status: str,
            amount: Decimal | None = None, reason_code: str | None = None, comment: str = "", payload: dict | None = None,
            parent_id: int | None = None) -> Decision:
    decision = Decision(parent_id=parent_id, run_id=run_id, target_type=target_type, target_id=str(target_id), action=action,
                        reason_code=reason_code, comment=comment, amount=amount, status=status, made_by=by.username,
                        made_by_id=by.id, made_at=_now(), payload=payload)
    session.add(decision)
    session.flush()
    return decision


def _conflict(kind: str, row) -> ConflictError:
    when = f"{row.updated_at:%Y-%m-%d %H:%M:%S} UTC" if row.updated_at else "an earlier time"
    return ConflictError(f"{kind} {row.id} was changed by {row.updated_by or 'the system'} at {when}; reload and decide again")


IDS_PER_QUERY = 1000  # ids per IN list: well within every database's limit on bound values

