"""BAI2 cash management files, read with the bai2 library (record counts and control totals
checked), several groups and accounts per file.

The records are put in the shape the specification gives before the library reads them:
``88`` continuations joined (the library would glue a summary's type code to the next
amount), several records on one line split, empty availability amounts defaulted, a
four-digit year in the file header shortened. The library is kept for its type codes and its
integrity checks, which still see every record.

Amounts carry no decimal point: they are in the currency's minor unit. Detail type codes
say credit or debit (1xx-3xx credits, 4xx-6xx debits); balances come from the account's
summary codes 010 (opening ledger) and 015 (closing ledger).
"""

from __future__ import annotations

import re
from decimal import Decimal

from bai2 import bai2 as library
from bai2.constants import TypeCodeTransaction

from connectors.statements.statement import Entry, Statement
from connectors.statements.text import decode
from core.domain.findings import RowError
from core.domain.money import currency_places


def _money(value, currency: str) -> Decimal | None:
    if value is None or value == "":
        return None
    # Built from text, exactly: scaleb would round a long number to the context's precision.
    return Decimal(f"{int(value)}E-{currency_places(currency)}")


_RECORD = re.compile(r"^(01|02|03|16|88|49|98|99),")
# Where a record holds an amount (a detail's, a control total); references may be long numbers.
_AMOUNT_FIELD = {"16": 2, "49": 1, "98": 1, "99": 1}
_MAX_AMOUNT_DIGITS = 18


def _structure_problem(lines: list[str]) -> tuple[int | None, str] | None:
    """Where the record structure is broken (the library would not stop on some of these)."""
    if not lines:
        return None, "the file is empty"
    depth = {"01": 0, "02": 0, "03": 0}
    opened = {"99": "01", "98": "02", "49": "03"}
    for number, line in enumerate(lines, start=1):
        match = _RECORD.match(line)
        if not match:
            start = "; a BAI2 file starts with a 01 file header record" if number == 1 else ""
            return number, f"line {number} is not a BAI2 record ({line[:20]!r}){start}"
        code = match.group(1)
        if code in _AMOUNT_FIELD:
            fields = line.rstrip("/").split(",")
            amount = fields[_AMOUNT_FIELD[code]].lstrip("+-") if len(fields) > _AMOUNT_FIELD[code] else ""
            if len(amount) > _MAX_AMOUNT_DIGITS:
                return number, f"line {number} holds an amount of {len(amount)} digits, more than an amount can have"
        if code in depth:
            depth[code] += 1
        elif code in opened:
            if depth[opened[code]] == 0:
                return number, f"record {code} on line {number} closes nothing"
            depth[opened[code]] -= 1
        elif depth["03"] == 0 and code in ("16", "88") and not (code == "88" and number > 1):
            return number, f"detail record {code} on line {number} is outside an account"
    if lines[0][:2] != "01" or lines[-1][:2] != "99" or any(depth.values()):
        return len(lines), "the file is cut short: a group, account or file trailer (49, 98, 99) is missing"
    return None


# Several records on one line: a record ends at its slash.
_SEVERAL_RECORDS = re.compile(r"(?<=/)(?=(?:01|02|03|16|49|88|98|99),)")
# Where a trailer holds the number of records in its account (49), group (98) or file (99).
_RECORD_COUNT = {"49": (2, "03"), "98": (3, "02"), "99": (3, "01")}


def _joined(lines: list[str]) -> list[str]:
    """The records with their ``88`` continuations joined as the specification says.

    A continuation after a record ending in ``/`` starts a new field (the slash ends the last
    one); after a record without it (a detail's text) the text goes on. The library glues a
    summary's type code to the next amount instead, so the records are joined here, and each
    trailer's record count is reduced by the continuations joined in its scope: the library
    still checks the counts exactly. An empty availability amount (a defaulted field) is 0.
    """
    records: list[str] = []
    joined = {"01": 0, "02": 0, "03": 0}
    for line in lines:
        code = line[:2]
        if code == "88" and records:
            rest, previous = line[3:], records[-1]
            if previous.startswith("03,") and previous.endswith("/") and _extra_comma(previous[:-1]):
                records[-1] = previous[:-1] + rest
            elif previous.endswith("/"):
                records[-1] = previous[:-1] + "," + rest
            else:
                records[-1] = previous + " " + rest
            for scope in joined:
                joined[scope] += 1
            continue
        if code in joined:
            joined[code] = 0
            if code == "01":
                line = _short_date(line)
        if code in _RECORD_COUNT:
            index, scope = _RECORD_COUNT[code]
            fields = line.rstrip("/").split(",")
            if len(fields) > index and fields[index].strip().isdigit():
                fields[index] = str(int(fields[index]) - joined[scope])
                line = ",".join(fields) + ("/" if line.endswith("/") else "")
        records.append(line)
    return [_default_availability(record) if record.startswith(("03,", "16,")) else record for record in records]


def _summaries(fields: list[str]) -> tuple[list[tuple[int, int]], int]:
    """The account record's summaries as ``(start, length)`` in ``fields``, and where they end.

    A summary is a type code, an amount, an item count and a funds type, followed by the
    availability the funds type calls for (``S``: three amounts, ``V``: a date and a time,
    ``D``: a count and that many day/amount pairs).
    """
    found, at = [], 0
    while at + 4 <= len(fields):
        length = 4 + _availability_length(fields, at + 3)
        if at + length > len(fields):
            break
        found.append((at, length))
        at += length
    return found, at


def _availability_length(fields: list[str], funds_at: int) -> int:
    funds = fields[funds_at].strip().upper()
    if funds == "D":
        count = fields[funds_at + 1].strip() if funds_at + 1 < len(fields) else ""
        return 1 + 2 * int(count) if count.isdigit() else 1
    return {"S": 3, "V": 2}.get(funds, 0)


