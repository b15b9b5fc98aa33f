"""Bank statement formats: each reader turns a file into ``Statement`` values, or findings.

A statement is one account's period: opening and closing balance and the entries between.
Turning entries into canonical rows and checking balances is ``core.ingest.statements``'s job.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import NamedTuple

__all__ = ["Entry", "Statement", "read_statements"]


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


def read_statements(data: bytes, name: str, fmt: str):
    """``(list[Statement] | None, errors)`` for a file in ``fmt`` (mt940, camt053, bai2, ofx)."""
    from connectors.statements import bai2, camt053, mt940, ofx

    reader = {"mt940": mt940.read, "camt053": camt053.read, "bai2": bai2.read, "ofx": ofx.read}[fmt]
    return reader(data, name)
