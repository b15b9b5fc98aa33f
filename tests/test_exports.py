"""Downloads never let a spreadsheet run a cell, and keep amounts exact."""

import datetime as dt
import io
from decimal import Decimal

import pandas as pd
from openpyxl import load_workbook

from core.exports import frame_to_csv_bytes, frame_to_xlsx_bytes, neutralise_formula

DANGEROUS = ["=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def test_text_cells_that_start_like_formulas_are_neutralised():
    for text in DANGEROUS:
        assert neutralise_formula(text) == "'" + text
    assert neutralise_formula("Invoice 42") == "Invoice 42"


def test_csv_download_neutralises_text_but_not_numbers():
    frame = pd.DataFrame({"description": DANGEROUS, "amount": [Decimal("-12.50")] * len(DANGEROUS)})
    text = frame_to_csv_bytes(frame).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK") and lines[1].endswith(",-12.50")
    assert "'+1+1,-12.50" in text and "'@SUM(A1),-12.50" in text


def test_xlsx_download_keeps_amounts_as_numbers_and_text_defused():
    frame = pd.DataFrame({"description": ["=1+1", "plain"], "amount": [Decimal("-12.50"), Decimal("1234567.89")],
                          "date": [dt.date(2026, 10, 1), dt.date(2026, 10, 2)]})
    workbook = load_workbook(io.BytesIO(frame_to_xlsx_bytes(frame)))
    rows = list(workbook.active.iter_rows(values_only=True))
    assert rows[1][0] == "'=1+1" and rows[2][0] == "plain"
    assert rows[1][1] == -12.5 and str(rows[2][1]) == "1234567.89"
    assert rows[1][2].date() == dt.date(2026, 10, 1)
