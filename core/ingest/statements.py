"""Bank statements into canonical rows, with their balances checked.

Within a file: each statement's opening balance plus its entries must equal its closing
balance, and a statement's opening balance must equal the previous statement's closing
balance for the same account. Against the store: the same account, period and entries
imported again is refused as a duplicate statement, and the opening balance must continue
the closing balance of the account's latest earlier statement. Findings name the statement.

A statement that does not add up is refused by default. Accepted on purpose (the CLI's
``--accept-unbalanced``, or a request an approver granted), it imports with what does not add
up recorded on its facts: ``difference`` (closing less opening less entries) and ``gap``
(opening less the closing it should continue). A duplicate statement is refused always.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from decimal import Decimal
from typing import NamedTuple

import pyarrow as pa
from sqlalchemy import select

from connectors.statements.statement import Statement
from connectors.statements.text import WITHDRAWN_CURRENCIES
from core.domain.findings import RowError
from core.domain.money import AmountError, check_amount, scale_of
from core.domain.records import is_currency_code
from core.ingest.normalise import CanonicalImport, transaction_schema
from core.store.models import StatementRecord

__all__ = ["WAY_FORWARD", "StatementFacts", "check_against_store", "difference_notes", "is_balance_refusal", "statements_to_import"]

WAY_FORWARD = ("; to import it anyway with the difference recorded: CLI --accept-unbalanced; "
               "on the Sources page, ask an approver")


class StatementFacts(NamedTuple):
    """What the store keeps of a statement."""

    account: str
    currency: str
    number: str
    period_from: object
    period_to: object
    opening: Decimal | None
    closing: Decimal | None
    entry_count: int
    content_sha256: str
    total: Decimal
    difference: Decimal | None = None  # closing - opening - entries, when accepted unbalanced
    gap: Decimal | None = None  # opening - the closing it should continue, when accepted unbalanced

    def unbalanced(self) -> bool:
        """Whether the statement was accepted although it does not add up."""
        return bool(self.difference) or bool(self.gap)


def difference_notes(facts: list[StatementFacts]) -> list[str]:
    """What does not add up in each statement accepted unbalanced, one readable line each."""
    notes = []
    for fact in facts:
        parts = ([f"closing balance differs from opening plus entries by {fact.difference}"] if fact.difference else [])
        parts += [f"opening balance differs from the previous closing balance by {fact.gap}"] if fact.gap else []
        if parts:
            notes.append(f"statement {fact.number or '?'} of account {fact.account} ({fact.currency}): {' and '.join(parts)}")
    return notes


def is_balance_refusal(error: RowError) -> bool:
    """Whether a refusal is one that importing with the difference recorded would lift."""
    return error.message.endswith(WAY_FORWARD)


def _label(statement: Statement) -> str:
    return f"statement {statement.number or '?'} of account {statement.account or '?'}"


def _content_sha256(statement: Statement) -> str:
    text = "\n".join(f"{e.date}|{e.amount}|{e.reference}|{e.description}|{e.source_id}" for e in statement.entries)
    return hashlib.sha256(f"{statement.account}|{statement.currency}|{text}".encode()).hexdigest()


def statements_to_import(statements: list[Statement], file: str, fmt: str, default_currency: str | None = None,
                         accept_unbalanced: bool = False) -> tuple[CanonicalImport | None, list[StatementFacts], list[RowError]]:
    """Canonical rows of every statement, the facts to keep, and every balance problem.

    Args:
        default_currency: the currency of a statement whose file names none (a profile's
            ``[defaults] currency``); a statement without one is refused otherwise.
        accept_unbalanced: a statement that does not add up (within itself, or against the
            previous statement in the file) is imported with its difference recorded and a
            warning, instead of refused. Other problems (amounts, currency) stay errors.
    """
    errors: list[RowError] = []
    warnings = [w for s in statements for w in s.warnings]
    if default_currency and any(not s.currency for s in statements):
        warnings.append(f"a statement names no currency; the profile's default currency {default_currency} is used")
        statements = [s if s.currency else s._replace(currency=default_currency) for s in statements]
    for statement in statements:
        amounts = [("opening balance", statement.opening), ("closing balance", statement.closing)]
        amounts += [("amount", entry.amount) for entry in statement.entries]
        for column, value in amounts:
            if value is None:
                continue
            try:
                check_amount(value)
            except AmountError as exc:
                errors.append(RowError(file, statement.row, column, str(value), f"{_label(statement)}: {exc}"))
    if errors:
        return None, [], errors
    previous: dict[str, Statement] = {}
    differences: dict[int, Decimal] = {}
    gaps: dict[int, Decimal] = {}
    for index, statement in enumerate(statements):
        if not statement.account:
            errors.append(RowError(file, statement.row, "account", None, f"{_label(statement)} names no account"))
        if not statement.currency:
            errors.append(RowError(file, statement.row, "currency", None, f"{_label(statement)} names no currency; import it with a "
                                   "profile whose [defaults] section gives the account's currency (currency = \"EUR\")"))
        elif not is_currency_code(statement.currency) and statement.currency not in WITHDRAWN_CURRENCIES:
            errors.append(RowError(file, statement.row, "currency", statement.currency, f"{_label(statement)}: not an ISO 4217 currency"))
        total = sum((e.amount for e in statement.entries), Decimal(0))
        if statement.opening is not None and statement.closing is not None and statement.opening + total != statement.closing:
            difference = statement.closing - statement.opening - total
            message = (f"{_label(statement)}: opening {statement.opening} plus entries {total} is {statement.opening + total}, "
                       f"but the closing balance is {statement.closing} (difference {difference})")
            if accept_unbalanced:
                differences[index] = difference
                warnings.append(f"{message}; imported with the difference recorded")
            else:
                errors.append(RowError(file, statement.row, "closing balance", str(statement.closing), message + WAY_FORWARD))
        before = previous.get(statement.account)
        if before is not None and statement.opening is not None and before.closing is not None and statement.opening != before.closing:
            message = (f"{_label(statement)}: opening balance {statement.opening} does not continue the closing balance "
                       f"{before.closing} of the previous statement {before.number or '?'} in this file")
            if accept_unbalanced:
                gaps[index] = statement.opening - before.closing
                warnings.append(f"{message}; imported with the gap recorded")
            else:
                errors.append(RowError(file, statement.row, "opening balance", str(statement.opening), message + WAY_FORWARD))
        previous[statement.account] = statement
    if any(s.opening is None for s in statements):
        warnings.append("the statements carry no opening balance; each is checked against the account's previous statement instead")
    entries = [(s, e) for s in statements for e in s.entries]
    if not entries:
        warnings.append("the statements hold no entries (no movement in the period); their balances are kept for continuity")
    if errors:
        return None, [], errors
    scale = max([2] + [scale_of(e.amount) for _, e in entries])
    quantum = Decimal(1).scaleb(-scale)
    ids = _ids(entries)
    columns = {
        "id": ids,
        "account": [s.account for s, _ in entries],
        "date": [e.date for _, e in entries],
        "amount": [e.amount.quantize(quantum) for _, e in entries],
        "currency": [s.currency for s, _ in entries],
        "reference": [e.reference for _, e in entries],
        "description": [e.description for _, e in entries],
        "counterparty": [e.counterparty for _, e in entries],
        "trade_date": [None] * len(entries),
        "entry_date": [e.entry_date for _, e in entries],
        "type": [e.type for _, e in entries],
        "statement": [s.number for s, _ in entries],
    }
    table = pa.table(columns, schema=transaction_schema(scale, ["statement"]))
    facts = [StatementFacts(s.account, s.currency, s.number, s.start, s.end, s.opening, s.closing, len(s.entries), _content_sha256(s),
                            sum((e.amount for e in s.entries), Decimal(0)), differences.get(i), gaps.get(i))
             for i, s in enumerate(statements)]
    return CanonicalImport(table, warnings, 0, {}, fmt), facts, []


def _ids(entries) -> list[str]:
    """The bank's own entry ids when present and unique; otherwise a stable hash of the entry."""
    source = [e.source_id for _, e in entries]
    if all(source) and len(set(source)) == len(source):
        return source
    seen: Counter = Counter()
    ids = []
    for statement, entry in entries:
        content = f"{statement.account}|{statement.number}|{entry.date}|{entry.amount}|{entry.reference}|{entry.description}|{entry.source_id}"
        seen[content] += 1
        ids.append(hashlib.sha256(f"{content}#{seen[content]}".encode()).hexdigest()[:20])
    return ids


