"""Alerts: a transfer in transit too long, an unexplained difference or a variance past its
threshold, kept once and acknowledged by a person.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False,
                  comment="transfer_in_transit | unexplained_difference | variance_previous | variance_budget"),
        sa.Column("account", sa.String(128), nullable=False),
        sa.Column("period", sa.String(10), nullable=False, comment="the month (YYYY-MM) or the day (YYYY-MM-DD) the figure is of"),
        sa.Column("subject", sa.String(128), nullable=False,
                  comment="what in the period: a transfer's record id, a dimension; may be empty"),
        sa.Column("amount", ExactDecimal(28, 6), nullable=False),
        sa.Column("threshold", ExactDecimal(28, 6), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_alerts_once", "alerts", ["kind", "account", "period", "subject"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_alerts_once", "alerts")
    op.drop_table("alerts")
