"""Exports: one row per export (request, data version, status, the file's rows, bytes and SHA-256)
and one per time it was asked for.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "exports",
        sa.Column("reference_id", sa.String(40), primary_key=True),
        sa.Column("identity", sa.String(64), nullable=False, comment="SHA-256 of the canonical request and the data version"),
        sa.Column("claim", sa.String(64), comment="the identity while this export answers it, else empty"),
        sa.Column("kind", sa.String(16), nullable=False, comment="transactions | breaks | matches | journals | brs"),
        sa.Column("request", sa.JSON, nullable=False, comment="the canonical request"),
        sa.Column("data_version", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, comment="PENDING | RUNNING | COMPLETED | FAILED"),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("started_at", MOMENT),
        sa.Column("heartbeat_at", MOMENT, comment="renewed while the file is written; the reaper reads it"),
        sa.Column("completed_at", MOMENT),
        sa.Column("worker", sa.String(128), comment="the worker (or cli:USER) building the file"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("row_count", sa.BigInteger),
        sa.Column("file_size", sa.BigInteger),
        sa.Column("sha256", sa.String(64)),
        sa.Column("location", sa.String(2048), comment="a local path or s3://bucket/key"),
        sa.Column("error", sa.Text),
    )
    # One export answers one request: whoever asks first makes it, everyone else joins it. The database says so.
    op.create_index("ix_exports_claim", "exports", ["claim"], unique=True)
    op.create_index("ix_exports_identity", "exports", ["identity"])
    op.create_index("ix_exports_status", "exports", ["status"])
    op.create_index("ix_exports_created", "exports", ["created_at"])
    op.create_table(
        "export_asks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reference_id", sa.String(40), sa.ForeignKey("exports.reference_id"), nullable=False),
        sa.Column("asked_by", sa.String(128), nullable=False),
        sa.Column("asked_at", MOMENT, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False, comment="new | reused | joined | retried | refreshed"),
    )
    op.create_index("ix_export_asks_export", "export_asks", ["reference_id"])


def downgrade() -> None:
    op.drop_index("ix_export_asks_export", "export_asks")
    op.drop_table("export_asks")
    for index in ("ix_exports_created", "ix_exports_status", "ix_exports_identity", "ix_exports_claim"):
        op.drop_index(index, "exports")
    op.drop_table("exports")
