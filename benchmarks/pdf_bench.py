"""Benchmark: statement PDFs read per second, from the text layer and by OCR.

    python benchmarks/pdf_bench.py --pages 20 --ocr-pages 3

Generates a text statement of ``--pages`` pages (tests/statement_pdfs.py, 22 rows a page) and
reads it (pdfplumber, the layout, the balance checks); then the first ``--ocr-pages`` pages
rendered as a scan at 300 dpi and read by tesseract. Prints pages per second and rows exact.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.documents import read_statement_pdf  # noqa: E402
from tests.statement_pdfs import PrintedRow, make_rows, rasterise, statement_pdf  # noqa: E402

PER_PAGE = 22


def _run(data: bytes, rows: list[PrintedRow], pages: int, label: str) -> None:
    began = time.perf_counter()
    statement, errors = read_statement_pdf(data, f"{label}.pdf")
    seconds = time.perf_counter() - began
    if statement is None:
        raise SystemExit(f"{label}: {errors[0]}")
    exact = sum(PrintedRow(r.date, r.description, r.amount, r.balance) == p for r, p in zip(statement.rows, rows, strict=True))
    print(f"{label}: {pages} pages, {len(rows)} rows in {seconds:.2f} s = {pages / seconds:.2f} pages/s; "
          f"{exact}/{len(rows)} rows exact, {len(statement.doubtful_rows())} doubtful")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--ocr-pages", type=int, default=3)
    args = parser.parse_args()
    start, end = dt.date(2026, 1, 1), dt.date(2026, 12, 31)
    opening = Decimal("25000.00")
    rows = make_rows(args.pages * PER_PAGE, start, opening, days=365)
    _run(statement_pdf("northwind", rows, opening, start, end, rows_per_page=PER_PAGE), rows, args.pages, "text")
    few = rows[:args.ocr_pages * PER_PAGE]
    scan = rasterise(statement_pdf("northwind", few, opening, start, end, rows_per_page=PER_PAGE))
    _run(scan, few, args.ocr_pages, "ocr")


if __name__ == "__main__":
    main()
