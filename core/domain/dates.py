"""Dates as sources write them, one format decided per column.

A column is read with the single format that parses all (or most) of its values, so
``03/04/2024`` is never read as March in one row and April in the next. When both day-first
and month-first read every value, the column is ambiguous: the reading that keeps the dates
closer together wins (a statement's ``10/01 10/02 10/03`` are three days of October, not
the 10th of three months), day-first when neither does; a warning always says which was
taken, and a profile's ``date_format`` settles it.
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

    __slots__ = ("ambiguous", "format", "other", "spans")

    def __init__(self, fmt: str | None, ambiguous: bool = False, other: str | None = None, spans: tuple[int, int] = (0, 0)):
        self.format = fmt
        self.ambiguous = ambiguous
        self.other = other  # the reading not taken, when ambiguous
        self.spans = spans  # days from first to last date: as read, and as the other reading would have it

    def explain(self) -> str:
        """Which reading an ambiguous column was given, and what the other would have made of it."""
        def order(fmt):
            return "month-first" if fmt in _MONTH_FIRST else "day-first"

        taken, other = self.spans
        return (f"dates read {order(self.format)} as {describe_format(self.format)} (first to last {taken} days); "
                f"read {order(self.other)} they would span {other} days")


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
    day_first = next((f for f in winners if f not in _MONTH_FIRST), None)
    month_first = next((f for f in winners if f in _MONTH_FIRST), None)
    if day_first is None or month_first is None:
        return DateFormatChoice(winners[0])
    spans = {fmt: _span(distinct, fmt) for fmt in (day_first, month_first)}
    # Month-first only when it keeps the dates clearly closer together than day-first.
    chosen, other = (month_first, day_first) if spans[month_first] * 2 < spans[day_first] else (day_first, month_first)
    return DateFormatChoice(chosen, True, other, (spans[chosen], spans[other]))


def _span(texts: list[str], fmt: str) -> int:
    days = []
    for text in texts:
        try:
            days.append(dt.datetime.strptime(text, fmt).toordinal())
        except ValueError:
            pass
    return max(days) - min(days) if days else 0


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
    from openpyxl.utils.datetime import CALENDAR_WINDOWS_1900, from_excel  # start-up speed: openpyxl loads for workbooks only

    if not 1 <= serial < 2958466:
        raise ValueError(f"{serial} is not a spreadsheet date serial")
    return from_excel(int(serial), epoch or CALENDAR_WINDOWS_1900).date()
