"""The worker: pipelines as data, one row per run of a pipeline and per step, the worker's lease,
and every webhook delivery.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False, comment="the pipeline as TOML, as saved"),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, comment="raised by one on every save"),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("pipeline", sa.String(64), nullable=False),
        sa.Column("scheduled_for", MOMENT, nullable=False, comment="the scheduled time; for a run asked for by hand, when it was asked"),
        sa.Column("trigger", sa.String(16), nullable=False, comment="schedule | manual | retry"),
        sa.Column("attempt", sa.Integer, nullable=False, comment="1 for the first try, then one more per retry"),
        sa.Column("retry_of", sa.Integer, sa.ForeignKey("pipeline_runs.id")),
        sa.Column("status", sa.String(16), nullable=False, comment="queued | running | succeeded | failed | missed"),
        sa.Column("worker", sa.String(128), nullable=False, comment="the worker (or cli:USER, page:USER) that ran it"),
        sa.Column("queued_at", MOMENT, nullable=False),
        sa.Column("run_after", MOMENT, comment="a queued retry is not started before this"),
        sa.Column("started_at", MOMENT),
        sa.Column("finished_at", MOMENT),
        sa.Column("error", sa.Text),
        sa.Column("outputs", sa.JSON, nullable=False, comment="what the run produced: datasets, run ids, files, deliveries"),
    )
    # Each scheduled time of a pipeline is run once, whichever worker gets there: the database says so.
    op.create_index("ix_pipeline_runs_once", "pipeline_runs", ["pipeline", "scheduled_for", "attempt"], unique=True)
    op.create_index("ix_pipeline_runs_status", "pipeline_runs", ["status"])
    op.create_table(
        "pipeline_run_steps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False, comment="fetch | import | reconcile | post | export | holdings | notify"),
        sa.Column("status", sa.String(16), nullable=False, comment="running | succeeded | failed | skipped"),
        sa.Column("started_at", MOMENT, nullable=False),
        sa.Column("finished_at", MOMENT),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
    )
    op.create_index("ix_pipeline_run_steps_run", "pipeline_run_steps", ["run_id", "position"])
    op.create_table(
        "worker_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False, comment="host:pid:start of the worker holding it"),
        sa.Column("acquired_at", MOMENT, nullable=False),
        sa.Column("renewed_at", MOMENT, nullable=False),
        sa.Column("expires_at", MOMENT, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("pipeline_runs.id")),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("body", sa.Text, nullable=False, comment="the JSON body sent, kept so a delivery can be sent again"),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("delivered", sa.Boolean, nullable=False),
        sa.Column("sent_at", MOMENT, nullable=False),
    )
    op.create_index("ix_webhook_deliveries_run", "webhook_deliveries", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_run", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("worker_leases")
    op.drop_index("ix_pipeline_run_steps_run", "pipeline_run_steps")
    op.drop_table("pipeline_run_steps")
    op.drop_index("ix_pipeline_runs_status", "pipeline_runs")
    op.drop_index("ix_pipeline_runs_once", "pipeline_runs")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
