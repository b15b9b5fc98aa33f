"""Scanned statement PDFs (the text statements rendered at 300 dpi, no text layer) read by OCR.

At least 98% of rows must be read exactly and every row read wrongly must be flagged doubtful:
none silently wrong. A statement with doubtful rows is imported only once a person confirms
them. OCR takes seconds a page: these tests read four pages in all.
"""

import datetime as dt
from decimal import Decimal

import pytest

from connectors.documents import RowCorrection, apply_confirmations, doubtful_errors, read_statement_pdf
from core.ingest.datasets import import_bytes, load_dataset_table
from core.store import open_store
from tests.statement_pdfs import PrintedRow, make_rows, rasterise, smudged_scan, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
OPENING = Decimal("1500.00")


@pytest.fixture(scope="module")
def scans():
    """Per layout: the printed rows and the statement read from their scan."""
    out = {}
    for layout, seed in (("northwind", 21), ("signed", 22)):
        rows = make_rows(22, START, OPENING, seed=seed)
        out[layout] = rows, read_statement_pdf(rasterise(statement_pdf(layout, rows, OPENING, START, END)), f"{layout}.pdf")
    return out


def test_scanned_rows_are_read_exactly_or_flagged(scans):
    exact = total = 0
    for layout, (rows, (statement, errors)) in scans.items():
        assert errors == [], layout
        assert statement.scanned and len(statement.rows) == len(rows), layout
        assert (statement.opening, statement.closing, statement.start, statement.end) == (OPENING, rows[-1].balance, START, END)
        for read, printed in zip(statement.rows, rows, strict=True):
            total += 1
            if PrintedRow(read.date, read.description, read.amount, read.balance) == printed:
                exact += 1
            else:
                assert read.doubtful, f"{layout} row {read.number} read wrongly and not flagged: {read} vs {printed}"
        assert all(0 <= r.confidence <= 100 for r in statement.rows)
    assert exact / total >= 0.98


def test_a_smudged_amount_is_flagged_refused_by_import_and_taken_in_once_confirmed(tmp_path, monkeypatch):
    rows = make_rows(10, START, OPENING, seed=4)
    target = 5  # the sixth row's amount loses its middle digits
    scan = smudged_scan(rows, target, start=START, end=END)

    statement, errors = read_statement_pdf(scan, "smudged.pdf")
    assert errors == []
    assert statement.rows[target].doubtful
    wrong = [r for r, p in zip(statement.rows, rows, strict=True) if PrintedRow(r.date, r.description, r.amount, r.balance) != p]
    assert all(r.doubtful for r in wrong)

    monkeypatch.setenv("RECON_DATA_DIR", str(tmp_path / "data"))
    store = open_store()
    outcome, refusal = import_bytes(store, scan, "smudged.pdf")
    assert outcome is None
    assert [e.row for e in refusal] == [e.row for e in doubtful_errors(statement)]
    assert target + 1 in [e.row for e in refusal]
    assert "page 1, line 6 of the table: doubtful OCR reading" in str([e for e in refusal if e.row == target + 1][0])

    corrections = {r.number: RowCorrection(*rows[r.number - 1]) for r in statement.doubtful_rows()}
    confirmed, errors = apply_confirmations(statement, corrections)
    assert errors == [] and [r.amount for r in confirmed.rows] == [r.amount for r in rows]
    outcome, errors = import_bytes(store, scan, "smudged.pdf", pdf_corrections=corrections)
    assert errors == []
    table = load_dataset_table(store, outcome.dataset)
    assert [Decimal(str(a)) for a in table.column("amount").to_pylist()] == [r.amount for r in rows]


def test_a_wrong_confirmation_that_breaks_the_balance_is_refused(scans):
    rows, (statement, _) = scans["northwind"]
    corrections = {1: RowCorrection(rows[0].date, rows[0].description, rows[0].amount + 1, rows[0].balance)}
    confirmed, errors = apply_confirmations(statement, corrections)
    assert confirmed is None and errors[0].row == 1 and errors[0].column == "balance"
