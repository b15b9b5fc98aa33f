"""Webhook subscribers, the events owed to them (an outbox), and each attempt's link to its event.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "webhook_subscribers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("secret_encrypted", sa.Text, nullable=False, comment="the signing secret, Fernet-encrypted; never shown back"),
        sa.Column("events", sa.JSON, nullable=False, comment="the event names subscribed, such as application.ready"),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT),
    )
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("webhook_subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False, comment="the JSON body, the same on every attempt"),
        sa.Column("status", sa.String(16), nullable=False, comment="pending | sending | delivered | failed"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", MOMENT),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("sending_since", MOMENT),
        sa.Column("delivered_at", MOMENT),
    )
    op.create_index("ix_webhook_events_due", "webhook_events", ["status", "next_attempt_at"])
    op.create_index("ix_webhook_events_subscriber", "webhook_events", ["subscriber_id"])
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("event_id", sa.Integer, comment="the subscriber's event (webhook_events) this attempt delivers"))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("event_id")
    op.drop_index("ix_webhook_events_subscriber", "webhook_events")
    op.drop_index("ix_webhook_events_due", "webhook_events")
    op.drop_table("webhook_events")
    op.drop_table("webhook_subscribers")
