"""Applications for funding and their documents (kept encrypted in the data folder, never here).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "applications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("merchant", sa.String(256), nullable=False),
        sa.Column("requested_amount", ExactDecimal(28, 6)),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, comment="received | processing | ready | decided"),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("proposed_outcome", sa.String(16), comment="approved | declined, waiting for a checker"),
        sa.Column("proposed_comment", sa.Text),
        sa.Column("proposed_by", sa.String(128)),
        sa.Column("outcome", sa.String(16), comment="approved | declined"),
        sa.Column("decision_comment", sa.Text),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", MOMENT),
    )
    op.create_index("ix_applications_status", "applications", ["status"])
    op.create_table(
        "application_documents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("application_id", sa.Integer, sa.ForeignKey("applications.id"), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("source", sa.String(16), nullable=False, comment="upload | mail"),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("pages", sa.Integer),
        sa.Column("stored_as", sa.String(256), nullable=False, comment="file name of the encrypted copy under data/documents/"),
        sa.Column("reading", sa.JSON, nullable=False, comment="what was read: kind, rows, doubtful rows, period, problems"),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", MOMENT, nullable=False),
    )
    op.create_index("ix_application_documents_once", "application_documents", ["application_id", "sha256"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_application_documents_once", "application_documents")
    op.drop_table("application_documents")
    op.drop_index("ix_applications_status", "applications")
    op.drop_table("applications")
