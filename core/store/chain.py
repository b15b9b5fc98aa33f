"""The hash chain over the append-only tables: the audit log and the decisions.

Each entry carries its place in its chain (``chain_seq``, 1, 2, 3 ...), the hash of the entry
before it (``prev_hash``; the first entry's is 64 zeros) and its own ``hash``: the SHA-256 of
the previous hash and the entry's canonical content. The canonical content is a JSON object
of every column but ``id`` and ``hash``, with sorted keys, no spaces, exact decimals as
normalised text (``1.50`` and ``1.500000`` are both ``1.5``) and timestamps as ISO 8601 in
UTC with microseconds.

One row per chain in ``audit_chain_heads`` holds the last place and hash. Every append
updates that row first, in the writer's transaction: the row lock (PostgreSQL) or the write
lock (SQLite) makes concurrent writers wait for each other, so the chain never forks, and the
head moves with the entries or not at all.

Changing a past entry, removing one or slipping one in then shows as a broken link, which
:func:`verify_audit_chain` names. Someone able to rewrite the database could recompute every
hash after the one they changed, head included: compare the head hash with a copy kept
elsewhere (``python -m core audit verify`` prints it) to catch that too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from core.store.models import AuditChainHead, AuditEntry, Decision, utc_now

__all__ = ["GENESIS", "CHAINED", "ChainReport", "canonical_content", "chain_rows", "entry_hash", "link_rows", "verify_audit_chain"]

GENESIS = "0" * 64
CHAINED = (AuditEntry, Decision)
_UNHASHED = {"id", "hash"}
# Columns a row may leave to their default; the chain needs their value before the insert.
_DEFAULTS = {"at": utc_now, "made_at": utc_now, "comment": lambda: ""}


def _canonical_value(name: str, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        raise TypeError(f"{name}: money must be a Decimal, not float")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        moment = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        return moment.isoformat(timespec="microseconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        # As the database hands JSON back: the store writes it with ``default=str``.
        return json.loads(json.dumps(value, default=str))
    raise TypeError(f"{name}: cannot put a {type(value).__name__} in the audit chain")


def canonical_content(model: type, values: dict[str, Any]) -> str:
    """The entry's columns, but ``id`` and ``hash``, as one stable line of JSON."""
    names = [c.key for c in model.__table__.columns if c.key not in _UNHASHED]
    content = {name: _canonical_value(name, values.get(name)) for name in names}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(model: type, values: dict[str, Any]) -> str:
    """SHA-256 (hex) of the previous hash and the canonical content; ``prev_hash`` is in both."""
    return hashlib.sha256(f"{values['prev_hash']}\n{canonical_content(model, values)}".encode()).hexdigest()


def _take_head(connection, model: type, count: int) -> tuple[int, str]:
    """Reserve ``count`` places in the chain; the lock taken here lasts until the commit.

    The decisions' head is always locked before the audit log's, whatever a transaction
    appends first, so two writers never wait for each other in a circle.
    """
    name = model.__tablename__
    if model is AuditEntry:
        connection.execute(update(AuditChainHead).where(AuditChainHead.name == Decision.__tablename__)
                           .values(seq=AuditChainHead.seq))
    seq, last_hash = connection.execute(
        update(AuditChainHead).where(AuditChainHead.name == name).values(seq=AuditChainHead.seq + count)
        .returning(AuditChainHead.seq, AuditChainHead.last_hash)).one()
    return seq - count, last_hash


def link_rows(model: type, rows: list[dict[str, Any]], seq: int, prev: str) -> str:
    for row in rows:
        for name, default in _DEFAULTS.items():
            if name in model.__table__.c and row.get(name) is None:
                row[name] = default()
        for name, value in row.items():
            if isinstance(value, dt.datetime):
                # SQLite keeps the wall time and drops the offset: store UTC, as it is hashed.
                row[name] = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
        seq += 1
        row["chain_seq"], row["prev_hash"] = seq, prev
        row["hash"] = prev = entry_hash(model, row)
    return prev