def check_against_store(session, facts: list[StatementFacts], file: str, accept_unbalanced: bool = False
                        ) -> tuple[list[StatementFacts], list[RowError]]:
    """Refuse statements already imported, and openings that do not continue the account's last closing.

    Args:
        accept_unbalanced: an opening that does not continue the last closing is recorded as
            the statement's ``gap`` instead of refused. A duplicate is refused all the same.

    Returns:
        ``(facts, errors)``: the facts with any gap recorded, and every refusal.
    """
    errors = []
    checked = []
    for fact in facts:
        same = session.scalar(select(StatementRecord).where(
            StatementRecord.account == fact.account, StatementRecord.period_from == fact.period_from,
            StatementRecord.period_to == fact.period_to, StatementRecord.content_sha256 == fact.content_sha256))
        if same is not None:
            errors.append(RowError(file, None, "statement", fact.number,
                                   f"statement {fact.number or '?'} of account {fact.account} for {fact.period_from} to {fact.period_to} "
                                   f"was already imported (dataset {same.dataset_id[:12]}); a statement is imported once"))
            continue
        checked.append(fact)
        if fact.period_from is None:
            continue
        earlier = _predecessor(session, fact)
        if earlier is None or earlier.closing is None or _follows_in_file(fact, facts, earlier.period_to):
            continue
        if fact.opening is not None and fact.opening != earlier.closing:
            gap = fact.opening - earlier.closing
            message = (f"statement {fact.number or '?'} of account {fact.account}: opening balance {fact.opening} does not "
                       f"continue the closing balance {earlier.closing} of the statement to {earlier.period_to}"
                       f" (dataset {earlier.dataset_id[:12]}); is a statement missing?")
            column, value = "opening balance", str(fact.opening)
        elif fact.opening is None and fact.closing is not None and earlier.closing + fact.total != fact.closing:
            # Without an opening, the gap is the opening the statement implies less the last closing.
            gap = fact.closing - fact.total - earlier.closing
            message = (f"statement of account {fact.account} to {fact.period_to}: the previous closing balance "
                       f"{earlier.closing} plus entries {fact.total} is {earlier.closing + fact.total}, but the closing "
                       f"balance is {fact.closing}; is a statement missing?")
            column, value = "closing balance", str(fact.closing)
        else:
            continue
        if accept_unbalanced:
            checked[-1] = fact._replace(gap=(fact.gap or Decimal(0)) + gap)
        else:
            errors.append(RowError(file, None, column, value, message + WAY_FORWARD))
    return checked, errors


