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

Bank variants the library ships are tried in turn: the standard ``:61:`` layout, then ASN
Bank's (a 34-character customer reference), then GLS's (a reference of any length); a
variant is kept only when every entry is read as written and the balances close. A ``:61:``
line without a transaction type code is one entry (the library would merge it into the
next), and an empty statement number (``:28C: /1``) is read as none. A statement over
several pages (``:62M:`` then ``:60M:``) is joined into one when the pages chain. A reversed
credit (``RC``) is money out, a reversed debit (``RD``) money in.
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

# Reversal marks signed as money moved; ?31 subfields read as the counterparty's IBAN.
_OPTIONS = mt940.Options(reversal_sign=True, applicant_iban=True)
# Stands for a missing type code, so the library starts a new entry at every :61: line.
_NO_TYPE = "\x00"


class _StatementNumber(mt940.tags.StatementNumber):
    """``:28C:`` with an empty or blank statement number (``:28C: /1``), or wrapped on two lines."""

    pattern = r"""\s*(?P<statement_number>\d{0,5})\s*(?:/\s*(?P<sequence_number>\d{0,5}))?\s*$"""


def _typeless(base: type) -> mt940.tags.Tag:
    """``base`` (a ``:61:`` layout) giving a line without a type code one of its own."""
    def call(self, transactions, value):
        data = base.__call__(self, transactions, value)
        if not data.get("id"):
            data["id"] = _NO_TYPE
        return data

    # Named as the standard tag: the library files entries and runs its date fix-ups by that name.
    return type("Statement", (base,), {"__call__": call})()


_VARIANTS = (("", _typeless(mt940.tags.Statement)), ("ASN Bank", _typeless(mt940.tags.StatementASNB)),
             ("GLS", _typeless(mt940.tags.StatementGLS)))
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
# A :61: line's amount and a :60:/:62: balance (final, intermediate or plain) with its
# currency, found as the library finds them, read whole.
_ENTRY = re.compile(r"^:61:\d{6}(?:\d{2}|\s{2})?(?:\d{2}|\s{2})?R?[DC][A-Z]?[\n ]?([\d,]*)", re.MULTILINE)
_BALANCE = re.compile(r"^:(6[02])([FM]?):[DC]\d{6}(.{3})([\d,]*)", re.MULTILINE)
_CURRENCY = re.compile(r"[A-Z]{3}")
_LABEL_ONLY = re.compile(r"[A-Z]{4}\+")
# An MT942 interim report: a floor limit (:34F:) and a date-time (:13D:), no balances.
_INTERIM = re.compile(r"^:(?:34F|13D|13):|\{2:[IO]942", re.MULTILINE)
_ANY_BALANCE = re.compile(r"^:6[02][FM]?:", re.MULTILINE)
# Before the first statement, a line shaped as a tag that is none (``:9401:``): a tag is two
# digits and an optional letter. Rabobank's exports open with the message type, ``:940:``.
_NOT_A_TAG = re.compile(r"^:(?!940:)\d{3,}:", re.MULTILINE)
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
    if _INTERIM.search(text) and not _ANY_BALANCE.search(text):
        return None, [RowError(name, None, None, None, "the file is an MT942 interim report, not a statement (MT940): it carries "
                                                       "no opening and closing balances to check its entries against; import the "
                                                       "bank's MT940 statement for the day instead")]
    starts = [m.start() for m in _START.finditer(text)]
    if not starts:
        return None, [RowError(name, None, None, None, "no :20: statement header at the start of a line: this is a fragment of "
                                                     "SWIFT text, not a whole MT940 statement; export the whole statement again")]
    stray = _NOT_A_TAG.search(text, 0, starts[0])
    if stray:
        return None, [_refusal(name, text, stray.start(), f"{stray.group()} is not an MT940 tag; the file is not an MT940 statement")]
    before = _ANY_TAG.search(text, 0, starts[0])
    if before:
        damaged = _DAMAGED_HEADER.search(text, 0, before.start())
        if damaged:
            return None, [_refusal(name, text, damaged.start(), _HEADER_NOT_AT_START)]
        return None, [_refusal(name, text, before.start(), f"tag {before.group()} comes before the first statement header (:20:)")]
    pages, errors = [], []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else len(text)
        block = text[start:end]
        row = text.count("\n", 0, start) + 1
        page, problem = _read_block(block, row)
        if problem is not None:
            offset, column, reason = problem
            errors.append(_refusal(name, text, start + offset, reason, column))
        else:
            pages.append(page)
    if errors:
        return None, errors
    return _chain(pages, name)