def chain_rows(session: Session, model: type, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give rows about to be bulk-inserted their places and hashes; insert them in this transaction.

    Args:
        model: ``AuditEntry`` or ``Decision``.
        rows: column values; ``at``/``made_at`` and ``comment`` are filled in when left out.

    Returns:
        The same rows, completed, in chain order.
    """
    rows = list(rows)
    if not rows:
        return rows
    connection = session.connection()
    seq, prev = _take_head(connection, model, len(rows))
    last = link_rows(model, rows, seq, prev)
    connection.execute(update(AuditChainHead).where(AuditChainHead.name == model.__tablename__).values(last_hash=last))
    return rows


def _chain_orm_row(mapper, connection, target) -> None:
    """Rows added as ORM objects are chained as they are flushed."""
    model = mapper.class_
    values = {c.key: getattr(target, c.key) for c in model.__table__.columns}
    seq, prev = _take_head(connection, model, 1)
    last = link_rows(model, [values], seq, prev)
    for name, value in values.items():
        if value is not getattr(target, name):
            setattr(target, name, value)
    connection.execute(update(AuditChainHead).where(AuditChainHead.name == model.__tablename__).values(last_hash=last))


for _model in CHAINED:
    event.listen(_model, "before_insert", _chain_orm_row)


class ChainReport(NamedTuple):
    """The state of both chains; ``problem`` is ``None`` when both verify."""

    entries: dict[str, int]
    heads: dict[str, str]
    table: str | None = None
    entry_id: int | None = None
    problem: str | None = None  # edited | deleted | forged
    detail: str = ""

    @property
    def intact(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.intact:
            counts = ", ".join(f"{n:,} {table}" for table, n in self.entries.items())
            heads = ", ".join(f"{table} {h}" for table, h in self.heads.items())
            return f"audit chain intact: {counts} entries verified; heads {heads}"
        where = f"{self.table} entry {self.entry_id}" if self.entry_id is not None else self.table
        return f"audit chain broken at {where}: {self.problem}: {self.detail}"


def _verify_table(session: Session, model: type) -> tuple[int, str, tuple | None]:
    """Entries checked, the head hash, and the first broken link as (entry id, problem, detail)."""
    table = model.__table__
    head = session.get(AuditChainHead, model.__tablename__)
    if head is None:
        return 0, "", (None, "deleted", "the chain's head is missing")
    head_seq, head_hash = head.seq, head.last_hash
    rows = session.execute(select(table).order_by(table.c.chain_seq.is_(None), table.c.chain_seq, table.c.id)).mappings()
    expected, prev, prev_id, count = 1, GENESIS, None, 0
    seen: dict[str, int] = {}
    for row in rows:
        count += 1
        values = dict(row)
        if values["chain_seq"] is None or values["hash"] is None or values["prev_hash"] is None:
            return count, head_hash, (values["id"], "forged", "the entry carries no place in the chain (added outside the log)")
        if values["chain_seq"] < expected:
            return count, head_hash, (values["id"], "forged", f"a second entry at place {values['chain_seq']} in the chain")
        if values["chain_seq"] > head_seq:
            return count, head_hash, (values["id"], "forged", f"place {values['chain_seq']} is past the chain's head ({head_seq})")
        if entry_hash(model, values) != values["hash"]:
            return count, head_hash, (values["id"], "edited", "its content no longer matches its hash")
        if values["chain_seq"] > expected:
            missing = values["chain_seq"] - expected
            return count, head_hash, (values["id"], "deleted",
                                      f"{missing} entr{'y' if missing == 1 else 'ies'} missing just before it "
                                      f"(places {expected}-{values['chain_seq'] - 1})")
        if values["prev_hash"] != prev:
            if values["prev_hash"] in seen:
                return count, head_hash, (prev_id, "forged", f"entry {prev_id} was slipped in before entry {values['id']}")
            return count, head_hash, (prev_id, "edited", f"entry {values['id']} no longer follows it: it was changed and its hash "
                                                         "computed again")
        seen[values["hash"]] = values["id"]
        expected, prev, prev_id = expected + 1, values["hash"], values["id"]
    if expected - 1 < head_seq:
        missing = head_seq - expected + 1
        return count, head_hash, (prev_id, "deleted", f"the last {missing} entr{'y' if missing == 1 else 'ies'} of the chain "
                                                      f"(places {expected}-{head_seq}) are missing")
    if prev != head_hash:
        return count, head_hash, (prev_id, "edited", "the last entry does not match the chain's head")
    return count, head_hash, None


def verify_audit_chain(store) -> ChainReport:
    """Walk both chains from the start; name the first broken link, if any."""
    entries, heads = {}, {}
    with store.session() as session:
        for model in CHAINED:
            count, head, broken = _verify_table(session, model)
            entries[model.__tablename__], heads[model.__tablename__] = count, head
            if broken is not None:
                entry_id, problem, detail = broken
                return ChainReport(entries, heads, model.__tablename__, entry_id, problem, detail)
    return ChainReport(entries, heads)
