"""Holdings reconciliation against CAMS and KFintech DBF files built with the dbf package."""

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dbf
import pytest

from core.holdings import read_internal, read_registrar, reconcile_holdings, save_holdings_run

ROOT = Path(__file__).resolve().parents[3]
AS_OF = dt.date(2026, 10, 31)


def write_dbf(path: Path, spec: str, rows: list[tuple]) -> Path:
    table = dbf.Table(str(path), spec, dbf_type="db3", codepage="cp1252")
    table.open(dbf.READ_WRITE)
    for row in rows:
        table.append(row)
    table.close()
    return path


def cams_transactions(folder: Path) -> Path:
    return write_dbf(folder / "WBR2.dbf", "FOLIO_NO C(20); PRODCODE C(10); SCHEME C(40); TRXNTYPE C(4); TRADDATE D; UNITS N(18,4); AMOUNT N(18,2)", [
        ("1001/22", "HDFCEQ", "HDFC Equity Fund - Growth", "P", dt.date(2026, 9, 1), Decimal("100.1234"), Decimal("10000.00")),
        ("1001/22", "HDFCEQ", "HDFC Equity Fund - Growth", "R", dt.date(2026, 10, 5), Decimal("20.0000"), Decimal("2100.00")),
        ("1001/22", "HDFCEQ", "HDFC Equity Fund - Growth", "P", dt.date(2026, 11, 2), Decimal("5.0000"), Decimal("500.00")),
        ("2002/11", "ICICIBF", "ICICI Bluechip - Growth", "SI", dt.date(2026, 10, 1), Decimal("50.5000"), Decimal("5000.00")),
        ("3003/01", "SBISC", "SBI Small Cap", "P", dt.date(2026, 10, 1), Decimal("12.0000"), Decimal("1200.00")),
    ])


def kfintech_holdings(folder: Path) -> Path:
    return write_dbf(folder / "MFSD203.dbf", "ACNO C(20); PRCODE C(10); FUNDDESC C(40); BALUNITS N(18,4); TODATE D", [
        ("7007", "AXLT", "Axis Long Term Equity", Decimal("300.0000"), AS_OF),
        ("8008", "MIRAE", "Mirae Asset Large Cap", Decimal("75.2500"), AS_OF),
        ("9009", "KOTAK", "Kotak Flexicap", Decimal("10.0000"), AS_OF),
    ])


BOOKS = """folio_no,product_code,scheme_name,transaction_type,transaction_date,units
1001/22,HDFCEQ,HDFC Equity Fund - Growth,BUY,2026-09-01,100.1234
1001/22,HDFCEQ,HDFC Equity Fund - Growth,SELL,2026-10-05,20.0000
2002/11,ICICIBF,ICICI Bluechip - Growth,SWITCH_IN,2026-10-01,50.0000
7007,AXLT,Axis Long Term Equity,BUY,2026-08-01,300.0005
8008,MIRAE,Mirae Asset Large Cap,BUY,2026-08-01,80.0000
8008,MIRAE,Mirae Asset Large Cap,BUY_REVERSAL,2026-08-02,4.7500
4004,NIPPON,Nippon Liquid,BUY,2026-10-10,9.9990
"""


def test_both_registrar_layouts_give_every_status_and_difference_exactly(tmp_path):
    cams_name, cams, cams_warnings, errors = read_registrar(cams_transactions(tmp_path).read_bytes(), "WBR2.dbf", AS_OF)
    assert errors == [] and cams_name == "CAMS"
    assert cams[("1001/22", "HDFCEQ")].units == Decimal("80.1234"), "a trade after the as-of date is left out"
    kfin_name, kfin, kfin_warnings, errors = read_registrar(kfintech_holdings(tmp_path).read_bytes(), "MFSD203.dbf", AS_OF)
    assert errors == [] and kfin_name == "KFintech" and kfin_warnings == []
    books, errors = read_internal(BOOKS.encode(), "books.csv", AS_OF)
    assert errors == []
    rows = {(r.folio, r.product): r for r in reconcile_holdings(books, [(cams_name, cams), (kfin_name, kfin)])}
    assert {k: (r.status, r.internal_units, r.registrar_units, r.difference, r.registrar) for k, r in rows.items()} == {
        ("1001/22", "HDFCEQ"): ("matched", Decimal("80.1234"), Decimal("80.1234"), Decimal("0.0000"), "CAMS"),
        ("2002/11", "ICICIBF"): ("mismatched", Decimal("50.0000"), Decimal("50.5000"), Decimal("-0.5000"), "CAMS"),
        ("3003/01", "SBISC"): ("registrar_only", Decimal("0"), Decimal("12.0000"), Decimal("-12.0000"), "CAMS"),
        ("7007", "AXLT"): ("matched", Decimal("300.0005"), Decimal("300.0000"), Decimal("0.0005"), "KFintech"),
        ("8008", "MIRAE"): ("matched", Decimal("75.2500"), Decimal("75.2500"), Decimal("0.0000"), "KFintech"),
        ("9009", "KOTAK"): ("registrar_only", Decimal("0"), Decimal("10.0000"), Decimal("-10.0000"), "KFintech"),
        ("4004", "NIPPON"): ("internal_only", Decimal("9.9990"), Decimal("0"), Decimal("9.9990"), ""),
    }


def test_units_in_dbf_are_exact_decimals(tmp_path):
    _, positions, _, _ = read_registrar(kfintech_holdings(tmp_path).read_bytes(), "MFSD203.dbf", AS_OF)
    assert all(isinstance(p.units, Decimal) for p in positions.values())
    assert str(positions[("8008", "MIRAE")].units) == "75.2500"


