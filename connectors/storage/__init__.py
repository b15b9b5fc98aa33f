"""Where export files are kept: a local folder (the default) or an S3 bucket.

Both sit behind :class:`.base.FileStorage` (stage a file, put it, say whether it is there, hand
out a link, remove it); :func:`storage_for` picks one from an export's destination. The S3
module loads boto3 only when a destination is ``s3://``.
"""

from __future__ import annotations

from pathlib import Path

from connectors.storage.base import FileStorage, StorageError
from connectors.storage.local import LocalFolder

__all__ = ["FileStorage", "LocalFolder", "StorageError", "storage_for"]


def storage_for(store, destination: str) -> FileStorage:
    """The storage for a canonical destination: ``local`` (the data folder's ``exports/``), a
    folder's absolute path, or ``s3://bucket/prefix`` (settings from ``core.config.s3_settings``)."""
    if destination == "local":
        return LocalFolder(Path(store.data_dir) / "exports", staging=Path(store.data_dir) / "exports")
    if destination.startswith("s3://"):
        from connectors.storage.s3 import S3Bucket
        from core import config

        bucket, _, prefix = destination[5:].partition("/")
        return S3Bucket(bucket, prefix, config.s3_settings(), staging=Path(store.data_dir) / "exports")
    return LocalFolder(Path(destination), staging=Path(destination))
