"""OFX exports of real banks: what they bend is tolerated where the money is certain, the rest refused.

Each case rebuilds, on one small statement of our own, a way a bank's export departs from
the specification: the deviations a peer parser documents for the banks it met, and those
found in the shared corpus of other projects' test files. A statement read leniently says in
a warning what was tolerated; an amount or a posting date that cannot be read for certain
refuses the file in one line naming the row and the column.
"""

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from core.ingest.datasets import parse_source
from core.ingest.profiles import Profile

HEADER = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

"""

BODY = """<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<DTSERVER>20260210120000
<LANGUAGE>ENG
</SONRS>
</SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>7
<STATUS>
<CODE>0
<SEVERITY>INFO
</STATUS>
<STMTRS>
<CURDEF>EUR
<BANKACCTFROM>
<BANKID>30004
<ACCTID>00012345678
<ACCTTYPE>CHECKING
</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20260201
<DTEND>20260209
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20260203
<TRNAMT>-42.50
<FITID>F-0203-1
<NAME>Boulangerie du Port
<MEMO>Card 1234
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>957.50
<DTASOF>20260209
</LEDGERBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
"""

XML = """<?xml version="1.0" encoding="UTF-8"?>
<?OFX OFXHEADER="200" VERSION="202" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX><SIGNONMSGSRSV1><SONRS><STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><DTSERVER>20260210</DTSERVER>
<LANGUAGE>ENG</LANGUAGE></SONRS></SIGNONMSGSRSV1><BANKMSGSRSV1><STMTTRNRS><TRNUID>7</TRNUID>
<STATUS><CODE>0</CODE><SEVERITY>INFO</SEVERITY></STATUS><STMTRS><CURDEF>EUR</CURDEF>
<BANKACCTFROM><BANKID>30004</BANKID><ACCTID>00012345678</ACCTID><ACCTTYPE>CHECKING</ACCTTYPE></BANKACCTFROM>
<BANKTRANLIST><DTSTART>20260201</DTSTART><DTEND>20260209</DTEND>
<STMTTRN><TRNTYPE>DEBIT</TRNTYPE><DTPOSTED>20260203</DTPOSTED><TRNAMT>-42.50</TRNAMT><FITID>F-0203-1</FITID>
<NAME>Boulangerie du Port</NAME></STMTTRN></BANKTRANLIST>
<LEDGERBAL><BALAMT>957.50</BALAMT><DTASOF>20260209</DTASOF></LEDGERBAL></STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>
"""

SECOND_TRANSACTION = """<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20260205
<TRNAMT>100.00
<FITID>F-0205-1
<NAME>Refund
</STMTTRN>
"""


def statement(header: str = HEADER, body: str = BODY, *, encoding: str = "ascii", **changes: str) -> bytes:
    """The sample statement with lines replaced: ``changes`` maps a line's tag to its new line (empty: removed)."""
    lines = []
    for line in body.splitlines(keepends=True):
        tag = line.strip()[1:].split(">")[0] if line.startswith("<") else ""
        if tag in changes:
            if changes[tag]:
                lines.append(changes[tag] + "\n")
        else:
            lines.append(line)
    return (header + "".join(lines)).encode(encoding)


