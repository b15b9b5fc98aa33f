"""Scanned statements: the rows OCR is not sure of, shown to a person, and their confirmations.

A scanned statement PDF with doubtful rows is refused until a person has looked at each of them
on the page and confirmed (or corrected) the values: :func:`rows_to_confirm` gives those rows
as plain records to show and edit, :func:`corrections_from_records` turns the edited records
into the corrections ``core.ingest.datasets.import_bytes`` takes (``pdf_corrections``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from core.domain.findings import RowError
from core.domain.money import AmountError, parse_amount

__all__ = ["DOUBTFUL", "corrections_from_records", "is_doubtful_reading", "rows_to_confirm"]

DOUBTFUL = "doubtful OCR reading"


def is_doubtful_reading(error: RowError) -> bool:
    """Whether a refusal is a doubtful OCR row, which a person's confirmation lifts."""
    return DOUBTFUL in error.message


def rows_to_confirm(data: bytes, name: str) -> list[dict]:
    """The doubtful rows of a scanned statement PDF, as read, for a person to check on the page.

    Returns:
        One record per doubtful row: ``row``, ``page``, ``line``, ``date``, ``description``,
        ``amount``, ``balance`` (text, as read), ``confidence`` and ``why``. Empty when the
        file is not a scanned statement or has no doubtful row.
    """
    from connectors.documents import read_statement_pdf  # start-up speed: the PDF libraries load on the first PDF
    from core import config

    statement, _ = read_statement_pdf(data, name, layouts_dir=config.profiles_dir() / "pdf")
    if statement is None:
        return []
    return [{"row": r.number, "page": r.page, "line": r.line, "date": str(r.date or ""), "description": r.description,
             "amount": "" if r.amount is None else str(r.amount), "balance": "" if r.balance is None else str(r.balance),
             "confidence": round(r.confidence), "why": r.doubtful} for r in statement.doubtful_rows()]


def corrections_from_records(records: list[dict], name: str) -> tuple[dict | None, list[RowError]]:
    """The person's confirmed values as corrections by row number, or the cells that are not valid."""
    from connectors.documents import RowCorrection

    corrections = {}
    errors = []
    for record in records:
        row = int(record["row"])
        try:
            date = dt.date.fromisoformat(str(record["date"]).strip())
        except ValueError:
            errors.append(RowError(name, row, "date", str(record["date"]), "not a date (YYYY-MM-DD)"))
            continue
        try:
            amount = parse_amount(str(record["amount"]))
            balance = parse_amount(str(record["balance"] or ""))
        except AmountError as exc:
            errors.append(RowError(name, row, "amount", str(record["amount"]), str(exc)))
            continue
        if amount is None:
            errors.append(RowError(name, row, "amount", "", "an amount is needed"))
            continue
        corrections[row] = RowCorrection(date, str(record["description"]), Decimal(amount), balance)
    return (None, errors) if errors else (corrections, [])
