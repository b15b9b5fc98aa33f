"""Text statement PDFs of several layouts: every row read exactly, balances checked, breaks refused."""

import datetime as dt
from decimal import Decimal

import pytest

from connectors.documents import read_statement_pdf
from connectors.documents.layouts import PdfLayoutError, parse_pdf_layout
from connectors.files.detect import detect_format
from tests.statement_pdfs import LAYOUTS, PrintedRow, make_rows, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
OPENING = Decimal("1500.00")


def _as_printed(statement):
    return [PrintedRow(r.date, r.description, r.amount, r.balance) for r in statement.rows]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_row_of_a_multi_page_statement_is_read_exactly(layout):
    rows = make_rows(40, START, OPENING, seed=11)
    assert any(len(r.description) > 44 for r in rows), "the sample must hold a description that wraps"
    data = statement_pdf(layout, rows, OPENING, START, END, rows_per_page=14)

    statement, errors = read_statement_pdf(data, f"{layout}.pdf")

    assert errors == []
    assert statement.pages == 3 and not statement.scanned
    assert _as_printed(statement) == rows
    assert (statement.start, statement.end) == (START, END)
    assert (statement.opening, statement.closing) == (OPENING, rows[-1].balance)
    assert [r.page for r in statement.rows] == [1] * 14 + [2] * 14 + [3] * 12


def test_layouts_give_account_and_currency():
    rows = make_rows(5, START, OPENING)
    found = {layout: read_statement_pdf(statement_pdf(layout, rows, OPENING, START, END), "s.pdf")[0] for layout in LAYOUTS}
    assert {k: (s.layout, s.account, s.currency) for k, s in found.items()} == {
        "signed": ("generic", "402177881934", "EUR"),
        "northwind": ("northwind_business", "20451155667788", "GBP"),
        "us": ("generic", "000123456789", "USD"),
    }


def test_dates_without_a_year_take_the_year_of_the_period_across_new_year():
    start, end = dt.date(2025, 12, 15), dt.date(2026, 1, 14)
    rows = make_rows(12, start, OPENING, seed=3, days=31)
    assert {r.date.year for r in rows} == {2025, 2026}
    statement, errors = read_statement_pdf(statement_pdf("northwind", rows, OPENING, start, end), "nw.pdf")
    assert errors == []
    assert [r.date for r in statement.rows] == [r.date for r in rows]


@pytest.mark.parametrize("layout", ["signed", "northwind"])
def test_a_row_breaking_the_running_balance_is_refused_naming_page_row_and_column(layout):
    rows = make_rows(30, START, OPENING, seed=5)
    broken = list(rows)
    broken[17] = broken[17]._replace(amount=broken[17].amount + Decimal("10.00"))
    data = statement_pdf(layout, broken, OPENING, START, END, rows_per_page=12)

    statement, errors = read_statement_pdf(data, "broken.pdf")

    assert statement is None and len(errors) == 1
    error = errors[0]
    assert (error.file, error.row, error.column) == ("broken.pdf", 18, "balance")
    assert str(error).startswith("broken.pdf, row 18, column 'balance': page 2, line 6 of the table: the running balance breaks here")


def test_a_closing_balance_that_is_not_the_last_balance_is_refused():
    rows = make_rows(6, START, OPENING)
    data = statement_pdf("us", rows, OPENING, START, END, closing=rows[-1].balance + Decimal("1"))
    statement, errors = read_statement_pdf(data, "us.pdf")
    assert statement is None
    assert errors[0].column == "closing balance" and errors[0].row == 6


def test_a_pdf_without_a_statement_table_is_refused():
    from reportlab.pdfgen import canvas
    import io

    out = io.BytesIO()
    pdf = canvas.Canvas(out)
    pdf.drawString(72, 720, "Dear customer, please find our new terms enclosed.")
    pdf.save()
    statement, errors = read_statement_pdf(out.getvalue(), "letter.pdf")
    assert statement is None and "no statement table found" in errors[0].message


def test_pdf_is_detected_from_content_not_name():
    rows = make_rows(3, START, OPENING)
    assert detect_format(statement_pdf("signed", rows, OPENING, START, END), "statement.txt") == "pdf"


def test_a_layout_with_a_misspelt_key_is_refused_naming_the_key():
    with pytest.raises(PdfLayoutError, match="colums"):
        parse_pdf_layout('[colums]\ndate = ["Date"]\n', "bad", "bad.toml")
