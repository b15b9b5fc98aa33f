"""The store's tables, as SQLAlchemy 2 typed models.

Datasets point at Parquet files; a reconciliation run pairs two datasets and produces match
groups (with their items) and breaks. Decisions and the audit log are append-only: the
migration adds database triggers that refuse UPDATE and DELETE on them, and a later state
is a new row that points at the one it follows. Both are hash chains as well
(``core.store.chain``), so a change made around the triggers is detected.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.store.types import ExactDecimal

__all__ = ["AccountAlias", "Alert", "ApiKey", "ApiRequestCount", "Application", "ApplicationDocument", "AuditChainHead",
           "AuditEntry", "Base", "Break", "DatasetRecord", "DatasetRetirement", "Decision", "DimensionValue", "ExportAsk", "ExportRecord",
           "FetchedFile", "GLAccount", "HoldingsRun", "Journal", "JournalBalanceCheck", "JournalLine", "MatchGroup", "MatchItem",
           "Pipeline", "PipelineRun", "PipelineRunStep", "ReconciliationSignOff", "Run", "SignInAttempt", "StatementRecord",
           "User", "WebhookDelivery", "WebhookEvent", "WebhookSubscriber", "WorkerLease", "utc_now"]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    type_annotation_map = {Decimal: ExactDecimal(28, 6), dt.datetime: DateTime(timezone=True), dict: JSON, list: JSON}


class DatasetRecord(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, comment="SHA-256 of the file's bytes")
    name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(32))
    profile: Mapped[str | None] = mapped_column(String(128))
    row_count: Mapped[int] = mapped_column(Integer)
    account_count: Mapped[int] = mapped_column(Integer)
    date_from: Mapped[dt.date | None] = mapped_column(Date)
    date_to: Mapped[dt.date | None] = mapped_column(Date)
    amount_scale: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list] = mapped_column(JSON)
    warnings: Mapped[list] = mapped_column(JSON)
    parquet_path: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    created_by: Mapped[str] = mapped_column(String(128))
    unbalanced: Mapped[str | None] = mapped_column(Text, comment="imported although its statements do not add up: the differences")


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    internal_dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    external_dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    rules_name: Mapped[str] = mapped_column(String(128))
    rules_sha256: Mapped[str] = mapped_column(String(64))
    rules_text: Mapped[str] = mapped_column(Text)
    accounts: Mapped[list] = mapped_column(JSON, default=list)
    period_from: Mapped[dt.date | None] = mapped_column(Date)
    period_to: Mapped[dt.date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), comment="running | completed | failed")
    summary: Mapped[dict] = mapped_column(JSON, default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[dt.datetime | None]
    created_by: Mapped[str] = mapped_column(String(128))


class MatchGroup(Base):
    """A group a person acts on: proposed by the engine, or made by hand.

    The engine's full output (every confirmed group too) is kept per run as Parquet; this
    table holds the groups whose state people change.
    """

    __tablename__ = "match_groups"
    __table_args__ = (Index("ix_match_groups_run_match", "run_id", "match_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    match_id: Mapped[int] = mapped_column(Integer, server_default="0", comment="the engine's group number in its run")
    rule: Mapped[str] = mapped_column(String(128), comment="the pass that made the group")
    status: Mapped[str] = mapped_column(String(16), comment="confirmed | proposed")
    amount_diff: Mapped[Decimal]
    days_diff: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, server_default="1", default=1,
                                         comment="raised by every change; a change names the version it saw")
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime | None]
    pending_decision_id: Mapped[int | None] = mapped_column(Integer, comment="a decision waiting for an approver")


class MatchItem(Base):
    __tablename__ = "match_items"
    __table_args__ = (Index("ix_match_items_record", "run_id", "side", "record_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("match_groups.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    side: Mapped[str] = mapped_column(String(8), comment="internal | external")
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    record_id: Mapped[str] = mapped_column(String(128))
    account: Mapped[str] = mapped_column(String(128))
    date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))


class Break(Base):
    __tablename__ = "breaks"
    __table_args__ = (Index("ix_breaks_run_status", "run_id", "status"), Index("ix_breaks_account", "account"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    side: Mapped[str] = mapped_column(String(8), comment="internal | external")
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    record_id: Mapped[str] = mapped_column(String(128))
    account: Mapped[str] = mapped_column(String(128))
    date: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(512), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(64), comment="why the record is open")
    status: Mapped[str] = mapped_column(String(16), default="open", comment="open | resolved | matched")
    first_seen_on: Mapped[dt.date] = mapped_column(Date, comment="the day the break first appeared; ages from here")
    carried_from_id: Mapped[int | None] = mapped_column(ForeignKey("breaks.id"))
    version: Mapped[int] = mapped_column(Integer, server_default="1", default=1,
                                         comment="raised by every change; a change names the version it saw")
    updated_by: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(32), comment="reason code when resolved")
    pending_decision_id: Mapped[int | None] = mapped_column(Integer, comment="a decision waiting for an approver")


class Decision(Base):
    """A person's decision. Append-only: an approval or reversal is a new row with ``parent_id``."""

    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_chain_seq", "chain_seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id"), index=True)
    target_type: Mapped[str] = mapped_column(String(16), comment="group | break | record")
    target_id: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text, default="")
    amount: Mapped[Decimal | None]
    status: Mapped[str] = mapped_column(String(16), comment="applied | pending | approved | refused")
    made_by: Mapped[str] = mapped_column(String(128))
    made_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    payload: Mapped[dict | None] = mapped_column(JSON, comment="what the decision does, to apply it once approved")
    made_by_id: Mapped[int | None] = mapped_column(Integer, comment="the maker's user id; nobody approves their own")
    chain_seq: Mapped[int | None] = mapped_column(Integer, comment="place in the decisions' hash chain")
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of prev_hash and the canonical content")


