"""Booking a statement-side break: the bank's fee, interest or returned item that the books lack.

One step writes the journal (the bank account's GL cash account against the counter account,
with its dimensions) and resolves the break with the reason code, in one transaction. At or
below the approval threshold the journal is posted and the break resolved at once; above it,
the journal waits as a draft and the break as a pending ``resolve`` decision that names the
journal: an approver who did not make it approves both (the journal is posted then, in the
approval's transaction) or refuses both (the draft journal is removed).

The journal is tied to the break's record (dataset id and record id), so posting the statement
by posting rules later never posts the same record a second time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import delete, select

from core.auth import Account
from core.banking.ledger import (LedgerError, LineInput, _add_lines, _checked_lines, _refuse_unbalanced, ledger_transaction,
                                 unbalanced_currencies)
from core.domain.accounts import resolve_account_key
from core.review._shared import (REASON_CODES, Outcome, ReviewError, _break_state, _record_decision, _refuse_if_locked, _update_if_unchanged,
                                 _user_as_stored,
                                 approval_threshold)
from core.store import Store, record_audit
from core.store.models import AccountAlias, Break, GLAccount, Journal, JournalLine

__all__ = ["book_break", "post_booked_journal", "drop_booked_journal"]


def book_break(store: Store, break_id: int, version: int, counter_account: str, *, actor: Account, reason_code: str = "bank_fee",
               comment: str = "", dimensions: Mapping[str, str] | None = None) -> Outcome:
    """Book an open statement-side break to the ledger and resolve it with ``reason_code``.

    Returns:
        The resolve decision: ``applied`` (journal posted, break resolved) or ``pending``.

    Raises:
        ReviewError: the break is not open, not on the statement side, changed since seen, or
            waits already; an unknown reason code.
        LedgerError: no GL cash account for its bank account, a bad counter account or dimension.
    """
    if reason_code not in REASON_CODES:
        raise ReviewError(f"unknown reason code {reason_code!r}; use one of {', '.join(REASON_CODES)}")
    with ledger_transaction(store) as session:
        by = _user_as_stored(session, actor, "analyst")
        row = session.get(Break, break_id)
        if row is None:
            raise ReviewError(f"no break {break_id}")
        if row.version != version:
            raise ReviewError(f"break {break_id} changed since it was read; reload and book again")
        if row.side != "external":
            raise ReviewError(f"break {break_id} is in the books: only a statement-side break is booked")
        if row.status != "open" or row.pending_decision_id is not None:
            raise ReviewError(f"break {break_id} is {row.status if row.status != 'open' else 'waiting for an approver'}")
        if row.amount == 0:
            raise ReviewError(f"break {break_id} has no amount to book")
        _refuse_if_locked(session, [row])
        aliases = dict(session.execute(select(AccountAlias.alias_key, AccountAlias.target_key)).all())
        key = resolve_account_key(row.account, aliases)
        cash = {resolve_account_key(k, aliases): code for k, code in session.execute(
            select(GLAccount.bank_account_key, GLAccount.code).where(GLAccount.bank_account_key.is_not(None), GLAccount.active))}
        if key not in cash:
            raise LedgerError(f"no GL cash account for bank account {key}: map it in the chart of accounts")
        size, zero, dims = abs(row.amount), Decimal(0), dict(dimensions or {})
        text = row.description or row.reference or f"statement record {row.record_id}"
        money_in = row.amount > 0
        lines = _checked_lines(session, [
            LineInput(cash[key], size if money_in else zero, zero if money_in else size, row.currency, dims, text),
            LineInput(counter_account, zero if money_in else size, size if money_in else zero, row.currency, dims, text)])
        if session.scalar(select(Journal.id).where(Journal.dataset_id == row.dataset_id, Journal.record_id == row.record_id)):
            raise LedgerError(f"statement record {row.record_id} is already posted to the ledger")
        journal = Journal(date=row.date, description=f"Booked from break {break_id}: {text}", status="draft", source="break",
                          dataset_id=row.dataset_id, record_id=row.record_id, created_by=by.username)
        session.add(journal)
        session.flush()
        _add_lines(session, journal.id, lines)
        pending = size > approval_threshold()
        before = _break_state(row)
        decision = _record_decision(session, by, "resolve", "break", str(row.id), run_id=row.run_id, amount=size, reason_code=reason_code,
                                    comment=comment, status="pending" if pending else "applied",
                                    payload={"break_ids": [row.id], "journal_id": journal.id})
        if pending:
            _update_if_unchanged(session, Break, row.id, version, by, pending_decision_id=decision.id)
        else:
            _update_if_unchanged(session, Break, row.id, version, by, status="resolved", resolution=reason_code)
            post_booked_journal(session, journal.id, by.username)
        record_audit(session, by.username, "book_break" if not pending else "book_break_requested", "break", str(row.id), before,
                     _break_state(session.get(Break, row.id)) | {"reason_code": reason_code, "decision_id": decision.id,
                                                                 "journal_id": journal.id})
        return Outcome(decision.id, decision.status)


def post_booked_journal(session, journal_id: int, by: str) -> None:
    """Post a booked break's draft journal inside the caller's transaction (the booking's, or its approval's)."""
    journal = session.get(Journal, journal_id)
    if journal is None or journal.status != "draft":
        raise LedgerError(f"journal {journal_id} is not a draft waiting to be posted")
    rows = session.execute(select(JournalLine.currency, JournalLine.debit, JournalLine.credit).where(JournalLine.journal_id == journal_id))
    if unbalanced_currencies(rows.all()):
        raise LedgerError(f"journal {journal_id} does not balance")
    journal.status, journal.posted_by, journal.posted_at = "posted", by, dt.datetime.now(dt.UTC)
    session.flush()
    _refuse_unbalanced(session, journal_id)
    record_audit(session, by, "post_journal", "journal", str(journal_id), {"status": "draft"}, {"status": "posted", "source": "break"})


def drop_booked_journal(session, journal_id: int, by: str) -> None:
    """Remove a refused booking's draft journal inside the caller's transaction (a draft may go; a posted journal never)."""
    journal = session.get(Journal, journal_id)
    if journal is None or journal.status != "draft":
        return
    session.execute(delete(JournalLine).where(JournalLine.journal_id == journal_id))
    session.delete(journal)
    record_audit(session, by, "drop_journal", "journal", str(journal_id), {"status": "draft"}, None)
