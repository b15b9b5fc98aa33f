"""The ledger: chart of accounts, dimension values, journals and their lines.

A journal that is not a draft must balance per currency. PostgreSQL checks that at commit
with constraint triggers (DEFERRABLE INITIALLY DEFERRED), so lines may be written one by one
inside the transaction. SQLite has no deferred triggers: its triggers queue the journals a
transaction touches in ``journal_balance_checks`` and the posting transaction in core checks
them before it commits (``core.banking.ledger.ledger_transaction``). On both, triggers refuse
any change to the lines of a posted or reversed journal, and any change to such a journal but
the one step from posted to reversed.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from core.store.types import ExactDecimal

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FROZEN = "a posted journal never changes: correct it with a reversing journal"
_SAME_HEADER = ("date", "description", "source", "dataset_id", "record_id", "reverses_id", "created_by", "posted_by", "posted_at")


def upgrade() -> None:
    tz = sa.DateTime(timezone=True)
    op.create_table(
        "gl_accounts",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False, comment="asset | liability | equity | income | expense"),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("bank_account_key", sa.String(128), unique=True, comment="the bank account (by key) whose cash this account holds"),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", tz, nullable=False),
    )
    op.create_table(
        "gl_dimension_values",
        sa.Column("dimension", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "journals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, comment="draft | posted | reversed"),
        sa.Column("source", sa.String(16), nullable=False, comment="manual | bank | reversal"),
        sa.Column("dataset_id", sa.String(64), comment="the bank record's dataset, for a journal posted from one"),
        sa.Column("record_id", sa.String(128), comment="the bank record it posts; a record is posted once"),
        sa.Column("reverses_id", sa.Integer, sa.ForeignKey("journals.id"), comment="the journal this one reverses"),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("posted_by", sa.String(128)),
        sa.Column("posted_at", tz),
    )
    op.create_index("ix_journals_record", "journals", ["dataset_id", "record_id"], unique=True)
    op.create_index("ix_journals_status_date", "journals", ["status", "date"])
    op.create_table(
        "journal_lines",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("journal_id", sa.Integer, sa.ForeignKey("journals.id"), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False),
        sa.Column("gl_account", sa.String(32), sa.ForeignKey("gl_accounts.code"), nullable=False),
        sa.Column("debit", ExactDecimal(28, 6), nullable=False),
        sa.Column("credit", ExactDecimal(28, 6), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("dimensions", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
    )
    op.create_index("ix_journal_lines_journal_id", "journal_lines", ["journal_id"])
    op.create_table(
        "journal_balance_checks",
        sa.Column("journal_id", sa.Integer, primary_key=True, autoincrement=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _postgresql_triggers()
    elif dialect == "sqlite":
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    op.execute(
        "CREATE FUNCTION recon_journal_balanced() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE jid integer; st text; bad record; "
        "BEGIN "
        "  IF TG_TABLE_NAME = 'journals' THEN jid := NEW.id; ELSE jid := NEW.journal_id; END IF; "
        "  SELECT status INTO st FROM journals WHERE id = jid; "
        "  IF st IS NULL OR st = 'draft' THEN RETURN NULL; END IF; "
        "  IF NOT EXISTS (SELECT 1 FROM journal_lines WHERE journal_id = jid) THEN "
        "    RAISE EXCEPTION 'journal % does not balance: it has no lines', jid; END IF; "
        "  SELECT currency, sum(debit) - sum(credit) AS diff INTO bad FROM journal_lines WHERE journal_id = jid "
        "    GROUP BY currency HAVING sum(debit) <> sum(credit) ORDER BY currency LIMIT 1; "
        "  IF FOUND THEN RAISE EXCEPTION 'journal % does not balance in %: debits less credits %', jid, bad.currency, bad.diff; END IF; "
        "  RETURN NULL; "
        "END $$"
    )
    for table in ("journals", "journal_lines"):
        op.execute(f"CREATE CONSTRAINT TRIGGER {table}_balanced AFTER INSERT OR UPDATE ON {table} "
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION recon_journal_balanced()")
    op.execute(
        "CREATE FUNCTION recon_journal_lines_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "DECLARE jid integer; "
        "BEGIN "
        "  IF TG_OP = 'DELETE' THEN jid := OLD.journal_id; ELSE jid := NEW.journal_id; END IF; "
        "  IF EXISTS (SELECT 1 FROM journals WHERE status <> 'draft' AND (id = jid OR (TG_OP = 'UPDATE' AND id = OLD.journal_id))) THEN "
        f"    RAISE EXCEPTION '{FROZEN}'; END IF; "
        "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; "
        "END $$"
    )
    op.execute("CREATE TRIGGER journal_lines_frozen BEFORE INSERT OR UPDATE OR DELETE ON journal_lines "
               "FOR EACH ROW EXECUTE FUNCTION recon_journal_lines_frozen()")
    same = " AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _SAME_HEADER)
    op.execute(
        "CREATE FUNCTION recon_journals_frozen() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN "
        "  IF TG_OP = 'DELETE' THEN "
        f"    IF OLD.status <> 'draft' THEN RAISE EXCEPTION '{FROZEN}'; END IF; RETURN OLD; END IF; "
        f"  IF OLD.status <> 'draft' AND NOT (OLD.status = 'posted' AND NEW.status = 'reversed' AND {same}) THEN "
        f"    RAISE EXCEPTION '{FROZEN}'; END IF; "
        "  RETURN NEW; "
        "END $$"
    )
    op.execute("CREATE TRIGGER journals_frozen BEFORE UPDATE OR DELETE ON journals FOR EACH ROW EXECUTE FUNCTION recon_journals_frozen()")


def _sqlite_triggers() -> None:
    refuse = f"BEGIN SELECT RAISE(ABORT, '{FROZEN}'); END"
    op.execute("CREATE TRIGGER journal_lines_frozen_insert BEFORE INSERT ON journal_lines "
               f"WHEN (SELECT status FROM journals WHERE id = NEW.journal_id) <> 'draft' {refuse}")
    op.execute("CREATE TRIGGER journal_lines_frozen_update BEFORE UPDATE ON journal_lines "
               "WHEN EXISTS (SELECT 1 FROM journals WHERE status <> 'draft' AND id IN (OLD.journal_id, NEW.journal_id)) "
               f"{refuse}")
    op.execute("CREATE TRIGGER journal_lines_frozen_delete BEFORE DELETE ON journal_lines "
               f"WHEN (SELECT status FROM journals WHERE id = OLD.journal_id) <> 'draft' {refuse}")
    same = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _SAME_HEADER)
    op.execute("CREATE TRIGGER journals_frozen_update BEFORE UPDATE ON journals "
               f"WHEN OLD.status <> 'draft' AND NOT (OLD.status = 'posted' AND NEW.status = 'reversed' AND {same}) {refuse}")
    op.execute(f"CREATE TRIGGER journals_frozen_delete BEFORE DELETE ON journals WHEN OLD.status <> 'draft' {refuse}")
    queue = "INSERT OR IGNORE INTO journal_balance_checks (journal_id) VALUES"
    op.execute(f"CREATE TRIGGER journal_lines_queue_insert AFTER INSERT ON journal_lines BEGIN {queue} (NEW.journal_id); END")
    op.execute(f"CREATE TRIGGER journal_lines_queue_update AFTER UPDATE ON journal_lines BEGIN {queue} (NEW.journal_id); END")
    op.execute(f"CREATE TRIGGER journals_queue_insert AFTER INSERT ON journals WHEN NEW.status <> 'draft' BEGIN {queue} (NEW.id); END")
    op.execute(f"CREATE TRIGGER journals_queue_update AFTER UPDATE OF status ON journals BEGIN {queue} (NEW.id); END")


def downgrade() -> None:
    for table in ("journal_balance_checks", "journal_lines", "journals", "gl_dimension_values", "gl_accounts"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        for function in ("recon_journal_balanced", "recon_journal_lines_frozen", "recon_journals_frozen"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
