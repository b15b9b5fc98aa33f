"""ISO 20022 CAMT.053 (bank to customer statement), any version, parsed with defusedxml.

defusedxml refuses DTDs with entities, external references and entity expansion, so a
hostile file cannot read local files or exhaust memory. Booked entries are imported; pending
ones are left out with a warning. An entry with several ``TxDtls`` whose amounts add up to it
becomes one row per transaction. A reversal (``RvslInd`` true) keeps the sign its ``CdtDbtInd``
gives: ISO 20022 sets the indicator to the direction of the reversing entry itself (a returned
debit is booked ``CRDT``), so turning it around again would book the money the wrong way.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from connectors.statements.statement import Entry, Statement
from core.domain.findings import RowError
from core.domain.money import AmountError, decimal_from_text


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node, path: str):
    for part in path.split("/"):
        if node is None:
            return None
        node = next((child for child in node if _local(child.tag) == part), None)
    return node


def _all(node, name: str):
    return [child for child in node if _local(child.tag) == name] if node is not None else []


def _text(node, path: str) -> str:
    found = _find(node, path)
    return (found.text or "").strip() if found is not None else ""


def _date(node, path: str) -> dt.date | None:
    found = _find(node, path)
    if found is None:
        return None
    return _iso_date(path, (_text(found, "Dt") or _text(found, "DtTm"))[:10])


def _iso_date(path: str, value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise ValueError(f"{path} {value!r} is not a date (YYYY-MM-DD)") from None


def _amount(node, what: str) -> Decimal:
    if node is None:
        raise AmountError(f"{what}: no Amt element")
    try:
        return decimal_from_text(node.text or "")
    except AmountError as exc:
        raise AmountError(f"{what}: {exc}") from None


def read(data: bytes, name: str):
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        return None, [RowError(name, None, None, None, "the XML declares a DTD or entities, which are refused; export the statement "
                                                       "again without them")]
    except ElementTree.ParseError as exc:
        return None, [RowError(name, exc.position[0] if exc.position else None, None, None, f"not well-formed XML ({exc})")]
    container = _find(root, "BkToCstmrStmt")
    if container is None:
        return None, [RowError(name, None, None, None, "no BkToCstmrStmt element; this is not a CAMT.053 statement")]
    nodes = _all(container, "Stmt")
    misplaced = _misplaced(root, nodes)
    if misplaced:
        return None, [RowError(name, None, None, None, misplaced)]
    statements, errors = [], []
    statement_rows, entry_rows = _lines(data, b"Stmt", len(nodes)), _lines(data, b"Ntry", sum(len(_all(n, "Ntry")) for n in nodes))
    for number, node in enumerate(nodes, start=1):
        count = len(_all(node, "Ntry"))
        rows, entry_rows = entry_rows[:count], entry_rows[count:]
        try:
            statements.append(_statement(node, statement_rows[number - 1], rows))
        except ValueError as exc:  # an amount or a date that cannot be read; _Unreadable says where
            errors.append(RowError(name, getattr(exc, "row", None) or statement_rows[number - 1], getattr(exc, "column", None) or "Stmt",
                                   _text(node, "Id") or None,
                                   f"the statement cannot be read: {exc}; correct the file or export it again"))
    if not statements and not errors:
        errors.append(RowError(name, None, None, None, "the file holds no Stmt element"))
    return (statements if not errors else None), errors


class _Unreadable(ValueError):
    """A value of the statement that cannot be read, with the line and element it is on."""

    def __init__(self, message: str, row: int | None = None, column: str | None = None):
        super().__init__(message)
        self.row, self.column = row, column


def _lines(data: bytes, tag: bytes, expected: int) -> list[int | None]:
    """The line of each ``tag`` element in the file's text, in order (``None`` each if they cannot be told apart)."""
    pattern = re.compile(rb"<(?:[\w.-]+:)?" + tag + rb"[\s/>]")
    lines, line, counted = [], 1, 0
    for match in pattern.finditer(data):
        line += data.count(b"\n", counted, match.start())
        counted = match.start()
        lines.append(line)
    return lines if len(lines) == expected else [None] * expected


def _misplaced(root, nodes) -> str | None:
    """Every Stmt and Ntry element is read or the file is refused: one elsewhere would be left out unseen."""
    for name, read in (("Stmt", len(nodes)), ("Ntry", sum(len(_all(node, "Ntry")) for node in nodes))):
        found = sum(1 for element in root.iter() if _local(element.tag) == name)
        if found != read:
            return f"{found - read} of the {found} {name} elements are not where CAMT.053 puts them and would be left out"
    return None