class AuditEntry(Base):
    """Who did what, when, with the state before and after. Append-only."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"), Index("ix_audit_log_chain_seq", "chain_seq", unique=True))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utc_now, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(128))
    before: Mapped[dict | None] = mapped_column(JSON)
    after: Mapped[dict | None] = mapped_column(JSON)
    chain_seq: Mapped[int | None] = mapped_column(Integer, comment="place in the audit log's hash chain")
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64), comment="SHA-256 of prev_hash and the canonical content")


class AuditChainHead(Base):
    """The last place and hash of one chain (``audit_log``, ``decisions``); appends lock this row."""

    __tablename__ = "audit_chain_heads"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class SignInAttempt(Base):
    """One sign-in attempt, kept to slow down guessing per username and per client."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (Index("ix_sign_in_attempts_username", "username", "at"), Index("ix_sign_in_attempts_client", "client", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    username: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the canonical username typed, known or not")
    client: Mapped[str] = mapped_column(String(128), comment="what identifies the browser or caller; may be empty")
    outcome: Mapped[str] = mapped_column(String(8), comment="ok | failed | locked")


class User(Base):
    """A local account. Passwords are stored only as argon2 hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), comment="viewer | analyst | approver | admin")
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class StatementRecord(Base):
    """One bank statement inside an imported dataset: the account's period and balances."""

    __tablename__ = "statements"
    __table_args__ = (Index("ix_statements_account", "account", "period_to"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    account: Mapped[str] = mapped_column(String(128))
    currency: Mapped[str] = mapped_column(String(3))
    number: Mapped[str] = mapped_column(String(64))
    period_from: Mapped[dt.date | None] = mapped_column(Date)
    period_to: Mapped[dt.date | None] = mapped_column(Date)
    opening: Mapped[Decimal | None]
    closing: Mapped[Decimal | None]
    entry_count: Mapped[int] = mapped_column(Integer)
    content_sha256: Mapped[str] = mapped_column(String(64), comment="hash of the statement's entries, in order")
    difference: Mapped[Decimal | None] = mapped_column(comment="closing less opening less entries, when imported unbalanced")
    gap: Mapped[Decimal | None] = mapped_column(comment="opening less the previous closing, when imported unbalanced")


class FetchedFile(Base):
    """A file fetched from outside (SFTP), known by its content hash."""

    __tablename__ = "fetched_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(255), comment="host and remote path")
    local_path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class HoldingsRun(Base):
    """A holdings reconciliation: as-of date, sources, figures; its rows are a Parquet file."""

    __tablename__ = "holdings_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    as_of: Mapped[dt.date] = mapped_column(Date)
    tolerance: Mapped[str] = mapped_column(String(32))
    sources: Mapped[list] = mapped_column(JSON)
    summary: Mapped[dict] = mapped_column(JSON)
    results_path: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class AccountAlias(Base):
    """One account key standing for another (``core.domain.accounts``): records of the alias key
    are compared as records of the target key. Edited by approvers; each change is audited."""

    __tablename__ = "account_aliases"

    alias_key: Mapped[str] = mapped_column(String(128), primary_key=True, comment="the account key that stands for another")
    target_key: Mapped[str] = mapped_column(String(128), comment="the account key it is compared as")
    note: Mapped[str] = mapped_column(String(255), comment="why the two are one account; may be empty")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class ReconciliationSignOff(Base):
    """A bank reconciliation statement of one account as of a date, from a run, prepared by one
    person and signed off by another (``core.banking.signoff``). Its lines are kept as they
    were signed; a signed-off statement locks the account up to its date."""

    __tablename__ = "reconciliation_signoffs"
    __table_args__ = (Index("ix_reconciliation_signoffs_account", "account_key", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    account_key: Mapped[str] = mapped_column(String(128), comment="the account's key after the aliases")
    account: Mapped[str] = mapped_column(String(128), comment="the account as the statement shows it")
    as_of: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    book_opening: Mapped[Decimal | None] = mapped_column(comment="the books' opening balance given")
    bank_closing: Mapped[Decimal | None] = mapped_column(comment="the bank's closing balance given; none: the statements'")
    lines: Mapped[dict] = mapped_column(JSON, comment="line -> amount as text, as prepared and signed")
    status: Mapped[str] = mapped_column(String(16), comment="prepared | signed_off | superseded")
    prepared_by: Mapped[str] = mapped_column(String(128))
    prepared_by_id: Mapped[int] = mapped_column(Integer)
    prepared_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    signed_by: Mapped[str | None] = mapped_column(String(128))
    signed_by_id: Mapped[int | None] = mapped_column(Integer)
    signed_at: Mapped[dt.datetime | None]


class Alert(Base):
    """A figure past its threshold, for a person to see and acknowledge (``core.banking.alerts``).

    Raised once: a second raise of the same kind, account, period and subject is no new alert.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_once", "kind", "account", "period", "subject", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32),
                                      comment="transfer_in_transit | unexplained_difference | variance_previous | variance_budget")
    account: Mapped[str] = mapped_column(String(128))
    period: Mapped[str] = mapped_column(String(10), comment="the month (YYYY-MM) or the day (YYYY-MM-DD) the figure is of")
    subject: Mapped[str] = mapped_column(String(128), comment="what in the period: a transfer's record id, a dimension; may be empty")
    amount: Mapped[Decimal]
    threshold: Mapped[Decimal]
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    acknowledged_at: Mapped[dt.datetime | None]


class GLAccount(Base):
    """One account of the chart of accounts (the general ledger). A bank account maps to its GL
    cash account by account key (``core.domain.accounts``)."""

    __tablename__ = "gl_accounts"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16), comment="asset | liability | equity | income | expense")
    active: Mapped[bool] = mapped_column(Boolean)
    bank_account_key: Mapped[str | None] = mapped_column(String(128), unique=True,
                                                         comment="the bank account (by key) whose cash this account holds")
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class DimensionValue(Base):
    """One value of a dimension's master list (a cost centre, a project ...)."""

    __tablename__ = "gl_dimension_values"

    dimension: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean)


class Journal(Base):
    """A journal: balanced lines posted together. Posted and reversed journals never change but
    for the one step posted -> reversed (database triggers refuse the rest)."""

    __tablename__ = "journals"
    __table_args__ = (Index("ix_journals_record", "dataset_id", "record_id", unique=True),
                      Index("ix_journals_status_date", "status", "date"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    date: Mapped[dt.date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), comment="draft | posted | reversed")
    source: Mapped[str] = mapped_column(String(16), comment="manual | bank | reversal")
    dataset_id: Mapped[str | None] = mapped_column(String(64), comment="the bank record's dataset, for a journal posted from one")
    record_id: Mapped[str | None] = mapped_column(String(128), comment="the bank record it posts; a record is posted once")
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("journals.id"), comment="the journal this one reverses")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    posted_by: Mapped[str | None] = mapped_column(String(128))
    posted_at: Mapped[dt.datetime | None]


class JournalLine(Base):
    """One line of a journal: a GL account debited or credited, in one currency, with dimensions."""

    __tablename__ = "journal_lines"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    journal_id: Mapped[int] = mapped_column(ForeignKey("journals.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    gl_account: Mapped[str] = mapped_column(ForeignKey("gl_accounts.code"))
    debit: Mapped[Decimal]
    credit: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    dimensions: Mapped[dict] = mapped_column(JSON)
    description: Mapped[str] = mapped_column(Text)


class JournalBalanceCheck(Base):
    """SQLite only: journals whose lines or status changed in the open transaction, queued by
    triggers, for the posting transaction to check before it commits (SQLite has no deferred
    constraint triggers; PostgreSQL checks at commit itself and leaves this table empty)."""

    __tablename__ = "journal_balance_checks"

    journal_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class Pipeline(Base):
    """A pipeline as data (``core.jobs.pipelines``): its TOML as saved, paused or not, and a
    version raised by every save so the worker sees an edit without a restart."""

    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    definition: Mapped[str] = mapped_column(Text, comment="the pipeline as TOML, as saved")
    paused: Mapped[bool] = mapped_column(Boolean)
    version: Mapped[int] = mapped_column(Integer, comment="raised by one on every save")
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class PipelineRun(Base):
    """One run of a pipeline: when it was due, who ran it, how it ended and what it produced.

    The unique (pipeline, scheduled_for, attempt) lets one scheduled time run once whichever
    worker claims it first.
    """

    __tablename__ = "pipeline_runs"
    __table_args__ = (Index("ix_pipeline_runs_once", "pipeline", "scheduled_for", "attempt", unique=True),
                      Index("ix_pipeline_runs_status", "status"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pipeline: Mapped[str] = mapped_column(String(64))
    scheduled_for: Mapped[dt.datetime] = mapped_column(comment="the scheduled time; for a run asked for by hand, when it was asked")
    trigger: Mapped[str] = mapped_column(String(16), comment="schedule | manual | retry")
    attempt: Mapped[int] = mapped_column(Integer, comment="1 for the first try, then one more per retry")
    retry_of: Mapped[int | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    status: Mapped[str] = mapped_column(String(16), comment="queued | running | succeeded | failed | missed")
    worker: Mapped[str] = mapped_column(String(128), comment="the worker (or cli:USER, page:USER) that ran it")
    queued_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    run_after: Mapped[dt.datetime | None] = mapped_column(comment="a queued retry is not started before this")
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    outputs: Mapped[dict] = mapped_column(JSON, comment="what the run produced: datasets, run ids, files, deliveries")


class PipelineRunStep(Base):
    """One step of a pipeline run, in order: its kind, how it ended, its message and outputs."""

    __tablename__ = "pipeline_run_steps"
    __table_args__ = (Index("ix_pipeline_run_steps_run", "run_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("pipeline_runs.id"))
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), comment="fetch | import | reconcile | post | export | holdings | notify")
    status: Mapped[str] = mapped_column(String(16), comment="running | succeeded | failed | skipped")
    started_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[dt.datetime | None]
    message: Mapped[str] = mapped_column(Text)
    outputs: Mapped[dict] = mapped_column(JSON)


class WorkerLease(Base):
    """The one worker allowed to run a store's schedules: renewed every few seconds, taken over
    by another worker once ``expires_at`` has passed."""

    __tablename__ = "worker_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128), comment="host:pid:start of the worker holding it")
    acquired_at: Mapped[dt.datetime]
    renewed_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]


class WebhookDelivery(Base):
    """One attempt to deliver a webhook: the body as sent (so it can be sent again) and the answer."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_run", "run_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("pipeline_runs.id"))
    url: Mapped[str] = mapped_column(String(1024))
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, comment="the JSON body sent, kept so a delivery can be sent again")
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    event_id: Mapped[int | None] = mapped_column(Integer, comment="the subscriber's event (webhook_events) this attempt delivers")


class ExportRecord(Base):
    """One export: what was asked, the version of the data it read, how far it got, and the file.

    ``claim`` holds the request's identity while this is the export that answers it: the unique
    index lets one export exist per identity, whichever process asks first; a forced refresh
    releases the old one's claim in the transaction that makes the new one.
    """

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_claim", "claim", unique=True), Index("ix_exports_identity", "identity"),
                      Index("ix_exports_status", "status"), Index("ix_exports_created", "created_at"))

    reference_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    identity: Mapped[str] = mapped_column(String(64), comment="SHA-256 of the canonical request and the data version")
    claim: Mapped[str | None] = mapped_column(String(64), comment="the identity while this export answers it, else empty")
    kind: Mapped[str] = mapped_column(String(16), comment="transactions | breaks | matches | journals | brs")
    request: Mapped[dict] = mapped_column(JSON, comment="the canonical request")
    data_version: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), comment="PENDING | RUNNING | COMPLETED | FAILED")
    requested_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(comment="renewed while the file is written; the reaper reads it")
    completed_at: Mapped[dt.datetime | None]
    worker: Mapped[str | None] = mapped_column(String(128), comment="the worker (or cli:USER) building the file")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    location: Mapped[str | None] = mapped_column(String(2048), comment="a local path or s3://bucket/key")
    error: Mapped[str | None] = mapped_column(Text)


class ExportAsk(Base):
    """Each time someone asked for an export, and how it was answered: a new file, the existing
    one (reused), the one being built (joined), or a failed one started again (retried)."""

    __tablename__ = "export_asks"
    __table_args__ = (Index("ix_export_asks_export", "reference_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    reference_id: Mapped[str] = mapped_column(ForeignKey("exports.reference_id"))
    asked_by: Mapped[str] = mapped_column(String(128))
    asked_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    outcome: Mapped[str] = mapped_column(String(16), comment="new | reused | joined | retried | refreshed")


class ApiKey(Base):
    """A key for the HTTP API (``core.apikeys``): only the SHA-256 of the key is kept, and the
    first characters to tell keys apart; the key carries a role like a user does."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), comment="the key's first characters, shown to tell keys apart")
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the whole key; the key itself is never stored")
    role: Mapped[str] = mapped_column(String(16), comment="viewer | analyst | approver")
    active: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    disabled_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]


class ApiRequestCount(Base):
    """How many HTTP API requests each route answered with each status, counted in the store so
    every API process adds to the same figures (``GET /metrics``)."""

    __tablename__ = "api_request_counts"

    route: Mapped[str] = mapped_column(String(128), primary_key=True,
                                       comment="the route's template, such as /api/v1/exports/{reference_id}")
    method: Mapped[str] = mapped_column(String(8), primary_key=True)
    status: Mapped[int] = mapped_column(Integer, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    seconds: Mapped[Decimal] = mapped_column(comment="the time spent answering them, added up")


class Application(Base):
    """A merchant's request for funding: its status (received -> processing -> ready -> decided),
    and the decision, which over the approval threshold waits for a second person."""

    __tablename__ = "applications"
    __table_args__ = (Index("ix_applications_status", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    merchant: Mapped[str] = mapped_column(String(256))
    requested_amount: Mapped[Decimal | None]
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), comment="received | processing | ready | decided")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    proposed_outcome: Mapped[str | None] = mapped_column(String(16), comment="approved | declined, waiting for a checker")
    proposed_comment: Mapped[str | None] = mapped_column(Text)
    proposed_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(String(16), comment="approved | declined")
    decision_comment: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[dt.datetime | None]


class ApplicationDocument(Base):
    """A document of an application, known by its SHA-256 (the same document twice is one); its
    bytes are kept encrypted in the data folder, never in the database."""

    __tablename__ = "application_documents"
    __table_args__ = (Index("ix_application_documents_once", "application_id", "sha256", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id"))
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(256))
    source: Mapped[str] = mapped_column(String(16), comment="upload | mail")
    size: Mapped[int] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)
    stored_as: Mapped[str] = mapped_column(String(256), comment="file name of the encrypted copy under data/documents/")
    reading: Mapped[dict] = mapped_column(JSON, comment="what was read: kind, rows, doubtful rows, period, problems")
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


# Ownership and follow-up of breaks: who works a break and by when, its comment thread, and
# each user's saved filters of the breaks grid.
class BreakFollowUp(Base):
    """Who works a break and by when: one row per break, by id; every change is in the audit log."""

    __tablename__ = "break_follow_ups"

    break_id: Mapped[int] = mapped_column(ForeignKey("breaks.id"), primary_key=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    due_on: Mapped[dt.date | None] = mapped_column(Date)
    assigned_by: Mapped[str] = mapped_column(String(128))
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class BreakComment(Base):
    """One comment in a break's thread, oldest first; never changed once written."""

    __tablename__ = "break_comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    break_id: Mapped[int] = mapped_column(ForeignKey("breaks.id"), index=True)
    author: Mapped[str] = mapped_column(String(128))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    written_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


class SavedBreakView(Base):
    """A user's named filter settings of the breaks grid."""

    __tablename__ = "saved_break_views"
    __table_args__ = (Index("ix_saved_break_views_user_name", "user_id", "name", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(128))
    filters: Mapped[dict] = mapped_column(JSON)
    saved_at: Mapped[dt.datetime] = mapped_column(default=utc_now)


# -- Webhook subscribers and their events (core.webhooks) ------------------------------------


class WebhookSubscriber(Base):
    """A receiver of the product's events: its URL, the secret deliveries are signed with (kept
    encrypted with the document key), the events it takes, and whether it is active."""

    __tablename__ = "webhook_subscribers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    url: Mapped[str] = mapped_column(String(1024))
    secret_encrypted: Mapped[str] = mapped_column(Text, comment="the signing secret, Fernet-encrypted; never shown back")
    events: Mapped[list] = mapped_column(JSON, comment="the event names subscribed, such as application.ready")
    active: Mapped[bool] = mapped_column(Boolean)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[dt.datetime | None]


class WebhookEvent(Base):
    """One event owed to one subscriber (the outbox): written in the transaction of the change it
    tells of, sent by the worker, tried again with backoff until delivered or failed."""

    __tablename__ = "webhook_events"
    __table_args__ = (Index("ix_webhook_events_due", "status", "next_attempt_at"), Index("ix_webhook_events_subscriber", "subscriber_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscribers.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, comment="the JSON body, the same on every attempt")
    status: Mapped[str] = mapped_column(String(16), comment="pending | sending | delivered | failed")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
    sending_since: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]


# --- Datasets retired from use (the Datasets page) ---


class DatasetRetirement(Base):
    """A dataset taken out of use: no longer offered to runs; its file and rows stay for the runs' record."""

    __tablename__ = "dataset_retirements"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    retired_by: Mapped[str] = mapped_column(String(128))
    retired_at: Mapped[dt.datetime] = mapped_column(default=utc_now)
