"""The storage of an export's destination, and the staging of its file before it is put there.

``local`` is the data folder's ``exports/``; a folder's absolute path is that folder; ``s3://``
is a bucket and prefix, reached with the ``RECON_S3_*`` settings (``core.config.s3_settings``).
A file is written under a temporary name in the storage's staging folder (``core.atomic``'s
naming, so the leftovers of a killed process are swept at the next export there), then put:
renamed into place, or uploaded. A failure anywhere removes the temporary.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from connectors.storage import FileStorage, LocalFolder
from core import config
from core.atomic import sweep_leftovers, temporary_path

__all__ = ["staged_file", "storage_for"]


def storage_for(store, destination: str) -> FileStorage:
    """The storage for a canonical destination (``ExportRequest.canonical``)."""
    exports = Path(store.data_dir) / "exports"
    if destination == "local":
        return LocalFolder(exports)
    if destination.startswith("s3://"):
        from connectors.storage.s3 import S3Bucket

        bucket, _, prefix = destination[5:].partition("/")
        return S3Bucket(bucket, prefix, config.s3_settings(), staging=exports)
    return LocalFolder(Path(destination))


@contextmanager
def staged_file(storage: FileStorage, name: str) -> Iterator[Path]:
    """A temporary path in the storage's staging folder to write ``name`` to before ``put``."""
    storage.staging.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(storage.staging)
    temporary = temporary_path(storage.staging / name)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)
