"""Files fetched from outside (SFTP), by content hash, so the same file is processed once;
and holdings reconciliation runs.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fetched_files",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(255), nullable=False, comment="host and remote path"),
        sa.Column("local_path", sa.String(1024), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "holdings_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("tolerance", sa.String(32), nullable=False),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("results_path", sa.String(1024), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("holdings_runs")
    op.drop_table("fetched_files")
