"""OFX 1.x (SGML) and 2.x (XML) bank and card statements: ofxtools first, a lenient reading second.

ofxtools checks every element against the specification, and real exports bend it in places
that carry no money (no LEDGERBAL, an empty BALAMT, a 10-digit BANKID, elements out of order,
two STMTRS in one STMTTRNRS, several BANKTRANLIST, ``CHARSET:8859-1``, blank lines before the
header, mixed-case TRNTYPE, self-closing tags). When ofxtools refuses a file, the file is read
again by a tolerant walk over its tags that keeps only what the money needs: each STMTTRN's
amount, posting date and FITID, and the statement's account, currency, period and ledger
balance. What was tolerated is said in a warning; an amount or a posting date that cannot be
read for certain refuses the file, naming the line. Investment statements are refused.

Dates keep the statement's own calendar day: ``20260115200000[-5:EST]`` is 2026-01-15, the day
the bank booked it, not the UTC day ofxtools converts it to.

OFX gives a closing (ledger) balance but no opening balance; the continuity check against the
previous statement of the account does the work of the balance check.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
import warnings
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from connectors.statements.statement import Entry, Statement
from core.domain.findings import RowError

_READ = ("STMTRS", "CCSTMTRS")
_OTHER = {"INVSTMTRS": "an investment statement (INVSTMTRS)", "INVSTMTMSGSRSV1": "an investment statement (INVSTMTRS)",
          "BILLPAYMSGSRSV1": "bill payments (BILLPAYMSGSRSV1)", "TAX1099MSGSRSV1": "tax forms (TAX1099MSGSRSV1)"}
_STATEMENT_TAGS = re.compile(rb"<\s*(STMTRS|CCSTMTRS|INVSTMTRS|INVSTMTMSGSRSV1|BILLPAYMSGSRSV1|TAX1099MSGSRSV1)\s*>", re.IGNORECASE)
_TRANSACTION = re.compile(rb"<\s*STMTTRN\s*>", re.IGNORECASE)
_TAG = re.compile(r"<\s*(/?)\s*([A-Za-z][A-Za-z0-9_.]*)\s*(/?)\s*>")
_GROUPED = re.compile(r"[+-]?\d{1,3}( \d{3})+([.,]\d+)?")
_PLAIN = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)")


def read(data: bytes, name: str):
    """``(list[Statement] | None, errors)`` for an OFX or QFX file."""
    upper = data.upper()
    if b"<!ENTITY" in upper or b"<!DOCTYPE" in upper:
        return None, [RowError(name, None, None, None, "the OFX file declares a DTD or entities, which are refused")]
    kinds = {match.upper().decode() for match in _STATEMENT_TAGS.findall(data)}
    other = sorted({_OTHER[kind] for kind in kinds if kind in _OTHER})
    if other:
        return None, [RowError(name, None, None, None, f"the OFX file holds {' and '.join(other)}, which is not read here; "
                                                       "export the account's bank or card statement (STMTRS, CCSTMTRS) instead")]
    if not kinds:
        return None, [RowError(name, None, None, None, "the OFX file holds no bank or card statement (STMTRS or CCSTMTRS); "
                                                       "export the account's statement with its transactions")]
    walked, tolerated, errors = _walk(data, name)
    strict, refusal = _read_strictly(data)
    if strict is not None:
        statements = _with_local_dates(strict, walked)
    elif errors:
        return None, errors
    elif not walked:
        return None, [RowError(name, None, None, None, f"the file cannot be read as OFX: {refusal}; export the statement again")]
    else:
        statements = list(walked)
        reasons = tolerated or [f"the strict reader's objection: {refusal}"]
        statements[0] = statements[0]._replace(warnings=statements[0].warnings + (
            "the OFX file departs from the specification and was read leniently, keeping each transaction's amount, "
            f"date and id: {'; '.join(reasons)}",))
    if not statements:
        return None, [RowError(name, None, None, None, "the OFX file holds no statement")]
    written, read_count = len(_TRANSACTION.findall(data)), sum(len(s.entries) for s in statements)
    if written != read_count:
        return None, [RowError(name, None, None, None, f"the file holds {written} STMTTRN transactions but {read_count} "
                                                       "are in a statement's transaction list; the others would be left out")]
    return statements, []


def _read_strictly(data: bytes):
    """``(statements, None)`` as ofxtools reads them, or ``(None, its objection in one line)``."""
    from ofxtools.Parser import OFXTree  # start-up speed: ofxtools takes a quarter of a second to load; OFX files only

    tree = OFXTree()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree.parse(io.BytesIO(data))
            document = tree.convert()
            found = list(document.statements)
            statements = []
            for statement in found:
                transactions = statement.banktranlist or []
                ledger = statement.ledgerbal
                entries = [Entry(date=t.dtposted.date(), amount=t.trnamt, reference=(t.checknum or t.refnum or "").strip(),
                                 description=" ".join(x for x in (t.name or "", t.memo or "") if x).strip(),
                                 source_id=(t.fitid or "").strip(), type=t.trntype or "", counterparty=(t.name or "").strip())
                           for t in transactions]
                statements.append(Statement(account=statement.account.acctid or "", currency=statement.curdef or "", number="",
                                            opening=None, closing=ledger.balamt if ledger is not None else None,
                                            start=transactions.dtstart.date() if transactions and transactions.dtstart else None,
                                            end=transactions.dtend.date() if transactions and transactions.dtend else None,
                                            entries=entries))
    except Exception as exc:  # ofxtools raises many kinds of parse and validation errors; any one means "not strict OFX"
        return None, _one_line(exc)
    return statements, None


def _one_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else "its structure is not OFX"
    text = re.sub(r"<[^<>]* at 0x[0-9a-f]+>", "the file", text)
    text = re.sub(r"is not OneOf \([^)]*\)", "is not one of the values the specification allows", text)
    return text if len(text) <= 160 else text[:157] + "..."


def _with_local_dates(strict: list[Statement], walked: list[Statement]) -> list[Statement]:
    """ofxtools' reading, each posting date put back on the statement's own calendar day.

    ofxtools turns ``20260115200000[-5:EST]`` into 2026-01-16 01:00 UTC. The tolerant walk keeps
    the day as written; a statement is paired with the walked one holding the same account and
    the same amounts in the same order, so no date is taken from another transaction.
    """
    unused = list(walked)
    result = []
    for statement in strict:
        key = (statement.account, [e.amount for e in statement.entries])
        twin = next((w for w in unused if (w.account, [e.amount for e in w.entries]) == key), None)
        if twin is not None:
            unused.remove(twin)
            statement = statement._replace(entries=[e._replace(date=w.date) for e, w in zip(statement.entries, twin.entries)],
                                           start=twin.start or statement.start, end=twin.end or statement.end)
        result.append(statement)
    return result


class _Token(NamedTuple):
    closing: bool
    tag: str
    value: str
    line: int
    self_closing: bool


def _decode(data: bytes) -> tuple[str, list[str]]:
    """The file's text in the encoding its header or XML declaration names, and what was tolerated."""
    head = data[:data.upper().find(b"<OFX")] if b"<OFX" in data.upper() else data[:1000]
    tolerated = []
    declared = re.search(rb"encoding\s*=\s*[\"']([A-Za-z0-9_.-]+)", head)
    encoding = re.search(rb"ENCODING:\s*([A-Za-z0-9_-]+)", head)
    charset = re.search(rb"CHARSET:\s*([A-Za-z0-9_-]+)", head)
    if declared:
        candidates = [declared.group(1).decode("ascii"), "cp1252"]
    elif encoding and encoding.group(1).upper().replace(b"-", b"") == b"UTF8":
        candidates = ["utf-8", "cp1252"]
    elif charset and charset.group(1).upper() in (b"8859-1", b"ISO-8859-1", b"LATIN1", b"LATIN-1"):
        if charset.group(1).upper() == b"8859-1":
            tolerated.append("CHARSET:8859-1 read as ISO-8859-1")
        candidates = ["latin-1"]
    else:
        candidates = ["utf-8", "cp1252"]
    if re.match(rb"\s*\n\s*\n", data) or (re.match(rb"[ \t\r]*\n", data) and not data.lstrip().startswith(b"<")):
        tolerated.append("blank lines before the header")
    for candidate in candidates:
        try:
            return data.decode(candidate).lstrip("\ufeff"), tolerated
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace"), tolerated


