"""The one interface every export storage implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

__all__ = ["MAX_LINK_SECONDS", "FileStorage", "StorageError", "link_seconds"]

MAX_LINK_SECONDS = 7 * 24 * 3600  # SigV4 signs a link for at most seven days


class StorageError(RuntimeError):
    """The storage refused or could not be reached, in one line."""


class FileStorage(ABC):
    """A place finished files are put and handed out from.

    A file is written first, whole, under a temporary name in ``staging`` (a local folder:
    for a local storage its own folder, so that putting it is a rename), then ``put``.
    """

    staging: Path

    @abstractmethod
    def put(self, staged: Path, name: str) -> str:
        """Store the staged file as ``name`` (the staged file is gone afterwards); returns its
        location (a path or ``s3://bucket/key``)."""

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
    def open(self, location: str) -> BinaryIO:
        """The file's bytes as a binary stream."""


def link_seconds(expires_in: int) -> int:
    """A link's lifetime: at least one second, at most seven days."""
    if int(expires_in) < 1:
        raise StorageError(f"a link must live at least one second, not {expires_in}")
    return min(int(expires_in), MAX_LINK_SECONDS)
