"""CAMT.053 reversals: the entry's own CdtDbtInd gives the direction of the money; and what cannot be read.

ISO 20022 books a reversal as an entry of its own whose credit/debit indicator already says
which way the money moves (a debit returned is a credit to the account); ``RvslInd`` only says
that the entry undoes an earlier one. Turning the sign around again would book the money the
wrong way, which the balance check then refuses. A value that cannot be read refuses the file
in one line naming the line of its entry or statement, and what to do.
"""

from decimal import Decimal

from core.ingest.datasets import parse_source


def _statement(entries: str, opening: str, closing: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-03-03T07:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>REV-1</Id>
   <Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-03-02</Dt></Dt></Bal>
   {entries}
  </Stmt>
 </BkToCstmrStmt>
</Document>""".encode()


def _entry(amount: str, indicator: str, reversal: str, reference: str) -> str:
    return (f"<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><RvslInd>{reversal}</RvslInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt><AcctSvcrRef>{reference}</AcctSvcrRef></Ntry>")


def test_a_returned_direct_debit_booked_as_credit_reversal_is_money_in():
    entries = _entry("80.00", "DBIT", "false", "DD-1") + _entry("80.00", "CRDT", "true", "DD-1-RETURN")
    result, errors = parse_source(_statement(entries, "500.00", "500.00"), "returned.xml")
    assert errors == []
    assert [(r["reference"], r["amount"]) for r in result.table.to_pylist()] == [
        ("DD-1", Decimal("-80.00")), ("DD-1-RETURN", Decimal("80.00"))]


def test_a_reversed_credit_booked_as_debit_reversal_is_money_out():
    entries = _entry("45.10", "CRDT", "false", "IN-7") + _entry("45.10", "DBIT", "true", "IN-7-REVERSED") + \
        _entry("12.00", "DBIT", "false", "FEE")
    result, errors = parse_source(_statement(entries, "100.00", "88.00"), "reversed.xml")
    assert errors == []
    assert [r["amount"] for r in result.table.to_pylist()] == [Decimal("45.10"), Decimal("-45.10"), Decimal("-12.00")]


def test_a_reversal_that_does_not_add_up_is_still_refused_by_the_balances():
    entries = _entry("80.00", "DBIT", "false", "DD-1") + _entry("80.00", "CRDT", "true", "DD-1-RETURN")
    result, errors = parse_source(_statement(entries, "500.00", "340.00"), "bad.xml")
    assert result is None and len(errors) == 1 and "difference -160.00" in errors[0].message


def test_a_value_that_cannot_be_read_is_refused_naming_the_line_of_its_entry_or_statement():
    entries = _entry("80.00", "DBIT", "false", "DD-1") + "\n" + _entry("8O.00", "CRDT", "true", "DD-1-RETURN")
    result, errors = parse_source(_statement(entries, "500.00", "500.00"), "typo.xml")
    assert result is None and [(e.row, e.column, e.value) for e in errors] == [(11, "Ntry", "REV-1")]
    assert "'8O.00' is not a plain decimal number; correct the file or export it again" in errors[0].message
    entries = _entry("80.00", "DBIT", "false", "DD-1").replace("2026-03-02", "2026-02-30")
    result, errors = parse_source(_statement(entries, "500.00", "420.00"), "date.xml")
    assert result is None and [(e.row, e.column) for e in errors] == [(10, "Ntry")]
    assert "BookgDt '2026-02-30' is not a date (YYYY-MM-DD)" in errors[0].message
    result, errors = parse_source(_statement(entries.replace("2026-02-30", "2026-03-02"), "500.00", "400.00"), "sums.xml")
    assert result is None and (errors[0].row, errors[0].column) == (5, "closing balance")
