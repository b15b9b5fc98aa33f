"""Bad input gets a clear error naming file, row and column, and the store is left as it was."""

import io
import zipfile

import pytest
from sqlalchemy import func, select

from core.ingest.datasets import import_bytes, import_file
from core.ingest.profiles import parse_profile
from core.store.models import AuditEntry, DatasetRecord

GOOD = b"Date,Account,Amount,Currency\n2024-03-01,A1,10.00,USD\n2024-03-02,A1,-4.00,USD\n"


def store_state(store):
    with store.session() as session:
        counts = (session.scalar(select(func.count()).select_from(DatasetRecord)), session.scalar(select(func.count()).select_from(AuditEntry)))
    files = sorted(p.name for p in (store.data_dir / "datasets").glob("*")) if (store.data_dir / "datasets").exists() else []
    return counts, files


def xlsx_truncated() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>" * 100)
    return buffer.getvalue()[:-40]


BAD_FILES = {
    "empty": (b"", None, None, "empty"),
    "only blank lines": (b"\n\n  \n", None, None, "empty"),
    "header only": (b"Date,Amount,Currency\n", None, None, "no data rows"),
    "wrong columns": (b"Name,Colour\nx,red\n", None, None, "no header row found"),
    "no amount column": (b"Date,Currency,Colour\n2024-03-01,USD,red\n", 1, None, "no amount"),
    "no date column": (b"Amount,Currency\n1.00,USD\n", 1, None, "no date column"),
    "bad dates": (b"Date,Amount,Currency\n2024-03-01,1.00,USD\n2024-02-30,2.00,USD\n", 3, "Date", "not a date"),
    "missing date": (b"Date,Amount,Currency\n2024-03-01,1.00,USD\n,2.00,USD\n", 3, "Date", "date is missing"),
    "bad numbers": (b"Date,Amount,Currency\n2024-03-01,1.00,USD\n2024-03-02,1.0O,USD\n", 3, "Amount", "not a number"),
    "missing amount": (b"Date,Amount,Currency\n2024-03-01,1.00,USD\n2024-03-02,,USD\n", 3, "Amount", "amount is missing"),
    "bad currency": (b"Date,Amount,Currency\n2024-03-01,1.00,USD\n2024-03-02,1.00,XYZ\n", 3, "Currency", "ISO 4217"),
    "truncated row": (b"Date,Account,Amount,Currency\n2024-03-01,A1,10.00,USD\n2024-03-02,A1,-4", 3, "field 3", "cut short"),
    "unclosed quote": (b'Date,Amount,Currency,Description\n2024-03-01,1.00,USD,"never closed\n', 2, None, "quoted field"),
    "extra fields": (b"Date,Amount,Currency\n2024-03-01,1,00,USD\n", 2, "field 4", "delimiter inside"),
    "binary junk": (b"\x00\x01\x02\xff" * 50, None, None, "binary"),
    "truncated xlsx": (xlsx_truncated(), None, None, "damaged or truncated"),
    "legacy xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, None, None, ".xls"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_with_a_clear_error_and_the_store_unchanged(store, case):
    data, row, column, fragment = BAD_FILES[case]
    import_bytes(store, GOOD, "good.csv")
    before = store_state(store)
    outcome, errors = import_bytes(store, data, f"{case}.csv")
    assert outcome is None
    assert errors, "a bad file must give at least one error"
    first = errors[0]
    assert first.file == f"{case}.csv"
    assert fragment in first.message, str(first)
    assert first.row == row
    if column is not None:
        assert first.column == column
    assert f"{case}.csv" in str(first)
    assert store_state(store) == before


def test_non_utf8_bytes_in_a_file_declared_utf8_name_row_and_field(store):
    profile = parse_profile('[read]\nencoding = "utf-8"\n', "strict")
    data = "Date,Amount,Currency,Description\n2024-03-01,1.00,USD,ok\n2024-03-02,2.00,USD,Caf\xe9\n".encode("latin-1")
    before = store_state(store)
    outcome, errors = import_bytes(store, data, "latin.csv", profile)
    assert outcome is None
    assert (errors[0].row, errors[0].column, errors[0].value) == (3, "field 4", "E9")
    assert "not valid utf-8" in errors[0].message
    assert store_state(store) == before


def test_every_bad_row_is_reported_at_once_not_just_the_first(store):
    lines = ["Date,Amount,Currency"] + [f"2024-03-{d:02d},{'x' if d % 3 == 0 else '1.00'},USD" for d in range(1, 29)]
    lines.append("2024-03-31,1.00,EURO")
    outcome, errors = import_bytes(store, "\n".join(lines).encode(), "many.csv")
    assert outcome is None
    assert [(e.row, e.column) for e in errors] == [(d + 1, "Amount") for d in range(3, 29, 3)] + [(30, "Currency")]


def test_oversized_file_is_refused_with_the_limit(store, monkeypatch):
    monkeypatch.setenv("RECON_MAX_IMPORT_MB", "1")
    data = GOOD + b"2024-03-03,A1,1.00,USD\n" * 60000
    outcome, errors = import_bytes(store, data, "big.csv")
    assert outcome is None and "limit is 1 MB" in errors[0].message


def test_a_missing_file_and_an_unknown_profile_are_clear_errors(store, tmp_path):
    outcome, errors = import_file(store, tmp_path / "nope.csv")
    assert outcome is None and "cannot read the file" in errors[0].message
    outcome, errors = import_bytes(store, GOOD, "good.csv", "no_such_profile")
    assert outcome is None and "no profile named 'no_such_profile'" in errors[0].message


def xlsx_with_number(text: bytes) -> bytes:
    """A workbook whose amount cell stores ``text`` as its number, as another program may write it."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Date", "Account", "Amount", "Currency"])
    workbook.active.append(["2024-03-01", "A1", 123.456, "USD"])
    written = io.BytesIO()
    workbook.save(written)
    rewritten = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(written.getvalue())) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
        for member in source.infolist():
            content = source.read(member)
            if member.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"<v>123.456</v>", b"<v>" + text + b"</v>")
            target.writestr(member, content)
    return rewritten.getvalue()


def _statement_samples():
    from tests.statement_samples import BAI2, MT940, OFX_SGML, camt053

    return BAI2, MT940, OFX_SGML, camt053


def out_of_range_files():
    bai2, mt940, ofx, camt053 = _statement_samples()
    return {
        "camt entry 1E+999999999": ("camt.xml", camt053().replace(b">300.00<", b">1E+999999999<"), 11, "Ntry", "'1E+999999999'"),
        "camt balance NaN": ("camt.xml", camt053(closing="NaN"), 5, "Stmt", "'NaN'"),
        "xlsx cell 1.7976931348623157e308": ("big.xlsx", xlsx_with_number(b"1.7976931348623157e308"), 2, "C", "too large"),
        "csv 1e400": ("big.csv", GOOD.replace(b"-4.00", b"1e400"), 3, "Amount", "'1e400'"),
        "csv inf": ("inf.csv", GOOD.replace(b"-4.00", b"inf"), 3, "Amount", "'inf'"),
        "csv NaN": ("nan.csv", GOOD.replace(b"-4.00", b"NaN"), 3, "Amount", "'NaN'"),
        "csv 40 digits": ("digits.csv", GOOD.replace(b"-4.00", b"9" * 40), 3, "Amount", "too large"),
        "mt940 entry of 40 digits": ("big.sta", mt940.replace(b"50,00", b"9" * 40 + b","), 5, None, "too large"),
        "mt940 opening of 400 digits": ("big.sta", mt940.replace(b"1000,00", b"9" * 400 + b","), 4, None, "too large"),
        "bai2 amount of 400 digits": ("big.bai", bai2.replace(b"20050", b"9" * 400), 4, None, "400 digits"),
        "ofx 1E+999999999": ("big.ofx", ofx.replace(b"-50.00", b"1E+999999999"), None, "amount", "too large"),
        "ofx Infinity": ("inf.ofx", ofx.replace(b"-50.00", b"Infinity"), None, "amount", "not a finite number"),
    }


@pytest.mark.parametrize("case", list(out_of_range_files()))
def test_numbers_out_of_range_are_row_errors_naming_file_row_and_column(store, case):
    name, data, row, column, fragment = out_of_range_files()[case]
    before = store_state(store)
    outcome, errors = import_bytes(store, data, name)
    assert outcome is None
    first = errors[0]
    assert (first.file, first.row) == (name, row) and fragment in first.message, str(first)
    if column is not None:
        assert first.column == column, str(first)
    assert store_state(store) == before


def test_a_trade_whose_quantity_times_price_is_out_of_range_is_a_row_error():
    from core.ingest.datasets import parse_source
    from core.ingest.profiles import load_profile

    trades = (b"timestamp,type,client_trade_id,date,instrument.identifier_type,instrument.identifier,instrument.country,"
              b"instrument.currency,account_id,capacity,quantity,price,side.direction,fees.commission,settlement.currency\n"
              b"1582706171,bilateral_trade,5-B,20200221,ticker,UVXY,USA,USD,100018,agency,999999999999,999999999999,buy,0,USD\n")
    result, errors = parse_source(trades, "trades.csv", load_profile("clear_street_trades"))
    assert result is None and (errors[0].row, errors[0].column) == (2, "quantity") and "too large" in errors[0].message


@pytest.mark.parametrize("case", ["camt entry 1E+999999999", "xlsx cell 1.7976931348623157e308", "csv 1e400"])
def test_the_cli_exits_2_on_a_number_out_of_range(tmp_path, case):
    import os
    import subprocess
    import sys
    from pathlib import Path

    name, data, row, column, fragment = out_of_range_files()[case]
    (tmp_path / name).write_bytes(data)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run([sys.executable, "-m", "core", "import", str(tmp_path / name)], cwd=Path(__file__).resolve().parents[3],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert name in result.stderr and fragment in result.stderr and "Traceback" not in result.stderr