# name: (file bytes, profile, expected amounts)
BANK_DEVIATIONS = {
    "blank line before the header, none after it": (b"\n" + statement(header=HEADER.rstrip("\n") + "\n"), None, ["-42.50"]),
    "a byte above ASCII in a file declared US-ASCII": (statement(NAME="<NAME>Caf\xe9 du Port", encoding="cp1252"), None, ["-42.50"]),
    "CHARSET NONE with ENCODING USASCII": (statement(header=HEADER.replace("CHARSET:1252", "CHARSET:NONE")), None, ["-42.50"]),
    "a six-digit DTSTART (DDMMYY)": (statement(DTSTART="<DTSTART>010226"), None, ["-42.50"]),
    "a cheque without payee": (statement(TRNTYPE="<TRNTYPE>CHECK", NAME="<CHECKNUM>1090381", MEMO=""), None, ["-42.50"]),
    "a self-closing MEMO tag": (statement(MEMO="<MEMO/>"), None, ["-42.50"]),
    "a comma as the decimal mark": (statement(TRNAMT="<TRNAMT>-42,50", BALAMT="<BALAMT>957,50"), None, ["-42.50"]),
    "a plus sign and a space between thousands": (statement(TRNAMT="<TRNAMT>+1 006,60"), None, ["1006.60"]),
    "a blank line before the header": (b"\n" + statement(), None, ["-42.50"]),
    "a character outside Latin-1 in UTF-8": (
        statement(header=HEADER.replace("ENCODING:USASCII", "ENCODING:UTF-8").replace("CHARSET:1252", "CHARSET:NONE"),
                  NAME="<NAME>Spr\u00e1va \u0159\u00edzen\u00ed", encoding="utf-8"), None, ["-42.50"]),
    "CHARSET 8859-1 without the ISO prefix": (
        statement(header=HEADER.replace("CHARSET:1252", "CHARSET:8859-1"), NAME="<NAME>M\u00fcller", encoding="latin-1"),
        None, ["-42.50"]),
    "CHKNUM instead of CHECKNUM": (statement(MEMO="<CHKNUM>1932"), None, ["-42.50"]),
    "empty CURDEF, FITID and NAME (the currency from the profile)": (
        statement(CURDEF="<CURDEF></CURDEF>", FITID="<FITID></FITID>", NAME="<NAME></NAME>"),
        Profile.model_validate({"defaults": {"currency": "EUR"}}), ["-42.50"]),
    "TRNTYPE in mixed case": (statement(TRNTYPE="<TRNTYPE>Debit</TRNTYPE>"), None, ["-42.50"]),
    "tags the specification does not have": (statement(MEMO="<VALUEDATE>20260204\n<CATEGORY>Food\n<ACCTBAL>-400.52"), None, ["-42.50"]),
    "an XML declaration (OFX 2)": (XML.encode(), None, ["-42.50"]),
    "a zero DTASOF": (statement(DTASOF="<DTASOF>00000000"), None, ["-42.50"]),
    "the header on one line": (statement(header="".join(HEADER.split("\n")) + "\n\n"), None, ["-42.50"]),
}


def _read(data: bytes, profile=None):
    result, errors = parse_source(data, "bank.ofx", profile)
    return result, errors


def test_every_bank_deviation_reads_its_transaction_exactly():
    wrong = {}
    for name, (data, profile, amounts) in BANK_DEVIATIONS.items():
        result, errors = _read(data, profile)
        got = [str(r["amount"]) for r in result.table.to_pylist()] if result is not None else [str(e) for e in errors]
        if got != amounts or {r["date"] for r in result.table.to_pylist()} != {dt.date(2026, 2, 3)}:
            wrong[name] = got
    assert wrong == {}


def test_what_was_tolerated_is_said_in_a_warning():
    cases = {
        "DTSTART 010226": statement(DTSTART="<DTSTART>010226"),
        "self-closing <MEMO/>": statement(MEMO="<MEMO/>"),
        "spaces between thousands": statement(TRNAMT="<TRNAMT>+1 006,60"),
        "CHARSET:8859-1": statement(header=HEADER.replace("CHARSET:1252", "CHARSET:8859-1")),
        "TRNTYPE Debit in mixed case": statement(TRNTYPE="<TRNTYPE>Debit</TRNTYPE>"),
        "DTASOF 00000000": statement(DTASOF="<DTASOF>00000000"),
        "no LEDGERBAL": statement(LEDGERBAL="", BALAMT="", DTASOF="", **{"/LEDGERBAL": ""}),
        "an empty BALAMT": statement(BALAMT="<BALAMT></BALAMT>"),
        "BANKID 3000400012 longer than 9": statement(BANKID="<BANKID>3000400012"),
        "2 BANKTRANLIST in one statement": statement(**{"/BANKTRANLIST": "</BANKTRANLIST>\n<BANKTRANLIST>\n" + SECOND_TRANSACTION
                                                        + "</BANKTRANLIST>"}),
        "blank lines before the header": b"\n" * 12 + statement(),
    }
    missing = {}
    for said, data in cases.items():
        result, errors = _read(data)
        warnings = " ".join(result.warnings) if result is not None else str(errors)
        if result is None or "read leniently" not in warnings or said not in warnings:
            missing[said] = warnings
    assert missing == {}


