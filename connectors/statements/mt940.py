"""SWIFT MT940, read with the mt-940 library; several statements in one file, :86: subfields.

Each statement starts at a ``:20:`` line and is parsed on its own, so a file of many
statements keeps each one's balances. References: the end-to-end reference (``EREF+``), else
the customer reference unless ``NONREF``, else the bank reference.
"""

from __future__ import annotations

import logging
import re

import mt940

from connectors.statements import Entry, Statement
from connectors.statements.text import decode
from core.records import RowError

_START = re.compile(r"^:20:", re.MULTILINE)
# The library logs each tag it cannot parse; the finding reported here says it instead.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


def read(data: bytes, name: str):
    text, errors = decode(data, name)
    if text is None:
        return None, errors
    text = text.replace("\r\n", "\n")
    starts = [m.start() for m in _START.finditer(text)]
    if not starts:
        return None, [RowError(name, None, None, None, "no :20: statement header; this is not an MT940 file")]
    statements, errors = [], []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        block = text[start:end]
        row = text.count("\n", 0, start) + 1
        try:
            parsed = mt940.models.Transactions()
            parsed.parse(block)
        except Exception as exc:  # the library raises bare exceptions for malformed tags
            errors.append(RowError(name, row, None, None, f"statement cannot be read as MT940 ({type(exc).__name__}: {exc})"))
            continue
        info = parsed.data
        opening, closing = info.get("final_opening_balance"), info.get("final_closing_balance")
        if opening is None or closing is None:
            errors.append(RowError(name, row, ":60F:/:62F:", None, "the statement lacks its opening (:60F:) or closing (:62F:) balance"))
            continue
        entries = []
        for transaction in parsed:
            details = transaction.data
            reference = details.get("end_to_end_reference") or ""
            customer = details.get("customer_reference") or ""
            if not reference and customer and customer.upper() != "NONREF":
                reference = customer
            reference = reference or details.get("bank_reference") or ""
            description = " ".join(str(details.get(k) or "") for k in ("purpose", "additional_purpose", "transaction_details",
                                                                        "posting_text") if details.get(k)).strip()
            entries.append(Entry(date=_date(details["date"]), amount=details["amount"].amount, reference=reference.strip(),
                                 description=description, source_id=(details.get("bank_reference") or "").strip(),
                                 entry_date=_date(details.get("entry_date")) if details.get("entry_date") else None,
                                 type=details.get("id") or "", counterparty=(details.get("applicant_name") or "").strip()))
        statements.append(Statement(account=(info.get("account_identification") or "").strip(), currency=opening.amount.currency,
                                    number="/".join(x for x in (info.get("statement_number"), info.get("sequence_number")) if x),
                                    opening=opening.amount.amount, closing=closing.amount.amount, start=_date(opening.date),
                                    end=_date(closing.date), entries=entries, row=row))
    return (statements if not errors else None), errors


def _date(value):
    import datetime as dt

    return dt.date(value.year, value.month, value.day)