def _read_block(block: str, row: int):
    """``(page, None)`` for one statement block, or ``(None, (offset in block, column, reason))``.

    The bank variants are tried in turn; the first problem (the standard layout's) is the one
    reported when none reads the block whole.
    """
    first = None
    for variant, tag in _VARIANTS:
        tags = {28: _StatementNumber(), "28C": _StatementNumber(), 61: tag}
        try:
            parsed = mt940.models.Transactions(tags=tags, options=_OPTIONS)
            parsed.parse(block)
        except Exception as exc:  # the library raises bare exceptions for malformed tags
            first = first or _library_problem(block, exc)
            continue
        page, problem = _page(block, parsed, row, variant)
        if problem is None:
            return page, None
        first = first or problem
    return None, first


def _page(block: str, parsed, row: int, variant: str):
    info = parsed.data
    opening = info.get("final_opening_balance") or info.get("intermediate_opening_balance") or info.get("opening_balance")
    closing = info.get("final_closing_balance") or info.get("intermediate_closing_balance") or info.get("closing_balance")
    if opening is None or closing is None:
        missing = ":60F:/:60M:" if opening is None else ":62F:/:62M:"
        return None, (0, missing, f"the statement lacks its {'opening' if opening is None else 'closing'} balance ({missing}); "
                                  "export the whole statement again")
    unread = _unaccounted(block, parsed, opening.amount, closing.amount)
    if unread is not None:
        return None, (unread[0], unread[2], unread[1])
    entries = []
    for transaction in parsed:
        details = transaction.data
        reference = details.get("end_to_end_reference") or ""
        # A :61: reference that is only a label (``KREF+``) points at the :86: value, which the
        # library appends on a line of its own.
        customer = " ".join(part.strip() for part in (details.get("customer_reference") or "").split("\n")
                            if part.strip() and not _LABEL_ONLY.fullmatch(part.strip()))
        if not reference and customer and customer.upper() != "NONREF":
            reference = customer
        reference = reference or details.get("bank_reference") or ""
        description = " ".join(str(details.get(k) or "") for k in ("purpose", "additional_purpose", "transaction_details",
                                                                    "posting_text") if details.get(k)).strip()
        kind = details.get("id") or ""
        entries.append(Entry(date=_date(details["date"]), amount=details["amount"].amount, reference=reference.strip(),
                             description=description, source_id=(details.get("bank_reference") or "").strip(),
                             entry_date=_date(details.get("entry_date")) if details.get("entry_date") else None,
                             type="" if kind == _NO_TYPE else kind, counterparty=(details.get("applicant_name") or "").strip()))
    if variant and opening.amount.amount + sum(e.amount for e in entries) != closing.amount.amount:
        return None, (0, None, f"the statement's balances do not close when read with the {variant} layout")
    statement = Statement(account=(info.get("account_identification") or "").strip(), currency=opening.amount.currency,
                          number="/".join(x for x in (info.get("statement_number"), info.get("sequence_number")) if x),
                          opening=opening.amount.amount, closing=closing.amount.amount, start=_date(opening.date),
                          end=_date(closing.date), entries=entries, row=row,
                          warnings=(f"statement on row {row} read with the {variant} layout of :61: lines",) if variant else ())
    intermediate = (info.get("final_opening_balance") is None and info.get("intermediate_opening_balance") is not None,
                    info.get("final_closing_balance") is None and info.get("intermediate_closing_balance") is not None)
    return (statement, intermediate), None


def _chain(pages: list, name: str):
    """Join a statement's pages: one closing on :62M: and the next opening on :60M: of the same account."""
    statements, errors = [], []
    for index, (page, (opens_mid, closes_mid)) in enumerate(pages):
        previous = pages[index - 1] if index else None
        follows = previous is not None and previous[1][1] and opens_mid and (previous[0].account, previous[0].currency) == (
            page.account, page.currency)
        if follows:
            if statements[-1].closing != page.opening:
                errors.append(RowError(name, page.row, ":60M:", str(page.opening),
                                       f"the intermediate opening balance {page.opening} does not continue the previous page's "
                                       f"closing balance {statements[-1].closing} (:62M:); a page of the statement is missing"))
                continue
            joined = statements[-1]
            statements[-1] = joined._replace(closing=page.closing, end=page.end, entries=joined.entries + page.entries,
                                             warnings=joined.warnings + page.warnings)
            continue
        if opens_mid:
            page = page._replace(warnings=page.warnings + (f"the statement on row {page.row} starts on an intermediate "
                                                           "balance (:60M:): its earlier pages are not in this file",))
        statements.append(page)
        if closes_mid and not (index + 1 < len(pages) and pages[index + 1][1][0]):
            statements[-1] = page._replace(warnings=page.warnings + (f"the statement on row {page.row} ends on an intermediate "
                                                                     "balance (:62M:): its later pages are not in this file",))
    return (statements if not errors else None), errors


