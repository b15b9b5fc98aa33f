"""The canonical records every source is turned into.

A *transaction* is one ledger entry or statement line (ARCHITECTURE.md, Canonical records).
Its columns are fixed below; a source's other columns are kept beside them as text.
What an import finds wrong with a source is in :mod:`core.domain.findings`.
"""

from __future__ import annotations

import re

import pycountry

__all__ = [
    "ALIASES",
    "CREDIT_MARKERS",
    "DEBIT_MARKERS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "TRANSACTION_COLUMNS",
    "extra_columns",
    "is_currency_code",
    "map_titles",
    "normalise_title",
    "title_currency",
]

REQUIRED_COLUMNS = ("id", "account", "date", "amount", "currency", "reference", "description")
OPTIONAL_COLUMNS = ("counterparty", "trade_date", "entry_date", "type")
TRANSACTION_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
DATE_COLUMNS = ("date", "trade_date", "entry_date")
# What a debit/credit indicator writes (a profile may name others).
# ``Af``/``Bij`` are Dutch (ING's ``Af Bij`` column: off/on the account).
DEBIT_MARKERS = ("D", "DR", "DB", "DEBIT", "-", "AF")
CREDIT_MARKERS = ("C", "CR", "CREDIT", "+", "BIJ")

# Source titles recognised without a profile, best first: a source column serves one
# canonical column, and ``date`` picks value/settlement dates before booking dates.
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("value date", "valuedate", "value dt", "valuta", "settlement date", "settle date", "date", "posting date",
             "posted date", "post date", "booking date", "book date", "transaction date", "txn date",
             "trans date", "tran date", "buchungstag", "datum"),
    "trade_date": ("trade date", "tradedate", "transaction date", "txn date"),
    "entry_date": ("entry date", "booking date", "book date", "posting date", "posted date"),
    "amount": ("amount", "amt", "net amount", "transaction amount", "amount ccy", "betrag", "bedrag", "value"),
    "debit": ("debit", "debits", "debit amount", "debit amt", "dr amount", "withdrawal", "withdrawals", "withdrawal amount",
              "withdrawal amt", "paid out", "money out", "soll"),
    "credit": ("credit", "credits", "credit amount", "credit amt", "cr amount", "deposit", "deposits", "deposit amount",
               "deposit amt", "paid in", "money in", "haben"),
    "indicator": ("dr cr", "cr dr", "debit credit", "credit debit", "d c", "c d", "dc", "cd",
                  "debit credit indicator", "credit debit indicator", "af bij", "creditdebet", "credit debet", "debet credit"),
    "account": ("account", "account number", "account no", "account id", "acct", "acct no", "iban",
                "account iban", "konto", "portfolio", "portfolio no", "portfolio number"),
    "currency": ("currency", "ccy", "cur", "curr", "currency code", "waehrung", "währung"),
    "id": ("id", "transaction id", "txn id", "trans id", "entry id", "unique id", "fitid"),
    "reference": ("reference", "ref", "ref no", "reference no", "reference number", "cheque no", "check no",
                  "check number", "cheque number", "chq no", "chq ref no", "ref no cheque no", "utr", "utr no",
                  "customer reference", "end to end id", "bank reference", "referenz"),
    "description": ("description", "narrative", "narration", "details", "memo", "particulars", "remarks",
                    "text", "transaction details", "transaction remarks", "verwendungszweck", "buchungstext"),
    "counterparty": ("counterparty", "counterparty name", "payee", "payer", "beneficiary", "payee name", "name"),
    "type": ("type", "transaction type", "txn type", "trans type", "entry type"),
}

_CURRENCIES = frozenset(c.alpha_3 for c in pycountry.currencies)
# A currency in brackets at the end of a title: ``Betrag (EUR)``, ``Amount [USD]``, ``Betrag (€)``.
_TITLE_CURRENCY = re.compile(r"^(.*?)\s*[(\[]\s*([A-Z]{3}|€|£)\s*[)\]]\s*$")
_SYMBOLS = {"€": "EUR", "£": "GBP"}


def normalise_title(title: object) -> str:
    """A column title as titles are compared: case folded, ``&`` as ``and``, other signs as spaces."""
    text = str(title or "").replace("&", " and ").casefold()
    return " ".join(re.sub(r"[^0-9a-zà-ÿ]+", " ", text).split())


def title_currency(title: object) -> tuple[str, str | None]:
    """A title without the currency written at its end, and that currency (ISO 4217) if any.

    ``Withdrawal Amount (INR)`` is ``("Withdrawal Amount", "INR")``; ``Amount (Foreign
    Currency)`` or ``Created (UTC)`` carry no currency and are returned as they are.
    """
    text = str(title or "").strip()
    found = _TITLE_CURRENCY.match(text)
    if found:
        code = _SYMBOLS.get(found.group(2), found.group(2))
        if code in _CURRENCIES and found.group(1):
            return found.group(1), code
    return text, None


def map_titles(normalised: list[str], mapping: dict[str, int], skip: tuple[str, ...] = ()) -> dict[str, int]:
    """Add to ``mapping`` (column -> index) the columns ``ALIASES`` recognise among the normalised titles.

    Each column takes its best alias present whose source column no other column took;
    columns in ``mapping`` already or in ``skip`` are left as they are.
    """
    taken = set(mapping.values())
    for name, aliases in ALIASES.items():
        if name in mapping or name in skip:
            continue
        for alias in aliases:
            if alias in normalised and normalised.index(alias) not in taken:
                mapping[name] = normalised.index(alias)
                taken.add(mapping[name])
                break
    return mapping


def extra_columns(header: list[str], mapping: dict[str, int]) -> dict[str, int]:
    """Source columns that map to no canonical column, kept under their own titles."""
    used = {index for name, index in mapping.items() if not name.startswith("_")}
    extra: dict[str, int] = {}
    for index, title in enumerate(header):
        if index in used:
            continue
        extra[f"source_{title}" if title in TRANSACTION_COLUMNS else title] = index
    return extra


def is_currency_code(code: str) -> bool:
    """True for an ISO 4217 alphabetic code such as ``EUR``."""
    return code in _CURRENCIES
