"""Ownership and follow-up of breaks: assignee and due date, comment threads, saved filter views.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "break_follow_ups",
        sa.Column("break_id", sa.Integer, sa.ForeignKey("breaks.id"), primary_key=True),
        sa.Column("assignee_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("due_on", sa.Date),
        sa.Column("assigned_by", sa.String(128), nullable=False),
        sa.Column("assigned_at", MOMENT, nullable=False),
    )
    op.create_index("ix_break_follow_ups_assignee_id", "break_follow_ups", ["assignee_id"])
    op.create_table(
        "break_comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("break_id", sa.Integer, sa.ForeignKey("breaks.id"), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("author_id", sa.Integer, sa.ForeignKey("users.id")),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("written_at", MOMENT, nullable=False),
    )
    op.create_index("ix_break_comments_break_id", "break_comments", ["break_id"])
    op.create_table(
        "saved_break_views",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("saved_at", MOMENT, nullable=False),
    )
    op.create_index("ix_saved_break_views_user_name", "saved_break_views", ["user_id", "name"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_saved_break_views_user_name", "saved_break_views")
    op.drop_table("saved_break_views")
    op.drop_index("ix_break_comments_break_id", "break_comments")
    op.drop_table("break_comments")
    op.drop_index("ix_break_follow_ups_assignee_id", "break_follow_ups")
    op.drop_table("break_follow_ups")
