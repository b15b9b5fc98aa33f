"""Users and roles; versions on breaks and groups so two people never overwrite each other.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False, comment="viewer | analyst | approver | admin"),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("updated_at", tz, nullable=False),
    )
    for table in ("breaks", "match_groups"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1",
                                       comment="raised by every change; a change names the version it saw"))
            batch.add_column(sa.Column("updated_by", sa.String(128)))
            batch.add_column(sa.Column("updated_at", tz))
    with op.batch_alter_table("breaks") as batch:
        batch.add_column(sa.Column("resolution", sa.String(32), comment="reason code when resolved"))
        batch.add_column(sa.Column("pending_decision_id", sa.Integer, comment="a decision waiting for an approver"))
    with op.batch_alter_table("match_groups") as batch:
        batch.add_column(sa.Column("pending_decision_id", sa.Integer, comment="a decision waiting for an approver"))
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("payload", sa.JSON, comment="what the decision does, to apply it once approved"))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("payload")
    with op.batch_alter_table("match_groups") as batch:
        for column in ("pending_decision_id", "updated_at", "updated_by", "version"):
            batch.drop_column(column)
    with op.batch_alter_table("breaks") as batch:
        for column in ("pending_decision_id", "resolution", "updated_at", "updated_by", "version"):
            batch.drop_column(column)
    op.drop_table("users")
