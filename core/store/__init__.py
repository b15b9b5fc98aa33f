"""Persistence: SQLAlchemy models, migrations and the ``Store`` handle."""

from core.store.db import Store, bulk_insert, bulk_insert_text, chunks, open_store, record_audit

__all__ = ["Store", "bulk_insert", "bulk_insert_text", "chunks", "open_store", "record_audit"]
