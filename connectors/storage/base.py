"""The one interface every export storage implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.atomic import temporary_path

__all__ = ["FileStorage", "StorageError"]

MAX_LINK_SECONDS = 7 * 24 * 3600  # SigV4 signs a link for at most seven days


class StorageError(RuntimeError):
    """The storage refused or could not be reached, in one line."""


class FileStorage(ABC):
    """A place files are put and handed out from.

    A file is written first under a temporary name in ``staging`` (a local folder), then
    ``put`` under its name: renamed into place, or uploaded and the temporary removed. A
    failure anywhere leaves nothing behind in the storage.
    """

    def __init__(self, staging: Path) -> None:
        self.staging = Path(staging)

    @contextmanager
    def staged(self, name: str) -> Iterator[Path]:
        """A local path to write ``name`` to before ``put``; removed on the way out whatever happens."""
        self.staging.mkdir(parents=True, exist_ok=True)
        temporary = temporary_path(self.staging / name)
        try:
            yield temporary
        finally:
            temporary.unlink(missing_ok=True)

    @abstractmethod
    def put(self, staged: Path, name: str) -> str:
        """Store the staged file as ``name``; returns its location (a path or ``s3://bucket/key``)."""

    @abstractmethod
    def exists(self, location: str) -> bool:
        """Whether the file at ``location`` is still there."""

    @abstractmethod
    def url(self, location: str, *, expires_in: int = 3600) -> str | None:
        """A link to download the file (None where the storage has no links of its own)."""

    @abstractmethod
    def remove(self, location: str) -> None:
        """Remove the file; one already gone is no error."""

    @abstractmethod
    def open(self, location: str):
        """The file's bytes as a binary stream."""


def link_seconds(expires_in: int) -> int:
    """A link's lifetime: at least one second, at most seven days."""
    if int(expires_in) < 1:
        raise StorageError(f"a link must live at least one second, not {expires_in}")
    return min(int(expires_in), MAX_LINK_SECONDS)
