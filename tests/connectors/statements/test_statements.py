"""Bank statement formats: every amount, date, reference and balance, checked exactly."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from core.ingest.datasets import import_bytes, parse_source
from tests.statement_samples import BAI2, MT940, OFX_SGML, OFX_XML, camt053


def rows(data: bytes, name: str):
    result, errors = parse_source(data, name)
    assert errors == [], errors
    return result, result.table.to_pylist()


def test_mt940_several_statements_narratives_and_subfields():
    result, table = rows(MT940, "statement.sta")
    assert result.format == "mt940"
    assert [(r["date"], r["amount"], r["reference"], r["statement"]) for r in table] == [
        (dt.date(2026, 10, 2), Decimal("-50.00"), "INV-1", "00012/001"),
        (dt.date(2026, 10, 3), Decimal("150.25"), "PAY-77", "00012/001"),
        (dt.date(2026, 10, 5), Decimal("-0.25"), "B3", "00013/001"),
        (dt.date(2026, 10, 5), Decimal("-0.25"), "B4", "00013/001"),
    ]
    assert table[0]["description"].startswith("Rechnung 42") and table[0]["counterparty"] == "Muster GmbH"
    assert {r["account"] for r in table} == {"DE89370400440532013000"} and {r["currency"] for r in table} == {"EUR"}
    assert [r["id"] for r in table] == ["B1", "B2", "B3", "B4"]


def test_mt940_balance_that_does_not_add_up_is_refused():
    broken = MT940.replace(b":62F:C261003EUR1100,25", b":62F:C261003EUR1100,35")
    result, errors = parse_source(broken, "broken.sta")
    assert result is None
    assert "opening 1000.00 plus entries 100.25 is 1100.25, but the closing balance is 1100.35" in errors[0].message
    assert errors[0].row == 1
    assert any("does not continue the closing balance 1100.35" in e.message for e in errors)


BOM = b"\xef\xbb\xbf"
SECOND = MT940.index(b"\n:20:") + 1
MT940_AMOUNTS = [Decimal("-50.00"), Decimal("150.25"), Decimal("-0.25"), Decimal("-0.25")]


@pytest.mark.parametrize("before", [b" ", b"\t", BOM + BOM, b"\x1a"], ids=["space", "tab", "doubled BOM", "DOS end-of-file mark"])
@pytest.mark.parametrize("where", [0, SECOND], ids=["first statement", "second statement"])
def test_mt940_harmless_bytes_before_a_statement_header_are_read_past(before, where):
    result, table = rows(MT940[:where] + before + MT940[where:], "statement.sta")
    assert [r["amount"] for r in table] == MT940_AMOUNTS
    assert [r["statement"] for r in table] == ["00012/001", "00012/001", "00013/001", "00013/001"]


@pytest.mark.parametrize("where, row", [(0, 1), (SECOND, 11)], ids=["first statement", "second statement"])
def test_mt940_a_stray_byte_before_a_statement_header_refuses_the_file_naming_the_line(where, row):
    result, errors = parse_source(MT940[:where] + b"x" + MT940[where:], "statement.sta")
    assert result is None
    assert errors[0].row == row and "the statement header :20: does not start its line" in errors[0].message


def test_mt940_an_entry_line_the_library_would_skip_refuses_the_file_naming_the_line():
    stray = MT940.replace(b"\n:61:2610031003", b"\nx:61:2610031003")
    result, errors = parse_source(stray, "statement.sta")
    assert result is None and errors[0].row == 7 and ":61: is not at the start of the line" in errors[0].message
    result, table = rows(MT940.replace(b"\n:61:2610031003", b"\n  :61:2610031003"), "statement.sta")
    assert [r["amount"] for r in table] == MT940_AMOUNTS


def test_camt053_an_entry_outside_its_statement_is_not_left_out_unseen():
    moved = camt053(closing="1499.75").replace(b"</Stmt>", b"</Stmt><Ntry><Amt Ccy=\"CHF\">5.00</Amt><Sts>BOOK</Sts></Ntry>")
    result, errors = parse_source(moved, "statement.xml")
    assert result is None and "1 of the 5 Ntry elements" in errors[0].message


CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "statements"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus of other people's statement files is not beside the repository")
def test_real_mt940_with_a_dos_end_of_file_mark_before_a_statement_keeps_every_statement():
    from core.ingest.datasets import _parse

    result, facts, errors = _parse((CORPUS / "mt940" / "zilverline-two-accounts.txt").read_bytes(), "two.txt", None)
    assert errors == []
    assert [(f.account, f.opening, f.closing, f.entry_count) for f in facts] == [
        ("1567.50.961EUR", Decimal("9265.12"), Decimal("2666.37"), 2), ("9914.30.727EUR", Decimal("352.84"), Decimal("352.84"), 0),
        ("3462.483.153 EUR", Decimal("5000.00"), Decimal("5000.00"), 0), ("1325.76.155EUR", Decimal("-12.00"), Decimal("238.00"), 1)]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="the shared corpus of other people's statement files is not beside the repository")
def test_an_ofx_investment_statement_is_refused_clearly():
    result, errors = parse_source((CORPUS / "ofx" / "ofxparse-vanguard-invest.ofx").read_bytes(), "vanguard.ofx")
    assert result is None and "INVSTMTRS" in errors[0].message


def test_camt053_batched_details_reversal_pending_and_balances():
    result, table = rows(camt053(closing="1499.75", reversal="true"), "camt.xml")
    assert result.format == "camt053"
    assert [(r["date"], r["entry_date"], r["amount"], r["reference"], r["counterparty"]) for r in table] == [
        (dt.date(2026, 10, 6), dt.date(2026, 10, 5), Decimal("100.00"), "INV-100", "Contoso"),
        (dt.date(2026, 10, 6), dt.date(2026, 10, 5), Decimal("200.00"), "INV-200", "Fabrikam"),
        (dt.date(2026, 10, 5), dt.date(2026, 10, 5), Decimal("200.00"), "SVC-2", ""),
        (dt.date(2026, 10, 5), dt.date(2026, 10, 5), Decimal("-0.25"), "SVC-3", ""),
    ]
    assert [r["id"] for r in table] == ["SVC-1#1", "SVC-1#2", "SVC-2", "SVC-3"]
    assert table[3]["description"] == "Account fee" and table[0]["description"] == "Invoice 100"
    assert {r["account"] for r in table} == {"CH9300762011623852957"} and {r["currency"] for r in table} == {"CHF"}
    assert any("1 pending entry left out" in w for w in result.warnings)


def test_camt053_without_reversal_must_balance_the_other_way():
    result, errors = parse_source(camt053(closing="1099.75", reversal="false"), "camt.xml")
    assert result is None and "difference -400.00" in errors[0].message
    _, table = rows(camt053(closing="1499.75", reversal="false"), "camt.xml")
    assert table[2]["amount"] == Decimal("200.00")


def test_camt053_external_entities_are_never_resolved(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    hostile = camt053().replace(b'<?xml version="1.0" encoding="UTF-8"?>',
                                f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'.encode())
    hostile = hostile.replace(b"<AddtlNtryInf>Account fee</AddtlNtryInf>", b"<AddtlNtryInf>&x;</AddtlNtryInf>")
    result, errors = parse_source(hostile, "hostile.xml")
    assert result is None and "DTD or entities" in errors[0].message
    bomb = b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Document><BkToCstmrStmt>&b;</BkToCstmrStmt></Document>'
    result, errors = parse_source(bomb, "bomb.xml")
    assert result is None and "DTD or entities" in errors[0].message


def test_bai2_accounts_continuations_implied_decimals_and_type_codes():
    result, table = rows(BAI2, "bank.bai")
    assert result.format == "bai2"
    assert [(r["account"], r["currency"], r["date"], r["amount"], r["reference"], r["type"]) for r in table] == [
        ("123456789", "USD", dt.date(2026, 10, 31), Decimal("200.50"), "CUST1", "175"),
        ("123456789", "USD", dt.date(2026, 10, 31), Decimal("-50.00"), "REF002", "475"),
        ("123456789", "USD", dt.date(2026, 10, 31), Decimal("-5.00"), "REF003", "475"),
        ("987654321", "JPY", dt.date(2026, 10, 31), Decimal("-1000.00"), "REF004", "475"),
    ]
    assert table[0]["description"].startswith("Deposit from") and table[0]["description"].endswith("Contoso Ltd, October receipts")


def test_bai2_with_a_wrong_record_count_is_refused():
    result, errors = parse_source(BAI2.replace(b"49,240100,6/", b"49,240100,7/"), "bank.bai")
    assert result is None and "BAI2" in errors[0].message


@pytest.mark.parametrize("data", [OFX_SGML, OFX_XML])
def test_ofx_sgml_and_xml(data):
    result, table = rows(data, "bank.ofx")
    assert result.format == "ofx"
    assert {r["account"] for r in table} == {"4471009218"} and {r["currency"] for r in table} == {"USD"}
    if data is OFX_SGML:
        assert [(r["date"], r["amount"], r["reference"], r["id"]) for r in table] == [
            (dt.date(2026, 10, 2), Decimal("-50.00"), "", "T1"), (dt.date(2026, 10, 9), Decimal("-1250.10"), "1041", "T2"),
            (dt.date(2026, 10, 3), Decimal("150.25"), "", "T3")]
        assert table[0]["description"] == "Acme Invoice 7"


def test_statements_continue_across_imports_and_gaps_are_refused(store):
    first, errors = import_bytes(store, OFX_SGML, "october.ofx")
    assert errors == []
    wrong = OFX_XML.replace(b"<BALAMT>1200.00", b"<BALAMT>1250.00")
    outcome, errors = import_bytes(store, wrong, "november.ofx")
    assert outcome is None and "previous closing balance 1100.25 plus entries 99.75 is 1200.00, but the closing balance is 1250.00" in errors[0].message
    outcome, errors = import_bytes(store, OFX_XML, "november.ofx")
    assert errors == [] and outcome.created


def test_the_same_statement_in_another_file_is_refused_but_identical_rows_inside_are_kept(store):
    outcome, errors = import_bytes(store, MT940, "october.sta")
    assert errors == [] and outcome.dataset.row_count == 4, "the two identical charges are both kept"
    again = MT940.replace(b"Incoming payment from Contoso", b"Incoming payment from Contoso")  + b"\n"
    outcome, errors = import_bytes(store, again, "october-copy.sta")
    assert outcome is None and "already imported" in errors[0].message


def test_formats_are_detected_from_content_by_the_cli(tmp_path):
    import csv
    import io
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    for name, data in (("a.txt", MT940), ("b.dat", camt053(closing="1499.75")), ("c.txt", BAI2), ("d.dat", OFX_SGML)):
        (tmp_path / name).write_bytes(data)
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / f"data-{name}")}
        result = subprocess.run([sys.executable, "-m", "core", "import", str(tmp_path / name)], cwd=root, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        assert list(csv.DictReader(io.StringIO(result.stdout)))[0]["amount"]
