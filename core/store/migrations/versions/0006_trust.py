"""Trust: canonical usernames, sign-in attempts, makers by user id, and the audit hash chain.

Usernames become canonical (surrounding space removed, case folded); two users whose names
would then collide stop the upgrade with their names, for an admin to rename one first.
Every existing audit entry and decision is chained in id order, so verification covers what
was written before this revision too. The append-only triggers are lifted for that one
update, inside the migration's transaction, and put back.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from core.store.chain import GENESIS, link_rows
from core.store.types import ExactDecimal

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

APPEND_ONLY = ("decisions", "audit_log")


def _canonical(name: str) -> str:
    return name.strip().casefold()


def upgrade() -> None:
    bind = op.get_bind()
    users = bind.execute(sa.text("SELECT id, username FROM users ORDER BY id")).all()
    owners: dict[str, str] = {}
    for _, username in users:
        canonical = _canonical(username)
        if canonical in owners:
            raise RuntimeError(f"users {owners[canonical]!r} and {username!r} would both be {canonical!r}: "
                               "rename or remove one of them, then upgrade again")
        owners[canonical] = username
    for user_id, username in users:
        if _canonical(username) != username:
            bind.execute(sa.text("UPDATE users SET username = :name WHERE id = :id"), {"name": _canonical(username), "id": user_id})

    op.create_table(
        "sign_in_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(64), nullable=False, comment="SHA-256 of the canonical username typed, known or not"),
        sa.Column("client", sa.String(128), nullable=False, comment="what identifies the browser or caller; may be empty"),
        sa.Column("outcome", sa.String(8), nullable=False, comment="ok | failed | locked"),
    )
    op.create_index("ix_sign_in_attempts_username", "sign_in_attempts", ["username", "at"])
    op.create_index("ix_sign_in_attempts_client", "sign_in_attempts", ["client", "at"])
    op.create_table(
        "audit_chain_heads",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
    )
    op.add_column("decisions", sa.Column("made_by_id", sa.Integer, comment="the maker's user id; nobody approves their own"))
    for table in APPEND_ONLY:
        what = "decisions'" if table == "decisions" else "audit log's"
        op.add_column(table, sa.Column("chain_seq", sa.Integer, comment=f"place in the {what} hash chain"))
        op.add_column(table, sa.Column("prev_hash", sa.String(64)))
        op.add_column(table, sa.Column("hash", sa.String(64), comment="SHA-256 of prev_hash and the canonical content"))

    _drop_append_only_triggers()
    user_ids = {_canonical(username): user_id for user_id, username in users}
    for decision_id, made_by in bind.execute(sa.text("SELECT id, made_by FROM decisions")).all():
        if _canonical(made_by) in user_ids:
            bind.execute(sa.text("UPDATE decisions SET made_by_id = :user WHERE id = :id"),
                         {"user": user_ids[_canonical(made_by)], "id": decision_id})
    _chain_existing_rows(bind)
    _create_append_only_triggers()
    op.create_index("ix_audit_log_chain_seq", "audit_log", ["chain_seq"], unique=True)
    op.create_index("ix_decisions_chain_seq", "decisions", ["chain_seq"], unique=True)


def _chain_existing_rows(bind) -> None:
    # Imported only when this upgrade runs: alembic loads every version script to build its graph,
    # and the models must not load (with the whole store) for a downgrade or a listing.
    from core.store.models import AuditEntry, Decision

    tz, text = sa.DateTime(timezone=True), sa.String

    def chain():
        return sa.column("chain_seq", sa.Integer), sa.column("prev_hash", text), sa.column("hash", text)

    tables = {
        AuditEntry: sa.table("audit_log", sa.column("id", sa.Integer), sa.column("at", tz), sa.column("actor", text),
                             sa.column("action", text), sa.column("entity_type", text), sa.column("entity_id", text),
                             sa.column("before", sa.JSON), sa.column("after", sa.JSON), *chain()),
        Decision: sa.table("decisions", sa.column("id", sa.Integer), sa.column("parent_id", sa.Integer), sa.column("run_id", sa.Integer),
                           sa.column("target_type", text), sa.column("target_id", text), sa.column("action", text),
                           sa.column("reason_code", text), sa.column("comment", text), sa.column("amount", ExactDecimal(28, 6)),
                           sa.column("status", text), sa.column("made_by", text), sa.column("made_at", tz),
                           sa.column("payload", sa.JSON), sa.column("made_by_id", sa.Integer), *chain()),
    }
    for model, table in tables.items():
        rows = [dict(row) for row in bind.execute(sa.select(table).order_by(table.c.id)).mappings()]
        last = link_rows(model, rows, 0, GENESIS)
        for row in rows:
            bind.execute(table.update().where(table.c.id == row["id"])
                         .values(chain_seq=row["chain_seq"], prev_hash=row["prev_hash"], hash=row["hash"]))
        bind.execute(sa.text("INSERT INTO audit_chain_heads (name, seq, last_hash) VALUES (:name, :seq, :hash)"),
                     {"name": table.name, "seq": len(rows), "hash": last})


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for event in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END")
        elif dialect == "postgresql":
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION recon_refuse_change()")


def downgrade() -> None:
    op.drop_index("ix_decisions_chain_seq", table_name="decisions")
    op.drop_index("ix_audit_log_chain_seq", table_name="audit_log")
    _drop_append_only_triggers()
    for table in APPEND_ONLY:
        with op.batch_alter_table(table) as batch:
            for column in ("hash", "prev_hash", "chain_seq") + (("made_by_id",) if table == "decisions" else ()):
                batch.drop_column(column)
    _create_append_only_triggers()
    op.drop_table("audit_chain_heads")
    op.drop_table("sign_in_attempts")
