"""Signing off a bank reconciliation statement, under maker-checker, and the period it locks.

One person (an analyst) prepares the statement of one account as of a date, from a saved run
(:mod:`core.banking.saved`); a second person (an approver, never the preparer, told apart by
user id) signs it off. Only a statement with no unexplained difference can be prepared or
signed off. The lines are kept as prepared, and signing off works the statement out again: if
a decision changed it since, the sign-off is refused and it must be prepared again. Both steps
are in the audit log, in the same transaction as the change.

A signed-off statement locks its account (by key, after the aliases) up to its date: every
later decision on a record of that account dated on or before it is refused
(``core.review._shared._refuse_if_locked``). Preparing again replaces a statement still
waiting for the same account and date.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select, update

from core.accounts import load_aliases
from core.auth import Account, acting_user
from core.banking.brs import LINES, BankReconciliation
from core.banking.saved import saved_run_reconciliation
from core.domain.accounts import resolve_account_key
from core.store import Store, record_audit
from core.store.models import ReconciliationSignOff

__all__ = ["SignOffError", "account_lock", "account_statement", "prepare_sign_off", "sign_off", "sign_offs"]

PREPARE_ROLE = "analyst"
SIGN_OFF_ROLE = "approver"


class SignOffError(ValueError):
    """A statement that cannot be prepared or signed off; the message says why."""


def account_statement(store: Store, run_id: int, account: str, as_of: dt.date, *, book_opening: Decimal | None = None,
                      bank_closing: Decimal | None = None) -> BankReconciliation:
    """The statement of one account of a saved run as of a date, now.

    Raises:
        SignOffError: the run does not hold the account, or the statement cannot be made (no
            bank closing balance, two currencies): the findings' messages.
    """
    brs, errors = saved_run_reconciliation(store, run_id, as_of, account=account,
                                           bank_closings={account: bank_closing} if bank_closing is not None else None,
                                           book_openings={account: book_opening} if book_opening is not None else None)
    if errors:
        raise SignOffError("; ".join(e.message for e in errors))
    if not brs.lines:
        raise SignOffError(f"run {run_id} holds no record of account {account} on or before {as_of}")
    return brs


def _lines_of(brs: BankReconciliation) -> dict[str, str]:
    return {x.line: format(x.amount, "f") for x in brs.lines}


def _unexplained(brs: BankReconciliation, account: str, as_of: dt.date) -> None:
    difference = brs.lines[LINES.index("unexplained_difference")].amount
    if difference != 0:
        raise SignOffError(f"account {account} as of {as_of} has an unexplained difference of {difference}: only a statement "
                           "with no unexplained difference can be signed off")


def prepare_sign_off(store: Store, run_id: int, account: str, as_of: dt.date, actor: Account, *,
                     book_opening: Decimal | None = None, bank_closing: Decimal | None = None) -> ReconciliationSignOff:
    """Prepare one account's statement for sign-off (an analyst); it waits for a second person.

    Raises:
        SignOffError: the statement has an unexplained difference, cannot be made, or falls
            in a period locked already; nothing is written.
    """
    key = resolve_account_key(account, load_aliases(store))
    with store.session() as session:
        _refuse_if_signed_off(session, key, as_of)
    brs = account_statement(store, run_id, account, as_of, book_opening=book_opening, bank_closing=bank_closing)
    label = brs.lines[0].account
    _unexplained(brs, label, as_of)
    currency = brs.summary["accounts"][label]["currency"]
    with store.session(serialised=True) as session:
        by = acting_user(session, actor, PREPARE_ROLE, SignOffError)
        _refuse_if_signed_off(session, key, as_of)
        for earlier in session.scalars(select(ReconciliationSignOff).where(ReconciliationSignOff.account_key == key,
                                                                          ReconciliationSignOff.as_of == as_of,
                                                                          ReconciliationSignOff.status == "prepared")):
            earlier.status = "superseded"
            record_audit(session, by.username, "supersede_sign_off", "reconciliation", str(earlier.id), {"status": "prepared"},
                         {"status": "superseded"})
        row = ReconciliationSignOff(run_id=run_id, account_key=key, account=label, as_of=as_of, currency=currency,
                                    book_opening=book_opening, bank_closing=bank_closing, lines=_lines_of(brs), status="prepared",
                                    prepared_by=by.username, prepared_by_id=by.id, prepared_at=dt.datetime.now(dt.UTC))
        session.add(row)
        session.flush()
        record_audit(session, by.username, "prepare_sign_off", "reconciliation", str(row.id), None,
                     {"status": "prepared", "run_id": run_id, "account": label, "as_of": as_of.isoformat(), "lines": row.lines})
        session.expunge(row)
    return row


def sign_off(store: Store, sign_off_id: int, actor: Account) -> ReconciliationSignOff:
    """Sign off a prepared statement (an approver other than the preparer); it locks the account to its date.

    Raises:
        SignOffError: the preparer signing, a statement not waiting, or one whose lines
            changed since it was prepared (it must be prepared again); nothing is written.
    """
    with store.session() as session:
        prepared = session.get(ReconciliationSignOff, sign_off_id)
        if prepared is None:
            raise SignOffError(f"there is no prepared reconciliation {sign_off_id}")
        session.expunge(prepared)
    now = account_statement(store, prepared.run_id, prepared.account, prepared.as_of, book_opening=prepared.book_opening,
                            bank_closing=prepared.bank_closing)
    lines = _lines_of(now)
    with store.session(serialised=True) as session:
        by = acting_user(session, actor, SIGN_OFF_ROLE, SignOffError)
        row = session.get(ReconciliationSignOff, sign_off_id)
        if row.status != "prepared":
            raise SignOffError(f"reconciliation {sign_off_id} is {row.status.replace('_', ' ')}, not waiting for sign-off")
        if by.id == row.prepared_by_id:
            raise SignOffError("nobody may sign off a reconciliation they prepared; another approver must sign it off")
        changed = [name for name in LINES if lines.get(name) != row.lines.get(name)]
        if changed:
            first = changed[0]
            raise SignOffError(f"the statement changed since it was prepared ({first.replace('_', ' ')} was {row.lines.get(first)}, "
                               f"is {lines.get(first)} now): prepare it again")
        _unexplained(now, row.account, row.as_of)
        moment = dt.datetime.now(dt.UTC)
        done = session.execute(update(ReconciliationSignOff).where(ReconciliationSignOff.id == row.id,
                                                                   ReconciliationSignOff.status == "prepared")
                               .values(status="signed_off", signed_by=by.username, signed_by_id=by.id, signed_at=moment))
        if done.rowcount != 1:
            raise SignOffError(f"reconciliation {sign_off_id} was decided by someone else just now; reload")
        record_audit(session, by.username, "sign_off", "reconciliation", str(row.id), {"status": "prepared", "prepared_by": row.prepared_by},
                     {"status": "signed_off", "account": row.account, "as_of": row.as_of.isoformat(), "locked_to": row.as_of.isoformat()})
        session.expire_all()
        row = session.get(ReconciliationSignOff, sign_off_id)
        session.expunge(row)
    return row


def _refuse_if_signed_off(session, key: str, as_of: dt.date) -> None:
    locked = _latest_signed(session, key)
    if locked is not None and as_of <= locked.as_of:
        raise SignOffError(f"account {locked.account} is locked to {locked.as_of} by the signed-off reconciliation of "
                           f"{locked.as_of} (signed by {locked.signed_by}); prepare a later date")


def _latest_signed(session, key: str) -> ReconciliationSignOff | None:
    return session.scalar(select(ReconciliationSignOff).where(ReconciliationSignOff.account_key == key,
                                                              ReconciliationSignOff.status == "signed_off")
                          .order_by(ReconciliationSignOff.as_of.desc(), ReconciliationSignOff.id.desc()).limit(1))


def account_lock(store: Store, account: str) -> ReconciliationSignOff | None:
    """The signed-off reconciliation that locks an account (any spelling), the latest; ``None`` when unlocked."""
    key = resolve_account_key(account, load_aliases(store))
    with store.session() as session:
        row = _latest_signed(session, key)
        if row is not None:
            session.expunge(row)
    return row


def sign_offs(store: Store, account: str | None = None) -> list[ReconciliationSignOff]:
    """Prepared and signed-off reconciliations, newest first; of one account (any spelling) when given."""
    query = select(ReconciliationSignOff).order_by(ReconciliationSignOff.as_of.desc(), ReconciliationSignOff.id.desc())
    if account is not None:
        query = query.where(ReconciliationSignOff.account_key == resolve_account_key(account, load_aliases(store)))
    with store.session() as session:
        rows = list(session.scalars(query))
        for row in rows:
            session.expunge(row)
    return rows
