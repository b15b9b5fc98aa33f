"""The interfaces every source connector implements: a few methods each, nothing more.

- :class:`FileSource`: somewhere files are fetched from (an SFTP folder; S3 or a mail folder
  later). Each fetched file comes with its SHA-256, so a file seen before is not kept again.
- :class:`HoldingsBooks`: the books' holdings transactions kept in a database (MongoDB; SQL
  later), summed per folio and product inside the database, with the results written back.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

__all__ = ["FileSource", "Fetched", "HoldingsBooks", "UnitTotal"]


class Fetched(NamedTuple):
    remote_path: str
    local_path: Path
    sha256: str
    size: int


class FileSource(ABC):
    @abstractmethod
    def describe(self, remote_path: str) -> str:
        """Where a file came from, as the fetch history records it (such as ``host:/out/file.dbf``)."""

    @abstractmethod
    def fetch(self, target: Path, *, already_seen: set[str] = frozenset(), retries: int = 3,
              backoff_seconds: float = 1.0) -> list[Fetched]:
        """Download the source's files into ``target``, skipping those whose SHA-256 is in ``already_seen``."""


class UnitTotal(NamedTuple):
    """One folio and product's transactions as of a date: units added and taken away, exactly."""

    folio: object
    product: object
    name: object
    added: Decimal
    taken: Decimal
    unknown: int  # transactions of a type in neither list


class HoldingsBooks(ABC):
    @abstractmethod
    def unit_totals(self, as_of: dt.date, adds: Sequence[str], takes: Sequence[str]) -> Iterable[UnitTotal]:
        """Transactions dated on or before ``as_of``, summed per folio and product, in order of both.

        ``adds`` and ``takes``: the transaction types (upper case) that add units and take them away.
        """

    @abstractmethod
    def replace_results(self, as_of: dt.date, documents: list[dict]) -> int:
        """Store a reconciliation's result rows for ``as_of``, replacing that date's; returns how many."""
