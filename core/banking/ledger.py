"""The ledger: a chart of accounts, dimensions, and journals that post only when they balance.

A GL account has a code, a name, a type (asset, liability, equity, income, expense) and may be
inactive; a bank account maps to its GL cash account by account key (after the alias table),
so every spelling of the bank account finds it. The chart is imported from CSV or TOML, every
bad cell reported at once, and edited on the Ledger page.

Dimensions (``RECON_LEDGER_DIMENSIONS``: cost centre, project, department, branch by default)
each have a master list of values; a journal line names values only from those lists.

A journal is a list of lines, each a GL account debited or credited in one currency, with
exact decimals. It is a ``draft`` until posted; it posts only when its debits equal its credits
in every currency. Core checks that first; the database checks it again (PostgreSQL at
commit, with constraint triggers; SQLite inside :func:`ledger_transaction`, which every write
here goes through, over the journals the database's own triggers queued). A posted journal
never changes: it is corrected by a reversing journal, which posts the same lines with debit
and credit swapped, links to the original, and turns the original's status to ``reversed``.
Every posting and reversal is in the audit log.

Who may: anyone signed in reads; an analyst edits the chart and the dimension values, makes
drafts and posts them. A journal above the approval threshold (``RECON_APPROVAL_THRESHOLD``,
its largest total of debits in one currency) is maker-checker: it is posted by an approver
who did not make the draft. The command line acts as ``RECON_USER`` and is trusted as the
operator (like its other commands).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import tomllib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from core import config
from core.auth import Account, acting_user
from core.domain.accounts import account_key
from core.domain.findings import RowError
from core.domain.money import AmountError, decimal_from_text
from core.domain.records import is_currency_code
from core.store import Store, lost_to_another_writer, record_audit
from core.store.models import DimensionValue, GLAccount, Journal, JournalBalanceCheck, JournalLine

__all__ = ["ACCOUNT_TYPES", "LEDGER_ROLE", "ChartRow", "LedgerError", "LineInput", "TrialBalanceRow", "add_dimension_value",
           "cash_accounts_by_bank_key", "check_dimensions", "create_journal", "import_chart", "journal_lines", "ledger_transaction",
           "lines_from_table", "list_dimension_values", "list_gl_accounts", "list_journals", "parse_chart", "parse_dimension_text",
           "post_journal",
           "read_chart_file", "reverse_journal", "trial_balance", "unbalanced_currencies", "update_gl_account"]

ACCOUNT_TYPES = ("asset", "liability", "equity", "income", "expense")
LEDGER_ROLE = "analyst"
CHECKER_ROLE = "approver"
_CHART_COLUMNS = ("code", "name", "type", "active", "bank_account")
_TRUE, _FALSE = {"true", "yes", "y", "1", ""}, {"false", "no", "n", "0"}


class LedgerError(ValueError):
    """A ledger change refused; the message says why in one line."""


class ChartRow(NamedTuple):
    """One GL account as a chart file gives it; ``bank_account`` is an account key or ``None``."""

    code: str
    name: str
    type: str
    active: bool = True
    bank_account: str | None = None


class LineInput(NamedTuple):
    """One journal line to write: ``debit`` or ``credit`` (the other zero), exact decimals."""

    gl_account: str
    debit: Decimal
    credit: Decimal
    currency: str
    dimensions: Mapping[str, str] = {}
    description: str = ""


class TrialBalanceRow(NamedTuple):
    gl_account: str
    name: str
    type: str
    currency: str
    debit: Decimal
    credit: Decimal
    balance: Decimal


# --- who acts -----------------------------------------------------------------------------

def _actor_name(session: Session, actor: Account | str, role: str = LEDGER_ROLE) -> str:
    """The acting username: a signed-in account must hold ``role``; a plain name is the command line."""
    if isinstance(actor, str):
        return actor
    return acting_user(session, actor, role, LedgerError).username


def _is_checker(session: Session, actor: Account | str) -> bool:
    if isinstance(actor, str):
        return True
    try:
        acting_user(session, actor, CHECKER_ROLE, LedgerError)
    except LedgerError:
        return False
    return True


# --- the transaction every ledger write goes through ----------------------------------------

@contextmanager
def ledger_transaction(store: Store) -> Iterator[Session]:
    """A serialised transaction that refuses to commit a journal that is not a draft and does not balance.

    On PostgreSQL the database's deferred constraint triggers check at commit. On SQLite,
    triggers queue every journal whose lines or status the transaction touched (by any SQL,
    not only this module's), and this checks each of them before the commit.

    Raises:
        LedgerError: a journal does not balance, a posted journal was to change, or another
            writer got there first.
    """
    try:
        with store.session(serialised=True) as session:
            yield session
            if session.connection().dialect.name == "sqlite":
                session.flush()
                queued = session.scalars(select(JournalBalanceCheck.journal_id)).all()
                for journal_id in queued:
                    _refuse_unbalanced(session, journal_id)
                if queued:
                    session.execute(delete(JournalBalanceCheck))
    except IntegrityError as exc:
        raise LedgerError(_database_message(exc)) from None
    except DBAPIError as exc:
        if lost_to_another_writer(exc):
            raise LedgerError("someone else was changing the ledger at the same moment; reload and try again") from None
        raise LedgerError(_database_message(exc)) from None


def _database_message(exc: DBAPIError) -> str:
    text = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
    if "ix_journals_record" in text or "journals.dataset_id, journals.record_id" in text:
        return "that bank record is already posted"
    return text


def unbalanced_currencies(lines: Iterable[tuple[str, Decimal, Decimal]]) -> dict[str, Decimal]:
    """Currency -> debits less credits, for each currency whose lines do not balance.

    Args:
        lines: ``(currency, debit, credit)`` per line.
    """
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, debit, credit in lines:
        totals[currency] += debit - credit
    return {currency: diff for currency, diff in sorted(totals.items()) if diff != 0}


def _refuse_unbalanced(session: Session, journal_id: int) -> None:
    """The database-side check, read back from the tables inside the transaction."""
    status = session.scalar(select(Journal.status).where(Journal.id == journal_id))
    if status is None or status == "draft":
        return
    rows = session.execute(select(JournalLine.currency, JournalLine.debit, JournalLine.credit)
                           .where(JournalLine.journal_id == journal_id)).all()
    if not rows:
        raise LedgerError(f"journal {journal_id} does not balance: it has no lines")
    off = unbalanced_currencies(rows)
    if off:
        currency, diff = next(iter(off.items()))
        raise LedgerError(f"journal {journal_id} does not balance in {currency}: debits less credits {diff}")


# --- chart of accounts ----------------------------------------------------------------------

def parse_chart(data: bytes | str, name: str) -> tuple[list[ChartRow], list[RowError]]:
    """Read a chart of accounts from CSV (columns code, name, type, active, bank_account) or TOML
    (``[[accounts]]`` tables with the same keys), reporting every bad cell at once.

    Returns:
        The rows and the findings; the rows are not to be used when there are findings.
    """
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    if name.lower().endswith(".toml"):
        return _chart_from_toml(text, name)
    return _chart_from_csv(text, name)


def _chart_from_csv(text: str, name: str) -> tuple[list[ChartRow], list[RowError]]:
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("code", "name", "type") if c not in header]
    if missing:
        return [], [RowError(name, 1, None, None, f"the header lacks column(s) {', '.join(missing)}; "
                                                  f"the columns are {', '.join(_CHART_COLUMNS)}")]
    unknown = [h for h in header if h not in _CHART_COLUMNS]
    if unknown:
        return [], [RowError(name, 1, unknown[0], unknown[0], f"not a chart column; the columns are {', '.join(_CHART_COLUMNS)}")]
    items = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        items.append((number, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header)}))
    return _chart_rows(items, name)


def _chart_from_toml(text: str, name: str) -> tuple[list[ChartRow], list[RowError]]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [RowError(name, None, None, None, f"not valid TOML ({exc})")]
    accounts = raw.get("accounts")
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        return [], [RowError(name, None, "accounts", None, "write each GL account as an [[accounts]] table")]
    items, errors = [], []
    for number, table in enumerate(accounts, start=1):
        unknown = [k for k in table if k not in _CHART_COLUMNS]
        if unknown:
            errors.append(RowError(name, number, unknown[0], None, f"not a setting; the settings are {', '.join(_CHART_COLUMNS)}"))
        active = table.get("active", True)
        items.append((number, {k: ("true" if v is True else "false" if v is False else str(v)) for k, v in table.items()} |
                      {"active": "true" if active is True else "false" if active is False else str(active)}))
    rows, found = _chart_rows(items, name)
    return rows, errors + found


def _chart_rows(items: list[tuple[int, dict[str, str]]], name: str) -> tuple[list[ChartRow], list[RowError]]:
    rows, errors, seen_codes, seen_banks = [], [], {}, {}
    for number, cells in items:
        code, title = cells.get("code", "").strip(), cells.get("name", "").strip()
        kind, active = cells.get("type", "").strip().lower(), cells.get("active", "").strip().lower()
        bank = account_key(cells.get("bank_account", "").strip()) or None
        found = len(errors)
        if not code:
            errors.append(RowError(name, number, "code", code, "the GL account code is blank"))
        elif len(code) > 32:
            errors.append(RowError(name, number, "code", code, "a GL account code is at most 32 characters"))
        elif code in seen_codes:
            errors.append(RowError(name, number, "code", code, f"code {code} is already given on row {seen_codes[code]}"))
        if not title:
            errors.append(RowError(name, number, "name", title, "the GL account name is blank"))
        if kind not in ACCOUNT_TYPES:
            errors.append(RowError(name, number, "type", kind, f"the type is one of {', '.join(ACCOUNT_TYPES)}"))
        if active not in _TRUE | _FALSE:
            errors.append(RowError(name, number, "active", active, "write active as true or false"))
        if bank is not None:
            if kind != "asset":
                errors.append(RowError(name, number, "bank_account", bank, "a bank account maps to a cash account of type asset"))
            elif bank in seen_banks:
                errors.append(RowError(name, number, "bank_account", bank, f"bank account {bank} already maps to row {seen_banks[bank]}"))
            seen_banks.setdefault(bank, number)
        seen_codes.setdefault(code, number)
        if len(errors) == found:
            rows.append(ChartRow(code, title[:128], kind, active in _TRUE, bank))
    return rows, errors


def import_chart(store: Store, rows: list[ChartRow], *, actor: Account | str) -> int:
    """Add or replace GL accounts by code, in one transaction; each change is audited.

    Returns:
        How many accounts were added or changed.
    """
    changed = 0
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        existing = {a.code: a for a in session.scalars(select(GLAccount))}
        mapping = {a.code: a.bank_account_key for a in existing.values()} | {r.code: r.bank_account for r in rows}
        owners: dict[str, str] = {}
        for code, key in sorted(mapping.items()):
            if key and key in owners:
                raise LedgerError(f"bank account {key} would map to GL accounts {owners[key]} and {code}: "
                                  "one cash account per bank account")
            if key:
                owners[key] = code
        for row in rows:
            account = existing.get(row.code)
            after = {"name": row.name, "type": row.type, "active": row.active, "bank_account_key": row.bank_account}
            if account is not None:
                before = {"name": account.name, "type": account.type, "active": account.active,
                          "bank_account_key": account.bank_account_key}
                if before == after:
                    continue
                account.name, account.type, account.active, account.bank_account_key = row.name, row.type, row.active, row.bank_account
                account.updated_by, account.updated_at = by, dt.datetime.now(dt.UTC)
            else:
                before = None
                session.add(GLAccount(code=row.code, updated_by=by, bank_account_key=row.bank_account,
                                      **{k: v for k, v in after.items() if k != "bank_account_key"}))
            record_audit(session, by, "import_gl_account", "gl_account", row.code, before, after)
            changed += 1
    return changed


def update_gl_account(store: Store, code: str, *, actor: Account | str, name: str | None = None, active: bool | None = None,
                      bank_account: str | None = None) -> None:
    """Rename, (de)activate or map a bank account to one GL account; ``bank_account=""`` removes the mapping."""
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        account = session.get(GLAccount, code)
        if account is None:
            raise LedgerError(f"no GL account {code!r} in the chart")
        before = {"name": account.name, "active": account.active, "bank_account_key": account.bank_account_key}
        if name is not None:
            if not name.strip():
                raise LedgerError(f"GL account {code}: the name is blank")
            account.name = name.strip()[:128]
        if active is not None:
            account.active = active
        if bank_account is not None:
            key = account_key(bank_account) or None
            if key and account.type != "asset":
                raise LedgerError(f"GL account {code} is {account.type}: a bank account maps to a cash account of type asset")
            other = session.scalar(select(GLAccount.code).where(GLAccount.bank_account_key == key, GLAccount.code != code)) if key else None
            if other:
                raise LedgerError(f"bank account {key} already maps to GL account {other}")
            account.bank_account_key = key
        after = {"name": account.name, "active": account.active, "bank_account_key": account.bank_account_key}
        if after != before:
            account.updated_by, account.updated_at = by, dt.datetime.now(dt.UTC)
            record_audit(session, by, "update_gl_account", "gl_account", code, before, after)


def list_gl_accounts(store: Store) -> list[GLAccount]:
    """The chart of accounts in order of code."""
    with store.session() as session:
        return list(session.scalars(select(GLAccount).order_by(GLAccount.code)))


def cash_accounts_by_bank_key(store: Store) -> dict[str, str]:
    """Bank account key -> the code of its active GL cash account."""
    with store.session() as session:
        return dict(session.execute(select(GLAccount.bank_account_key, GLAccount.code)
                                    .where(GLAccount.bank_account_key.is_not(None), GLAccount.active)).all())


# --- dimensions -----------------------------------------------------------------------------

def add_dimension_value(store: Store, dimension: str, value: str, *, actor: Account | str, name: str = "") -> None:
    """Add a value to a dimension's master list (or bring an inactive one back)."""
    value = value.strip()
    if dimension not in config.ledger_dimensions():
        raise LedgerError(f"{dimension!r} is not a dimension; the dimensions are {', '.join(config.ledger_dimensions())}")
    if not value or len(value) > 64:
        raise LedgerError(f"{dimension}: a value is 1 to 64 characters")
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        row = session.get(DimensionValue, (dimension, value))
        if row is not None and row.active:
            raise LedgerError(f"{dimension} {value!r} is already in the list")
        if row is None:
            session.add(DimensionValue(dimension=dimension, value=value, name=name.strip()[:128] or value, active=True))
        else:
            row.active = True
        record_audit(session, by, "add_dimension_value", "dimension_value", f"{dimension}={value}", None, {"name": name or value})


def list_dimension_values(store: Store, *, active_only: bool = True) -> dict[str, dict[str, str]]:
    """Dimension -> {value: name}, for every configured dimension (an empty list when it has none)."""
    found: dict[str, dict[str, str]] = {d: {} for d in config.ledger_dimensions()}
    with store.session() as session:
        query = select(DimensionValue).order_by(DimensionValue.dimension, DimensionValue.value)
        for row in session.scalars(query.where(DimensionValue.active) if active_only else query):
            if row.dimension in found:
                found[row.dimension][row.value] = row.name
    return found


def check_dimensions(dimensions: Mapping[str, str], master: Mapping[str, Mapping[str, str]]) -> list[str]:
    """What is wrong with a line's dimension values against the master lists, one message each."""
    found = []
    for dimension, value in sorted(dimensions.items()):
        if dimension not in master:
            found.append(f"{dimension!r} is not a dimension; the dimensions are {', '.join(master)}")
        elif value not in master[dimension]:
            found.append(f"{dimension} {value!r} is not in the {dimension} list")
    return found


# --- journals -------------------------------------------------------------------------------

def _checked_lines(session: Session, lines: list[LineInput]) -> list[LineInput]:
    """The lines with their currencies upper-cased and amounts checked; the first problem is a ``LedgerError``."""
    if len(lines) < 2:
        raise LedgerError("a journal needs at least two lines")
    accounts = {a.code: a for a in session.scalars(select(GLAccount).where(GLAccount.code.in_({x.gl_account for x in lines})))}
    master = {d: {} for d in config.ledger_dimensions()}
    for row in session.scalars(select(DimensionValue).where(DimensionValue.active)):
        if row.dimension in master:
            master[row.dimension][row.value] = row.name
    checked = []
    for number, line in enumerate(lines, start=1):
        account = accounts.get(line.gl_account)
        if account is None:
            raise LedgerError(f"line {number}: no GL account {line.gl_account!r} in the chart")
        if not account.active:
            raise LedgerError(f"line {number}: GL account {line.gl_account} is inactive")
        for side, amount in (("debit", line.debit), ("credit", line.credit)):
            if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
                raise LedgerError(f"line {number}: the {side} must be an exact amount of zero or more")
        if (line.debit == 0) == (line.credit == 0):
            raise LedgerError(f"line {number}: give a debit or a credit, not both and not neither")
        currency = line.currency.strip().upper()
        if not is_currency_code(currency):
            raise LedgerError(f"line {number}: {line.currency!r} is not an ISO 4217 currency code")
        problems = check_dimensions(line.dimensions, master)
        if problems:
            raise LedgerError(f"line {number}: {problems[0]}")
        checked.append(line._replace(currency=currency, dimensions=dict(line.dimensions)))
    return checked


def parse_dimension_text(text: str) -> tuple[dict[str, str], list[str]]:
    """Dimensions typed as ``cost_centre=OPS, project=P-7``: the pairs, and each part that is not one."""
    dimensions, wrong = {}, []
    for pair in filter(None, (p.strip() for p in (text or "").split(","))):
        dimension, equals, value = pair.partition("=")
        if not equals or not dimension.strip() or not value.strip():
            wrong.append(pair)
        else:
            dimensions[dimension.strip()] = value.strip()
    return dimensions, wrong


def lines_from_table(rows: Iterable[Mapping], source: str = "lines") -> tuple[list[LineInput], list[RowError]]:
    """Journal lines typed in a grid: ``gl_account``, ``debit``, ``credit``, ``currency``,
    ``dimensions`` (``cost_centre=OPS, project=P-7``) and ``description``; blank rows skipped.

    Returns:
        The lines and every cell that cannot be read (row numbers from 1).
    """
    lines, errors = [], []
    for number, row in enumerate(rows, start=1):
        cells = {k: ("" if v is None or (isinstance(v, float) and v != v) else str(v).strip()) for k, v in row.items()}
        if not any(cells.values()):
            continue
        amounts = {}
        for side in ("debit", "credit"):
            try:
                amounts[side] = decimal_from_text(cells.get(side) or "0")
            except AmountError as exc:
                errors.append(RowError(source, number, side, cells.get(side), str(exc)))
        dimensions, wrong = parse_dimension_text(cells.get("dimensions") or "")
        errors += [RowError(source, number, "dimensions", pair, "write dimensions as name=value, separated by commas") for pair in wrong]
        if len(amounts) == 2:
            lines.append(LineInput(cells.get("gl_account", ""), amounts["debit"], amounts["credit"], cells.get("currency", ""),
                                   dimensions, cells.get("description", "")))
    return lines, errors


def create_journal(store: Store, date: dt.date, description: str, lines: list[LineInput], *, actor: Account | str) -> int:
    """Write a draft journal; nothing is checked for balance until it is posted.

    Returns:
        The journal's id.
    """
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        checked = _checked_lines(session, lines)
        journal = Journal(date=date, description=description.strip(), status="draft", source="manual", created_by=by)
        session.add(journal)
        session.flush()
        _add_lines(session, journal.id, checked)
        record_audit(session, by, "create_journal", "journal", str(journal.id), None, _journal_summary(journal, checked))
        return journal.id


def _add_lines(session: Session, journal_id: int, lines: list[LineInput]) -> None:
    session.add_all(JournalLine(journal_id=journal_id, line_no=n, gl_account=x.gl_account, debit=x.debit, credit=x.credit,
                                currency=x.currency, dimensions=dict(x.dimensions), description=x.description)
                    for n, x in enumerate(lines, start=1))
    session.flush()


def _journal_summary(journal: Journal, lines: list[LineInput]) -> dict:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[line.currency] += line.debit
    return {"status": journal.status, "date": journal.date.isoformat(), "lines": len(lines),
            "debits": {c: str(v) for c, v in sorted(totals.items())}}


def _largest_total(lines: Iterable[LineInput | JournalLine]) -> Decimal:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines:
        totals[line.currency] += line.debit
    return max(totals.values(), default=Decimal(0))


def post_journal(store: Store, journal_id: int, *, actor: Account | str) -> None:
    """Post a draft: it must balance in every currency; above the approval threshold an approver
    who did not make the draft posts it.

    Raises:
        LedgerError: not a draft, does not balance, a line no longer valid, or not the actor's to post.
    """
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        journal = session.get(Journal, journal_id, with_for_update=True)
        if journal is None:
            raise LedgerError(f"no journal {journal_id}")
        if journal.status != "draft":
            raise LedgerError(f"journal {journal_id} is {journal.status}, not a draft: a posted journal never changes")
        lines = session.scalars(select(JournalLine).where(JournalLine.journal_id == journal_id).order_by(JournalLine.line_no)).all()
        checked = _checked_lines(session, [LineInput(x.gl_account, x.debit, x.credit, x.currency, x.dimensions, x.description)
                                           for x in lines])
        off = unbalanced_currencies((x.currency, x.debit, x.credit) for x in checked)
        if off:
            raise LedgerError(f"journal {journal_id} does not balance: " +
                              ", ".join(f"debits less credits {diff} {currency}" for currency, diff in off.items()))
        threshold = config.approval_threshold()
        if _largest_total(checked) > threshold:
            if not _is_checker(session, actor):
                raise LedgerError(f"journal {journal_id} is above the approval threshold ({threshold}): an approver posts it")
            if not isinstance(actor, str) and by == journal.created_by:
                raise LedgerError(f"journal {journal_id} is above the approval threshold ({threshold}): "
                                  "someone other than its maker posts it")
        journal.status, journal.posted_by, journal.posted_at = "posted", by, dt.datetime.now(dt.UTC)
        record_audit(session, by, "post_journal", "journal", str(journal_id), {"status": "draft"}, _journal_summary(journal, checked))


def reverse_journal(store: Store, journal_id: int, *, actor: Account | str, date: dt.date | None = None, reason: str = "") -> int:
    """Correct a posted journal: post its lines with debit and credit swapped as a new journal that
    links to it, and mark it ``reversed``. Both steps are audited and land together.

    Returns:
        The reversing journal's id.
    """
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        original = session.get(Journal, journal_id, with_for_update=True)
        if original is None:
            raise LedgerError(f"no journal {journal_id}")
        if original.status != "posted":
            raise LedgerError(f"journal {journal_id} is {original.status}: only a posted journal is reversed")
        if original.source == "reversal":
            raise LedgerError(f"journal {journal_id} is itself a reversal: post a new journal instead")
        lines = session.scalars(select(JournalLine).where(JournalLine.journal_id == journal_id).order_by(JournalLine.line_no)).all()
        swapped = [LineInput(x.gl_account, x.credit, x.debit, x.currency, x.dimensions, x.description) for x in lines]
        when = date or original.date
        if when < original.date:
            raise LedgerError(f"a reversal is dated on or after the journal it reverses ({original.date})")
        text = f"Reversal of journal {journal_id}" + (f": {reason.strip()}" if reason.strip() else "")
        reversal = Journal(date=when, description=text, status="draft", source="reversal", reverses_id=journal_id, created_by=by)
        session.add(reversal)
        session.flush()
        _add_lines(session, reversal.id, swapped)
        reversal.status, reversal.posted_by, reversal.posted_at = "posted", by, dt.datetime.now(dt.UTC)
        original.status = "reversed"
        record_audit(session, by, "reverse_journal", "journal", str(journal_id), {"status": "posted"},
                     {"status": "reversed", "reversed_by": reversal.id, "reason": reason.strip()})
        record_audit(session, by, "post_journal", "journal", str(reversal.id), None, _journal_summary(reversal, swapped))
        return reversal.id


def list_journals(store: Store, *, statuses: Iterable[str] | None = None, date_from: dt.date | None = None,
                  date_to: dt.date | None = None, limit: int | None = None) -> list[Journal]:
    """Journals newest first, filtered by status and date; at most ``limit`` when given."""
    query = select(Journal).order_by(Journal.date.desc(), Journal.id.desc()).limit(limit)
    if statuses:
        query = query.where(Journal.status.in_(list(statuses)))
    if date_from:
        query = query.where(Journal.date >= date_from)
    if date_to:
        query = query.where(Journal.date <= date_to)
    with store.session() as session:
        return list(session.scalars(query))


def journal_lines(store: Store, journal_ids: Iterable[int]) -> list[JournalLine]:
    """The lines of the given journals, in journal and line order."""
    ids = list(journal_ids)
    with store.session() as session:
        return list(session.scalars(select(JournalLine).where(JournalLine.journal_id.in_(ids))
                                    .order_by(JournalLine.journal_id, JournalLine.line_no)))


def trial_balance(store: Store, as_of: dt.date, date_from: dt.date | None = None) -> list[TrialBalanceRow]:
    """Debits, credits and balance (debits less credits) per GL account and currency, from the
    posted journals (reversed ones and their reversals included, which cancel) dated up to
    ``as_of`` (and from ``date_from`` when given). In each currency the balances net to zero.
    """
    query = (select(JournalLine.gl_account, JournalLine.currency, JournalLine.debit, JournalLine.credit)
             .join(Journal, Journal.id == JournalLine.journal_id)
             .where(Journal.status.in_(("posted", "reversed")), Journal.date <= as_of))
    if date_from:
        query = query.where(Journal.date >= date_from)
    totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    with store.session() as session:
        for code, currency, debit, credit in session.execute(query):
            pair = totals[(code, currency)]
            pair[0] += debit
            pair[1] += credit
        accounts = {a.code: a for a in session.scalars(select(GLAccount))}
    return [TrialBalanceRow(code, accounts[code].name, accounts[code].type, currency, debit, credit, debit - credit)
            for (code, currency), (debit, credit) in sorted(totals.items())]


def read_chart_file(path: str | Path) -> tuple[list[ChartRow], list[RowError]]:
    """A chart of accounts file (CSV or TOML) read and checked."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], [RowError(str(path), None, None, None, f"cannot read the file ({exc.strerror or exc})")]
    try:
        return parse_chart(data, str(path))
    except UnicodeDecodeError:
        return [], [RowError(str(path), None, None, None, "not UTF-8 text")]