def _library_problem(block: str, exc: Exception) -> tuple[int, str | None, str]:
    """Where and why the library stopped, in words (its message quotes its own objects)."""
    args = exc.args[0] if exc.args and isinstance(exc.args[0], tuple) else exc.args
    tag = next((a for a in args if isinstance(a, mt940.tags.Tag)), None)
    value = next((a for a in args[1:] if isinstance(a, str)), None)
    if tag is None or value is None:
        return 0, None, f"the statement does not follow the MT940 layout ({type(exc).__name__})"
    found = block.find(value)
    label = f":{tag.id}:"
    shown = value.split("\n", 1)[0][:40]
    return max(found, 0), label, f"the {label} field {shown!r} does not follow the MT940 layout; ask the bank for a standard MT940 export"


def _unaccounted(block: str, parsed, opening, closing) -> tuple[int, str, str | None] | None:
    """Where the library's reading of a statement differs from its text: ``(offset in block, reason, tag)``.

    Every ``:61:`` line must be one entry read with the amount its text shows, in order, and
    the statement must hold one opening and one closing balance (final or intermediate), read
    as written, in one currency.
    """
    balances: dict[str, list[re.Match]] = {"60": [], "62": []}
    for match in _BALANCE.finditer(block):
        balances[match.group(1)].append(match)
    for tag, read in (("60", opening), ("62", closing)):
        found = balances[tag]
        if len(found) > 1:
            damaged = _DAMAGED_HEADER.search(block, 1, found[1].start())
            if damaged:
                return damaged.start(), _HEADER_NOT_AT_START, ":20:"
            return found[1].start(), (f"a second :{tag}{found[1].group(2)}: balance before the next statement header; "
                                      "is the :20: line before it damaged?"), f":{tag}{found[1].group(2)}:"
        if found:
            label = f":{tag}{found[0].group(2)}:"
            if not _CURRENCY.fullmatch(found[0].group(3)):
                written = found[0].group(3)
                return found[0].start(), f"{label} balance has no currency code (it reads {written!r} where the code belongs)", label
            if found[0].group(3) != opening.currency:
                return found[0].start(), f"{label} balance is in {found[0].group(3)} but the statement opens in {opening.currency}", label
            problem = _amount_problem(found[0].group(4), read.amount)
            if problem:
                return found[0].start(), f"{label} balance {problem}", label
    lines = list(_ENTRY.finditer(block))
    for match in lines:
        try:
            decimal_from_text(match.group(1).replace(",", "."))
        except AmountError as exc:
            return match.start(), f"the entry amount {match.group(1)[:40]!r} cannot be read: {exc}", ":61:"
    written = len(re.findall(r"^:61:", block, re.MULTILINE))
    transactions = list(parsed)
    if written != len(lines) or written != len(transactions):
        return 0, f"the statement has {written} :61: entry lines but {len(transactions)} entries were read", ":61:"
    for match, transaction in zip(lines, transactions):
        problem = _amount_problem(match.group(1), transaction.data["amount"].amount)
        if problem:
            return match.start(), f"entry amount {problem}", ":61:"
    return None


def _amount_problem(written: str, read: Decimal) -> str | None:
    try:
        value = decimal_from_text(written.replace(",", "."))
    except AmountError as exc:
        return f"{written[:40]!r} cannot be read: {exc}"
    if value != abs(read):
        return f"{written[:40]!r} is read as {abs(read)}"
    return None


def _refusal(name: str, text: str, offset: int, reason: str, column: str | None = None) -> RowError:
    row = text.count("\n", 0, offset) + 1
    line = text[text.rfind("\n", 0, offset) + 1:].split("\n", 1)[0]
    return RowError(name, row, column, line[:60], f"the file cannot be read as MT940 whole: {reason}")


def _date(value):
    return dt.date(value.year, value.month, value.day)
