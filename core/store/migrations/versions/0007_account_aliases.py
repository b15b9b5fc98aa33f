"""Account aliases: one account key standing for another, so records written under an old or
other number are compared as one account.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_aliases",
        sa.Column("alias_key", sa.String(128), primary_key=True, comment="the account key that stands for another"),
        sa.Column("target_key", sa.String(128), nullable=False, comment="the account key it is compared as"),
        sa.Column("note", sa.String(255), nullable=False, comment="why the two are one account; may be empty"),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_aliases")