def test_structures_the_specification_refuses_keep_every_transaction():
    two_statements = BODY.replace("</STMTRS>\n", "</STMTRS>\n" + BODY[BODY.index("<STMTRS>"):BODY.index("</STMTRS>")]
                                  .replace("00012345678", "00087654321").replace("F-0203-1", "F-0203-2") + "</STMTRS>\n")
    several_lists = statement(**{"/BANKTRANLIST": "</BANKTRANLIST>\n<BANKTRANLIST>\n" + SECOND_TRANSACTION + "</BANKTRANLIST>"})
    balance_first = BODY.replace("<LEDGERBAL>\n<BALAMT>957.50\n<DTASOF>20260209\n</LEDGERBAL>\n", "").replace(
        "<BANKTRANLIST>", "<LEDGERBAL>\n<BALAMT>957.50\n<DTASOF>20260209\n</LEDGERBAL>\n<BANKTRANLIST>")
    french = statement(LANGUAGE="<LANGUAGE>FRE")
    result, errors = _read(statement(body=two_statements))
    assert errors == [] and [(r["account"], r["amount"]) for r in result.table.to_pylist()] == [
        ("00012345678", Decimal("-42.50")), ("00087654321", Decimal("-42.50"))]
    assert "several STMTRS in one transaction response" in " ".join(result.warnings)
    result, errors = _read(several_lists)
    assert errors == [] and [r["amount"] for r in result.table.to_pylist()] == [Decimal("-42.50"), Decimal("100.00")]
    for data in (statement(body=balance_first), french):
        result, errors = _read(data)
        assert errors == [] and [r["amount"] for r in result.table.to_pylist()] == [Decimal("-42.50")]


def test_an_amount_or_date_that_cannot_be_read_for_certain_refuses_the_file_naming_row_and_column():
    for written in ("$42.50", "1.042,50", "1,042.50", "42 50", "1 00,50", ""):
        result, errors = _read(statement(TRNAMT=f"<TRNAMT>{written}" if written else "", BANKID="<BANKID>3000400012"))
        assert result is None and len(errors) == 1, (written, errors)
        assert (errors[0].row, errors[0].column) == (42 if written else 39, "TRNAMT"), (written, errors)
        assert "correct it in the file" in errors[0].message and "Error" not in errors[0].message
    result, errors = _read(statement(DTPOSTED="<DTPOSTED>20260231", BANKID="<BANKID>3000400012"))
    assert result is None and [(e.row, e.column, e.value) for e in errors] == [(41, "DTPOSTED", "20260231")]
    result, errors = _read(statement(TRNAMT="<TRNAMT>-42.50\n<TRNAMT>-24.50", BANKID="<BANKID>3000400012"))
    assert result is None and [(e.row, e.column) for e in errors] == [(43, "TRNAMT")] and "two different TRNAMT" in errors[0].message


def test_a_posting_date_with_a_time_zone_keeps_the_statement_own_day():
    for data in (statement(DTPOSTED="<DTPOSTED>20260203200000[-5:EST]"),
                 statement(DTPOSTED="<DTPOSTED>20260203200000[-5:EST]", BANKID="<BANKID>3000400012"),
                 statement(DTPOSTED="<DTPOSTED>20260203013000.000[+9:JST]")):
        result, errors = _read(data)
        assert errors == [] and [r["date"] for r in result.table.to_pylist()] == [dt.date(2026, 2, 3)]


def test_an_investment_statement_is_refused_in_one_line_with_exit_2(tmp_path):
    investment = statement(body=BODY.replace("BANKMSGSRSV1", "INVSTMTMSGSRSV1").replace("STMTTRNRS", "INVSTMTTRNRS")
                           .replace("STMTRS", "INVSTMTRS").replace("BANKACCTFROM", "INVACCTFROM"))
    (tmp_path / "broker.ofx").write_bytes(investment)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RECON_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-m", "core", "import", str(tmp_path / "broker.ofx")], cwd=Path(__file__).resolve().parents[3],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "investment statement (INVSTMTRS)" in done.stderr and "bank or card statement" in done.stderr


def test_a_file_without_currency_is_refused_with_what_to_do():
    result, errors = _read(statement(CURDEF="<CURDEF></CURDEF>"))
    assert result is None and len(errors) == 1
    assert errors[0].column == "currency" and "names no currency" in errors[0].message and "[defaults]" in errors[0].message