def _statement(node, row: int | None, entry_rows: list[int | None]) -> Statement:
    account = _text(node, "Acct/Id/IBAN") or _text(node, "Acct/Id/Othr/Id")
    currency = _text(node, "Acct/Ccy")
    balances = {}
    for balance in _all(node, "Bal"):
        code = _text(balance, "Tp/CdOrPrtry/Cd") or _text(balance, "Tp/CdOrPrtry/Prtry")
        amount_node = _find(balance, "Amt")
        amount = _amount(amount_node, f"balance {code or '?'}")
        currency = currency or amount_node.get("Ccy", "")
        if _text(balance, "CdtDbtInd") == "DBIT":
            amount = -amount
        balances[code] = (amount, _date(balance, "Dt"))
    opening = balances.get("OPBD") or balances.get("PRCD")
    closing = balances.get("CLBD")
    entries, warnings, pending = [], [], 0
    for number, entry in enumerate(_all(node, "Ntry"), start=1):
        try:
            pending += _read_entry(entry, number, entries)
        except ValueError as exc:
            raise _Unreadable(str(exc), entry_rows[number - 1], "Ntry") from None
    if pending:
        warnings.append(f"statement {_text(node, 'Id')}: {pending} pending entr{'y' if pending == 1 else 'ies'} left out; only booked entries are imported")
    period_from = _text(node, "FrToDt/FrDtTm")[:10]
    period_to = _text(node, "FrToDt/ToDtTm")[:10]
    return Statement(account=account, currency=currency, number=_text(node, "ElctrncSeqNb") or _text(node, "Id"),
                     opening=opening[0] if opening else None, closing=closing[0] if closing else None,
                     start=_iso_date("FrToDt/FrDtTm", period_from) if period_from else (opening[1] if opening else None),
                     end=_iso_date("FrToDt/ToDtTm", period_to) if period_to else (closing[1] if closing else None),
                     entries=entries, row=row, warnings=tuple(warnings))


def _read_entry(entry, number: int, entries: list[Entry]) -> int:
    """Append the booked entry's rows to ``entries``; 1 if the entry is pending (left out), else 0."""
    status = _text(entry, "Sts") or _text(entry, "Sts/Cd")
    if status and status != "BOOK":
        return 1
    amount = _amount(_find(entry, "Amt"), f"entry {number}")
    sign = -1 if _text(entry, "CdtDbtInd") == "DBIT" else 1
    booked = _date(entry, "BookgDt")
    value = _date(entry, "ValDt") or booked
    service_ref = _text(entry, "AcctSvcrRef")
    details = [tx for block in _all(entry, "NtryDtls") for tx in _all(block, "TxDtls")]
    amounts = [_find(tx, "AmtDtls/TxAmt/Amt") if _find(tx, "AmtDtls/TxAmt/Amt") is not None else _find(tx, "Amt") for tx in details]
    split = len(details) > 1 and all(a is not None for a in amounts) and sum(_amount(a, f"entry {number}") for a in amounts) == amount
    for index, tx in enumerate(details if split else [details[0] if details else None]):
        part = _amount(amounts[index], f"entry {number}") if split else amount
        reference = _text(tx, "Refs/EndToEndId") if tx is not None else ""
        if reference.upper() == "NOTPROVIDED":
            reference = ""
        description = " ".join((u.text or "").strip() for u in _all(_find(tx, "RmtInf"), "Ustrd")) if tx is not None else ""
        description = description or _text(entry, "AddtlNtryInf")
        party = ""
        if tx is not None:
            party = _text(tx, "RltdPties/Dbtr/Nm") or _text(tx, "RltdPties/Dbtr/Pty/Nm") if sign > 0 else \
                _text(tx, "RltdPties/Cdtr/Nm") or _text(tx, "RltdPties/Cdtr/Pty/Nm")
        entries.append(Entry(date=value, amount=sign * part, reference=reference or service_ref, description=description.strip(),
                             source_id=f"{service_ref}#{index + 1}" if split and service_ref else service_ref,
                             entry_date=booked, type=_text(entry, "BkTxCd/Domn/Cd") or _text(entry, "BkTxCd/Prtry/Cd"),
                             counterparty=party))
    return 0
