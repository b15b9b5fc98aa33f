"""A bank-statement PDF read into rows, its period and its balances, every row checked.

Each row is the date, the description, the signed amount (money in positive) and the running
balance, with the page and line it came from and the reading's confidence. The statement's
period, account, currency and opening/closing balances are read from the text around the table
(the layout's patterns). The rows are then checked: each balance must be the previous balance
plus the row's amount (the first row's previous balance is the opening balance), and the last
balance, or the opening plus every amount, the closing balance.

A text PDF that does not add up is refused with the first row where it breaks. An OCR reading
cannot be trusted that far: a row read with low confidence, whose cells do not parse, whose date
falls outside the period or where the balance chain breaks is *doubtful*, and a person confirms
(or corrects) the doubtful rows before the statement is taken in (:func:`apply_confirmations`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from connectors.documents.layouts import PdfLayout, choose_pdf_layout
from connectors.documents.pages import PdfReadError, read_pages
from connectors.documents.table import PdfRow, parse_money, parse_row_date, read_rows
from core.domain.findings import RowError
from core.domain.money import AmountError, parse_amount

__all__ = ["DOUBTFUL_BELOW", "RowCorrection", "StatementPdf", "StatementRow", "apply_confirmations", "balance_break",
           "doubtful_errors", "read_statement_pdf"]

DOUBTFUL_BELOW = 80.0  # an OCR row whose least certain word is below this confidence is doubtful
_SYMBOLS = {"$": "USD", "£": "GBP", "€": "EUR"}


class StatementRow(NamedTuple):
    number: int  # 1-based over the whole statement
    page: int
    line: int  # row of the table on its page
    date: dt.date | None
    description: str
    amount: Decimal | None
    balance: Decimal | None
    confidence: float
    doubtful: str = ""  # why a person must look at this row; empty when the reading is sure


class StatementPdf(NamedTuple):
    name: str
    layout: str
    account: str
    currency: str
    start: dt.date | None
    end: dt.date | None
    opening: Decimal | None
    closing: Decimal | None
    rows: tuple[StatementRow, ...]
    scanned: bool  # any page read by OCR
    pages: int
    sha256: str

    def doubtful_rows(self) -> list[StatementRow]:
        return [row for row in self.rows if row.doubtful]


class RowCorrection(NamedTuple):
    """A person's word on a doubtful row: the values as they read them on the page."""

    date: dt.date
    description: str
    amount: Decimal
    balance: Decimal | None


def read_statement_pdf(data: bytes, name: str, layout: PdfLayout | None = None, layouts_dir: Path | None = None
                       ) -> tuple[StatementPdf | None, list[RowError]]:
    """Read a statement PDF.

    Args:
        layout: the layout to read it with; by default the one whose signature is on the first
            page, else the generic one.
        layouts_dir: a folder of the site's own layouts, tried before the shipped ones.

    Returns:
        ``(StatementPdf | None, errors)``. A text statement that does not add up, or whose
        cells cannot be read, is refused (``None``) with the first row at fault. A scanned
        statement is returned with its doubtful rows marked; :func:`doubtful_errors` names them.
    """
    digest = hashlib.sha256(data).hexdigest()
    key = (digest, name, layout, layouts_dir)
    if key not in _RECENT:
        _RECENT[key] = _read(data, name, layout, digest, layouts_dir)
        while len(_RECENT) > _KEEP:
            del _RECENT[next(iter(_RECENT))]
    return _RECENT[key]


# OCR takes seconds a page, and a person previews, confirms and imports the same scan in turn:
# the last few readings are kept (they are immutable values).
_RECENT: dict = {}
_KEEP = 8


