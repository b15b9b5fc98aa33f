"""Export files in a local folder (by default the data folder's ``exports/``)."""

from __future__ import annotations

from pathlib import Path

from connectors.storage.base import FileStorage
from core.atomic import publish, sweep_leftovers

__all__ = ["LocalFolder"]


class LocalFolder(FileStorage):
    """Files renamed into ``folder`` from a temporary beside them (one filesystem: the rename is atomic)."""

    def __init__(self, folder: Path, staging: Path | None = None) -> None:
        self.folder = Path(folder)
        super().__init__(staging or self.folder)
        sweep_leftovers(self.folder)

    def put(self, staged: Path, name: str) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / name
        publish(staged, target)
        return str(target.resolve())

    def exists(self, location: str) -> bool:
        return Path(location).is_file()

    def url(self, location: str, *, expires_in: int = 3600) -> str | None:
        return None  # a local file is handed out by the app as a download, not by a link

    def remove(self, location: str) -> None:
        Path(location).unlink(missing_ok=True)

    def open(self, location: str):
        return open(location, "rb")
