"""Export files in a local folder (by default the data folder's ``exports/``)."""

from __future__ import annotations

import os
from pathlib import Path

from connectors.storage.base import FileStorage

__all__ = ["LocalFolder"]


class LocalFolder(FileStorage):
    """Files staged in ``folder`` itself and renamed into place (one filesystem: the rename is
    atomic, a reader sees the whole file or none)."""

    def __init__(self, folder: Path) -> None:
        self.folder = self.staging = Path(folder)

    def put(self, staged: Path, name: str) -> str:
        target = self.folder / name
        _flush(staged)
        os.replace(staged, target)
        _flush(self.folder)
        return str(target.resolve())

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def url(self, location: str, *, expires_in: int = 3600) -> str | None:
        return None  # a local file is handed out by the app as a download, not by a link

    def remove(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)

    def open(self, location: str):
        return open(location, "rb")


def _flush(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # a filesystem that cannot open folders: the rename stands, only its flush is lost
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
