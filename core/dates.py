"""Dates as sources write them, one format decided per column.

A column is read with the single format that parses all (or most) of its values, so
``03/04/2024`` is never read as March in one row and April in the next. When both day-first
and month-first read every value, the column is ambiguous: day-first is assumed and a
warning says so; a profile's ``date_format`` settles it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

__all__ = ["DateFormatChoice", "choose_date_format", "date_from_serial", "describe_format", "parse_date"]

CANDIDATE_FORMATS = (
    "%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d",
    "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y",
    "%d/%m/%y", "%m/%d/%y", "%d.%m.%y", "%d-%m-%y",
    "%d-%b-%Y", "%d %b %Y", "%d-%b-%y", "%d %b %y", "%b %d %Y", "%b %d, %Y",
    "%d %B %Y", "%B %d %Y", "%B %d, %Y", "%d-%B-%Y",
)
_MONTH_FIRST = {"%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y"}
_TIME_SUFFIX = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[AaPp][Mm])?(?:Z|[+-]\d{2}:?\d{2})?)$")
_SAMPLE = 5000


class DateFormatChoice:
    """The format chosen for a column and whether the choice was a guess."""

    __slots__ = ("ambiguous", "format")

    def __init__(self, fmt: str | None, ambiguous: bool = False):
        self.format = fmt
        self.ambiguous = ambiguous


def _strip_time(text: str) -> str:
    return _TIME_SUFFIX.sub("", text.strip())


def parse_date(text: str, fmt: str) -> dt.date:
    """Parse one date text with a strptime format; a time of day after it is ignored.

    Raises:
        ValueError: the text is not a date in that format.
    """
    return dt.datetime.strptime(_strip_time(text), fmt).date()


def choose_date_format(values: list[str]) -> DateFormatChoice:
    """Pick the format that reads the most of a column's distinct values."""
    distinct = list(dict.fromkeys(_strip_time(v) for v in values if v and v.strip()))[:_SAMPLE]
    if not distinct:
        return DateFormatChoice(None)
    scores = []
    for fmt in CANDIDATE_FORMATS:
        parsed = 0
        for text in distinct:
            try:
                dt.datetime.strptime(text, fmt)
                parsed += 1
            except ValueError:
                pass
        scores.append((parsed, fmt))
    best = max(score for score, _ in scores)
    if best == 0:
        return DateFormatChoice(None)
    winners = [fmt for score, fmt in scores if score == best]
    ambiguous = any(f in _MONTH_FIRST for f in winners) and any(f not in _MONTH_FIRST for f in winners)
    return DateFormatChoice(winners[0], ambiguous)


def describe_format(fmt: str) -> str:
    """A strptime format as people write it: ``%d/%m/%Y`` -> ``DD/MM/YYYY``."""
    for code, words in (("%d", "DD"), ("%m", "MM"), ("%Y", "YYYY"), ("%y", "YY"), ("%b", "Mon"), ("%B", "Month")):
        fmt = fmt.replace(code, words)
    return fmt


def date_from_serial(serial: Decimal, epoch: dt.datetime | None) -> dt.date:
    """A spreadsheet date serial (days since the workbook's epoch) as a date.

    Raises:
        ValueError: the number is outside the spreadsheet date range.
    """
    from openpyxl.utils.datetime import CALENDAR_WINDOWS_1900, from_excel

    if not 1 <= serial < 2958466:
        raise ValueError(f"{serial} is not a spreadsheet date serial")
    return from_excel(int(serial), epoch or CALENDAR_WINDOWS_1900).date()
