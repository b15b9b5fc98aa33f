"""SWIFT MT940, read with the mt-940 library; several statements in one file, :86: subfields.

Each statement starts at a ``:20:`` line and is parsed on its own, so a file of many
statements keeps each one's balances. References: the end-to-end reference (``EREF+``), else
the customer reference unless ``NONREF``, else the bank reference.

The library skips what it does not recognise as a tag (a tag is a line starting with
``:NN:``), so a damaged line would lose an entry or a whole statement without a word. Every
entry is accounted for instead. What is harmless is normalised first: byte-order marks,
blanks and control characters before a tag. Then a tag not at the start of a line, a tag
before the first ``:20:``, a second balance in one statement, or an amount the library read
differently from the text (or not at all) refuses the file, naming the line.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from decimal import Decimal

import mt940

from connectors.statements.statement import Entry, Statement
from connectors.statements.text import decode
from core.domain.findings import RowError
from core.domain.money import AmountError, decimal_from_text

_START = re.compile(r"^:20:", re.MULTILINE)
# Blanks, byte-order marks and control characters (a DOS end-of-file mark between joined
# files) before a tag hide it from the library; they carry nothing, so they are dropped.
_BLANKS_BEFORE_TAG = re.compile(r"^[ \t\ufeff\x00-\x08\x0b-\x1f]+(?=:(?:\d{2}[A-Z]?|NS):)", re.MULTILINE)
_ANY_TAG = re.compile(r"^:(?:\d{2}[A-Z]?|NS):", re.MULTILINE)
# Tags that must start a line. ``:20:`` is left out here as it also occurs in times of day
# (``14:20:05``); a damaged ``:20:`` line shows as tags before the first statement or as a
# second balance in one statement. No time of day holds :60:, :61: or :62:.
# A statement header behind a few stray characters, which hide it from the library.
_DAMAGED_HEADER = re.compile(r"^[^\n:]{1,3}:20:", re.MULTILINE)
_HEADER_NOT_AT_START = "the statement header :20: does not start its line (stray characters before it), so the statement cannot be found"
_MISPLACED = re.compile(r"(?<=[^\n]):(?:61|6[02][FM]):")
# A :61: line's amount and a :60F:/:62F: balance, found as the library finds them, read whole.
_ENTRY = re.compile(r"^:61:\d{6}(?:\d{2}|\s{2})?(?:\d{2}|\s{2})?R?[DC][A-Z]?[\n ]?([\d,]*)", re.MULTILINE)
_BALANCE = re.compile(r"^:(6[02]F):[DC]\d{6}.{3}([\d,]*)", re.MULTILINE)
# The library logs each tag it cannot parse; the finding reported here says it instead.
logging.getLogger("mt940").setLevel(logging.CRITICAL)


def read(data: bytes, name: str):
    text, errors = decode(data, name)
    if text is None:
        return None, errors
    text = _BLANKS_BEFORE_TAG.sub("", text.replace("\r\n", "\n"))
    misplaced = _MISPLACED.search(text)
    if misplaced:
        return None, [_refusal(name, text, misplaced.start(), f"{misplaced.group()} is not at the start of the line")]
    starts = [m.start() for m in _START.finditer(text)]
    if not starts:
        return None, [RowError(name, None, None, None, "no :20: statement header at the start of a line; this is not an MT940 file")]
    before = _ANY_TAG.search(text, 0, starts[0])
    if before:
        damaged = _DAMAGED_HEADER.search(text, 0, before.start())
        if damaged:
            return None, [_refusal(name, text, damaged.start(), _HEADER_NOT_AT_START)]
        return None, [_refusal(name, text, before.start(), f"tag {before.group()} comes before the first statement header (:20:)")]
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
        unread = _unaccounted(block, parsed, opening.amount.amount, closing.amount.amount)
        if unread is not None:
            errors.append(_refusal(name, text, start + unread[0], unread[1]))
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


def _unaccounted(block: str, parsed, opening: Decimal, closing: Decimal) -> tuple[int, str] | None:
    """Where the library's reading of a statement differs from its text: ``(offset in block, reason)``.

    Every ``:61:`` line must be one entry read with the amount its text shows, in order, and
    the statement must hold one opening and one closing balance, read as written.
    """
    balances: dict[str, list[re.Match]] = {"60F": [], "62F": []}
    for match in _BALANCE.finditer(block):
        balances[match.group(1)].append(match)
    for tag, read in (("60F", opening), ("62F", closing)):
        found = balances[tag]
        if len(found) > 1:
            damaged = _DAMAGED_HEADER.search(block, 1, found[1].start())
            if damaged:
                return damaged.start(), _HEADER_NOT_AT_START
            return found[1].start(), f"a second :{tag}: balance before the next statement header; is the :20: line before it damaged?"
        if found:
            problem = _amount_problem(found[0].group(2), read)
            if problem:
                return found[0].start(), f":{tag}: balance {problem}"
    lines = list(_ENTRY.finditer(block))
    for match in lines:
        try:
            decimal_from_text(match.group(1).replace(",", "."))
        except AmountError as exc:
            return match.start(), f"the entry amount {match.group(1)[:40]!r} cannot be read: {exc}"
    written = len(re.findall(r"^:61:", block, re.MULTILINE))
    transactions = list(parsed)
    if written != len(lines) or written != len(transactions):
        return 0, f"the statement has {written} :61: entry lines but {len(transactions)} entries were read"
    for match, transaction in zip(lines, transactions):
        problem = _amount_problem(match.group(1), transaction.data["amount"].amount)
        if problem:
            return match.start(), f"entry amount {problem}"
    return None


def _amount_problem(written: str, read: Decimal) -> str | None:
    try:
        value = decimal_from_text(written.replace(",", "."))
    except AmountError as exc:
        return f"{written[:40]!r} cannot be read: {exc}"
    if value != abs(read):
        return f"{written[:40]!r} is read as {abs(read)}"
    return None


def _refusal(name: str, text: str, offset: int, reason: str) -> RowError:
    row = text.count("\n", 0, offset) + 1
    line = text[text.rfind("\n", 0, offset) + 1:].split("\n", 1)[0]
    return RowError(name, row, None, line[:60], f"the file cannot be read as MT940 whole: {reason}")


def _date(value):
    return dt.date(value.year, value.month, value.day)