def _read(data: bytes, name: str, layout: PdfLayout | None, digest: str, layouts_dir: Path | None
          ) -> tuple[StatementPdf | None, list[RowError]]:
    try:
        pages = read_pages(data)
    except PdfReadError as exc:
        return None, [RowError(name, None, None, None, str(exc))]
    layout = layout or choose_pdf_layout(pages.first_page_text, layouts_dir)
    scanned = any(pages.scanned)
    raw_rows, other_lines = read_rows(pages.words, layout)
    summary = "\n".join(other_lines)
    if not [r for r in raw_rows if r.line]:
        return None, [RowError(name, None, None, None, f"no statement table found (layout {layout.name!r}: a header naming "
                                                      f"{', '.join(layout.titles())}); is this a bank statement?")]
    start, end = _period(summary, layout)
    opening, errors = _summary_amount(summary, layout.statement.opening, layout, name, "opening balance")
    closing, more = _summary_amount(summary, layout.statement.closing, layout, name, "closing balance")
    errors += more
    if opening is None and raw_rows and raw_rows[0].opening_balance:
        opening = parse_amount(raw_rows[0].opening_balance, layout.parse.decimal)
    if errors:
        return None, errors
    rows, errors = _typed_rows([r for r in raw_rows if r.line], layout, start, end, scanned, name)
    if errors:
        return None, errors
    statement = StatementPdf(name, layout.name, _account(summary, layout), _currency(summary, layout), start, end, opening,
                             closing, tuple(rows), scanned, len(pages.words), digest)
    if scanned:
        return _mark_breaks(statement), []
    broken = balance_break(statement)
    return (None, [broken]) if broken else (statement, [])


def _period(text: str, layout: PdfLayout) -> tuple[dt.date | None, dt.date | None]:
    match = re.search(layout.statement.period, text, re.IGNORECASE)
    if not match:
        return None, None
    formats = ("%d %b %Y", "%d %B %Y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y",
               "%d-%b-%Y")
    dates = [parse_row_date(match.group(part).strip().rstrip("."), formats, None, None) for part in ("start", "end")]
    return dates[0], dates[1]


def _summary_amount(text: str, pattern: str, layout: PdfLayout, name: str, what: str) -> tuple[Decimal | None, list[RowError]]:
    match = re.search(pattern, text, re.IGNORECASE)
    if not match:
        return None, []
    value = match.group("amount").strip()
    try:
        return parse_amount(value, layout.parse.decimal), []
    except AmountError as exc:
        return None, [RowError(name, None, what, value, f"the {what} cannot be read: {exc}")]


def _account(text: str, layout: PdfLayout) -> str:
    match = re.search(layout.statement.account, text, re.IGNORECASE)
    return re.sub(r"[\s-]", "", match.group("account")) if match else ""


def _currency(text: str, layout: PdfLayout) -> str:
    match = re.search(r"(?i:currency)\s*:?\s*([A-Z]{3})\b", text)
    if match:
        return match.group(1)
    if layout.statement.currency:
        return layout.statement.currency
    for symbol, code in _SYMBOLS.items():
        if symbol in text:
            return code
    return ""


def _typed_rows(raw: list[PdfRow], layout: PdfLayout, start, end, scanned: bool, name: str) -> tuple[list[StatementRow], list[RowError]]:
    """Rows with their cells read; for text, the first unreadable cell is an error, for OCR a doubt."""
    rows: list[StatementRow] = []
    for number, row in enumerate(raw, start=1):
        doubts: list[str] = []
        where = f"page {row.page}, line {row.line} of the table"
        date = parse_row_date(row.date, layout.parse.date_formats, start, end)
        if date is None:
            doubts.append(f"date {row.date!r} not read")
        elif start and end and not start <= date <= end:
            doubts.append(f"date {date} outside the period {start} to {end}")
        amount = balance = None
        try:
            amount = _signed_amount(row.cells, layout)
        except AmountError as exc:
            doubts.append(str(exc))
        if amount is None and not doubts:
            doubts.append("no amount")
        try:
            balance = parse_money(row.cells.get("balance"), layout.parse.decimal)
        except AmountError as exc:
            doubts.append(f"balance: {exc}")
        if scanned and row.confidence < DOUBTFUL_BELOW:
            doubts.append(f"read with {row.confidence:.0f}% confidence")
        if doubts and not scanned:
            column = "date" if doubts[0].startswith("date") else "balance" if doubts[0].startswith("balance") else "amount"
            return [], [RowError(name, number, column, None, f"{where}: {doubts[0]}")]
        rows.append(StatementRow(number, row.page, row.line, date, row.description, amount, balance, row.confidence, "; ".join(doubts)))
    return rows, []


