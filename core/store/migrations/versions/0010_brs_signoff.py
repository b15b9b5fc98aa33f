"""Bank reconciliation sign-offs: a statement prepared by one person and signed off by another,
its lines as signed; a signed-off statement locks its account up to its date.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_signoffs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("account_key", sa.String(128), nullable=False, comment="the account's key after the aliases"),
        sa.Column("account", sa.String(128), nullable=False, comment="the account as the statement shows it"),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("book_opening", ExactDecimal(28, 6), comment="the books' opening balance given"),
        sa.Column("bank_closing", ExactDecimal(28, 6), comment="the bank's closing balance given; none: the statements'"),
        sa.Column("lines", sa.JSON, nullable=False, comment="line -> amount as text, as prepared and signed"),
        sa.Column("status", sa.String(16), nullable=False, comment="prepared | signed_off | superseded"),
        sa.Column("prepared_by", sa.String(128), nullable=False),
        sa.Column("prepared_by_id", sa.Integer, nullable=False),
        sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_by", sa.String(128)),
        sa.Column("signed_by_id", sa.Integer),
        sa.Column("signed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_reconciliation_signoffs_account", "reconciliation_signoffs", ["account_key", "status"])


def downgrade() -> None:
    op.drop_index("ix_reconciliation_signoffs_account", table_name="reconciliation_signoffs")
    op.drop_table("reconciliation_signoffs")
