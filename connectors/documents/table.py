"""From the words on a statement's pages to its rows, the same for the text layer and for OCR.

A page is a list of :class:`Word` (text, box in PDF points, confidence). Words are grouped into
lines by their height on the page; the table header is the line that names a date column and an
amount (or debit/credit) column in the layout's titles, found again on every page. Below it, a
line that starts with a date starts a row; a line without one, indented to the description,
continues the row above (a description wrapped over two lines). Amount cells are assigned to the
nearest amount column by position. Lines naming an opening or closing balance, and a page's
footer, are not rows.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import NamedTuple

from connectors.documents.layouts import PdfLayout
from core.domain.money import parse_amount

__all__ = ["PdfRow", "Word", "page_lines", "parse_money", "parse_row_date", "read_rows"]

_MONEY_TOKEN = re.compile(r"^[-(]?[$£€]?-?\d{1,3}(?:[,.' ]?\d{3})*[.,]\d{2}\)?-?(?:CR|DR)?$", re.IGNORECASE)
_BALANCE_LINE = re.compile(r"(opening|closing|brought forward|carried forward|previous|beginning|ending)\s+balance|"
                           r"balance\s+(brought|carried)\s+forward", re.IGNORECASE)
_AMOUNT_ROLES = ("amount", "debit", "credit", "balance")


class Word(NamedTuple):
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    confidence: float = 100.0


class PdfRow(NamedTuple):
    """One statement row as read, cells still text, with where it was and how sure the reading is."""

    page: int
    line: int  # row of the table on its page, 1-based
    date: str
    description: str
    cells: dict  # amount role -> text
    confidence: float  # the lowest word confidence of the row, 0-100
    opening_balance: str | None = None  # a "balance brought forward" line, kept for the opening


class _Column(NamedTuple):
    role: str
    x0: float
    x1: float


def page_lines(words: list[Word]) -> list[list[Word]]:
    """Words grouped into lines (by vertical middle, within half a word's height), left to right."""
    lines: list[list[Word]] = []
    for word in sorted(words, key=lambda w: ((w.top + w.bottom) / 2, w.x0)):
        middle = (word.top + word.bottom) / 2
        if lines:
            last = lines[-1]
            last_middle = sum((w.top + w.bottom) / 2 for w in last) / len(last)
            height = max(w.bottom - w.top for w in last)
            if abs(middle - last_middle) <= height / 2:
                last.append(word)
                continue
        lines.append([word])
    return [sorted(line, key=lambda w: w.x0) for line in lines]


def _find_title(line: list[Word], title: str, used: set[int]) -> tuple[int, int] | None:
    parts = title.lower().split()
    for start in range(len(line) - len(parts) + 1):
        span = range(start, start + len(parts))
        if any(i in used for i in span):
            continue
        if [line[i].text.lower().strip(":") for i in span] == parts:
            return start, start + len(parts)
    return None


def _header_columns(line: list[Word], layout: PdfLayout) -> list[_Column] | None:
    """The line's columns when it is the table header, else ``None``."""
    used: set[int] = set()
    columns = []
    for role, titles in layout.titles().items():
        for title in sorted(titles, key=lambda t: -len(t.split())):
            found = _find_title(line, title, used)
            if found:
                used.update(range(*found))
                columns.append(_Column(role, line[found[0]].x0, line[found[1] - 1].x1))
                break
    roles = {c.role for c in columns}
    if "date" in roles and "description" in roles and ("amount" in roles or {"debit", "credit"} <= roles):
        return sorted(columns, key=lambda c: c.x0)
    return None


def _nearest(word: Word, columns: list[_Column]) -> _Column:
    def distance(column: _Column) -> tuple[float, float]:
        gap = max(column.x0 - word.x1, word.x0 - column.x1, 0.0)
        return gap, abs(column.x1 - word.x1)
    return min(columns, key=distance)


def read_rows(pages: list[list[Word]], layout: PdfLayout) -> tuple[list[PdfRow], list[str]]:
    """The table rows of every page, and the text of every line that is not a row (for the summary).

    A page without a header line holds no rows (a cover or a summary page).
    """
    rows: list[PdfRow] = []
    other_lines: list[str] = []
    for page_number, words in enumerate(pages, start=1):
        columns = None
        line_number = 0
        last_bottom = None
        current: dict | None = None
        for line in page_lines(words):
            text = " ".join(w.text for w in line)
            if columns is None:
                columns = _header_columns(line, layout)
                if columns is None:
                    other_lines.append(text)
                continue
            by_role = {c.role: c for c in columns}
            amount_columns = [c for c in columns if c.role in _AMOUNT_ROLES]
            amounts_from = min(c.x0 for c in amount_columns) - 2 * max(1.0, min(c.x1 - c.x0 for c in amount_columns))
            description_from = by_role["description"].x0
            height = max(w.bottom - w.top for w in line)
            money = [w for w in line if w.x1 > amounts_from and _MONEY_TOKEN.match(w.text)]
            rest = [w for w in line if w not in money]
            date_words = [w for w in rest if w.x1 < description_from - 1]
            description_words = [w for w in rest if w not in date_words]
            if _BALANCE_LINE.search(text):
                other_lines.append(text)
                if current is not None:
                    rows.append(_finish(current))
                    current = None
                balance = [w for w in money if _nearest(w, amount_columns).role == "balance"]
                if balance and not rows and re.search(r"brought forward|opening|previous|beginning", text, re.IGNORECASE):
                    rows.append(PdfRow(page_number, 0, "", text, {}, min(w.confidence for w in line), balance[-1].text))
                last_bottom = max(w.bottom for w in line)
                continue
            starts_row = bool(date_words) and _looks_like_date(" ".join(w.text for w in date_words))
            wraps = (not date_words and current is not None and last_bottom is not None
                     and min(w.top for w in line) - last_bottom < 1.5 * height)
            if starts_row:
                if current is not None:
                    rows.append(_finish(current))
                line_number += 1
                current = {"page": page_number, "line": line_number, "date": " ".join(w.text for w in date_words),
                           "description": [w.text for w in description_words], "cells": {},
                           "confidence": min(w.confidence for w in line)}
            elif wraps:
                current["description"].extend(w.text for w in description_words)
                current["confidence"] = min(current["confidence"], *(w.confidence for w in line))
            else:
                if current is not None:
                    rows.append(_finish(current))
                    current = None
                other_lines.append(text)
                last_bottom = None
                continue
            for word in money:
                role = _nearest(word, amount_columns).role
                current["cells"][role] = (current["cells"].get(role, "") + " " + word.text).strip()
            last_bottom = max(w.bottom for w in line)
        if current is not None:
            rows.append(_finish(current))
    return rows, other_lines


def _finish(current: dict) -> PdfRow:
    return PdfRow(current["page"], current["line"], current["date"], " ".join(current["description"]),
                  current["cells"], current["confidence"])


_DATE_SHAPE = re.compile(r"^(\d{1,4}[ ./-]\w{2,9}(?:[ ./-]\d{2,4})?\.?|\w{3,9}\.? \d{1,2}(?:,? \d{4})?)$")


def _looks_like_date(text: str) -> bool:
    return bool(_DATE_SHAPE.match(text.strip()))


def parse_row_date(text: str, formats: tuple[str, ...], start: dt.date | None, end: dt.date | None) -> dt.date | None:
    """The date of a row in the first format that reads it; a date printed without a year takes
    the year that puts it within the statement period."""
    for fmt in formats:
        has_year = "%Y" in fmt or "%y" in fmt
        try:
            parsed = dt.datetime.strptime(text.strip() if has_year else f"{text.strip()} 2000", fmt if has_year else f"{fmt} %Y")
        except ValueError:
            continue
        if has_year:
            return parsed.date()
        years = sorted({d.year for d in (start, end) if d}) or [dt.date.today().year]
        for year in years:
            try:
                candidate = parsed.date().replace(year=year)
            except ValueError:
                continue
            if start is None or end is None or start <= candidate <= end:
                return candidate
        try:
            return parsed.date().replace(year=years[0])
        except ValueError:
            continue
    return None


def parse_money(text: str | None, decimal: str) -> Decimal | None:
    """An amount cell as a ``Decimal``; ``AmountError`` when it is not one."""
    if text is None or not text.strip():
        return None
    return parse_amount(text, decimal)

