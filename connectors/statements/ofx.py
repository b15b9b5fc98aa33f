"""OFX 1.x (SGML) and 2.x (XML) bank and card statements, read with ofxtools.

OFX gives a closing (ledger) balance but no opening balance; the continuity check against the
previous statement of the account does the work of the balance check.
"""

from __future__ import annotations

import io
import re
import warnings

from connectors.statements.statement import Entry, Statement
from core.domain.findings import RowError

_TRANSACTION = re.compile(rb"<STMTTRN>", re.IGNORECASE)
_READ = ("STMTRS", "CCSTMTRS")


def read(data: bytes, name: str):
    from ofxtools.Parser import OFXTree  # start-up speed: ofxtools takes a quarter of a second to load; OFX files only

    if b"<!ENTITY" in data.upper() or b"<!DOCTYPE" in data.upper():
        return None, [RowError(name, None, None, None, "the OFX file declares a DTD or entities, which are refused")]
    tree = OFXTree()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree.parse(io.BytesIO(data))
            document = tree.convert()
            found = list(document.statements)
    except Exception as exc:  # ofxtools raises a variety of parse and validation errors
        return None, [RowError(name, None, None, None, f"the file cannot be read as OFX ({type(exc).__name__}: {exc})")]
    other = sorted({type(s).__name__ for s in found} - set(_READ))
    if other:
        return None, [RowError(name, None, None, None, f"the OFX file holds {' and '.join(other)} statements; only bank and "
                                                       "card statements (STMTRS, CCSTMTRS) are read")]
    statements = []
    for statement in found:
        account = getattr(statement, "account", None)
        account_id = getattr(account, "acctid", "") if account is not None else ""
        transactions = getattr(statement, "banktranlist", None) or []
        entries = [Entry(date=t.dtposted.date(), amount=t.trnamt, reference=(t.checknum or t.refnum or "").strip(),
                         description=" ".join(x for x in (t.name or "", t.memo or "") if x).strip(), source_id=(t.fitid or "").strip(),
                         type=t.trntype or "", counterparty=(t.name or "").strip()) for t in transactions]
        ledger = getattr(statement, "ledgerbal", None)
        statements.append(Statement(account=account_id, currency=statement.curdef or "", number="",
                                    opening=None, closing=ledger.balamt if ledger is not None else None,
                                    start=transactions.dtstart.date() if transactions and transactions.dtstart else None,
                                    end=transactions.dtend.date() if transactions and transactions.dtend else None,
                                    entries=entries))
    if not statements:
        return None, [RowError(name, None, None, None, "the OFX file holds no statement")]
    written, read_count = len(_TRANSACTION.findall(data)), sum(len(s.entries) for s in statements)
    if written != read_count:
        return None, [RowError(name, None, None, None, f"the file holds {written} STMTTRN transactions but {read_count} "
                                                       "are in a statement's transaction list; the others would be left out")]
    return statements, []