def _predecessor(session, fact: StatementFacts) -> StatementRecord | None:
    """The stored statement ``fact`` continues: the account's latest one ending before its start.

    A statement dated from its opening balance's day (MT940's ``:60F:`` carries the previous
    statement's closing date) starts on the day its predecessor ends: the latest one ending on
    that very day is taken when its closing is the opening, so a chain of daily files is not
    measured against the statement before the previous one.
    """
    def latest(condition) -> StatementRecord | None:
        return session.scalar(select(StatementRecord).where(StatementRecord.account == fact.account, condition)
                              .order_by(StatementRecord.period_to.desc(), StatementRecord.id.desc()).limit(1))

    touching = latest(StatementRecord.period_to == fact.period_from)
    if touching is not None and touching.closing is not None and fact.opening is not None and touching.closing == fact.opening:
        return touching
    return latest(StatementRecord.period_to < fact.period_from)


def _follows_in_file(fact: StatementFacts, facts: list[StatementFacts], stored_to) -> bool:
    """Whether a statement of the same account comes before ``fact`` in its file, later than the stored one.

    That statement is ``fact``'s predecessor, and continuity with it is checked within the file:
    the second of two daily statements in one file continues the first, not the store.
    """
    earlier_in_file = facts[:next(i for i, other in enumerate(facts) if other is fact)]
    return any(other.account == fact.account and other.period_to is not None and other.period_to >= stored_to
               for other in earlier_in_file)