def _signed_amount(cells: Mapping[str, str], layout: PdfLayout) -> Decimal | None:
    decimal = layout.parse.decimal
    if "amount" in cells:
        return parse_money(cells["amount"], decimal)
    debit = parse_money(cells.get("debit"), decimal)
    credit = parse_money(cells.get("credit"), decimal)
    if debit is not None and credit is not None:
        raise AmountError(f"both a debit ({cells['debit']}) and a credit ({cells['credit']})")
    if debit is not None:
        return -abs(debit)
    return None if credit is None else abs(credit)


def balance_break(statement: StatementPdf) -> RowError | None:
    """The first row where the balances do not add up, as one finding, or ``None``."""
    previous = statement.opening
    for row in statement.rows:
        where = f"page {row.page}, line {row.line} of the table"
        if row.balance is not None and previous is not None and row.amount is not None and previous + row.amount != row.balance:
            return RowError(statement.name, row.number, "balance", str(row.balance),
                            f"{where}: the running balance breaks here: {previous} + ({row.amount}) = {previous + row.amount}, "
                            f"but the statement shows {row.balance}")
        if row.balance is not None:
            previous = row.balance
        elif previous is not None and row.amount is not None:
            previous += row.amount
    if statement.closing is not None and previous is not None and previous != statement.closing:
        last = statement.rows[-1]
        return RowError(statement.name, last.number, "closing balance", str(statement.closing),
                        f"page {last.page}: the closing balance {statement.closing} is not the balance after the last row ({previous})")
    return None


def _mark_breaks(statement: StatementPdf) -> StatementPdf:
    """An OCR statement with every row around a break in the balance chain marked doubtful.

    A misread amount breaks the chain at its own row; a misread balance at its row and the next,
    so both neighbours of a break are marked: no misread figure is left unmarked.
    """
    rows = list(statement.rows)
    previous = statement.opening
    marks: dict[int, str] = {}
    for index, row in enumerate(rows):
        if row.balance is None:
            marks[index] = "no balance to check the row against"
        elif previous is None:
            marks[index] = "no previous balance to check the row against"
        elif row.amount is not None and previous + row.amount != row.balance:
            marks[index] = f"balance chain breaks: {previous} + ({row.amount}) is not {row.balance}"
            if index:
                marks.setdefault(index - 1, "the next row's balance does not follow from this one")
        previous = row.balance
    if statement.closing is not None and rows and rows[-1].balance is not None and rows[-1].balance != statement.closing:
        marks.setdefault(len(rows) - 1, f"last balance is not the closing balance {statement.closing}")
    for index, note in marks.items():
        if note:
            row = rows[index]
            rows[index] = row._replace(doubtful="; ".join(filter(None, (row.doubtful, note))))
    return statement._replace(rows=tuple(rows))


def doubtful_errors(statement: StatementPdf) -> list[RowError]:
    """One finding per doubtful row: where it is, what was read, and why it needs a person."""
    return [RowError(statement.name, row.number, "row", f"{row.date} | {row.description} | {row.amount} | {row.balance}",
                     f"page {row.page}, line {row.line} of the table: doubtful OCR reading ({row.confidence:.0f}% confidence; "
                     f"{row.doubtful}); confirm it on the Sources page")
            for row in statement.doubtful_rows()]


def apply_confirmations(statement: StatementPdf, corrections: Mapping[int, RowCorrection]) -> tuple[StatementPdf | None, list[RowError]]:
    """The statement with the person's reading of its doubtful rows, checked again as a text one.

    Args:
        corrections: by row number, the values the person read on the page (the OCR values
            when they are right). Every doubtful row needs one.

    Returns:
        ``(StatementPdf | None, errors)``: unconfirmed doubtful rows, or balances that still do
        not add up, are refused with the rows named.
    """
    missing = [row for row in statement.doubtful_rows() if row.number not in corrections]
    if missing:
        return None, doubtful_errors(statement._replace(rows=tuple(missing)))
    rows = []
    for row in statement.rows:
        fix = corrections.get(row.number)
        if fix is not None:
            row = row._replace(date=fix.date, description=fix.description, amount=fix.amount, balance=fix.balance, doubtful="")
        rows.append(row)
    confirmed = statement._replace(rows=tuple(rows))
    broken = balance_break(confirmed)
    return (None, [broken]) if broken else (confirmed, [])