def _tokens(text: str):
    """Every tag from ``<OFX>`` on, with the text up to the next tag and its line in the file."""
    start = max(text.upper().find("<OFX"), 0)
    line, counted = 1, 0
    matches = list(_TAG.finditer(text, start))
    for index, match in enumerate(matches):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        value = "" if match.group(3) else html.unescape(text[match.end():end]).strip()
        yield _Token(bool(match.group(1)), match.group(2).upper(), value, line, bool(match.group(3)))


def _walk(data: bytes, name: str) -> tuple[list[Statement], list[str], list[RowError]]:
    """Every STMTRS and CCSTMTRS read tolerantly: statements, what was tolerated, and what cannot be read."""
    text, tolerated = _decode(data)
    raw: list[dict] = []
    current = transaction = section = None
    per_response = 0
    for token in _tokens(text):
        tag = token.tag
        if token.self_closing:
            tolerated.append(f"self-closing <{tag}/> tags read as empty")
        if token.closing:
            if tag == "STMTTRN" or tag == "BANKTRANLIST":
                transaction = None
            elif tag in ("LEDGERBAL", "AVAILBAL", "BANKACCTFROM", "CCACCTFROM", "BALLIST"):
                section = None
            elif tag in _READ:
                current = transaction = section = None
            continue
        if tag in ("STMTTRNRS", "CCSTMTTRNRS"):
            per_response = 0
        elif tag in _READ:
            per_response += 1
            if per_response == 2:
                tolerated.append(f"several {tag} in one transaction response (line {token.line})")
            current = {"row": token.line, "entries": [], "fields": {}, "ledger": {}, "lists": 0}
            raw.append(current)
            transaction = section = None
        elif current is None:
            continue
        elif tag == "STMTTRN":
            transaction = {"row": token.line}
            current["entries"].append(transaction)
        elif tag == "BANKTRANLIST":
            current["lists"] += 1
            transaction = section = None
        elif tag in ("LEDGERBAL", "AVAILBAL", "BANKACCTFROM", "CCACCTFROM", "BALLIST"):
            transaction, section = None, tag
        elif transaction is not None:
            if tag in ("TRNAMT", "DTPOSTED") and tag in transaction and transaction[tag][0] != token.value:
                transaction.setdefault("twice", (tag, token.line))
            transaction.setdefault(tag, (token.value, token.line))
        elif section == "LEDGERBAL":
            current["ledger"].setdefault(tag, (token.value, token.line))
        elif section in ("BANKACCTFROM", "CCACCTFROM"):
            current["fields"].setdefault(tag, (token.value, token.line))
        elif section is None:
            current["fields"].setdefault(tag, (token.value, token.line))
    statements, errors = [], []
    for item in raw:
        statement, notes, problems = _statement(item, name)
        tolerated += notes
        errors += problems
        if statement is not None:
            statements.append(statement)
    return statements, list(dict.fromkeys(tolerated)), errors


