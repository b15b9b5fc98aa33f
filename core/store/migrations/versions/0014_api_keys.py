"""The HTTP API: its keys (SHA-256 only) and its request counts per route and status.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False, comment="the key's first characters, shown to tell keys apart"),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True,
                  comment="SHA-256 of the whole key; the key itself is never stored"),
        sa.Column("role", sa.String(16), nullable=False, comment="viewer | analyst | approver"),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("disabled_at", MOMENT),
        sa.Column("last_used_at", MOMENT),
    )
    op.create_table(
        "api_request_counts",
        sa.Column("route", sa.String(128), primary_key=True,
                  comment="the route's template, such as /api/v1/exports/{reference_id}"),
        sa.Column("method", sa.String(8), primary_key=True),
        sa.Column("status", sa.Integer, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("seconds", ExactDecimal(28, 6), nullable=False, comment="the time spent answering them, added up"),
    )


def downgrade() -> None:
    op.drop_table("api_request_counts")
    op.drop_table("api_keys")