def _extra_comma(account: str) -> bool:
    """Whether an account record's text ends in a comma of its own after whole summaries.

    Some banks end a record that holds whole summaries with one more comma before the slash;
    that comma is the separator, so the continuation follows it directly.
    """
    fields = account.split(",")[3:]
    _, end = _summaries(fields)
    return len(fields) - end == 1 and fields[-1] == ""


def _short_date(header: str) -> str:
    """A file header's creation date written YYYYMMDD, as the YYMMDD the specification gives."""
    fields = header.split(",")
    if len(fields) > 3 and re.fullmatch(r"(?:19|20)\d{6}", fields[3]):
        fields[3] = fields[3][2:]
    return ",".join(fields)


def _default_availability(record: str) -> str:
    """Availability amounts left empty (defaulted fields) in a detail or an account's summaries: 0.

    Availability says when funds can be used, never how much moved; the library cannot read
    an empty one.
    """
    slash = "/" if record.endswith("/") else ""
    fields = record[:-1].split(",") if slash else record.split(",")
    if record.startswith("16,"):
        funds = [(3, 4 + _availability_length(fields, 3))] if len(fields) > 3 else []
    else:
        summaries, _ = _summaries(fields[3:])
        funds = [(3 + start + 3, 3 + start + length) for start, length in summaries]
    for at, end in funds:
        if fields[at].strip().upper() in ("S", "D"):
            fields[at + 1:end] = [field or "0" for field in fields[at + 1:end]]
    return ",".join(fields) + slash


_INTEGRITY = re.compile(r"Invalid (number of records|account control total|group control total|control total|number of accounts|"
                        r"number of groups) for (\w+)\. expected (-?\d+), found (-?\d+)")
_TRAILER = {"Account": "account trailer (49)", "Group": "group trailer (98)", "Bai2File": "file trailer (99)"}


def _library_problem(exc: Exception) -> str:
    """The library's complaint in words; a record count is given as how far off it is, as
    continuations joined here change the library's own figures, not the difference."""
    match = _INTEGRITY.search(str(exc))
    if not match:
        invalid = re.fullmatch(r"('.*') is not a valid (\w+)", str(exc))
        if invalid:
            field = re.sub(r"(?<!^)(?=[A-Z])", " ", invalid.group(2)).lower()
            return f"a {field} field holds {invalid.group(1)}, which BAI2 does not allow; ask the bank for the file again"
        return f"{exc}; ask the bank for the file again"
    what, level, said, found = match.group(1), _TRAILER.get(match.group(2), match.group(2)), int(match.group(3)), int(match.group(4))
    if what == "number of records":
        return (f"the {level} counts {abs(found - said)} record(s) {'fewer' if found > said else 'more'} than the file holds; "
                "the file is incomplete or altered")
    return f"the {level} gives {what} {said} but the file holds {found}; the file is incomplete or altered"


def read(data: bytes, name: str):
    text, errors = decode(data, name)
    if text is None:
        return None, errors
    lines = [record for line in text.replace("\r\n", "\n").split("\n") if line.strip()
             for record in _SEVERAL_RECORDS.split(line.strip())]
    problem = _structure_problem(lines)
    if problem is not None:
        return None, [RowError(name, problem[0], None, None, f"the file cannot be read as BAI2: {problem[1]}")]
    if not lines[0].startswith("01,"):
        return None, [RowError(name, 1, None, lines[0][:20], "the file does not start with a 01 file header record; it is not a "
                                                            "whole BAI2 file")]
    try:
        parsed = library.parse_from_string("\n".join(_joined(lines)), check_integrity=True)
    except Exception as exc:  # the library raises its own exception types and plain ones for malformed records
        return None, [RowError(name, None, None, None, f"the file cannot be read as BAI2: {_library_problem(exc)}")]
    statements = []
    for group in parsed.children:
        as_of = group.header.as_of_date
        group_currency = group.header.currency or "USD"
        for account in group.children:
            currency = account.header.currency or group_currency
            summary = {item.type_code.code: item.amount for item in account.header.summary_items if item.type_code}
            entries = []
            for detail in account.children:
                amount = _money(detail.amount, currency) or Decimal(0)
                direction = detail.type_code.transaction if detail.type_code else None
                if direction == TypeCodeTransaction.debit:
                    amount = -amount
                elif direction != TypeCodeTransaction.credit and amount:
                    code = detail.type_code.code if detail.type_code else "(none)"
                    return None, [RowError(name, None, "type code", code, f"account {account.header.customer_account_number}: "
                                           f"detail type code {code} says neither credit nor debit, but the record holds the amount "
                                           f"{amount}; ask the bank which way the money went")]
                entries.append(Entry(date=as_of, amount=amount, reference=(detail.customer_reference or detail.bank_reference or "").strip(),
                                     description=" ".join((detail.text or "").split()), source_id=(detail.bank_reference or "").strip(),
                                     type=detail.type_code.code if detail.type_code else ""))
            statements.append(Statement(account=account.header.customer_account_number, currency=currency,
                                        number=f"{group.header.as_of_date:%Y%m%d}", opening=_money(summary.get("010"), currency),
                                        closing=_money(summary.get("015"), currency), start=as_of, end=as_of, entries=entries))
    if not statements:
        return None, [RowError(name, None, None, None, "the BAI2 file holds no account")]
    written, read_count = sum(line.startswith("16,") for line in lines), sum(len(s.entries) for s in statements)
    if written != read_count:
        return None, [RowError(name, None, None, None, f"the file holds {written} detail (16) records but {read_count} were read")]
    return statements, []