def test_a_registrar_xls_that_is_really_csv_or_xlsx_is_read(tmp_path):
    text = "ACNO,PRCODE,FUNDDESC,BALUNITS,TODATE\n7007,AXLT,Axis Long Term Equity,300.0000,2026-10-31\n"
    name, positions, _, errors = read_registrar(text.encode(), "MFSD203.xls", AS_OF)
    assert errors == [] and name == "KFintech" and positions[("7007", "AXLT")].units == Decimal("300.0000")
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["ACNO", "PRCODE", "FUNDDESC", "BALUNITS", "TODATE"])
    workbook.active.append(["7007", "AXLT", "Axis", "300.0000", dt.datetime(2026, 10, 31)])
    buffer = io.BytesIO()
    workbook.save(buffer)
    name, positions, _, errors = read_registrar(buffer.getvalue(), "MFSD203.xls", AS_OF)
    assert errors == [] and positions[("7007", "AXLT")].units == Decimal("300.0000")


def test_bad_rows_are_named(tmp_path):
    books = BOOKS.replace("SWITCH_IN,2026-10-01,50.0000", "TRANSFORM,2026-10-01,5O.0")
    positions, errors = read_internal(books.encode(), "books.csv", AS_OF)
    assert [(e.row, e.column) for e in errors] == [(4, "units"), (4, "transaction_type")]
    _, _, _, errors = read_registrar(b"NAME,COLOUR\nx,red\n", "odd.dbf", AS_OF)
    assert "no registrar layout fits" in errors[0].message


def run_cli(*args, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_holdings_cli_writes_the_contract_files(tmp_path):
    (tmp_path / "books.csv").write_text(BOOKS)
    result = run_cli("holdings", "--internal", str(tmp_path / "books.csv"), "--registrar", str(cams_transactions(tmp_path)),
                     "--registrar", str(kfintech_holdings(tmp_path)), "--as-of", "2026-10-31", "--out", str(tmp_path / "out"),
                     tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((tmp_path / "out" / "holdings.csv").open()))
    assert list(rows[0]) == ["folio", "product", "status", "internal_units", "registrar_units", "difference", "registrar"]
    assert {r["folio"]: (r["status"], r["difference"]) for r in rows}["2002/11"] == ("mismatched", "-0.5000")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["statuses"] == {"matched": 3, "mismatched": 1, "registrar_only": 2, "internal_only": 1}
    assert "holdings run 1" in result.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "recon.db") as db:
        assert db.execute("select count(*) from holdings_runs").fetchone()[0] == 1


@pytest.mark.parametrize("as_of", ["31/10/2026", "yesterday"])
def test_holdings_cli_bad_input_exits_2(tmp_path, as_of):
    (tmp_path / "books.csv").write_text(BOOKS)
    result = run_cli("holdings", "--internal", str(tmp_path / "books.csv"), "--registrar", str(tmp_path / "missing.dbf"),
                     "--as-of", as_of, "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    result = run_cli("holdings", "--internal", str(tmp_path / "books.csv"), "--registrar", str(tmp_path / "missing.dbf"),
                     "--as-of", "2026-10-31", "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert result.returncode == 2 and "missing.dbf: cannot read the file" in result.stderr


@pytest.mark.parametrize("tolerance", ["NaN", "inf", "1e999", "-0.001", ""])
def test_holdings_cli_a_tolerance_that_is_not_a_number_of_units_exits_2_and_saves_nothing(tmp_path, tolerance):
    (tmp_path / "books.csv").write_text(BOOKS)
    result = run_cli("holdings", "--internal", str(tmp_path / "books.csv"), "--registrar", str(cams_transactions(tmp_path)),
                     "--as-of", "2026-10-31", "--tolerance", tolerance, "--out", str(tmp_path / "out"), tmp_path=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: --tolerance {tolerance!r}: ") and "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "holdings.csv").exists()


def test_save_holdings_run_keeps_the_rows_exactly_and_the_figures_with_an_audit_entry(store, tmp_path):
    import pyarrow.parquet as pq
    from sqlalchemy import select

    from core.store.models import AuditEntry, HoldingsRun

    books, _ = read_internal(BOOKS.encode(), "books.csv", AS_OF)
    name, cams, _, _ = read_registrar(cams_transactions(tmp_path).read_bytes(), "WBR2.dbf", AS_OF)
    rows = reconcile_holdings(books, [(name, cams)])
    run = save_holdings_run(store, rows, AS_OF, Decimal("0.001"), ["books.csv", "WBR2.dbf"], "ana")
    with store.session() as session:
        kept = session.get(HoldingsRun, run.id)
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "reconcile_holdings")).one()
    assert (kept.as_of, kept.tolerance, kept.sources, kept.created_by) == (AS_OF, "0.001", ["books.csv", "WBR2.dbf"], "ana")
    assert kept.summary == {"matched": 1, "mismatched": 1, "registrar_only": 1, "internal_only": 3}
    assert (audit.entity_id, audit.after) == (str(run.id), {"as_of": "2026-10-31", **kept.summary})
    stored = pq.read_table(store.data_dir / kept.results_path).to_pylist()
    assert [(r["folio"], r["status"], r["internal_units"], r["registrar_units"], r["difference"]) for r in stored] == [
        (r.folio, r.status, r.internal_units, r.registrar_units, r.difference) for r in rows]
