"""Match groups keep the engine's number within their run.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("match_groups") as batch:
        batch.add_column(sa.Column("match_id", sa.Integer, nullable=False, server_default="0", comment="the engine's group number in its run"))
    op.create_index("ix_match_groups_run_match", "match_groups", ["run_id", "match_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_match_groups_run_match", table_name="match_groups")
    with op.batch_alter_table("match_groups") as batch:
        batch.drop_column("match_id")
