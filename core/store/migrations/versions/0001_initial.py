"""Initial store: datasets, runs, match groups and items, breaks, decisions, audit log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("decisions", "audit_log")


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(64), primary_key=True, comment="SHA-256 of the file's bytes"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("format", sa.String(32), nullable=False),
        sa.Column("profile", sa.String(128)),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("account_count", sa.Integer, nullable=False),
        sa.Column("date_from", sa.Date),
        sa.Column("date_to", sa.Date),
        sa.Column("amount_scale", sa.Integer, nullable=False),
        sa.Column("columns", sa.JSON, nullable=False),
        sa.Column("warnings", sa.JSON, nullable=False),
        sa.Column("parquet_path", sa.String(1024), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("internal_dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("external_dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("rules_name", sa.String(128), nullable=False),
        sa.Column("rules_sha256", sa.String(64), nullable=False),
        sa.Column("rules_text", sa.Text, nullable=False),
        sa.Column("accounts", sa.JSON, nullable=False),
        sa.Column("period_from", sa.Date),
        sa.Column("period_to", sa.Date),
        sa.Column("status", sa.String(16), nullable=False, comment="running | completed | failed"),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("started_at", tz, nullable=False),
        sa.Column("finished_at", tz),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "match_groups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False, comment="the pass that made the group"),
        sa.Column("status", sa.String(16), nullable=False, comment="confirmed | proposed"),
        sa.Column("amount_diff", ExactDecimal(28, 6), nullable=False),
        sa.Column("days_diff", sa.Integer, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
    )
    op.create_index("ix_match_groups_run_id", "match_groups", ["run_id"])
    op.create_table(
        "match_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_id", sa.Integer, sa.ForeignKey("match_groups.id"), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("side", sa.String(8), nullable=False, comment="internal | external"),
        sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("amount", ExactDecimal(28, 6), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
    )
    op.create_index("ix_match_items_group_id", "match_items", ["group_id"])
    op.create_index("ix_match_items_record", "match_items", ["run_id", "side", "record_id"])
    op.create_table(
        "breaks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("side", sa.String(8), nullable=False, comment="internal | external"),
        sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("amount", ExactDecimal(28, 6), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reference", sa.String(512), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False, comment="why the record is open"),
        sa.Column("status", sa.String(16), nullable=False, comment="open | resolved | matched"),
        sa.Column("first_seen_on", sa.Date, nullable=False, comment="the day the break first appeared; ages from here"),
        sa.Column("carried_from_id", sa.Integer, sa.ForeignKey("breaks.id")),
    )
    op.create_index("ix_breaks_run_status", "breaks", ["run_id", "status"])
    op.create_index("ix_breaks_account", "breaks", ["account"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("decisions.id")),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("target_type", sa.String(16), nullable=False, comment="group | break | record"),
        sa.Column("target_id", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(32)),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("amount", ExactDecimal(28, 6)),
        sa.Column("status", sa.String(16), nullable=False, comment="applied | pending | approved | refused"),
        sa.Column("made_by", sa.String(128), nullable=False),
        sa.Column("made_at", tz, nullable=False),
    )
    op.create_index("ix_decisions_run_id", "decisions", ["run_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", tz, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(128), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_entity", "audit_log", ["entity_type", "entity_id"])
    _create_append_only_triggers()


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION recon_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION recon_refuse_change()"
            )


def downgrade() -> None:
    for table in ("audit_log", "decisions", "breaks", "match_items", "match_groups", "runs", "datasets"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS recon_refuse_change()")