def _statement(item: dict, name: str) -> tuple[Statement | None, list[str], list[RowError]]:
    fields, ledger = item["fields"], item["ledger"]
    notes, errors = [], []
    account = fields.get("ACCTID", ("", None))[0]
    if len(fields.get("BANKID", ("",))[0]) > 9:
        notes.append(f"BANKID {fields['BANKID'][0]} longer than 9 characters")
    currency = fields.get("CURDEF", ("", None))[0].upper()
    if not currency:
        notes.append(f"no currency in CURDEF (line {fields['CURDEF'][1]})" if "CURDEF" in fields else "no CURDEF")
    if item["lists"] > 1:
        notes.append(f"{item['lists']} BANKTRANLIST in one statement, read as one")
    closing = None
    if not ledger:
        notes.append(f"no LEDGERBAL in the statement of account {account or '?'}: its entries are checked against no balance")
    elif not ledger.get("BALAMT", ("",))[0]:
        notes.append(f"an empty BALAMT in LEDGERBAL (line {ledger.get('BALAMT', ('', item['row']))[1]}): "
                     "the statement's entries are checked against no balance")
    else:
        closing, note = _amount(ledger["BALAMT"][0])
        if closing is None:
            errors.append(RowError(name, ledger["BALAMT"][1], "BALAMT", ledger["BALAMT"][0],
                                   "the ledger balance is not a number that can be read for certain; correct it in the file "
                                   "or export the statement again"))
        notes += [note] if note else []
    period = {}
    for tag in ("DTSTART", "DTEND"):
        value, line = fields.get(tag, ("", None))
        period[tag] = _date(value)
        if value and period[tag] is None:
            notes.append(f"{tag} {value} (line {line}) is not an OFX date, so the period is left open")
    if ledger.get("DTASOF", ("",))[0] and _date(ledger["DTASOF"][0]) is None:
        notes.append(f"DTASOF {ledger['DTASOF'][0]} in LEDGERBAL is not a date")
    entries = []
    for transaction in item["entries"]:
        entry, entry_notes, entry_errors = _entry(transaction, name)
        notes += entry_notes
        errors += entry_errors
        if entry is not None:
            entries.append(entry)
    if errors:
        return None, notes, errors
    return Statement(account=account, currency=currency, number="", opening=None, closing=closing, start=period["DTSTART"],
                     end=period["DTEND"], entries=entries, row=item["row"]), notes, []


