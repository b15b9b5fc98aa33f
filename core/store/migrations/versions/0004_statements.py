"""Statements: each imported bank statement's account, period, balances and content hash.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "statements",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dataset_id", sa.String(64), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("period_from", sa.Date),
        sa.Column("period_to", sa.Date),
        sa.Column("opening", ExactDecimal(28, 6)),
        sa.Column("closing", ExactDecimal(28, 6)),
        sa.Column("entry_count", sa.Integer, nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False, comment="hash of the statement's entries, in order"),
    )
    op.create_index("ix_statements_account", "statements", ["account", "period_to"])


def downgrade() -> None:
    op.drop_table("statements")
