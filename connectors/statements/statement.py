"""A bank statement as every reader gives it, and the shape of a reader.

A statement is one account's period: opening and closing balance and the entries between.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple, Protocol

from core.domain.findings import RowError

__all__ = ["Entry", "Statement", "StatementReader"]


class Entry(NamedTuple):
    date: dt.date
    amount: Decimal
    reference: str = ""
    description: str = ""
    source_id: str = ""
    entry_date: dt.date | None = None
    type: str = ""
    counterparty: str = ""


class Statement(NamedTuple):
    account: str
    currency: str
    number: str
    opening: Decimal | None
    closing: Decimal | None
    start: dt.date | None
    end: dt.date | None
    entries: list[Entry]
    row: int | None = None
    warnings: tuple[str, ...] = ()


class StatementReader(Protocol):
    """One format's reader: a module's ``read(data, name)``."""

    def __call__(self, data: bytes, name: str) -> tuple[list[Statement] | None, list[RowError]]:
        """The file's statements, or ``None`` and the findings that say why it cannot be read."""
