"""Unbalanced statements: a dataset imported although its statements do not add up says so,
and each of its statements keeps what did not add up.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("datasets", sa.Column("unbalanced", sa.Text,
                                        comment="imported although its statements do not add up: the differences"))
    op.add_column("statements", sa.Column("difference", ExactDecimal(28, 6),
                                          comment="closing less opening less entries, when imported unbalanced"))
    op.add_column("statements", sa.Column("gap", ExactDecimal(28, 6), comment="opening less the previous closing, when imported unbalanced"))


def downgrade() -> None:
    with op.batch_alter_table("statements") as batch:
        batch.drop_column("gap")
        batch.drop_column("difference")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("unbalanced")
