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


def _funded_month() -> list:
    """March 2026 with a daily and a weekly advance debit, a transfer from savings and an NSF fee."""
    from tests.statement_pdfs import PrintedRow

    lines = [(2, "Card sales settlement", "5000.00"), (3, "Transfer from savings account 4455", "1000.00"),
             (4, "Rent payment March", "-7400.00"), (5, "NSF fee", "-35.00"), (6, "Mobile deposit Greenway Grocers", "900.00")]
    lines += [(day, "ACH DEBIT RAPID FUNDING LLC", "-120.00") for day in (9, 10, 11, 12, 13)]
    lines += [(day, "NORTHSTAR CAPITAL WEEKLY", "-300.00") for day in (10, 17, 24)]
    balance = OPENING
    rows = []
    for day, text, amount in sorted(lines, key=lambda line: line[0]):
        balance += Decimal(amount)
        rows.append(PrintedRow(dt.date(2026, 3, day), text, Decimal(amount), balance))
    return rows


def test_underwrite_writes_transactions_with_balances_and_the_contract_metrics(tmp_path):
    rows = _funded_month()
    source = tmp_path / "march.pdf"
    source.write_bytes(statement_pdf("northwind", rows, OPENING, START, END, rows_per_page=8))
    out = tmp_path / "out"
    result = run_cli("underwrite", str(source), "--out", str(out), data_dir=tmp_path / "data")
    assert result.returncode == 0, result.stderr
    written = list(csv.DictReader((out / "transactions.csv").open(encoding="utf-8")))
    assert list(written[0]) == ["id", "account", "date", "amount", "currency", "reference", "description", "counterparty",
                                "trade_date", "entry_date", "type", "balance"]
    assert [(r["date"], Decimal(r["amount"]), Decimal(r["balance"])) for r in written] == [
        (str(r.date), r.amount, r.balance) for r in rows]
    figures = json.loads((out / "metrics.json").read_text())
    assert figures["total_deposits"] == "6900.00" and figures["deposit_count"] == 3
    assert figures["true_revenue"] == "5900.00"
    assert figures["nsf_count"] == 1
    assert [(p["frequency"], p["amount"]) for p in figures["mca_positions"]] == [("daily", "120.00"), ("weekly", "300.00")]
    assert figures["negative_balance_days"] == 15  # 17 to 31 March, below zero after the weekly debit of the 17th
    assert figures["average_daily_balance"] == "472.74"  # 14,655.00 over 31 days = 472.7419...
    assert [m["month"] for m in figures["monthly"]] == ["2026-03"]
    assert figures["monthly"][0]["average_daily_balance"] == figures["average_daily_balance"]


def test_underwrite_refuses_a_statement_that_does_not_add_up_with_exit_2_naming_the_row(tmp_path):
    rows = _funded_month()
    rows[6] = rows[6]._replace(amount=rows[6].amount - 1)
    source = tmp_path / "march.pdf"
    source.write_bytes(statement_pdf("signed", rows, OPENING, START, END, rows_per_page=5))
    result = run_cli("underwrite", str(source), "--out", str(tmp_path / "out"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "march.pdf, row 7, column 'balance': page 2, line 2 of the table" in result.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()
