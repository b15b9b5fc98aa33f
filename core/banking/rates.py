"""Exchange rates from a CSV file: ``date, currency, rate``.

A rate is what one unit of the currency is worth in the reporting currency on that day; the
reporting currency itself is worth 1. A figure on a day without a rate takes the latest rate
before it. The file is checked whole and every bad row is a one-line finding.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from core.domain.findings import RowError

__all__ = ["Rates", "parse_rates"]


class Rates(NamedTuple):
    """Rates per currency in order of date, and the reporting currency they convert to."""

    reporting: str
    by_currency: dict[str, list[tuple[dt.date, Decimal]]]

    def rate(self, currency: str, on: dt.date) -> Decimal | None:
        """One unit of ``currency`` in the reporting currency on the day; ``None`` without a rate by then."""
        if currency == self.reporting:
            return Decimal(1)
        found = self.by_currency.get(currency, [])
        at = bisect.bisect_right(found, (on, Decimal("Infinity")))
        return found[at - 1][1] if at else None

    def convert(self, amount: Decimal, currency: str, on: dt.date) -> Decimal | None:
        rate = self.rate(currency, on)
        return None if rate is None else amount * rate


def parse_rates(text: str, reporting: str, name: str = "rates") -> tuple[Rates | None, list[RowError]]:
    """Read a rates file (header ``date,currency,rate``; dates ``YYYY-MM-DD``).

    Returns:
        ``(Rates | None, errors)``: a missing column, a bad date, currency or rate (not a number
        above zero), or a currency given twice for a day is an error, and then there are no rates.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("date", "currency", "rate") if c not in header]
    if missing:
        return None, [RowError(name, 1, c, None, f"the rates file has no {c!r} column (columns: date, currency, rate)") for c in missing]
    reader.fieldnames = header
    errors: list[RowError] = []
    seen: dict[tuple[dt.date, str], int] = {}
    by_currency: dict[str, list[tuple[dt.date, Decimal]]] = {}
    for row_number, row in enumerate(reader, start=2):
        day_text, currency, rate_text = ((row.get(c) or "").strip() for c in ("date", "currency", "rate"))
        try:
            day = dt.date.fromisoformat(day_text)
        except ValueError:
            errors.append(RowError(name, row_number, "date", day_text, f"{day_text!r} is not a date (YYYY-MM-DD)"))
            continue
        currency = currency.upper()
        if len(currency) != 3 or not currency.isalpha():
            errors.append(RowError(name, row_number, "currency", currency, f"{currency!r} is not a currency code (ISO 4217)"))
            continue
        try:
            rate = Decimal(rate_text)
        except InvalidOperation:
            rate = None
        if rate is None or not rate.is_finite() or rate <= 0:
            errors.append(RowError(name, row_number, "rate", rate_text, f"{rate_text!r} is not a rate above zero"))
            continue
        if (day, currency) in seen:
            errors.append(RowError(name, row_number, "currency", currency,
                                   f"{currency} on {day} is given already on row {seen[day, currency]}"))
            continue
        seen[day, currency] = row_number
        by_currency.setdefault(currency, []).append((day, rate))
    if errors:
        return None, errors
    return Rates(reporting.upper(), {c: sorted(v) for c, v in by_currency.items()}), []
