"""Persistence: SQLAlchemy models, migrations and the ``Store`` handle."""

from core.store.chain import ChainReport, verify_audit_chain
from core.store.db import (Store, bulk_insert, bulk_insert_text, chunks, lost_to_another_writer, open_store, record_audit,
                           serialised_change)

__all__ = ["ChainReport", "Store", "bulk_insert", "bulk_insert_text", "chunks", "lost_to_another_writer", "open_store", "record_audit",
           "serialised_change", "verify_audit_chain"]
