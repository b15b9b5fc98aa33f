"""Exact money: every amount is a ``Decimal`` built from text by one helper.

Statements write amounts in many ways: ``1,234.56``, ``1.234,56``, ``(1 234,56)``,
``1'234.56-``, ``$ 12.00``, ``12.00 CR``. :func:`parse_amount` turns any of them into a
``Decimal`` given the decimal separator, and :func:`infer_decimal_separator` decides that
separator for a whole column from the evidence in its values. A float never holds money:
spreadsheet cells that arrive as binary doubles go through :func:`decimal_from_spreadsheet`,
which keeps the 15 significant digits a spreadsheet shows and no more.

Where money of possibly different currencies meets, it travels as an :class:`Amount`: a
number with its currency. :func:`add`, :func:`sub`, :func:`neg` and :func:`sum_amounts` are
exact and refuse to mix currencies (:class:`CurrencyError`), so a total is always of one
currency; :func:`totals_per_currency` keeps one total per currency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Context, Decimal
from typing import NamedTuple

__all__ = [
    "Amount",
    "AmountError",
    "CurrencyError",
    "add",
    "canonical_decimal",
    "check_amount",
    "currency_places",
    "MAX_SCALE",
    "decimal_from_spreadsheet",
    "decimal_from_text",
    "format_amount",
    "infer_decimal_separator",
    "neg",
    "parse_amount",
    "scale_of",
    "sub",
    "sum_amounts",
    "totals_per_currency",
]

# Amounts are stored as DECIMAL(18, scale): 18 digits fit a 64-bit integer in DuckDB and
# Parquet, which keeps matching fast; six decimals cover FX rates and unit prices.
MAX_DIGITS = 18
MAX_SCALE = 6

_SPACES = "\u00a0\u202f\u2007 \t"
_CURRENCY_AFFIX = re.compile(r"^(?:[A-Z]{3}|[$€£¥₹₩₪₫฿]|US\$|R\$|S/\.?)\s*|\s*(?:[A-Z]{3}|[$€£¥₹₩₪₫฿])$")
_DIGITS = re.compile(r"^(?:\d+(?:\.\d+)?|\.\d+)$")
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SCIENTIFIC = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+$")
_SPREADSHEET = Context(prec=15)


class AmountError(ValueError):
    """A text is not an amount; the message says why in words an analyst understands."""


def parse_amount(text: str, decimal: str = ".") -> Decimal | None:
    """Build an exact ``Decimal`` from an amount as statements print it.

    Args:
        text: the cell text. Blank means no amount.
        decimal: the decimal separator, ``"."`` or ``","``. The other one, spaces,
            apostrophes and thin spaces are taken as thousands separators.

    Returns:
        The signed amount, or ``None`` for a blank cell. Parentheses, a leading or trailing
        minus and a trailing ``DR`` make it negative; ``CR`` keeps it positive.

    Raises:
        AmountError: the text is not a number.
    """
    s = text.strip(_SPACES)
    if not s:
        return None
    negative = False
    upper = s.upper()
    if upper.endswith(("CR", "DR")) and not upper.endswith(("CR.", "DR.")):
        negative = upper.endswith("DR")
        s = s[:-2].strip(_SPACES)
    if s.startswith("(") and s.endswith(")"):
        negative = not negative
        s = s[1:-1].strip(_SPACES)
    s = _strip_currency(s)
    if s.startswith(("-", "+")):
        negative ^= s[0] == "-"
        s = s[1:].strip(_SPACES)
    elif s.endswith(("-", "+")):
        negative ^= s[-1] == "-"
        s = s[:-1].strip(_SPACES)
    s = _strip_currency(s)
    if _SCIENTIFIC.match(s):
        raise AmountError(f"{text!r} is in scientific notation, which has lost digits; export the column as a number")
    thousands = "," if decimal == "." else "."
    _check_grouping(s, decimal, thousands + "'’" + _SPACES, text)
    s = s.replace(thousands, "").replace("'", "").replace("’", "")
    for space in _SPACES:
        s = s.replace(space, "")
    if decimal == ",":
        s = s.replace(",", ".")
    if not _DIGITS.match(s):
        raise AmountError(f"{text!r} is not a number")
    value = Decimal(s)
    _check_size(value, text)
    return -value if negative else value


def decimal_from_text(text: str) -> Decimal:
    """Build an exact ``Decimal`` from a plain decimal as machine formats write it (``-1234.5``).

    CAMT.053 and MT940 amounts are plain decimals (MT940's decimal comma made a point by the
    caller): no exponent, no separators, no infinity. Text that is not one, or that the store
    cannot hold, is refused before any arithmetic.

    Raises:
        AmountError: saying what is wrong with the text.
    """
    s = text.strip()
    shown = s if len(s) <= 40 else s[:37] + "..."
    if not _PLAIN_DECIMAL.fullmatch(s):
        raise AmountError(f"{shown!r} is not a plain decimal number")
    value = Decimal(s)
    _check_size(value, shown)
    return value


def _check_grouping(s: str, decimal: str, separators: str, text: str) -> None:
    """Refuse a thousands separator that does not separate thousands.

    Removing it blindly would read ``3,50`` in a column of decimal points as 350. Groups are
    of three digits (``1,234,567``) or, in Indian notation, of two before the last three
    (``12,34,567``); one separator throughout, none after the decimal separator.
    """
    used = [ch for ch in s if ch in separators]
    if not used:
        return
    whole, _, fraction = s.partition(decimal)
    sep = used[0]
    groups = whole.split(sep)
    western = 1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])
    indian = len(groups) > 2 and 1 <= len(groups[0]) <= 2 and all(len(g) == 2 for g in groups[1:-1]) and len(groups[-1]) == 3
    if len(set(used)) > 1 or any(ch in separators for ch in fraction) or not all(g.isdigit() for g in groups) or not (western or indian):
        shown = "a space" if sep in _SPACES else repr(sep)
        raise AmountError(f"{text!r} is not an amount with {decimal!r} as the decimal separator: {shown} must separate "
                          "groups of three digits")


def _strip_currency(s: str) -> str:
    return _CURRENCY_AFFIX.sub("", s).strip(_SPACES)


def check_amount(value: Decimal, where: object = "") -> None:
    """Refuse what the store cannot hold exactly: not finite, too many digits or decimals.

    Raises:
        AmountError: saying which limit is passed.
    """
    shown = where or str(value)
    if not value.is_finite():
        raise AmountError(f"{shown!r} is not a finite number")
    _check_size(value, shown)


def _check_size(value: Decimal, text: object) -> None:
    if scale_of(value) > MAX_SCALE:
        raise AmountError(f"{text!r} has more than {MAX_SCALE} decimal places")
    whole = value.adjusted() + 1 if value else 0
    if whole > MAX_DIGITS - MAX_SCALE:
        raise AmountError(f"{text!r} is too large (at most {MAX_DIGITS - MAX_SCALE} digits before the point)")


def scale_of(value: Decimal) -> int:
    """Number of decimal places a ``Decimal`` carries (``Decimal("1.50")`` has 2)."""
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def decimal_from_spreadsheet(number: int | float, where: str = "") -> Decimal:
    """Turn a spreadsheet's stored number into the ``Decimal`` the spreadsheet displays.

    XLSX keeps numbers as binary doubles, so ``0.1 + 0.2`` computed in a cell is stored as
    ``0.30000000000000004``. Spreadsheets show 15 significant digits; so do we.
    """
    if isinstance(number, bool):
        raise AmountError(f"{number!r} is a TRUE/FALSE cell, not a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise AmountError(f"{number!r} is not a number")
    if abs(number) >= 10 ** (MAX_DIGITS - MAX_SCALE):
        # Refused before any arithmetic: rounding 1.79e308 to whole units overflows Decimal's context.
        raise AmountError(f"{where or number!r} is too large (at most {MAX_DIGITS - MAX_SCALE} digits before the point)")
    if isinstance(number, int):
        value = Decimal(number)
    else:
        value = _SPREADSHEET.create_decimal(repr(number)).normalize()
        if value == value.to_integral_value() and scale_of(value) == 0:
            value = value.quantize(Decimal(1))
    _check_size(value, where or number)
    return value


def infer_decimal_separator(values: list[str], hint: str | None = None) -> tuple[str, bool]:
    """Decide whether a column writes decimals with ``.`` or ``,``.

    A separator followed by other than three digits, or the last of two different
    separators, is decimal; one that repeats is a thousands separator. ``1,234`` alone
    proves nothing.

    Args:
        values: the column's texts.
        hint: the separator to assume when the values prove nothing (a file delimited
            with ``;`` usually writes decimal commas).

    Returns:
        ``(separator, ambiguous)``: ambiguous is true when no value decided it.
    """
    votes = {".": 0, ",": 0}
    for raw in values:
        s = raw.strip(_SPACES).strip("()+-").rstrip("CRDcrd ").strip(_SPACES)
        dot, comma = s.rfind("."), s.rfind(",")
        if dot >= 0 and comma >= 0:
            votes["." if dot > comma else ","] += 1
            continue
        for sep in (".", ","):
            other = "," if sep == "." else "."
            position = dot if sep == "." else comma
            if position < 0:
                continue
            if s.count(sep) > 1:
                votes[other] += 1
            elif len(s) - position - 1 != 3:
                votes[sep] += 1
    if votes["."] == votes[","]:
        return (hint or "."), True
    return ("." if votes["."] > votes[","] else ","), False


def canonical_decimal(value: Decimal) -> Decimal:
    """The same number with no trailing zeros past the cents: ``-47.000000`` -> ``-47.00``.

    Databases hand amounts back at their column's scale; this gives one form everywhere.
    """
    normalized = value.normalize()
    return normalized.quantize(Decimal("0.01")) if scale_of(normalized) < 2 else normalized


# ISO 4217 minor units that differ from two; every other currency has two places.
_MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0, "RWF": 0, "UGX": 0, "UYI": 0,
    "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
    "CLF": 4, "UYW": 4,
}


def currency_places(currency: str) -> int:
    """The decimal places of a currency (ISO 4217 minor units): 0 for JPY, 3 for KWD, else 2."""
    return _MINOR_UNITS.get((currency or "").strip().upper(), 2)


def format_amount(value: Decimal, places: int = 2) -> str:
    """Display text with thousands separators; stored precision is not touched."""
    return f"{value:,.{max(places, scale_of(value))}f}"


class CurrencyError(ValueError):
    """Money of two currencies met in one sum; the message names both."""


class Amount(NamedTuple):
    """An exact number of one currency (ISO 4217 code)."""

    number: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.number} {self.currency}"


def _same_currency(amount1: Amount, amount2: Amount) -> None:
    if amount1.currency != amount2.currency:
        raise CurrencyError(f"cannot combine {amount1} and {amount2}: they are in different currencies")


def add(amount1: Amount, amount2: Amount) -> Amount:
    """``amount1 + amount2``; both must be in the same currency."""
    _same_currency(amount1, amount2)
    return Amount(amount1.number + amount2.number, amount1.currency)


def sub(amount1: Amount, amount2: Amount) -> Amount:
    """``amount1 - amount2``; both must be in the same currency."""
    _same_currency(amount1, amount2)
    return Amount(amount1.number - amount2.number, amount1.currency)


def neg(amount: Amount) -> Amount:
    return Amount(-amount.number, amount.currency)


def sum_amounts(amounts: Iterable[Amount], currency: str | None = None) -> Amount:
    """The total of amounts of one currency: ``currency``, else the first amount's.

    Raises:
        CurrencyError: an amount is in another currency, or there is no amount and no currency.
    """
    total = None if currency is None else Amount(Decimal(0), currency)
    for amount in amounts:
        total = amount if total is None else add(total, amount)
    if total is None:
        raise CurrencyError("a sum of no amounts needs its currency")
    return total


def totals_per_currency(amounts: Iterable[Amount]) -> dict[str, Amount]:
    """One total per currency, currencies in alphabetical order."""
    totals: dict[str, Amount] = {}
    for amount in amounts:
        totals[amount.currency] = add(totals[amount.currency], amount) if amount.currency in totals else amount
    return dict(sorted(totals.items()))
