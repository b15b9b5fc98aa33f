"""Documents: bank-statement PDFs, text or scanned, read into checked statement rows.

:mod:`.pages` gets each page's words (pdfplumber's text layer, or tesseract on a page rendered
by pypdfium2); :mod:`.table` finds the table and its rows in the words by a layout
(:mod:`.layouts`, TOML); :mod:`.statement_pdf` types the cells and checks every row against the
running balance and the opening and closing balances. :func:`read` is the statement reader the
import uses (``connectors.statements``): a scanned statement with doubtful rows is refused with
the rows named until a person confirms them (``corrections``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.documents.statement_pdf import (
    RowCorrection,
    StatementPdf,
    StatementRow,
    apply_confirmations,
    doubtful_errors,
    read_statement_pdf,
)
from connectors.statements.statement import Entry, Statement
from core.domain.findings import RowError

__all__ = ["RowCorrection", "StatementPdf", "StatementRow", "apply_confirmations", "doubtful_errors", "read",
           "read_statement_pdf", "to_statement"]


def to_statement(pdf: StatementPdf) -> Statement:
    """The statement as every statement reader gives it (one account, its balances and entries)."""
    entries = [Entry(row.date, row.amount, "", row.description) for row in pdf.rows]
    return Statement(pdf.account, pdf.currency, f"{pdf.start or ''}..{pdf.end or ''}", pdf.opening, pdf.closing,
                     pdf.start, pdf.end, entries, None,
                     (f"read by OCR: {len(pdf.rows)} rows, the doubtful ones confirmed by a person",) if pdf.scanned else ())


def read(data: bytes, name: str, corrections: Mapping[int, RowCorrection] | None = None, layouts_dir: Path | None = None
         ) -> tuple[list[Statement] | None, list[RowError]]:
    """A statement PDF as a :class:`Statement`; a scanned one's doubtful rows need ``corrections``."""
    pdf, errors = read_statement_pdf(data, name, layouts_dir=layouts_dir)
    if pdf is None:
        return None, errors
    if pdf.doubtful_rows() or corrections:
        pdf, errors = apply_confirmations(pdf, corrections or {})
        if pdf is None:
            return None, errors
    return [to_statement(pdf)], []
