"""A statement with no entries (a day without movement) imports with zero rows and keeps its balances.

Its balances carry the account's continuity: the next statement's opening must continue them.
A CSV file without data rows is still refused: only a statement says that nothing moved.
"""

from sqlalchemy import select

from core.ingest.datasets import import_bytes, load_dataset_table, parse_source
from tests.statement_samples import camt053


def _quiet_day(day: str, opening: str, closing: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
 <BkToCstmrStmt>
  <GrpHdr><MsgId>Q{day}</MsgId><CreDtTm>2026-10-{day}T23:00:00</CreDtTm></GrpHdr>
  <Stmt>
   <Id>QUIET-{day}</Id>
   <FrToDt><FrDtTm>2026-10-{day}T00:00:00</FrDtTm><ToDtTm>2026-10-{day}T23:59:59</ToDtTm></FrToDt>
   <Acct><Id><IBAN>CH9300762011623852957</IBAN></Id><Ccy>CHF</Ccy></Acct>
   <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-{day}</Dt></Dt></Bal>
   <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="CHF">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-10-{day}</Dt></Dt></Bal>
  </Stmt>
 </BkToCstmrStmt>
</Document>""".encode()


def test_a_statement_without_entries_imports_zero_rows_and_keeps_its_balances(store):
    from core.store.models import StatementRecord

    outcome, errors = import_bytes(store, _quiet_day("04", "1000.00", "1000.00"), "quiet.xml")
    assert errors == []
    assert outcome.dataset.row_count == 0 and load_dataset_table(store, outcome.dataset).num_rows == 0
    assert any("no entries" in w for w in outcome.warnings)
    with store.session() as session:
        kept = session.scalars(select(StatementRecord).where(StatementRecord.dataset_id == outcome.dataset.id)).all()
    assert [(s.account, str(s.opening), str(s.closing), s.entry_count) for s in kept] == [
        ("CH9300762011623852957", "1000.00", "1000.00", 0)]
    following, errors = import_bytes(store, camt053(closing="1499.75"), "next.xml")
    assert errors == [] and following.dataset.row_count == 4


def test_the_next_statement_must_continue_the_balance_of_a_day_without_movement(store):
    outcome, errors = import_bytes(store, _quiet_day("04", "1020.00", "1020.00"), "quiet.xml")
    assert errors == []
    outcome, errors = import_bytes(store, camt053(closing="1499.75"), "next.xml")
    assert outcome is None and "does not continue the closing balance 1020.00" in errors[0].message


def test_zero_rows_are_valid_for_a_balanced_statement_only():
    result, errors = parse_source(_quiet_day("05", "1000.00", "1000.00"), "quiet.xml")
    assert errors == [] and result.table.num_rows == 0
    result, errors = parse_source(_quiet_day("05", "1000.00", "990.00"), "quiet.xml")
    assert result is None and [e.message for e in errors] == [
        "statement QUIET-05 of account CH9300762011623852957: opening 1000.00 plus entries 0 is 1000.00, "
        "but the closing balance is 990.00 (difference -10.00); to import it anyway with the difference recorded: "
        "CLI --accept-unbalanced; on the Sources page, ask an approver"]
    result, errors = parse_source(b"date,amount,account,currency\n", "empty.csv")
    assert result is None and "no data rows" in errors[0].message
