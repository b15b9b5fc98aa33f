"""Posting bank transactions to the ledger, by posting rules kept as data (TOML).

A posting rule set is an ordered list of rules; the first rule that covers a record posts it::

    name = "bank"

    [[rules]]
    name = "bank_fees"
    type = "FEE"                      # the record's type, compared without case
    description = "(?i)charge|fee"    # a regular expression searched in the description
    sign = "out"                      # in (money in) | out (money out) | any
    account = "6100"                  # the counter GL account
    dimensions = { cost_centre = "OPS" }

    [[rules]]
    name = "customer_receipts"
    counterparty = "(?i)^acme"        # a regular expression searched in the counterparty
    reference = "^INV"                # ... and in the reference
    sign = "in"
    account = "1200"

A rule names only what it tests; a record lacking a tested column is not covered by it. The
record's bank account (its key, after the alias table) picks its GL cash account from the
chart; money in debits the cash account and credits the counter account, money out the other
way round. The dimensions go on both lines.

Posting is idempotent: a record is posted once, by dataset id and record id, which a unique
index on the journals holds too; posting a dataset again posts only what was not posted yet.
What no rule covers, or what cannot be posted (no cash account for the bank account, a zero
amount), is listed with the reason and left unposted. A record above the approval threshold is
written as a draft journal, for an approver to post (maker-checker).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased

from core import config
from core.auth import Account
from core.banking.ledger import LedgerError, _actor_name, check_dimensions, ledger_transaction
from core.domain.accounts import resolve_account_key
from core.domain.validation import problems
from core.store import Store, bulk_insert, record_audit
from core.store.models import DatasetRecord, DimensionValue, GLAccount, Journal, JournalLine

__all__ = ["PostedRecord", "PostingOutcome", "PostingRule", "PostingRuleError", "PostingRules", "Uncovered", "load_posting_rules",
           "parse_posting_rules", "post_dataset", "post_records", "posted_records", "rule_for"]


class PostingRuleError(ValueError):
    """A posting rule set is not valid; the message names the file, the rule and the key."""


class PostingRule(BaseModel):
    """One posting rule: what a record must look like, and where its counter entry goes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = None
    type: str | None = None
    counterparty: str | None = None
    reference: str | None = None
    sign: Literal["in", "out", "any"] = "any"
    account: str = Field(min_length=1, max_length=32)
    dimensions: dict[str, str] = {}

    @field_validator("description", "counterparty", "reference")
    @classmethod
    def _a_regular_expression(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression ({exc})") from None
        return value


class PostingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "posting"
    rules: tuple[PostingRule, ...] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[PostingRule, ...]) -> tuple[PostingRule, ...]:
        names = [r.name for r in rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {repeated}")
        return rules


class Uncovered(NamedTuple):
    record_id: str
    account: str
    date: dt.date | None
    amount: Decimal | None
    reason: str


class PostingOutcome(NamedTuple):
    posted: int  # journals posted now
    drafts: int  # journals written as drafts, above the approval threshold
    already: int  # records posted (or drafted) before
    uncovered: list[Uncovered]


class PostedRecord(NamedTuple):
    """The bank record a journal was posted (or booked) from: its dataset, and its row as imported
    (``None`` when the dataset no longer holds it)."""

    journal_id: int
    dataset_id: str
    dataset_name: str
    record_id: str
    record: dict | None


def parse_posting_rules(text: str, source: str = "<posting rules>") -> PostingRules:
    """Validate posting-rule TOML.

    Raises:
        PostingRuleError: one line naming the source, the rule (by number and name) and the key.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PostingRuleError(f"{source}: not valid TOML ({exc})") from None
    try:
        return PostingRules.model_validate(raw)
    except ValidationError as exc:
        found = []
        for location, message in problems(exc, PostingRules):
            if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
                index, rules = location[1], raw.get("rules") or []
                name = rules[index].get("name", "?") if index < len(rules) and isinstance(rules[index], dict) else "?"
                location = [f"rule {index + 1} ({name})"] + location[2:]
            found.append(f"{'.'.join(str(p) for p in location) or 'rules'}: {message}")
        raise PostingRuleError(f"{source}: " + "; ".join(found)) from None


def load_posting_rules(path: str | Path) -> PostingRules:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PostingRuleError(f"{path}: cannot read the posting rules ({exc.strerror or exc})") from None
    return parse_posting_rules(text, str(path))


def _text(record: Mapping, column: str) -> str | None:
    value = record.get(column)
    return None if value is None else str(value)


def rule_for(record: Mapping, rules: PostingRules) -> PostingRule | None:
    """The first rule that covers the record (a mapping of canonical columns), or ``None``."""
    amount = record.get("amount")
    for rule in rules.rules:
        if rule.sign == "in" and not (amount is not None and amount > 0):
            continue
        if rule.sign == "out" and not (amount is not None and amount < 0):
            continue
        if rule.type is not None and (_text(record, "type") or "").strip().casefold() != rule.type.strip().casefold():
            continue
        tests = (("description", rule.description), ("counterparty", rule.counterparty), ("reference", rule.reference))
        if any(pattern is not None and (_text(record, column) is None or not re.search(pattern, _text(record, column)))
               for column, pattern in tests):
            continue
        return rule
    return None


def post_records(store: Store, dataset_id: str, records: list[Mapping], rules: PostingRules, *, actor: Account | str,
                 aliases: Mapping[str, str] | None = None) -> PostingOutcome:
    """Post a dataset's records to the ledger, each once, in one transaction.

    Args:
        dataset_id: the dataset the records belong to (with the record id, what makes a posting unique).
        records: mappings of canonical columns (``id``, ``account``, ``date``, ``amount``, ``currency``, ...).
        aliases: the account alias table, to find each bank account's key.

    Raises:
        LedgerError: a rule names a GL account or dimension value the ledger does not have, or
            the actor may not post.
    """
    threshold = config.approval_threshold()
    with ledger_transaction(store) as session:
        by = _actor_name(session, actor)
        chart = {a.code: a for a in session.scalars(select(GLAccount))}
        master = {d: {} for d in config.ledger_dimensions()}
        for row in session.scalars(select(DimensionValue).where(DimensionValue.active)):
            master.setdefault(row.dimension, {})[row.value] = row.name
        for rule in rules.rules:
            counter = chart.get(rule.account)
            if counter is None or not counter.active:
                raise LedgerError(f"posting rule {rule.name}: GL account {rule.account!r} is not an active account of the chart")
            wrong = check_dimensions(rule.dimensions, master)
            if wrong:
                raise LedgerError(f"posting rule {rule.name}: {wrong[0]}")
        # The chart may name the bank account by a key that is itself an alias: compare after the aliases on both sides.
        cash = {resolve_account_key(a.bank_account_key, aliases): a.code for a in chart.values() if a.bank_account_key and a.active}
        done = set(session.scalars(select(Journal.record_id).where(Journal.dataset_id == dataset_id)))
        uncovered, already, planned = [], 0, []
        for record in records:
            record_id = str(record["id"])
            if record_id in done:
                already += 1
                continue
            amount, account = record.get("amount"), str(record.get("account") or "")
            date = record.get("date")

            def left(reason: str) -> None:
                uncovered.append(Uncovered(record_id, account, date, amount, reason))

            if amount is None or amount == 0:
                left("no amount to post")
                continue
            if date is None:
                left("no date")
                continue
            key = resolve_account_key(account, aliases)
            if key not in cash:
                left(f"no GL cash account for bank account {key or '(blank)'}: map it in the chart of accounts")
                continue
            rule = rule_for(record, rules)
            if rule is None:
                left("no posting rule covers it")
                continue
            done.add(record_id)
            planned.append((record_id, date, amount, str(record.get("currency") or "").upper(), cash[key], rule, record))
        if not planned:
            return PostingOutcome(0, 0, already, uncovered)
        now = dt.datetime.now(dt.UTC)
        bulk_insert(session, Journal, (dict(date=date, description=_description(record, rule), status="draft", source="bank",
                                            dataset_id=dataset_id, record_id=record_id, reverses_id=None, created_by=by, created_at=now,
                                            posted_by=None, posted_at=None)
                                       for record_id, date, amount, currency, cash_code, rule, record in planned))
        wanted = {p[0] for p in planned}
        drafts_now = select(Journal.record_id, Journal.id).where(Journal.dataset_id == dataset_id, Journal.status == "draft")
        ids = {record_id: journal_id for record_id, journal_id in session.execute(drafts_now) if record_id in wanted}
        lines, to_post, drafts = [], [], 0
        for record_id, date, amount, currency, cash_code, rule, record in planned:
            journal_id, size = ids[record_id], abs(amount)
            text = _description(record, rule)
            cash_line = (cash_code, size, Decimal(0)) if amount > 0 else (cash_code, Decimal(0), size)
            counter_line = (rule.account, Decimal(0), size) if amount > 0 else (rule.account, size, Decimal(0))
            for number, (code, debit, credit) in enumerate((cash_line, counter_line), start=1):
                lines.append(dict(journal_id=journal_id, line_no=number, gl_account=code, debit=debit, credit=credit, currency=currency,
                                  dimensions=dict(rule.dimensions), description=text))
            if size > threshold:
                drafts += 1
            else:
                to_post.append(journal_id)
        bulk_insert(session, JournalLine, lines)
        for start in range(0, len(to_post), 1000):
            chunk = to_post[start:start + 1000]
            session.execute(update(Journal).where(Journal.id.in_(chunk)).values(status="posted", posted_by=by, posted_at=now)
                            .execution_options(synchronize_session=False))
        record_audit(session, by, "post_bank_records", "dataset", dataset_id, None,
                     {"rules": rules.name, "posted": len(to_post), "drafts": drafts, "journals_from": min(ids.values()),
                      "journals_to": max(ids.values())})
        return PostingOutcome(len(to_post), drafts, already, uncovered)


def _description(record: Mapping, rule: PostingRule) -> str:
    description, reference = (str(record.get(c) or "") for c in ("description", "reference"))
    # Banks often repeat the reference inside the description: said once.
    parts = [part for part in (description, "" if reference in description else reference) if part]
    return " · ".join(parts) or f"bank record {record['id']} ({rule.name})"


def post_dataset(store: Store, dataset: str | Path, rules: PostingRules, *, actor: Account | str):
    """Post a stored dataset (by id or the first characters of it) or a file (imported first, once).

    Returns:
        ``(outcome, errors)``: the posting outcome, or ``None`` with the file's findings.
    """
    # Imported here: the import pipeline is large, and the page and tests of rules need none of it.
    from core.accounts import load_aliases
    from core.ingest.datasets import import_file, list_datasets, load_dataset_table

    path = Path(dataset)
    if path.is_file():
        outcome, errors = import_file(store, path, user=actor if isinstance(actor, str) else actor.username)
        if errors:
            return None, errors
        record = outcome.dataset
    else:
        found = [d for d in list_datasets(store) if d.id.startswith(str(dataset))] if len(str(dataset)) >= 6 else []
        if len(found) != 1:
            raise LedgerError(f"{dataset}: no such file, and {'several datasets start so' if found else 'no dataset has that id'}")
        record = found[0]
    table = load_dataset_table(store, record)
    return post_records(store, record.id, table.to_pylist(), rules, actor=actor, aliases=load_aliases(store)), []


def posted_records(store: Store, journal_ids: Iterable[int]) -> dict[int, PostedRecord]:
    """The bank record behind each journal posted or booked from one (a drill-down from a journal
    line); a reversal leads to the record of the journal it reverses. Manual journals have none.

    Returns:
        journal id -> :class:`PostedRecord`, for the journals that have a record.
    """
    # Imported here, as in post_dataset: the import pipeline is large.
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.ingest.datasets import load_dataset_table

    wanted = sorted(set(journal_ids))
    if not wanted:
        return {}
    origin = aliased(Journal)
    with store.session() as session:
        found = session.execute(
            select(Journal.id, func.coalesce(Journal.dataset_id, origin.dataset_id), func.coalesce(Journal.record_id, origin.record_id))
            .outerjoin(origin, origin.id == Journal.reverses_id).where(Journal.id.in_(wanted))).all()
        found = [(j, d, r) for j, d, r in found if d is not None and r is not None]
        names = dict(session.execute(select(DatasetRecord.id, DatasetRecord.name)
                                     .where(DatasetRecord.id.in_({d for _, d, _ in found}))).all())
    rows: dict[tuple[str, str], dict] = {}
    for dataset_id in {d for _, d, _ in found if d in names}:
        table = load_dataset_table(store, dataset_id)
        ids = pa.array(sorted({r for _, d, r in found if d == dataset_id}), pa.string())
        for row in table.filter(pc.is_in(table["id"].cast(pa.string()), value_set=ids)).to_pylist():
            rows.setdefault((dataset_id, str(row["id"])), row)
    return {j: PostedRecord(j, d, names.get(d, d), r, rows.get((d, r))) for j, d, r in found}
