"""``python -m core import`` and ``underwrite`` on statement PDFs."""

import csv
import datetime as dt
import json
from decimal import Decimal

from tests.core.test_cli import run_cli
from tests.statement_pdfs import make_rows, smudged_scan, statement_pdf

START, END = dt.date(2026, 3, 1), dt.date(2026, 3, 31)
OPENING = Decimal("1500.00")


def test_import_reads_a_text_statement_pdf_like_any_statement(tmp_path):
    rows = make_rows(25, START, OPENING, seed=9)
    source = tmp_path / "march.pdf"
    source.write_bytes(statement_pdf("us", rows, OPENING, START, END, rows_per_page=10))
    out = tmp_path / "normalized.csv"
    result = run_cli("import", str(source), "--out", str(out), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    read = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [(r["date"], Decimal(r["amount"]), r["description"]) for r in read] == [
        (str(r.date), r.amount, r.description) for r in rows]
    assert {r["account"] for r in read} == {"000123456789"} and {r["currency"] for r in read} == {"USD"}


def test_import_refuses_a_statement_pdf_that_does_not_add_up_naming_file_page_row_and_column(tmp_path):
    rows = make_rows(12, START, OPENING, seed=9)
    rows[4] = rows[4]._replace(balance=rows[4].balance - Decimal("0.01"))
    source = tmp_path / "broken.pdf"
    source.write_bytes(statement_pdf("signed", rows, OPENING, START, END))
    result = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert result.stderr.startswith("error: broken.pdf, row 5, column 'balance': page 1, line 5 of the table: the running balance breaks")


def test_import_refuses_a_scan_with_doubtful_rows_naming_them(tmp_path):
    rows = make_rows(6, START, OPENING, seed=4)
    source = tmp_path / "scan.pdf"
    source.write_bytes(smudged_scan(rows, 2, start=START, end=END))
    result = run_cli("import", str(source), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "scan.pdf, row 3, column 'row': page 1, line 3 of the table: doubtful OCR reading" in result.stderr