def _entry(transaction: dict, name: str) -> tuple[Entry | None, list[str], list[RowError]]:
    def value(tag: str) -> str:
        return transaction.get(tag, ("", None))[0]

    notes, errors = [], []
    if "twice" in transaction:
        tag, line = transaction["twice"]
        return None, notes, [RowError(name, line, tag, None, f"the transaction starting on line {transaction['row']} gives two "
                                      f"different {tag} values, so its money is not certain; correct it in the file")]
    amount_text, amount_line = transaction.get("TRNAMT", ("", transaction["row"]))
    amount, note = _amount(amount_text)
    if amount is None:
        errors.append(RowError(name, amount_line, "TRNAMT", amount_text or None,
                               f"the transaction {value('FITID') or 'starting on line ' + str(transaction['row'])} has "
                               f"{'an amount that cannot be read for certain' if amount_text else 'no amount'}; "
                               "correct it in the file or export the statement again"))
    notes += [note] if note else []
    posted_text, posted_line = transaction.get("DTPOSTED", ("", transaction["row"]))
    posted = _date(posted_text)
    if posted is None:
        errors.append(RowError(name, posted_line, "DTPOSTED", posted_text or None,
                               f"the transaction {value('FITID') or 'starting on line ' + str(transaction['row'])} has "
                               f"{'a posting date that is not a date (YYYYMMDD)' if posted_text else 'no posting date'}; "
                               "correct it in the file or export the statement again"))
    kind = value("TRNTYPE")
    if kind and kind != kind.upper():
        notes.append(f"TRNTYPE {kind} in mixed case")
    if "FITID" in transaction and not value("FITID"):
        notes.append("transactions with an empty FITID")
    if errors:
        return None, notes, errors
    name_text = value("NAME")
    return Entry(date=posted, amount=amount, reference=(value("CHECKNUM") or value("CHKNUM") or value("REFNUM")).strip(),
                 description=" ".join(x for x in (name_text, value("MEMO")) if x).strip(), source_id=value("FITID"),
                 type=kind.upper(), counterparty=name_text), notes, []


def _amount(text: str) -> tuple[Decimal | None, str | None]:
    """An OFX amount, or ``None`` when it cannot be read for certain; and what was tolerated.

    The specification allows a point or a comma as the decimal mark. Tolerated: a leading plus
    sign, and spaces grouping thousands in threes (``+1 006,60``). Anything else (currency
    signs, both a point and a comma, irregular groups) is not guessed at.
    """
    compact = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    note = None
    if _GROUPED.fullmatch(compact):
        note = "amounts written with spaces between thousands"
        compact = compact.replace(" ", "")
    if not _PLAIN.fullmatch(compact):
        return None, None
    if compact.startswith("+"):
        note = note or "amounts written with a plus sign"
    try:
        return Decimal(compact.replace(",", ".")), note
    except InvalidOperation:
        return None, None


def _date(text: str) -> dt.date | None:
    """The calendar day an OFX date names as written (a time and time zone after it do not move it)."""
    written = (text or "").strip()
    if not re.fullmatch(r"\d{8}(\d{4}(\d{2}(\.\d{1,3})?)?)?(\s*\[[^\]]*\])?", written):
        return None
    try:
        return dt.date(int(written[:4]), int(written[4:6]), int(written[6:8]))
    except ValueError:
        return None
