"""Grids people read: money in each currency's own form, human column titles, totals under a grid.

A grid is described as data (:class:`Grid`): the frame, the title of each column shown, in
order, the display format of each number column and which columns are dates. A page hands it
to Streamlit as it is; nothing here imports Streamlit.

Money keeps its exact ``Decimal`` for sorting. A grid whose amounts are all in one currency
shows that column as a number in the currency's own form (no decimals for yen, three for
dinars); a grid mixing currencies whose forms differ gets a text column beside it, each amount
written in its own currency's form. Display never drops a digit the store holds: an amount
with more places than its currency shows them.

Totals (:func:`grid_totals`) are count, money in (the positive amounts), money out (the
negative ones, as a positive sum) and net (in less out), one row per currency.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import NamedTuple

import pandas as pd

from core.domain.money import currency_places, scale_of

__all__ = ["Grid", "currency_places", "format_money", "grid_totals", "money_format", "money_in_own_form", "readable_grid"]

def format_money(amount: Decimal | None, currency: str) -> str:
    """An amount written in its currency's form, with thousands separators: ``1,234,567`` for
    JPY, ``-1,234.50`` for EUR. More places show when the amount holds them; ``None`` is blank."""
    if amount is None or (isinstance(amount, float) and amount != amount):
        return ""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    places = max(currency_places(currency), scale_of(value.normalize()))
    return f"{value:,.{places}f}"


def money_format(currencies: Iterable[str]) -> str:
    """The display format (printf style, as grids take it) of a number column in these currencies:
    the most places any of them uses, with thousands separators."""
    places = max((currency_places(c) for c in set(currencies)), default=2)
    return f"%,.{places}f"


def money_in_own_form(currencies: Iterable[str]) -> bool:
    """Whether one number format serves every currency here (their places are all the same)."""
    return len({currency_places(c) for c in set(currencies)}) <= 1


class Grid(NamedTuple):
    """A frame as a page shows it.

    ``titles``: column -> title, for the columns shown, in their order (others stay in the frame,
    for downloads and selection, but are not shown). ``number_formats``: column -> printf format.
    ``dates``: columns holding dates. ``links``: columns holding relative addresses of other pages.
    """

    frame: pd.DataFrame
    titles: dict[str, str]
    number_formats: dict[str, str]
    dates: tuple[str, ...] = ()
    links: tuple[str, ...] = ()


def readable_grid(frame: pd.DataFrame, titles: dict[str, str], *, money: dict[str, str] | None = None,
                  dates: tuple[str, ...] = (), links: tuple[str, ...] = ()) -> Grid:
    """A frame with human titles, its money columns formatted per currency, its dates as dates.

    Args:
        titles: column -> title, in the order to show; columns missing from the frame are left out.
        money: amount column -> the column holding each row's currency. When the frame mixes
            currencies of different forms, a text column ``<amount>_text`` is added and shown
            (titled as the amount) with the number kept beside it for sorting (``... (number)``).
        dates: columns to show as dates.
        links: columns holding addresses, shown as links.

    Blank text cells (``None``) become empty strings, so a grid never reads "None".
    """
    frame = frame.copy()
    shown = {c: t for c, t in titles.items() if c in frame.columns}
    formats: dict[str, str] = {}
    for column, currency_column in (money or {}).items():
        if column not in frame.columns:
            continue
        currencies = [c for c in frame[currency_column].tolist() if isinstance(c, str)] if currency_column in frame.columns else []
        formats[column] = money_format(c for cc in currencies for c in cc.split(", "))
        if not money_in_own_form(c for cc in currencies for c in cc.split(", ")) and column in shown:
            frame[f"{column}_text"] = [format_money(a, c) for a, c in zip(frame[column], frame[currency_column])]
            title = shown[column]
            shown = {(f"{column}_text" if c == column else c): t for c, t in shown.items()}
            shown = _insert_after(shown, f"{column}_text", column, f"{title} (number)")
    for column in shown:
        if column not in formats and column not in dates and pd.api.types.is_string_dtype(frame[column]) and frame[column].isna().any():
            frame[column] = frame[column].fillna("")
    return Grid(frame, shown, formats, tuple(d for d in dates if d in frame.columns), tuple(c for c in links if c in frame.columns))


def _insert_after(titles: dict[str, str], after: str, column: str, title: str) -> dict[str, str]:
    result = {}
    for key, value in titles.items():
        result[key] = value
        if key == after:
            result[column] = title
    return result


TOTALS_TITLES = {"currency": "Currency", "count": "Count", "money_in": "Money in", "money_out": "Money out", "net": "Net"}


def grid_totals(frame: pd.DataFrame, amount: str = "amount", currency: str = "currency") -> pd.DataFrame:
    """Totals under a grid, one row per currency in alphabetical order: how many rows, money in
    (the sum of positive amounts), money out (the sum of negative ones, as a positive number)
    and net (in less out), written in the currency's form. One row of zeros for an empty grid."""
    columns = list(TOTALS_TITLES)
    if frame.empty:
        return pd.DataFrame([["", 0, "0.00", "0.00", "0.00"]], columns=columns)
    # Summed per currency as read, so no sum ever meets two currencies.
    sums: dict[str, list] = {}
    for value, code in zip(frame[amount], frame[currency]):
        entry = sums.setdefault(code, [0, Decimal(0), Decimal(0)])
        entry[0] += 1
        if value > 0:
            entry[1] += value
        elif value < 0:
            entry[2] -= value
    rows = [[code, count, format_money(money_in, code), format_money(money_out, code), format_money(money_in - money_out, code)]
            for code, (count, money_in, money_out) in sorted(sums.items())]
    return pd.DataFrame(rows, columns=columns)
